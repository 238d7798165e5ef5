//! Reading a request body whole, up to berth's limit, telling the two ways it can fail apart:
//! too large (the caller must send less) and broken (the connection or its chunked framing
//! failed mid-body). Reported alike, botocore would take the second for the first — or, with
//! EC2's `RequestLimitExceeded`, for throttling, and retry three times.

use axum::body::{Body, Bytes};
use http_body_util::{BodyExt, LengthLimitError, Limited};

use crate::error::{ApiError, ErrorCode, error_chain};

/// Why a body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// More bytes than the limit.
    #[error("The request body is larger than {limit} bytes.")]
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The body ended early or its framing was broken.
    #[error("The request body could not be read: {0}")]
    Broken(String),
}

impl From<BodyError> for ApiError {
    fn from(error: BodyError) -> Self {
        let code = match error {
            BodyError::TooLarge { .. } => ErrorCode::RequestEntityTooLargeException,
            BodyError::Broken(_) => ErrorCode::SerializationException,
        };
        ApiError::new(code, error.to_string())
    }
}

/// The whole body, at most `limit` bytes of it.
pub async fn read(body: Body, limit: usize) -> Result<Bytes, BodyError> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.downcast_ref::<LengthLimitError>().is_some() => {
            Err(BodyError::TooLarge { limit })
        }
        Err(error) => Err(BodyError::Broken(error_chain(error.as_ref()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn too_large_and_broken_bodies_are_told_apart() {
        assert_eq!(read(Body::from("abc"), 3).await.unwrap(), "abc");
        assert_eq!(
            read(Body::from("abcd"), 3).await,
            Err(BodyError::TooLarge { limit: 3 })
        );
        assert!(matches!(
            read(Body::new(Dropped { sent: false }), 100).await,
            Err(BodyError::Broken(reason)) if reason.contains("connection reset")
        ));
    }

    /// One chunk, then a failure, as a connection dropped mid-body shows.
    struct Dropped {
        sent: bool,
    }

    impl http_body::Body for Dropped {
        type Data = Bytes;
        type Error = std::io::Error;

        fn poll_frame(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
            if self.sent {
                return std::task::Poll::Ready(Some(Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "connection reset",
                ))));
            }
            self.sent = true;
            std::task::Poll::Ready(Some(Ok(http_body::Frame::data(Bytes::from_static(b"ab")))))
        }
    }
}
