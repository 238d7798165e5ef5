//! Obtaining a task's images as the node's pull behavior says, with single-flight pulls: tasks
//! that start at once and need one image share one trip to its registry, as Docker shares a
//! pull in progress. A finished pull is not reused — the next task asks the registry again, as
//! ECS's default pull behavior wants.
//!
//! An image name is read as the image store resolves it (a short name means the local,
//! imported image when there is one), and an imported image is never pulled, whatever the
//! behavior: no registry has it, and a registry's image of the same name is another image.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use berth_image::{ImageRecord, ImageSource, ImageStore};
use tokio::sync::OnceCell;

use crate::PullBehavior;

/// Why an image could not be obtained: the image store's failed pull (`pull image REF: why`),
/// shared by every task that waited on it. `stop_reason` words it for ECS.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct PullError(Arc<berth_image::PullError>);

impl From<berth_image::PullError> for PullError {
    fn from(error: berth_image::PullError) -> Self {
        Self(Arc::new(error))
    }
}

/// A pull's outcome: the image, or why not.
pub type Outcome = Result<ImageRecord, PullError>;

/// The pulls in progress on this node, by image reference.
pub type SharedPulls = InFlight<Outcome>;

impl SharedPulls {
    /// The image as `behavior` says: pulled (sharing a pull of it in progress), or the copy
    /// stored on this node; else why not. An imported image is always the stored copy.
    pub async fn obtain(
        &self,
        images: &ImageStore,
        behavior: PullBehavior,
        image: &str,
    ) -> Outcome {
        // Pulled and looked up as one reference: a short name that means a local image is
        // never pulled from Docker Hub meanwhile. A reference that does not parse is pulled
        // as written, so that the pull's error says why.
        let image = images
            .resolve(image)
            .map_or_else(|_| image.to_owned(), |r| r.to_string());
        let image = image.as_str();
        let stored = || images.get(image).ok();
        if let Some(record) = stored()
            && (record.source == ImageSource::Imported
                || matches!(behavior, PullBehavior::Once | PullBehavior::PreferCached))
        {
            return Ok(record);
        }
        match self.pull(images, image).await {
            Ok(record) => Ok(record),
            Err(error) if behavior == PullBehavior::Default => match stored() {
                Some(record) => {
                    tracing::warn!(%error, image, "pull failed; using the stored image");
                    Ok(record)
                }
                None => Err(error),
            },
            Err(error) => Err(error),
        }
    }

    /// Pulls `reference` into `images`, or waits for the pull of it already in progress.
    async fn pull(&self, images: &ImageStore, reference: &str) -> Outcome {
        self.share(reference, || async {
            images
                .pull(reference, Arc::new(|_| {}))
                .await
                .map_err(PullError::from)
        })
        .await
    }
}

/// Work in progress by key, whose outcome every caller that asks meanwhile shares.
pub struct InFlight<T> {
    in_flight: Mutex<HashMap<String, Arc<OnceCell<T>>>>,
}

impl<T> Default for InFlight<T> {
    fn default() -> Self {
        Self {
            in_flight: Mutex::new(HashMap::new()),
        }
    }
}

impl<T: Clone> InFlight<T> {
    /// The outcome of `work` for `key`, or of the work for `key` already under way.
    pub async fn share<F, Fut>(&self, key: &str, work: F) -> T
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        let shared = self.lock().entry(key.to_owned()).or_default().clone();
        let outcome = shared.get_or_init(work).await.clone();
        // Done: whoever comes next starts afresh.
        let mut in_flight = self.lock();
        if in_flight
            .get(key)
            .is_some_and(|current| Arc::ptr_eq(current, &shared))
        {
            in_flight.remove(key);
        }
        outcome
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<OnceCell<T>>>> {
        self.in_flight.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn callers_at_once_share_one_run_and_later_ones_start_another() {
        let shared = InFlight::<usize>::default();
        let runs = AtomicUsize::new(0);
        let work = || async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            runs.fetch_add(1, Ordering::SeqCst) + 1
        };
        let (a, b, c) = tokio::join!(
            shared.share("image", work),
            shared.share("image", work),
            shared.share("image", work)
        );
        assert_eq!((a, b, c), (1, 1, 1));
        assert_eq!(shared.share("image", work).await, 2);
        // Other keys do not wait for each other's work.
        assert_eq!(shared.share("other", work).await, 3);
        assert!(shared.lock().is_empty());
    }
}
