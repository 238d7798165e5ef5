//! Why a signature is refused, in three kinds the API maps to each protocol's error codes.

/// Why a signature is refused. The API turns each into its protocol's error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigV4Error {
    /// The request carries something that is no complete SigV4 signature.
    #[error("{0}")]
    Incomplete(String),
    /// Signed too long ago or too far ahead, or a presigned URL past its expiry.
    #[error("{0}")]
    Expired(String),
    /// The signature (or the body hash it covers) is not the one the request's key makes.
    #[error("{0}")]
    Mismatch(String),
}
