//! `berth image pull|import|ls|rm|prune`: berth's image API from the command line.

use std::io::{IsTerminal, Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use berth_model::images::{ImageSummary, PullEvent};
use http_body_util::BodyExt;
use hyper::body::Bytes;
use tokio::sync::mpsc;

use crate::cli::{ImageCommand, ListingFlags};
use crate::client::{self, Endpoint, full, json_response, send, streamed};
use crate::output::{self, Format, Table, outln};

const JSON: (&str, &str) = ("content-type", "application/json");

pub fn run(command: ImageCommand) -> anyhow::Result<()> {
    let runtime = client::runtime()?;
    match command {
        ImageCommand::Pull { reference, client } => {
            runtime.block_on(pull(&client.endpoint()?, &reference))
        }
        ImageCommand::Import { file, tag, client } => {
            runtime.block_on(import(&client.endpoint()?, &file, &tag))
        }
        ImageCommand::Ls { listing, client } => {
            runtime.block_on(list(&client.endpoint()?, &listing))
        }
        ImageCommand::Rm { reference, client } => {
            runtime.block_on(remove(&client.endpoint()?, &reference))
        }
        ImageCommand::Prune { client } => runtime.block_on(prune(&client.endpoint()?)),
    }
}

async fn pull(endpoint: &Endpoint, reference: &str) -> anyhow::Result<()> {
    let body = serde_json::json!({ "reference": reference }).to_string();
    let response = send(
        endpoint,
        "POST",
        "/berth/v1/images/pull",
        &[(JSON.0, JSON.1.to_owned())],
        full(body),
    )
    .await?;
    if !response.status().is_success() {
        json_response(endpoint, response).await?;
        bail!("the pull was refused");
    }
    let mut bars = Bars::new(std::io::stdout().is_terminal());
    let mut body = response.into_body();
    let mut pending = Vec::new();
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else {
            continue;
        };
        pending.extend_from_slice(&data);
        while let Some(end) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            let event: PullEvent =
                serde_json::from_slice(&line).context("berth sent an unreadable progress event")?;
            match event {
                PullEvent::Pulled { image } => {
                    bars.finish();
                    outln!("Pulled {} ({})", image.reference, image.digest)?;
                    return Ok(());
                }
                PullEvent::Failed { message } => {
                    bars.finish();
                    bail!("{message}");
                }
                other => bars.update(other)?,
            }
        }
    }
    bail!("berth stopped answering before the pull finished")
}

async fn import(endpoint: &Endpoint, file: &Path, tag: &str) -> anyhow::Result<()> {
    let mut reader =
        std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let (chunks, receiver) = mpsc::channel(8);
    std::thread::spawn(move || {
        loop {
            let mut buffer = vec![0u8; 1 << 20];
            match reader.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => {
                    buffer.truncate(n);
                    if chunks.blocking_send(Ok(Bytes::from(buffer))).is_err() {
                        break;
                    }
                }
                Err(error) => {
                    let _ = chunks.blocking_send(Err(error));
                    break;
                }
            }
        }
    });
    let headers = [
        ("x-berth-tag", tag.to_owned()),
        ("content-type", "application/x-tar".to_owned()),
    ];
    let response = send(
        endpoint,
        "POST",
        "/berth/v1/images/import",
        &headers,
        streamed(receiver),
    )
    .await?;
    let answer = json_response(endpoint, response).await?;
    let image: ImageSummary = serde_json::from_value(answer["image"].clone())?;
    outln!("Imported {} ({})", image.reference, image.digest)?;
    Ok(())
}

async fn list(endpoint: &Endpoint, listing: &ListingFlags) -> anyhow::Result<()> {
    let response = send(endpoint, "GET", "/berth/v1/images", &[], full(Bytes::new())).await?;
    let answer = json_response(endpoint, response).await?;
    if listing.output == Format::Json {
        // As the server said it: every field, including those this table leaves out.
        return output::json(&answer["images"]);
    }
    let images: Vec<ImageSummary> = serde_json::from_value(answer["images"].clone())?;
    if listing.quiet {
        for image in images {
            outln!("{}", image.reference)?;
        }
        return Ok(());
    }
    let mut table = Table::new(&["REFERENCE", "DIGEST", "SIZE", "LAST USED"]);
    for image in images {
        let last_used = image
            .last_used_at
            .map_or("never".to_owned(), |t| output::ago(t.as_millis()));
        table.row(vec![
            image.reference.clone(),
            short(&image.digest).to_owned(),
            human_size(image.size),
            last_used,
        ]);
    }
    table.print()
}

