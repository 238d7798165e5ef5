//! `berth up`: one process serving the API over the embedded store (and, from the task issue
//! on, a local worker), until SIGINT or SIGTERM.

use std::sync::Arc;

use anyhow::Context;
use berth_agent::{Agent, AgentConfig, ShimProgram};
use berth_api::info::ServerInfo;
use berth_api::{AcceptAnyCredentials, ApiState, Authenticator, SigV4Authenticator};
use berth_control::Ecs;
use berth_control::iam::Iam;
use berth_control::sealing::Sealer;
use berth_image::ImageStore;
use berth_model::restrictions::RegistrationPolicy;
use berth_store::EmbeddedStore;
use berth_sys::{LinuxMounter, Mounter};

use crate::cli::{AuthMode, UpConfig};
use crate::credentials::{self, CREDENTIALS_FILE, PROFILE};
use crate::data_dir;
use crate::host_claims::{self, Claim, ClaimError, HeldClaim};
use crate::local_node::LocalControl;
use crate::node_images::NodeImages;
use crate::node_logs::NodeLogs;

/// The runtime state's tmpfs: a few KiB per task.
const RUN_DIR_MIB: u64 = 256;

pub fn run(config: UpConfig) -> anyhow::Result<()> {
    let _lock = data_dir::lock(&config.data_dir)?;
    // Before anything touches the network, and held until the bridge is released below: no
    // other server may take this bridge or range while this one uses them.
    let _claim = claim_host(&config)?;
    let store = Arc::new(
        EmbeddedStore::open(&config.data_dir.join("state.redb"))
            .context("cannot open berth's state")?,
    );
    let images = Arc::new(
        ImageStore::open(
            &config.data_dir.join("images"),
            config.registry.clone(),
            Arc::new(LinuxMounter),
        )
        .context("cannot open the image store")?,
    );
    // Runtime state — made and removed for every task, needed across a restart of berth but
    // not of the machine — lives on a tmpfs, as runc's and containerd's do under /run.
    let run_dir = config.data_dir.join("run");
    match berth_sys::ensure_tmpfs(&run_dir, RUN_DIR_MIB) {
        Ok(true) => tracing::debug!(dir = %run_dir.display(), "mounted a tmpfs for runtime state"),
        Ok(false) => {}
        Err(error) => tracing::warn!(
            error = format!("{:#}", anyhow::Error::from(error)),
            "runtime state stays on the data directory's filesystem"
        ),
    }
    // Asked before the agent makes the bridge: one that is there already may not be ours.
    let bridge_is_ours = host_claims::bridge_is_ours(&run_dir, &config.bridge);
    let agent_config = AgentConfig {
        tasks_dir: config.data_dir.join("tasks"),
        run_dir: run_dir.clone(),
        runtime_dir: run_dir.join("runtime"),
        cgroup_parent: "berth".into(),
        bridge: config.bridge.clone(),
        shim_binary: ShimProgram::this_binary().context("cannot find the berth binary")?,
        init_binary: config.init_path.clone(),
        log_limits: config.log_limits,
        pull_behavior: config.pull_behavior,
        warm_supervisors: config.warm_supervisors,
        firewall: config.firewall,
    };
    // Root filesystems of tasks still under their supervisor stay (they are adopted below);
    // any other is a leftover of a crash.
    let removed = images
        .cleanup_rootfs(&berth_agent::rootfs_in_use(&agent_config))
        .context("cannot clean up root filesystems")?;
    if !removed.is_empty() {
        tracing::info!(
            count = removed.len(),
            "removed root filesystems left by an earlier run"
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(&config, agent_config, store.clone(), images))?;
    drop(runtime);
    // The last handle: dropping it waits for the writer to finish and closes the database.
    drop(store);
    if !tasks_left(&run_dir) {
        berth_agent::firewall::release(config.firewall, &config.bridge, bridge_is_ours);
        if bridge_is_ours {
            host_claims::forget_bridge(&run_dir);
        }
    }
    release_run_dir(&run_dir);
    tracing::info!("berth up stopped");
    Ok(())
}

/// Claims this server's bridge and VPC range on the machine, or refuses to start when another
/// server holds either. Without the right to make the claims directory (not root: no bridge
/// either) it goes on unclaimed.
fn claim_host(config: &UpConfig) -> anyhow::Result<Option<HeldClaim>> {
    let ours = Claim::ours(&config.data_dir, &config.bridge, config.network.vpc_cidr);
    match host_claims::take(std::path::Path::new(host_claims::CLAIMS_DIR), ours) {
        Ok(claim) => Ok(Some(claim)),
        Err(ClaimError::Io { what, source })
            if source.kind() == std::io::ErrorKind::PermissionDenied =>
        {
            tracing::warn!(
                error = %format!("{what}: {source}"),
                "cannot claim the bridge and VPC range: another berth up may use them too"
            );
            Ok(None)
        }
        Err(error) => Err(error.into()),
    }
}

/// Unmounts the runtime state's tmpfs when no task is left on it (tasks keep running without
/// berth and need theirs), so that a stopped berth leaves nothing mounted.
fn release_run_dir(run_dir: &std::path::Path) {
    if tasks_left(run_dir) || !LinuxMounter.is_mounted(run_dir) {
        return;
    }
    if let Err(error) = LinuxMounter.unmount(run_dir) {
        tracing::warn!(
            error = format!("{:#}", anyhow::Error::from(error)),
            "cannot unmount the runtime state's tmpfs"
        );
    }
}

/// Whether a task is still under a supervisor (it outlives berth, and keeps its network).
fn tasks_left(run_dir: &std::path::Path) -> bool {
    std::fs::read_dir(run_dir.join("tasks"))
        .map(|mut entries| entries.next().is_some())
        .unwrap_or(false)
}

async fn serve(
    config: &UpConfig,
    agent_config: AgentConfig,
    store: Arc<EmbeddedStore>,
    images: Arc<ImageStore>,
) -> anyhow::Result<()> {
    let sealer = Arc::new(Sealer::new(&credentials::sealing_key(&config.data_dir)?));
    let iam = Arc::new(Iam::new(store.clone(), sealer));
    let auth = authenticator(config, &iam).await?;
    if config.allow_privileged {
        tracing::warn!(
            "--allow-privileged: task definitions may ask for privileged containers, any capability and host bind mounts; any client of this server can then take over this machine"
        );
    }
    let registration = RegistrationPolicy {
        allow_privileged: config.allow_privileged,
    };
    let ecs =
        Arc::new(Ecs::with_network(store, config.network.clone()).with_registration(registration));
    let agent = Agent::new(
        Arc::new(LocalControl { ecs: ecs.clone() }),
        images.clone(),
        agent_config.clone(),
    );
    tokio::spawn(async move {
        if let Err(error) = agent.run().await {
            tracing::error!(%error, "the node agent stopped");
        }
    });
    let state = ApiState {
        ecs,
        iam,
        auth,
        images: Arc::new(NodeImages { store: images }),
        logs: Arc::new(NodeLogs {
            config: agent_config,
        }),
        info: Arc::new(ServerInfo {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            data_directory: config.data_dir.display().to_string(),
            account_id: config.account_id.clone(),
            bridge: config.bridge.clone(),
            vpc_cidr: config.network.vpc_cidr.to_string(),
            firewall: match config.firewall {
                Some(berth_agent::firewall::Backend::Nftables) => "nftables",
                Some(berth_agent::firewall::Backend::Iptables) => "iptables",
                None => "off",
            }
            .to_owned(),
        }),
        names: Arc::new(config.names.clone()),
    };
    // Handlers go in before the ready line: a SIGTERM sent the moment berth says it is up
    // must stop it cleanly, not kill it.
    let shutdown = shutdown_signal()?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let address = listener.local_addr()?;
    // A server whose standard output nobody reads (closed early, `berth up | head -1`) goes on
    // serving: the ready lines are for people, and losing them is no failure.
    let _ = crate::output::outln!(
        "berth up: serving the ECS API at http://{address} (account {}, data in {})",
        config.account_id,
        config.data_dir.display()
    );
    if config.auth == AuthMode::Sigv4 {
        // Requests must be signed: this is the key the aws CLI and `berth` can sign with.
        let _ = crate::output::outln!(
            "export AWS_SHARED_CREDENTIALS_FILE={} AWS_PROFILE={PROFILE}",
            config.data_dir.join(CREDENTIALS_FILE).display()
        );
    }
    let _ = crate::output::outln!("export AWS_ENDPOINT_URL=http://{address}");
    berth_api::listener::serve(listener, berth_api::router(state), config.http, shutdown).await;
    Ok(())
}

/// The authenticator `--auth` asks for. At first start (no account yet) the first account is
/// made with an administrator key, written to `DATA_DIR/credentials` for the aws CLI and
/// `berth` to sign with; later starts say where that file is.
async fn authenticator(
    config: &UpConfig,
    iam: &Arc<Iam>,
) -> anyhow::Result<Arc<dyn Authenticator>> {
    let path = config.data_dir.join(CREDENTIALS_FILE);
    if let Some(key) = iam
        .bootstrap(&config.account_id)
        .await
        .context("cannot make the first account")?
    {
        credentials::write(&path, &key)?;
        tracing::info!(
            account = %key.account_id,
            file = %path.display(),
            "made the first account's administrator access key"
        );
    }
    match config.auth {
        AuthMode::Sigv4 => Ok(Arc::new(
            SigV4Authenticator::new(iam.clone())
                .await
                .context("cannot watch the access keys")?,
        )),
        AuthMode::None => {
            tracing::warn!(
                account = %config.account_id,
                "--auth none: any caller, with any credentials or none, acts as root of the                  first account; do not use this on a shared machine"
            );
            Ok(Arc::new(AcceptAnyCredentials::new(
                config.account_id.clone(),
            )))
        }
    }
}

/// Resolves on the first SIGINT or SIGTERM. The handlers are installed when this is called,
/// not when the future is first polled.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let mut terminate = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => tracing::info!("SIGINT: stopping"),
            _ = terminate.recv() => tracing::info!("SIGTERM: stopping"),
        }
    })
}
