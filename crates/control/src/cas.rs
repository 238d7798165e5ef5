//! Compare-and-swap retries, the shape of every read-modify-write in the control plane: read
//! what the decision rests on, decide, and submit a transaction that compares on the revisions
//! read. When another writer got there first a compare fails, nothing is written, and the
//! whole read-decide-write starts over on fresh state. After [`CAS_ATTEMPTS`] lost compares
//! the operation gives up with its area's "contended" error instead of spinning on a hot
//! record.

use std::future::Future;

/// Attempts at a read-decide-write before giving up on a hot record.
pub(crate) const CAS_ATTEMPTS: usize = 16;

/// How one attempt ended (an error ends the operation instead: return `Err`).
pub(crate) enum Attempt<T> {
    /// The operation is over: its transaction committed, or it needed no write.
    Done(T),
    /// A compare failed (someone wrote in between): read again and decide again.
    Lost,
}

impl<T> Attempt<T> {
    /// `Done(value)` if the transaction committed, else `Lost`.
    pub(crate) fn committed(succeeded: bool, value: T) -> Self {
        if succeeded {
            Self::Done(value)
        } else {
            Self::Lost
        }
    }
}

/// Runs `attempt` until it is done or fails, at most [`CAS_ATTEMPTS`] times; `contended` is
/// the error when every attempt lost its compare.
///
/// Each attempt must read afresh: it is a closure returning a new future, and nothing it
/// decided in an attempt that lost may carry over to the next one.
pub(crate) async fn retry_cas<T, E, Fut>(
    mut attempt: impl FnMut() -> Fut,
    contended: E,
) -> Result<T, E>
where
    Fut: Future<Output = Result<Attempt<T>, E>>,
{
    for _ in 0..CAS_ATTEMPTS {
        if let Attempt::Done(value) = attempt().await? {
            return Ok(value);
        }
    }
    Err(contended)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn retries_lost_compares_then_reports_contention() {
        let mut tries = 0;
        let done: Result<usize, &str> = retry_cas(
            || {
                tries += 1;
                let tries = tries;
                async move { Ok(Attempt::committed(tries == 3, tries)) }
            },
            "contended",
        )
        .await;
        assert_eq!(done, Ok(3));

        let mut tries = 0;
        let lost: Result<(), &str> = retry_cas(
            || {
                tries += 1;
                async { Ok(Attempt::Lost) }
            },
            "contended",
        )
        .await;
        assert_eq!((lost, tries), (Err("contended"), CAS_ATTEMPTS));

        let failed: Result<(), &str> =
            retry_cas(|| async { Err("store failed") }, "contended").await;
        assert_eq!(failed, Err("store failed"));
    }
}