async fn remove(endpoint: &Endpoint, reference: &str) -> anyhow::Result<()> {
    let body = serde_json::json!({ "reference": reference }).to_string();
    let response = send(
        endpoint,
        "POST",
        "/berth/v1/images/remove",
        &[(JSON.0, JSON.1.to_owned())],
        full(body),
    )
    .await?;
    let answer = json_response(endpoint, response).await?;
    outln!(
        "Removed {}",
        answer["image"]["reference"].as_str().unwrap_or(reference)
    )
}

async fn prune(endpoint: &Endpoint) -> anyhow::Result<()> {
    let response = send(
        endpoint,
        "POST",
        "/berth/v1/images/prune",
        &[],
        full(Bytes::new()),
    )
    .await?;
    let answer = json_response(endpoint, response).await?;
    outln!(
        "Removed {} layers and {} blobs, {} freed",
        answer["layersRemoved"],
        answer["blobsRemoved"],
        human_size(answer["bytesReclaimed"].as_u64().unwrap_or(0))
    )
}

/// One progress line per layer, redrawn in place on a terminal; one line per finished layer
/// otherwise.
struct Bars {
    terminal: bool,
    layers: Vec<(String, u64, u64, &'static str)>,
    drawn: usize,
    last_draw: Instant,
}

impl Bars {
    fn new(terminal: bool) -> Self {
        Self {
            terminal,
            layers: Vec::new(),
            drawn: 0,
            last_draw: Instant::now() - Duration::from_secs(1),
        }
    }

    fn update(&mut self, event: PullEvent) -> anyhow::Result<()> {
        let mut force = false;
        match event {
            PullEvent::Resolved {
                reference,
                digest,
                layers,
            } => {
                outln!("Pulling {reference} ({digest})")?;
                self.layers = layers
                    .into_iter()
                    .map(|l| (l.digest, 0, l.size, "waiting"))
                    .collect();
                force = true;
            }
            PullEvent::Progress { layer, done, total } => {
                if let Some(entry) = self.layers.iter_mut().find(|l| l.0 == layer) {
                    *entry = (layer, done, total, "downloading");
                }
            }
            PullEvent::LayerReady { layer, cached } => {
                if let Some(entry) = self.layers.iter_mut().find(|l| l.0 == layer) {
                    entry.1 = entry.2;
                    entry.3 = if cached { "already stored" } else { "done" };
                    if !self.terminal {
                        outln!("{}: {}", short(&entry.0), entry.3)?;
                    }
                }
                force = true;
            }
            PullEvent::Pulled { .. } | PullEvent::Failed { .. } => {}
        }
        if self.terminal && (force || self.last_draw.elapsed() > Duration::from_millis(100)) {
            self.draw();
        }
        Ok(())
    }

    fn draw(&mut self) {
        let mut out = std::io::stdout().lock();
        if self.drawn > 0 {
            let _ = write!(out, "\x1b[{}A", self.drawn);
        }
        for (digest, done, total, state) in &self.layers {
            let filled = if *total == 0 {
                20
            } else {
                (done * 20 / total).min(20) as usize
            };
            let _ = writeln!(
                out,
                "\x1b[2K{}  [{}{}]  {:>9} / {:<9} {state}",
                short(digest),
                "#".repeat(filled),
                ".".repeat(20 - filled),
                human_size(*done),
                human_size(*total)
            );
        }
        let _ = out.flush();
        self.drawn = self.layers.len();
        self.last_draw = Instant::now();
    }

    fn finish(&mut self) {
        if self.terminal && !self.layers.is_empty() {
            self.draw();
        }
    }
}

fn short(digest: &str) -> &str {
    digest.get(..19).unwrap_or(digest)
}

fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
