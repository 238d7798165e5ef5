//! `berth up`: one process serving the API over the embedded store (and, from the task issue
//! on, a local worker), until SIGINT or SIGTERM.

use std::sync::Arc;

use anyhow::Context;
use berth_agent::{Agent, AgentConfig};
use berth_api::{AcceptAnyCredentials, ApiState};
use berth_control::Ecs;
use berth_image::ImageStore;
use berth_store::EmbeddedStore;
use berth_sys::LinuxMounter;

use crate::cli::UpConfig;
use crate::data_dir;
use crate::local_node::LocalControl;
use crate::node_images::NodeImages;
use crate::node_logs::NodeLogs;

pub fn run(config: UpConfig) -> anyhow::Result<()> {
    let _lock = data_dir::lock(&config.data_dir)?;
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
    let agent_config = AgentConfig {
        tasks_dir: config.data_dir.join("tasks"),
        runtime_dir: config.data_dir.join("runtime"),
        cgroup_parent: "berth".into(),
        shim_binary: std::env::current_exe().context("cannot find the berth binary")?,
        init_binary: config.init_path.clone(),
        log_limits: config.log_limits,
        pull_behavior: config.pull_behavior,
        warm_supervisors: config.warm_supervisors,
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
    tracing::info!("berth up stopped");
    Ok(())
}

async fn serve(
    config: &UpConfig,
    agent_config: AgentConfig,
    store: Arc<EmbeddedStore>,
    images: Arc<ImageStore>,
) -> anyhow::Result<()> {
    let ecs = Arc::new(Ecs::new(store));
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
        auth: Arc::new(AcceptAnyCredentials::new(config.account_id.clone())),
        images: Arc::new(NodeImages { store: images }),
        logs: Arc::new(NodeLogs {
            config: agent_config,
        }),
    };
    // Handlers go in before the ready line: a SIGTERM sent the moment berth says it is up
    // must stop it cleanly, not kill it.
    let shutdown = shutdown_signal()?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let address = listener.local_addr()?;
    println!(
        "berth up: serving the ECS API at http://{address} (account {}, data in {})",
        config.account_id,
        config.data_dir.display()
    );
    println!("export AWS_ENDPOINT_URL=http://{address}");
    axum::serve(listener, berth_api::router(state))
        .with_graceful_shutdown(shutdown)
        .await
        .context("the API server failed")
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
