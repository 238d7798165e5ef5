//! Command-line flags, parsed in two steps as ripgrep does: clap reads raw flags, then
//! `validate` turns them into the config each component takes.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};

use berth_image::credentials::Credentials;
use berth_image::registry::RegistryConfig;

use crate::client::{self, Endpoint};
use crate::data_dir;
use crate::output::Format;

/// berth: a self-hosted serverless container engine that speaks the Amazon ECS API.
#[derive(Debug, Parser)]
#[command(name = "berth", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the all-in-one server: the ECS and EC2 APIs, the embedded state store, and the node
    /// agent that runs tasks on this machine, until SIGINT or SIGTERM (tasks keep running).
    Up(UpFlags),
    /// Ask a running berth whether it answers: its clusters and the tasks meant to run.
    Status(ClientFlags),
    /// Manage the container images stored on the node.
    #[command(subcommand)]
    Image(ImageCommand),
    /// Manage accounts: each sees and touches only its own clusters, tasks and networks.
    #[command(subcommand)]
    Account(AccountCommand),
    /// Run IMAGE as a Fargate task, as `docker run` does: registers an ad-hoc task definition,
    /// runs it, streams its output and exits with its exit code. Ctrl-C (or SIGTERM) stops
    /// the task; a second one leaves it and returns.
    Run(RunFlags),
    /// List the tasks of a cluster that are meant to run (with --all, stopped ones too),
    /// newest first.
    Ps {
        /// Stopped tasks too.
        #[arg(short, long)]
        all: bool,
        /// The cluster [default: default].
        #[arg(long)]
        cluster: Option<String>,
        #[command(flatten)]
        listing: ListingFlags,
        #[command(flatten)]
        client: ClientFlags,
    },
    /// Stop a task.
    Stop {
        /// Task id, a unique prefix of one, or ARN.
        task: String,
        /// The cluster [default: default].
        #[arg(long)]
        cluster: Option<String>,
        #[command(flatten)]
        client: ClientFlags,
    },
    /// Print a task's container output; a task that never started says why, and fails.
    Logs {
        /// Task id, a unique prefix of one, or ARN.
        task: String,
        /// The container (needed when the task has several).
        #[arg(long)]
        container: Option<String>,
        /// Keep printing until the container exits.
        #[arg(short, long)]
        follow: bool,
        /// Start each line with the time it was written (RFC 3339, UTC).
        #[arg(short, long)]
        timestamps: bool,
        /// The cluster [default: default].
        #[arg(long)]
        cluster: Option<String>,
        #[command(flatten)]
        client: ClientFlags,
    },
    /// Supervise one task (started by `berth up`'s agent, not by hand).
    #[command(hide = true)]
    Shim {
        /// The task's directory, holding its plan.
        #[arg(required_unless_present = "pooled")]
        task_dir: Option<std::path::PathBuf>,
        /// Make the sandbox now and wait on standard input for a task.
        #[arg(long, conflicts_with = "task_dir")]
        pooled: bool,
        /// With --pooled: make the sandbox's veth into this bridge ahead of the task too.
        #[arg(long, requires = "pooled")]
        bridge: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct RunFlags {
    /// Leave nothing behind: the ad-hoc task definition is deleted, and the task is hidden
    /// from `berth ps --all` once it stops.
    #[arg(long)]
    pub rm: bool,
    /// Print the task's ARN and return at once.
    #[arg(short, long)]
    pub detach: bool,
    /// Task CPU: units (256) or vCPUs ("0.5 vCPU").
    #[arg(long, default_value = "256")]
    pub cpu: String,
    /// Task memory in MiB [default: the least Fargate allows for --cpu].
    #[arg(long, value_name = "MiB")]
    pub memory: Option<u32>,
    /// An environment variable (repeatable).
    #[arg(short, long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// The cluster [default: default, created if missing].
    #[arg(long)]
    pub cluster: Option<String>,
    /// The image.
    pub image: String,
    /// The command and its arguments (after --).
    #[arg(last = true)]
    pub command: Vec<String>,
    #[command(flatten)]
    pub client: ClientFlags,
}

#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Create an account and print its root's access key (in the aws CLI's credentials
    /// format, to add to ~/.aws/credentials). Only the first account's root may.
    Create {
        /// The new account's 12-digit id [default: a fresh one].
        #[arg(long, value_name = "ID")]
        account_id: Option<String>,
        #[command(flatten)]
        client: ClientFlags,
    },
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Pull an image from its registry, showing each layer's progress.
    Pull {
        /// The image, e.g. nginx, registry.local:5000/team/app:v3 or app@sha256:...
        reference: String,
        #[command(flatten)]
        client: ClientFlags,
    },
    /// Import an OCI archive (skopeo's oci-archive:) or a `docker save` archive.
    Import {
        /// The archive file.
        file: PathBuf,
        /// The name to store it under.
        #[arg(long, value_name = "REF")]
        tag: String,
        #[command(flatten)]
        client: ClientFlags,
    },
    /// List stored images.
    Ls {
        #[command(flatten)]
        listing: ListingFlags,
        #[command(flatten)]
        client: ClientFlags,
    },
    /// Remove an image (its layers stay until `prune`).
    Rm {
        /// The image.
        reference: String,
        #[command(flatten)]
        client: ClientFlags,
    },
    /// Remove layers and blobs no image refers to and no container uses.
    Prune {
        #[command(flatten)]
        client: ClientFlags,
    },
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
    /// The 12-digit id of the first account, made at first start with an administrator
    /// access key (written to DATA_DIR/credentials, profile berth).
    #[arg(long, default_value = "000000000000", value_name = "ID")]
    account_id: String,
    /// Who may call the API: `sigv4` (requests signed with an access key berth issued) or
    /// `none` (any credentials or none, every caller root of the first account: for local
    /// experiments only).
    #[arg(long, value_enum, default_value_t = AuthMode::Sigv4, value_name = "MODE")]
    auth: AuthMode,
    /// Registry credentials: a Docker-format config.json [default: $DOCKER_CONFIG/config.json,
    /// else ~/.docker/config.json, when present].
    #[arg(long, value_name = "PATH")]
    registry_config: Option<PathBuf>,
    /// A registry to reach over plain HTTP although it is not on loopback (repeatable).
    #[arg(long = "insecure-registry", value_name = "HOST[:PORT]")]
    insecure_registries: Vec<String>,
    /// A mirror to try before a registry, e.g. docker.io=http://127.0.0.1:5000 (repeatable).
    #[arg(long = "registry-mirror", value_name = "REGISTRY=URL")]
    registry_mirrors: Vec<String>,
    /// A static init binary for containers with initProcessEnabled [default:
    /// /usr/bin/tini-static, from Debian's tini package, when present].
    #[arg(long, value_name = "PATH")]
    init_path: Option<PathBuf>,
    /// Size at which a container's log file is rotated, in MiB.
    #[arg(long, default_value_t = 10, value_name = "MIB")]
    log_max_size: u64,
    /// Log files kept per container, the live one included.
    #[arg(long, default_value_t = 5, value_name = "N")]
    log_max_files: u32,
    /// When task images are pulled, as the ECS agent's ECS_IMAGE_PULL_BEHAVIOR: default
    /// (always, falling back to the stored image), always, once, prefer-cached.
    #[arg(long, default_value = "default", value_name = "BEHAVIOR")]
    image_pull_behavior: String,
    /// Task supervisors kept started, their sandboxes made, so that a task start need not
    /// wait for one (0: none).
    #[arg(long, default_value_t = 2, value_name = "N")]
    warm_supervisors: usize,
    /// The default VPC's CIDR block; its default subnet is the first /20, subnets made on
    /// first use take the next ones.
    #[arg(long, default_value = "172.31.0.0/16", value_name = "CIDR")]
    vpc_cidr: String,
    /// The bridge tasks' network interfaces join (made if missing).
    #[arg(long, default_value = "berth0", value_name = "NAME")]
    bridge: String,
    /// Refuse subnets and security groups berth has not seen, as AWS does, instead of making
    /// them on first use.
    #[arg(long)]
    strict_network: bool,
    /// What enforces security groups and egress: auto (nftables if `nft` is installed, else
    /// iptables), nftables, iptables, or off.
    #[arg(long, default_value = "auto", value_name = "BACKEND")]
    firewall: String,
    /// Accept task definitions with privileged containers, any added capability and host
    /// sourcePath bind mounts, which Fargate refuses: only on a trusted single-user machine.
    #[arg(long)]
    allow_privileged: bool,
    /// A DNS name clients reach this server by (repeatable). Requests are answered only when
    /// their Host is an IP address, localhost or one of these, so that no web page can reach
    /// berth through a name of its own (DNS rebinding).
    #[arg(long = "api-host", value_name = "NAME")]
    api_hosts: Vec<String>,
    /// Seconds a client may take to send a request's head; also how long a kept-alive
    /// connection may sit idle.
    #[arg(long, default_value_t = berth_api::listener::HEADER_TIMEOUT.as_secs(), value_name = "SECONDS")]
    header_timeout: u64,
    /// Seconds a request body may go without bytes; a body read whole (all but image
    /// imports) must be in within it.
    #[arg(long, default_value_t = berth_api::listener::BODY_TIMEOUT.as_secs(), value_name = "SECONDS")]
    body_timeout: u64,
    /// Connections served at once; more wait to be accepted.
    #[arg(long, default_value_t = berth_api::listener::MAX_CONNECTIONS, value_name = "N")]
    max_connections: usize,
}

