//! CBOR (RFC 8949) as rpc-v2-cbor uses it, to and from JSON values: a document service reached
//! over CBOR is served by the same code as over AWS JSON, its input and output transcoded
//! here. Maps with text keys, arrays, text, integers, floats (half, single, double), booleans
//! and null; definite and indefinite lengths; byte strings become base64 text (AWS JSON's
//! form of a blob) and tag 1 (epoch-seconds timestamps) its number. Small on purpose: no
//! dependency, and bounded depth so hostile input cannot exhaust the stack.

use base64_like::encode_base64;
use serde_json::{Map, Number, Value};

/// Deeper nesting than any AWS shape has.
const MAX_DEPTH: usize = 64;

/// Why bytes are not the CBOR berth reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CborError {
    /// The input ended inside an item.
    #[error("the CBOR input ends inside an item")]
    Truncated,
    /// Something CBOR allows that no AWS shape uses (or malformed bytes).
    #[error("unsupported CBOR at byte {at}: {what}")]
    Unsupported {
        /// The offset.
        at: usize,
        /// What was found.
        what: &'static str,
    },
    /// Bytes after the top-level item.
    #[error("trailing bytes after the CBOR item at byte {0}")]
    Trailing(usize),
}

/// Decodes one CBOR item (the whole input) into a JSON value.
pub fn decode(bytes: &[u8]) -> Result<Value, CborError> {
    let mut reader = Reader { bytes, at: 0 };
    let value = reader.item(0)?;
    if reader.at != bytes.len() {
        return Err(CborError::Trailing(reader.at));
    }
    Ok(value)
}

/// Encodes a JSON value as CBOR.
pub fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write(&mut out, value);
    out
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

/// "Indefinite length" in an item's additional information.
const INDEFINITE: u8 = 31;
const BREAK: u8 = 0xff;

