//! The on-disk encoding of a key's value and bookkeeping: three little-endian i64s
//! (create revision, mod revision, version) followed by the value bytes.

use crate::types::KeyValue;

const HEADER: usize = 24;

/// Encodes `kv`'s bookkeeping and value (the key is the table key).
pub fn encode(kv: &KeyValue) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + kv.value.len());
    out.extend_from_slice(&kv.create_revision.to_le_bytes());
    out.extend_from_slice(&kv.mod_revision.to_le_bytes());
    out.extend_from_slice(&kv.version.to_le_bytes());
    out.extend_from_slice(&kv.value);
    out
}

/// Decodes what [`encode`] wrote; `None` for a record too short to be one.
pub fn decode(key: &[u8], bytes: &[u8]) -> Option<KeyValue> {
    let field = |i: usize| -> Option<i64> {
        Some(i64::from_le_bytes(
            bytes.get(i * 8..i * 8 + 8)?.try_into().ok()?,
        ))
    };
    Some(KeyValue {
        key: key.to_vec(),
        create_revision: field(0)?,
        mod_revision: field(1)?,
        version: field(2)?,
        value: bytes.get(HEADER..)?.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_short_records() {
        let kv = KeyValue {
            key: b"k".to_vec(),
            value: b"value".to_vec(),
            create_revision: 3,
            mod_revision: 9,
            version: 4,
        };
        assert_eq!(decode(b"k", &encode(&kv)), Some(kv));
        assert_eq!(decode(b"k", &[0; 10]), None);
    }
}
