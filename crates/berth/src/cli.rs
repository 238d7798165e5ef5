//! Command-line flags, parsed in two steps as ripgrep does: clap reads raw flags, then
//! `validate` turns them into the config each component takes.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};

use crate::client::{self, Endpoint};
use crate::data_dir;

/// berth: a self-hosted serverless container engine that speaks the Amazon ECS API.
#[derive(Debug, Parser)]
#[command(name = "berth", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the all-in-one server: the ECS API, the embedded state store and (soon) a worker.
    Up(UpFlags),
    /// Ask a running berth whether it answers, and how many clusters it has.
    Status(ClientFlags),
}

#[derive(Debug, Args)]
pub struct UpFlags {
    /// Address to serve the API on.
    #[arg(long, default_value = "127.0.0.1:4580", value_name = "HOST:PORT")]
    listen: String,
    /// Where berth keeps its state [default: /var/lib/berth as root, else
    /// $XDG_DATA_HOME/berth].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// The 12-digit AWS account id every resource belongs to.
    #[arg(long, default_value = "000000000000", value_name = "ID")]
    account_id: String,
}

/// What `berth up` runs with, validated.
#[derive(Debug, Clone)]
pub struct UpConfig {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub account_id: String,
}

impl UpFlags {
    pub fn validate(self) -> anyhow::Result<UpConfig> {
        let listen = self.listen.parse().with_context(|| {
            format!(
                "--listen {}: expected HOST:PORT, such as 127.0.0.1:4580",
                self.listen
            )
        })?;
        if self.account_id.len() != 12 || !self.account_id.bytes().all(|b| b.is_ascii_digit()) {
            bail!(
                "--account-id {}: an AWS account id is exactly 12 digits",
                self.account_id
            );
        }
        let data_dir = match self.data_dir {
            Some(dir) => dir,
            None => data_dir::default_dir()?,
        };
        Ok(UpConfig {
            listen,
            data_dir,
            account_id: self.account_id,
        })
    }
}

#[derive(Debug, Args)]
pub struct ClientFlags {
    /// The berth endpoint [default: $BERTH_ENDPOINT, then $AWS_ENDPOINT_URL, then
    /// http://127.0.0.1:4580].
    #[arg(long, value_name = "URL")]
    endpoint: Option<String>,
}

impl ClientFlags {
    pub fn endpoint(&self) -> anyhow::Result<Endpoint> {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        client::resolve_endpoint(
            self.endpoint.as_deref(),
            env("BERTH_ENDPOINT").as_deref(),
            env("AWS_ENDPOINT_URL").as_deref(),
        )
    }
}
