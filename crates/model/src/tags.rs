//! Resource tags: ECS's limits on them and how TagResource/UntagResource change a set.

use crate::shapes::Tag;

/// Most tags one resource may carry.
pub const MAX_TAGS: usize = 50;
const MAX_KEY_LEN: usize = 128;
const MAX_VALUE_LEN: usize = 256;
const RESERVED_PREFIX: &str = "aws:";

/// Why a set of tags cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TagError {
    /// A tag without a key.
    #[error("Tag keys must not be empty.")]
    MissingKey,
    /// Key too long.
    #[error("Tag key '{0}' is longer than 128 characters.")]
    KeyTooLong(String),
    /// Value too long.
    #[error("The value of tag '{0}' is longer than 256 characters.")]
    ValueTooLong(String),
    /// `aws:` keys belong to AWS.
    #[error("Tag key '{0}' uses the reserved prefix 'aws:'; choose a key without it.")]
    Reserved(String),
    /// The result would carry more than 50 tags.
    #[error("A resource can have at most 50 tags; this request would leave it with {0}.")]
    TooMany(usize),
}

/// Checks each tag users ask to apply.
pub fn validate(tags: &[Tag]) -> Result<(), TagError> {
    for tag in tags {
        let key = tag.key.as_deref().unwrap_or_default();
        if key.is_empty() {
            return Err(TagError::MissingKey);
        }
        if key.chars().count() > MAX_KEY_LEN {
            return Err(TagError::KeyTooLong(key.to_owned()));
        }
        if key.to_ascii_lowercase().starts_with(RESERVED_PREFIX) {
            return Err(TagError::Reserved(key.to_owned()));
        }
        if tag.value.as_deref().unwrap_or_default().chars().count() > MAX_VALUE_LEN {
            return Err(TagError::ValueTooLong(key.to_owned()));
        }
    }
    Ok(())
}

/// `existing` with `added` applied: a key already present takes the new value, in place.
pub fn merge(existing: &[Tag], added: &[Tag]) -> Result<Vec<Tag>, TagError> {
    validate(added)?;
    let mut merged = existing.to_vec();
    for tag in added {
        match merged.iter_mut().find(|t| t.key == tag.key) {
            Some(slot) => slot.value = tag.value.clone(),
            None => merged.push(tag.clone()),
        }
    }
    if merged.len() > MAX_TAGS {
        return Err(TagError::TooMany(merged.len()));
    }
    Ok(merged)
}

/// `existing` without the tags whose keys are in `keys`.
pub fn remove(existing: &[Tag], keys: &[String]) -> Vec<Tag> {
    existing
        .iter()
        .filter(|t| !keys.iter().any(|k| Some(k) == t.key.as_ref()))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(key: &str, value: &str) -> Tag {
        Tag {
            key: Some(key.into()),
            value: Some(value.into()),
        }
    }

    #[test]
    fn merge_replaces_values_and_appends_new_keys() {
        let merged = merge(
            &[tag("a", "1"), tag("b", "2")],
            &[tag("b", "3"), tag("c", "4")],
        )
        .unwrap();
        assert_eq!(merged, vec![tag("a", "1"), tag("b", "3"), tag("c", "4")]);
        assert_eq!(
            remove(&merged, &["a".into(), "zz".into()]),
            vec![tag("b", "3"), tag("c", "4")]
        );
    }

    #[test]
    fn limits() {
        let cases = [
            (tag("", "x"), Some(TagError::MissingKey)),
            (
                tag(&"k".repeat(129), ""),
                Some(TagError::KeyTooLong("k".repeat(129))),
            ),
            (
                tag("k", &"v".repeat(257)),
                Some(TagError::ValueTooLong("k".into())),
            ),
            (
                tag("aws:owner", "x"),
                Some(TagError::Reserved("aws:owner".into())),
            ),
            (tag(&"k".repeat(128), &"v".repeat(256)), None),
        ];
        for (t, expected) in cases {
            assert_eq!(validate(std::slice::from_ref(&t)).err(), expected);
        }
        let fifty: Vec<Tag> = (0..50).map(|i| tag(&format!("k{i}"), "")).collect();
        assert!(merge(&fifty, &[tag("k0", "x")]).is_ok());
        assert_eq!(
            merge(&fifty, &[tag("new", "")]).err(),
            Some(TagError::TooMany(51))
        );
    }
}
