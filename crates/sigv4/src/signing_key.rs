//! The signing key of one access key for one day, region and service, and the signatures it
//! makes. Deriving one costs four HMACs; the API keeps derived keys so a client's next
//! request costs one.

use ring::hmac;

/// What a signature is scoped to: `DATE/REGION/SERVICE/aws4_request`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SigningScope {
    /// `YYYYMMDD`.
    pub date: String,
    /// The region, e.g. `us-east-1`.
    pub region: String,
    /// The signing name of the service, e.g. `ecs`.
    pub service: String,
}

impl SigningScope {
    /// `DATE/REGION/SERVICE/aws4_request`, as the string to sign carries it.
    pub fn credential_scope(&self) -> String {
        format!(
            "{}/{}/{}/aws4_request",
            self.date, self.region, self.service
        )
    }
}

/// `HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")`.
#[derive(Clone)]
pub struct SigningKey(hmac::Key);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(..)")
    }
}

impl SigningKey {
    /// The key `secret_access_key` signs with in `scope`.
    pub fn derive(secret_access_key: &str, scope: &SigningScope) -> Self {
        let step = |key: &[u8], data: &str| {
            hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data.as_bytes())
        };
        let date = step(format!("AWS4{secret_access_key}").as_bytes(), &scope.date);
        let region = step(date.as_ref(), &scope.region);
        let service = step(region.as_ref(), &scope.service);
        let signing = step(service.as_ref(), "aws4_request");
        Self(hmac::Key::new(hmac::HMAC_SHA256, signing.as_ref()))
    }

    /// The signature of `string_to_sign`.
    pub fn sign(&self, string_to_sign: &str) -> [u8; 32] {
        let mut out = [0; 32];
        out.copy_from_slice(hmac::sign(&self.0, string_to_sign.as_bytes()).as_ref());
        out
    }

    /// Whether `signature` is this key's signature of `string_to_sign`, compared in constant
    /// time so that a caller cannot learn a signature byte by byte.
    pub fn verifies(&self, string_to_sign: &str, signature: &[u8; 32]) -> bool {
        hmac::verify(&self.0, string_to_sign.as_bytes(), signature).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hex;

    #[test]
    fn the_signing_key_is_derived_as_aws_documents() {
        // The example of AWS's "Examples of how to derive a signing key for Signature Version
        // 4": secret wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY, 20120215, us-east-1, iam. Its
        // signing key is f4780e2d...; signing "" with it checks the derivation end to end.
        let scope = SigningScope {
            date: "20120215".into(),
            region: "us-east-1".into(),
            service: "iam".into(),
        };
        let key = SigningKey::derive("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", &scope);
        let expected = hmac::sign(
            &hmac::Key::new(
                hmac::HMAC_SHA256,
                &crate::hashing::unhex::<32>(
                    "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d",
                )
                .unwrap(),
            ),
            b"",
        );
        assert_eq!(hex(&key.sign("")), hex(expected.as_ref()));
        assert!(key.verifies("", &key.sign("")));
        assert!(!key.verifies("x", &key.sign("")));
        assert_eq!(
            scope.credential_scope(),
            "20120215/us-east-1/iam/aws4_request"
        );
    }
}
