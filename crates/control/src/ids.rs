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

/// `count` characters drawn uniformly from `alphabet` (by rejection: a byte beyond the last
/// whole multiple of the alphabet's size is drawn again, so no character is likelier).
pub(crate) fn random_chars(alphabet: &[u8], count: usize) -> Result<String, RandomError> {
    use std::io::Read;
    let limit = 256 - 256 % alphabet.len();
    let mut urandom = std::fs::File::open("/dev/urandom").map_err(|e| RandomError(Arc::new(e)))?;
    let mut out = String::with_capacity(count);
    let mut buffer = [0u8; 64];
    while out.len() < count {
        urandom
            .read_exact(&mut buffer)
            .map_err(|e| RandomError(Arc::new(e)))?;
        for &byte in &buffer {
            if usize::from(byte) < limit && out.len() < count {
                out.push(alphabet[usize::from(byte) % alphabet.len()] as char);
            }
        }
    }
    Ok(out)
}

/// The characters of AWS's access key ids and unique ids after their prefix.
const ID_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// A new access key id: `AKIA` (long-term) or `ASIA` (temporary) and 16 characters.
pub(crate) fn access_key_id(prefix: &str) -> Result<String, RandomError> {
    Ok(format!("{prefix}{}", random_chars(ID_ALPHABET, 16)?))
}

/// A new IAM unique id (`AIDA...` for users), 21 characters as IAM's.
pub(crate) fn iam_unique_id(prefix: &str) -> Result<String, RandomError> {
    Ok(format!("{prefix}{}", random_chars(ID_ALPHABET, 17)?))
}

/// A new secret access key: 40 characters of base64's alphabet, as AWS's.
pub(crate) fn secret_access_key() -> Result<String, RandomError> {
    random_chars(
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
        40,
    )
}

/// A new 12-digit account id (never starting with 0, so it reads as the number it is).
pub(crate) fn account_id() -> Result<String, RandomError> {
    Ok(format!(
        "{}{}",
        random_chars(b"123456789", 1)?,
        random_chars(b"0123456789", 11)?
    ))
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
        let key = access_key_id("AKIA").unwrap();
        assert!(key.len() == 20 && key.bytes().all(|b| ID_ALPHABET.contains(&b)));
        assert_eq!(secret_access_key().unwrap().len(), 40);
        let account = account_id().unwrap();
        assert!(account.len() == 12 && !account.starts_with('0'));
        assert_eq!(iam_unique_id("AIDA").unwrap().len(), 21);
    }
}
