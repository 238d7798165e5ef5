//! Values kept secret at rest — access keys' secrets today, Secrets Manager and SecureString
//! values next — sealed with AES-256-GCM under one key that `berth up` keeps in its data
//! directory (mode 0600), so a copy of the store alone reveals none of them.
//!
//! Each value gets a fresh random nonce, and is bound to the key it is stored under (the
//! associated data), so a sealed value moved to another record does not open there.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

/// Bytes in a sealing key.
pub const KEY_BYTES: usize = 32;

/// Why a value could not be sealed or opened.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SealError {
    /// The system's random source failed.
    #[error("cannot draw random bytes to seal a value")]
    Random,
    /// The sealed text is damaged, or was sealed under another key or for another record.
    #[error("a sealed value cannot be opened: it was sealed with another key, or is damaged")]
    Open,
}

/// Seals and opens values with one key.
pub struct Sealer {
    key: LessSafeKey,
    random: SystemRandom,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

impl Sealer {
    /// A sealer over `key`.
    pub fn new(key: &[u8; KEY_BYTES]) -> Self {
        let key = UnboundKey::new(&AES_256_GCM, key).expect("a 32-byte key is an AES-256 key");
        Self {
            key: LessSafeKey::new(key),
            random: SystemRandom::new(),
        }
    }

    /// A fresh random key.
    pub fn generate_key() -> Result<[u8; KEY_BYTES], SealError> {
        let mut key = [0; KEY_BYTES];
        SystemRandom::new()
            .fill(&mut key)
            .map_err(|_| SealError::Random)?;
        Ok(key)
    }

    /// `plain` sealed for the record `context`: base64 of nonce, ciphertext and tag.
    pub fn seal(&self, plain: &[u8], context: &str) -> Result<String, SealError> {
        let mut nonce = [0; NONCE_LEN];
        self.random
            .fill(&mut nonce)
            .map_err(|_| SealError::Random)?;
        let mut sealed = plain.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut sealed,
            )
            .map_err(|_| SealError::Random)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(STANDARD.encode(out))
    }

    /// What [`Sealer::seal`] sealed for `context`.
    pub fn open(&self, sealed: &str, context: &str) -> Result<Vec<u8>, SealError> {
        let bytes = STANDARD.decode(sealed).map_err(|_| SealError::Open)?;
        if bytes.len() < NONCE_LEN {
            return Err(SealError::Open);
        }
        let (nonce, rest) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::Open)?;
        let mut rest = rest.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut rest)
            .map_err(|_| SealError::Open)?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_only_with_its_key_and_record() {
        let sealer = Sealer::new(&Sealer::generate_key().unwrap());
        let sealed = sealer
            .seal(b"wJalrXUtnFEMI", "/iam/access-keys/AKIA1")
            .unwrap();
        assert!(!sealed.contains("wJalrXUtnFEMI"));
        assert_eq!(
            sealer.open(&sealed, "/iam/access-keys/AKIA1").unwrap(),
            b"wJalrXUtnFEMI"
        );
        assert!(sealer.open(&sealed, "/iam/access-keys/AKIA2").is_err());
        let other = Sealer::new(&Sealer::generate_key().unwrap());
        assert!(other.open(&sealed, "/iam/access-keys/AKIA1").is_err());
        assert!(sealer.open("bm90IHNlYWxlZA==", "x").is_err());
        assert_ne!(
            sealer.seal(b"a", "c").unwrap(),
            sealer.seal(b"a", "c").unwrap()
        );
    }
}