/// How `berth up` authenticates requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthMode {
    /// Signature Version 4 with berth's access keys.
    Sigv4,
    /// Any credentials, or none.
    None,
}

/// What `berth up` runs with, validated.
#[derive(Debug, Clone)]
pub struct UpConfig {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub account_id: String,
    pub auth: AuthMode,
    pub registry: RegistryConfig,
    pub init_path: Option<PathBuf>,
    pub log_limits: berth_logs::LogLimits,
    pub pull_behavior: berth_agent::PullBehavior,
    pub warm_supervisors: usize,
    pub network: berth_control::NetworkConfig,
    pub bridge: String,
    pub firewall: Option<berth_agent::firewall::Backend>,
    pub allow_privileged: bool,
    pub names: berth_api::ServerNames,
    pub http: berth_api::HttpLimits,
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
        let mut registry = RegistryConfig {
            insecure: self.insecure_registries,
            ..RegistryConfig::default()
        };
        for mirror in &self.registry_mirrors {
            let (name, url) = mirror
                .split_once('=')
                .filter(|(name, url)| !name.is_empty() && (url.starts_with("http://") || url.starts_with("https://")))
                .with_context(|| format!("--registry-mirror {mirror}: expected REGISTRY=URL, such as docker.io=http://127.0.0.1:5000"))?;
            registry
                .mirrors
                .entry(name.to_owned())
                .or_default()
                .push(url.to_owned());
        }
        if let Some(path) = registry_config_path(self.registry_config) {
            registry.credentials = Credentials::from_docker_config(&path)?;
        }
        let init_path = match self.init_path {
            Some(path) if !path.is_file() => {
                bail!("--init-path {}: no such file", path.display())
            }
            Some(path) => Some(path),
            None => Some(PathBuf::from(DEFAULT_INIT)).filter(|p| p.is_file()),
        };
        if self.log_max_size == 0 || self.log_max_files == 0 {
            bail!("--log-max-size and --log-max-files must be at least 1");
        }
        let pull_behavior = berth_agent::PullBehavior::parse(&self.image_pull_behavior)
            .with_context(|| {
                format!(
                    "--image-pull-behavior {}: expected default, always, once or prefer-cached",
                    self.image_pull_behavior
                )
            })?;
        let vpc_cidr = berth_model::network::Ipv4Network::parse(&self.vpc_cidr)
            .map_err(|e| anyhow::anyhow!("--vpc-cidr: {e}"))?;
        if self.bridge.is_empty()
            || self.bridge.len() > 15
            || !self
                .bridge
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            bail!(
                "--bridge {}: an interface name is 1 to 15 letters, digits, '-' or '_'",
                self.bridge
            );
        }
        let firewall = match self.firewall.as_str() {
            "auto" => berth_agent::firewall::Backend::detect(),
            "off" => None,
            other => Some(
                berth_agent::firewall::Backend::parse(other).with_context(|| {
                    format!("--firewall {other}: expected auto, nftables, iptables or off")
                })?,
            ),
        };
        let names = berth_api::ServerNames::with_names(&self.api_hosts)
            .map_err(|e| anyhow::anyhow!("--api-host: {e}"))?;
        if self.header_timeout == 0 || self.body_timeout == 0 || self.max_connections == 0 {
            bail!("--header-timeout, --body-timeout and --max-connections must be at least 1");
        }
        let http = berth_api::HttpLimits {
            header_timeout: Duration::from_secs(self.header_timeout),
            body_timeout: Duration::from_secs(self.body_timeout),
            max_connections: self.max_connections,
        };
        Ok(UpConfig {
            names,
            http,
            firewall,
            allow_privileged: self.allow_privileged,
            network: berth_control::NetworkConfig {
                vpc_cidr,
                strict: self.strict_network,
            },
            bridge: self.bridge,
            warm_supervisors: self.warm_supervisors,
            pull_behavior,
            listen,
            data_dir,
            account_id: self.account_id,
            auth: self.auth,
            registry,
            init_path,
            log_limits: berth_logs::LogLimits {
                max_bytes: self.log_max_size.saturating_mul(1 << 20),
                max_files: self.log_max_files,
            },
        })
    }
}

