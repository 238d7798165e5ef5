//! Wiring: the API's `ImageService` implemented by the node's `ImageStore`. Only translation
//! lives here — errors to the API's kinds, records to summaries.

use std::sync::Arc;

use berth_api::images::BoxFuture;
use berth_api::{ImageService, ImageServiceError};
use berth_image::{ImageError, ImageStore, ImportError};
use berth_model::images::{ImageSummary, PruneSummary, PullEvent};
use hyper::body::Bytes;
use tokio::sync::mpsc;

/// The local node's images.
pub struct NodeImages {
    pub store: Arc<ImageStore>,
}

impl ImageService for NodeImages {
    fn list(&self) -> Vec<ImageSummary> {
        self.store.list()
    }

    fn pull(&self, reference: String, events: mpsc::UnboundedSender<PullEvent>) -> BoxFuture<()> {
        let store = self.store.clone();
        Box::pin(async move {
            let progress_events = events.clone();
            let progress: berth_image::Progress = Arc::new(move |event| {
                let _ = progress_events.send(event);
            });
            // Success and failure both end the stream with their own event.
            let _ = store.pull(&reference, progress).await;
        })
    }

    fn import(
        &self,
        tag: String,
        archive: mpsc::Receiver<Result<Bytes, String>>,
    ) -> BoxFuture<Result<ImageSummary, ImageServiceError>> {
        let store = self.store.clone();
        Box::pin(async move {
            match store.import_upload(archive, &tag).await {
                Ok(record) => Ok(berth_image::summary(&record)),
                Err(error @ ImportError::Io(_)) => {
                    Err(ImageServiceError::Failed(error.to_string()))
                }
                Err(error) => Err(ImageServiceError::Invalid(error.to_string())),
            }
        })
    }

    fn remove(&self, reference: &str) -> Result<ImageSummary, ImageServiceError> {
        self.store.remove(reference).map_err(image_error)
    }

    fn prune(&self) -> Result<PruneSummary, ImageServiceError> {
        let report = self.store.prune().map_err(image_error)?;
        Ok(PruneSummary {
            layers_removed: report.layers,
            blobs_removed: report.blobs,
            bytes_reclaimed: report.bytes,
        })
    }
}

fn image_error(error: ImageError) -> ImageServiceError {
    match error {
        ImageError::Reference(e) => ImageServiceError::Invalid(e.to_string()),
        ImageError::NotFound(_) => ImageServiceError::NotFound(error.to_string()),
        ImageError::InUse { .. } => ImageServiceError::InUse(error.to_string()),
        ImageError::Io(_) => ImageServiceError::Failed(berth_image::error_chain(&error)),
    }
}