impl Reader<'_> {
    fn byte(&mut self) -> Result<u8, CborError> {
        let byte = *self.bytes.get(self.at).ok_or(CborError::Truncated)?;
        self.at += 1;
        Ok(byte)
    }

    fn take(&mut self, n: u64) -> Result<&[u8], CborError> {
        let n = usize::try_from(n).map_err(|_| CborError::Truncated)?;
        let end = self.at.checked_add(n).ok_or(CborError::Truncated)?;
        let slice = self.bytes.get(self.at..end).ok_or(CborError::Truncated)?;
        self.at = end;
        Ok(slice)
    }

    fn unsupported(&self, what: &'static str) -> CborError {
        CborError::Unsupported {
            at: self.at.saturating_sub(1),
            what,
        }
    }

    /// The argument of an item whose additional information is `info`.
    fn argument(&mut self, info: u8) -> Result<u64, CborError> {
        Ok(match info {
            0..=23 => u64::from(info),
            24 => u64::from(self.byte()?),
            25 => u64::from(u16::from_be_bytes(self.fixed()?)),
            26 => u64::from(u32::from_be_bytes(self.fixed()?)),
            27 => u64::from_be_bytes(self.fixed()?),
            _ => return Err(self.unsupported("a reserved or indefinite argument")),
        })
    }

    fn fixed<const N: usize>(&mut self) -> Result<[u8; N], CborError> {
        let slice = self.take(N as u64)?;
        let mut array = [0; N];
        array.copy_from_slice(slice);
        Ok(array)
    }

    fn at_break(&mut self) -> Result<bool, CborError> {
        if *self.bytes.get(self.at).ok_or(CborError::Truncated)? == BREAK {
            self.at += 1;
            return Ok(true);
        }
        Ok(false)
    }

    fn item(&mut self, depth: usize) -> Result<Value, CborError> {
        if depth > MAX_DEPTH {
            return Err(self.unsupported("nesting deeper than any AWS shape"));
        }
        let initial = self.byte()?;
        let (major, info) = (initial >> 5, initial & 0x1f);
        match major {
            0 => Ok(Value::from(self.argument(info)?)),
            1 => {
                let n = self.argument(info)?;
                // -1 - n, which fits an i64 only up to n = i64::MAX.
                let n = i64::try_from(n).map_err(|_| self.unsupported("an integer below i64"))?;
                Ok(Value::from(-1 - n))
            }
            2 => {
                let bytes = self.string_bytes(major, info)?;
                Ok(Value::String(encode_base64(&bytes)))
            }
            3 => {
                let bytes = self.string_bytes(major, info)?;
                String::from_utf8(bytes)
                    .map(Value::String)
                    .map_err(|_| self.unsupported("text that is not UTF-8"))
            }
            4 => {
                let mut items = Vec::new();
                if info == INDEFINITE {
                    while !self.at_break()? {
                        items.push(self.item(depth + 1)?);
                    }
                } else {
                    for _ in 0..self.argument(info)? {
                        items.push(self.item(depth + 1)?);
                    }
                }
                Ok(Value::Array(items))
            }
            5 => {
                let mut map = Map::new();
                let mut entry = |reader: &mut Self| -> Result<(), CborError> {
                    let Value::String(key) = reader.item(depth + 1)? else {
                        return Err(reader.unsupported("a map key that is not text"));
                    };
                    let value = reader.item(depth + 1)?;
                    map.insert(key, value);
                    Ok(())
                };
                if info == INDEFINITE {
                    while !self.at_break()? {
                        entry(self)?;
                    }
                } else {
                    for _ in 0..self.argument(info)? {
                        entry(self)?;
                    }
                }
                Ok(Value::Object(map))
            }
            6 => {
                // Tag 1 is an epoch timestamp: its number is what AWS JSON sends.
                let tag = self.argument(info)?;
                if tag != 1 {
                    return Err(self.unsupported("a tag other than 1 (epoch time)"));
                }
                self.item(depth + 1)
            }
            _ => self.simple(info),
        }
    }

    /// The bytes of a byte or text string, joining an indefinite one's chunks.
    fn string_bytes(&mut self, major: u8, info: u8) -> Result<Vec<u8>, CborError> {
        if info != INDEFINITE {
            let length = self.argument(info)?;
            return Ok(self.take(length)?.to_vec());
        }
        let mut bytes = Vec::new();
        while !self.at_break()? {
            let initial = self.byte()?;
            if initial >> 5 != major || initial & 0x1f == INDEFINITE {
                return Err(self.unsupported("a chunk of another type in a string"));
            }
            let length = self.argument(initial & 0x1f)?;
            bytes.extend_from_slice(self.take(length)?);
        }
        Ok(bytes)
    }

    fn simple(&mut self, info: u8) -> Result<Value, CborError> {
        let float = match info {
            20 => return Ok(Value::Bool(false)),
            21 => return Ok(Value::Bool(true)),
            // null and undefined: both "no value".
            22 | 23 => return Ok(Value::Null),
            25 => half_to_f64(u16::from_be_bytes(self.fixed()?)),
            26 => f64::from(f32::from_be_bytes(self.fixed()?)),
            27 => f64::from_be_bytes(self.fixed()?),
            _ => return Err(self.unsupported("a simple value")),
        };
        // JSON has no NaN or infinities; AWS JSON spells them as strings.
        Ok(Number::from_f64(float).map_or_else(
            || {
                Value::String(
                    if float.is_nan() {
                        "NaN"
                    } else if float > 0.0 {
                        "Infinity"
                    } else {
                        "-Infinity"
                    }
                    .into(),
                )
            },
            Value::Number,
        ))
    }
}

fn half_to_f64(half: u16) -> f64 {
    let exponent = i32::from((half >> 10) & 0x1f);
    let mantissa = f64::from(half & 0x3ff);
    let magnitude = match exponent {
        0 => mantissa * 2f64.powi(-24),
        31 if mantissa == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        _ => (mantissa + 1024.0) * 2f64.powi(exponent - 25),
    };
    if half & 0x8000 != 0 {
        -magnitude
    } else {
        magnitude
    }
}

