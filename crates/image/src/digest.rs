//! Content digests (`sha256:<64 hex>`) and the hasher that checks bytes against one.

use std::fmt;

use sha2::{Digest as _, Sha256};

/// A content digest. Only sha256 is supported, as by every registry berth has met.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    hex: String,
}

/// Why a string is not a digest berth can use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// Not `algorithm:hex`.
    #[error("'{0}' is not a digest: expected sha256:<64 lowercase hex digits>")]
    Malformed(String),
    /// Another algorithm than sha256.
    #[error("digest algorithm of '{0}' is not supported: only sha256 is")]
    UnsupportedAlgorithm(String),
}

impl Digest {
    /// Parses `sha256:<hex>`.
    pub fn parse(text: &str) -> Result<Self, DigestError> {
        let (algorithm, hex) = text
            .split_once(':')
            .ok_or_else(|| DigestError::Malformed(text.to_owned()))?;
        if algorithm != "sha256" {
            return Err(if algorithm.is_empty() || hex.is_empty() {
                DigestError::Malformed(text.to_owned())
            } else {
                DigestError::UnsupportedAlgorithm(text.to_owned())
            });
        }
        if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(DigestError::Malformed(text.to_owned()));
        }
        Ok(Self {
            hex: hex.to_owned(),
        })
    }

    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        let mut hasher = Hasher::new();
        hasher.update(bytes);
        hasher.finish()
    }

    /// The hex part, used as a file name in the content store.
    pub fn hex(&self) -> &str {
        &self.hex
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Hashes a stream of bytes.
#[derive(Clone, Default)]
pub struct Hasher {
    inner: Sha256,
    len: u64,
}

impl Hasher {
    /// A fresh hasher.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.inner.update(bytes);
        self.len += bytes.len() as u64;
    }

    /// Bytes fed so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when nothing was fed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The digest of everything fed.
    pub fn finish(self) -> Digest {
        let bytes = self.inner.finalize();
        let mut hex = String::with_capacity(64);
        for byte in bytes.iter() {
            hex.push_str(&format!("{byte:02x}"));
        }
        Digest { hex }
    }
}

/// A reader that hashes what passes through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Hasher,
}

impl<R> HashingReader<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            hasher: Hasher::new(),
        }
    }

    /// The digest of what was read, and how many bytes.
    pub fn finish(self) -> (Digest, u64) {
        let len = self.hasher.len();
        (self.hasher.finish(), len)
    }
}

impl<R: std::io::Read> std::io::Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digest_and_parsing() {
        let empty = Digest::of(b"");
        assert_eq!(
            empty.to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(Digest::parse(&empty.to_string()).unwrap(), empty);
        for bad in [
            "",
            "sha256:",
            "sha256:abc",
            "e3b0",
            &empty.hex().to_uppercase(),
        ] {
            assert!(Digest::parse(bad).is_err(), "{bad}");
        }
        assert!(matches!(
            Digest::parse("sha512:abcd"),
            Err(DigestError::UnsupportedAlgorithm(_))
        ));
    }
}
