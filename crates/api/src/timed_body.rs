//! A request body that fails instead of waiting forever on a client that stops sending (or
//! sends a byte at a time): every body must keep bytes coming, at most `timeout` apart, and a
//! body read whole (all but image archives) must have arrived `timeout` after its request's
//! head. An image import streams for as long as its archive takes, so it gets only the first
//! rule: a whole-body deadline would cut large archives on slow links.
//!
//! The failure reads as a broken body to whoever reads it (`protocol::body` answers 400;
//! an import stops); hyper then closes the connection, whose body was not read to its end.
//! No timer is made while bytes are already there when asked for, so a request whose
//! body came with its head (nearly every API call) costs one clock reading.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

/// The error a stalled body ends with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Stalled {
    /// No bytes for the whole timeout.
    #[error("the client sent no part of it for {} s", .0.as_secs_f64())]
    Silent(Duration),
    /// Bytes kept coming, too slowly to finish in time.
    #[error("the client did not send all of it within {} s", .0.as_secs_f64())]
    TooSlow(Duration),
}

/// `inner`, failing with [`Stalled`] as the module says.
pub struct TimedBody<B> {
    inner: B,
    timeout: Duration,
    /// When the whole body must be in, for bodies read whole.
    deadline: Option<Instant>,
    /// Armed only once the client keeps us waiting.
    timer: Option<Pin<Box<Sleep>>>,
    /// What the timer, when it fires, means.
    armed_for: Stalled,
    /// Whether bytes came since the timer was last set.
    progressed: bool,
}

impl<B> TimedBody<B> {
    /// A body that may take `timeout` between chunks and, when `whole`, `timeout` in all.
    pub fn new(inner: B, timeout: Duration, whole: bool) -> Self {
        Self {
            inner,
            timeout,
            deadline: whole.then(|| Instant::now() + timeout),
            timer: None,
            armed_for: Stalled::Silent(timeout),
            progressed: true,
        }
    }

    /// When to give up if nothing comes from now on, and why it would be.
    fn next_deadline(&self) -> (Instant, Stalled) {
        let silent = Instant::now() + self.timeout;
        match self.deadline {
            Some(deadline) if deadline < silent => (deadline, Stalled::TooSlow(self.timeout)),
            _ => (silent, Stalled::Silent(self.timeout)),
        }
    }
}

impl<B> Body for TimedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            this.progressed = true;
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if this.progressed {
            let (at, why) = this.next_deadline();
            match &mut this.timer {
                Some(timer) => timer.as_mut().reset(at),
                None => this.timer = Some(Box::pin(tokio::time::sleep_until(at))),
            }
            this.armed_for = why;
            this.progressed = false;
        }
        let Some(timer) = &mut this.timer else {
            return Poll::Pending;
        };
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(this.armed_for.into()))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use tokio::sync::mpsc;

    /// A body fed from a channel, chunk by chunk.
    struct Fed(mpsc::Receiver<Bytes>);

    impl Body for Fed {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            self.0
                .poll_recv(cx)
                .map(|chunk| chunk.map(|c| Ok(Frame::data(c))))
        }
    }

    /// Sends `chunks` one `every` apart, then ends the body.
    fn drip(chunks: usize, every: Duration) -> Fed {
        let (send, receive) = mpsc::channel(1);
        tokio::spawn(async move {
            for _ in 0..chunks {
                tokio::time::sleep(every).await;
                if send.send(Bytes::from_static(b"x")).await.is_err() {
                    return;
                }
            }
        });
        Fed(receive)
    }

    async fn read(body: TimedBody<Fed>) -> Result<usize, String> {
        body.collect()
            .await
            .map(|c| c.to_bytes().len())
            .map_err(|e| e.to_string())
    }

    const TIMEOUT: Duration = Duration::from_secs(10);

    #[tokio::test(start_paused = true)]
    async fn a_body_that_keeps_coming_in_time_is_read() {
        let body = TimedBody::new(drip(5, Duration::from_secs(1)), TIMEOUT, true);
        assert_eq!(read(body).await, Ok(5));
    }

    #[tokio::test(start_paused = true)]
    async fn silence_fails_streamed_and_whole_bodies() {
        let streamed = TimedBody::new(drip(2, Duration::from_secs(11)), TIMEOUT, false);
        assert_eq!(
            read(streamed).await,
            Err("the client sent no part of it for 10 s".into())
        );
        // A body read whole that went silent after a byte meets its deadline first.
        let (send, receive) = mpsc::channel(1);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let _ = send.send(Bytes::from_static(b"x")).await;
            tokio::time::sleep(Duration::from_secs(60)).await;
        });
        let whole = TimedBody::new(Fed(receive), TIMEOUT, true);
        assert_eq!(
            read(whole).await,
            Err("the client did not send all of it within 10 s".into())
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_drip_fails_a_body_read_whole_but_not_a_stream() {
        let started = Instant::now();
        let whole = TimedBody::new(drip(30, Duration::from_secs(1)), TIMEOUT, true);
        assert_eq!(
            read(whole).await,
            Err("the client did not send all of it within 10 s".into())
        );
        assert_eq!(started.elapsed().as_secs(), 10);
        let streamed = TimedBody::new(drip(30, Duration::from_secs(9)), TIMEOUT, false);
        assert_eq!(read(streamed).await, Ok(30));
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_there_already_makes_no_timer() {
        let mut body = TimedBody::new(
            http_body_util::Full::new(Bytes::from_static(b"{}")),
            TIMEOUT,
            true,
        );
        let frame = body.frame().await.unwrap().unwrap();
        assert_eq!(frame.into_data().unwrap(), "{}");
        assert!(body.frame().await.is_none());
        assert!(body.timer.is_none());
    }
}