fn head(out: &mut Vec<u8>, major: u8, argument: u64) {
    let major = major << 5;
    match argument {
        0..=23 => out.push(major | argument as u8),
        24..=0xff => out.extend([major | 24, argument as u8]),
        0x100..=0xffff => {
            out.push(major | 25);
            out.extend((argument as u16).to_be_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(major | 26);
            out.extend((argument as u32).to_be_bytes());
        }
        _ => {
            out.push(major | 27);
            out.extend(argument.to_be_bytes());
        }
    }
}

fn write(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.push(0xf6),
        Value::Bool(false) => out.push(0xf4),
        Value::Bool(true) => out.push(0xf5),
        Value::Number(number) => {
            if let Some(n) = number.as_u64() {
                head(out, 0, n);
            } else if let Some(n) = number.as_i64() {
                // Negative: CBOR stores -1 - n.
                head(out, 1, n.unsigned_abs() - 1);
            } else {
                out.push(0xfb);
                out.extend(number.as_f64().unwrap_or_default().to_be_bytes());
            }
        }
        Value::String(text) => {
            head(out, 3, text.len() as u64);
            out.extend_from_slice(text.as_bytes());
        }
        Value::Array(items) => {
            head(out, 4, items.len() as u64);
            for item in items {
                write(out, item);
            }
        }
        Value::Object(map) => {
            head(out, 5, map.len() as u64);
            for (key, item) in map {
                head(out, 3, key.len() as u64);
                out.extend_from_slice(key.as_bytes());
                write(out, item);
            }
        }
    }
}

/// Standard base64 with padding, as AWS JSON carries blobs; here so the codec needs no crate.
mod base64_like {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    pub fn encode_base64(bytes: &[u8]) -> String {
        let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
        for chunk in bytes.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
                } else {
                    out.push('=');
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_round_trip() {
        let value = json!({
            "Namespace": "app",
            "MetricData": [{"MetricName": "hits", "Value": 1.5, "Count": 3, "Delta": -7}],
            "Big": 1_000_000_000_000u64,
            "Flag": true,
            "Nothing": null,
            "Empty": [],
        });
        assert_eq!(decode(&encode(&value)).unwrap(), value);
    }

    /// Items as RFC 8949's appendix A spells them, one per line.
    #[test]
    fn rfc_examples_decode() {
        let cases: &[(&[u8], Value)] = &[
            (&[0x00], json!(0)),
            (&[0x18, 0x64], json!(100)),
            (
                &[0x1b, 0, 0, 0, 0xe8, 0xd4, 0xa5, 0x10, 0],
                json!(1_000_000_000_000u64),
            ),
            (&[0x38, 0x63], json!(-100)),
            (&[0xf9, 0x3c, 0x00], json!(1.0)),
            (&[0xf9, 0xc4, 0x00], json!(-4.0)),
            (&[0xfa, 0x47, 0xc3, 0x50, 0x00], json!(100000.0)),
            (
                &[0xfb, 0x3f, 0xf1, 0x99, 0x99, 0x99, 0x99, 0x99, 0x9a],
                json!(1.1),
            ),
            (&[0xf9, 0x7c, 0x00], json!("Infinity")),
            (&[0x64, 0x49, 0x45, 0x54, 0x46], json!("IETF")),
            (&[0x44, 0x01, 0x02, 0x03, 0x04], json!("AQIDBA==")),
            (&[0xc1, 0x1a, 0x51, 0x4b, 0x67, 0xb0], json!(1363896240)),
            (&[0x83, 0x01, 0x02, 0x03], json!([1, 2, 3])),
            (&[0x9f, 0x01, 0x82, 0x02, 0x03, 0xff], json!([1, [2, 3]])),
            (
                &[0xa2, 0x61, 0x61, 0x01, 0x61, 0x62, 0x82, 0x02, 0x03],
                json!({"a": 1, "b": [2, 3]}),
            ),
            (&[0xbf, 0x61, 0x61, 0x01, 0xff], json!({"a": 1})),
            (&[0x7f, 0x62, 0x73, 0x74, 0x61, 0x72, 0xff], json!("str")),
        ];
        for (bytes, expected) in cases {
            assert_eq!(&decode(bytes).unwrap(), expected, "{bytes:02x?}");
        }
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        let deep: Vec<u8> = std::iter::repeat_n(0x81, 1000).collect();
        let cases: &[&[u8]] = &[
            &[],
            &[0x18],
            &[0x62, 0x61],
            &[0x01, 0x02],
            &[0xa1, 0x01, 0x02],
            &[0xc2, 0x40],
            &[0x1c],
            &[0x7f, 0x01, 0xff],
            &[0x9f, 0x01],
            &[0x3b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            &[0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            &deep,
        ];
        for bytes in cases {
            assert!(decode(bytes).is_err(), "{bytes:02x?}");
        }
    }
}