/// Where Debian's tini package puts its static build.
const DEFAULT_INIT: &str = "/usr/bin/tini-static";

/// The registry credentials file: the flag, else Docker's own places if the file exists.
fn registry_config_path(flag: Option<PathBuf>) -> Option<PathBuf> {
    if flag.is_some() {
        return flag;
    }
    let docker_dir = std::env::var_os("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".docker")))?;
    Some(docker_dir.join("config.json")).filter(|p| p.exists())
}

/// How a listing command prints.
#[derive(Debug, Args)]
pub struct ListingFlags {
    /// How to print.
    #[arg(short, long, value_enum, default_value_t = Format::Table, value_name = "FORMAT")]
    pub output: Format,
    /// Only identifiers, one a line (tasks' whole ids, images' references).
    #[arg(short, long, conflicts_with = "output")]
    pub quiet: bool,
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
        let endpoint = client::resolve_endpoint(
            self.endpoint.as_deref(),
            env("BERTH_ENDPOINT").as_deref(),
            env("AWS_ENDPOINT_URL").as_deref(),
        )?;
        let chain = crate::credentials::Chain {
            env: &env,
            server_data_dir: crate::data_dir::default_dir().ok(),
        };
        let region = env("AWS_REGION").or_else(|| env("AWS_DEFAULT_REGION"));
        Ok(endpoint.signed(chain.resolve(), region))
    }
}
