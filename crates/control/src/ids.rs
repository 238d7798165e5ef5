//! Fresh identifiers — task and container ids, attachment ids, AWS-style resource ids
//! (`sg-…`, `vpc-…`, `eni-…`) — drawn from the kernel's CSPRNG.
//!
//! It has its own small error so that every module making ids (tasks, networks, security
//! groups) depends on this one alone, not on another area's error type.

use std::sync::Arc;

/// The kernel could not provide random bytes.
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot read random bytes from /dev/urandom")]
pub struct RandomError(#[source] Arc<std::io::Error>);

/// `bytes` random bytes as lowercase hex.
pub(crate) fn random_hex(bytes: usize) -> Result<String, RandomError> {
    use std::io::Read;
    let mut buffer = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buffer))
        .map_err(|e| RandomError(Arc::new(e)))?;
    Ok(buffer.iter().map(|b| format!("{b:02x}")).collect())
}

/// `PREFIX-` and 17 random hex digits, as AWS's resource ids.
pub(crate) fn new_id(prefix: &str) -> Result<String, RandomError> {
    Ok(format!("{prefix}-{}", &random_hex(9)?[..17]))
}

/// A UUID-shaped id (8-4-4-4-12 hex digits), as ECS gives attachments.
pub(crate) fn attachment_id() -> Result<String, RandomError> {
    let id = random_hex(16)?;
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &id[..8],
        &id[8..12],
        &id[12..16],
        &id[16..20],
        &id[20..32]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_aws_shapes() {
        let id = new_id("sg").unwrap();
        assert!(id.starts_with("sg-") && id.len() == 3 + 17);
        let attachment = attachment_id().unwrap();
        let groups: Vec<usize> = attachment.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12]);
        assert_eq!(random_hex(16).unwrap().len(), 32);
    }
}
