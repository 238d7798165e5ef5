//! The `berth` binary: the CLI, and the wiring that composes berth's pieces into `berth up`.
//! Business logic lives in the library crates; this crate only parses flags into one config
//! per component and connects them.

mod cli;
mod client;
mod data_dir;
mod image_cmd;
mod local_node;
mod node_images;
mod node_logs;
mod task_cmd;
mod up;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("BERTH_LOG")
        // libcontainer warns that no seccomp profile is set, for every container: noise.
        .unwrap_or_else(|_| {
            tracing_subscriber::EnvFilter::new("info,libcontainer=error,libcgroups=error")
        });
    let subscriber = tracing_subscriber::fmt().with_env_filter(filter);
    if matches!(cli.command, cli::Command::Shim { .. }) && berth_shim::log::open().is_ok() {
        // Not standard error: see berth_shim::log.
        subscriber
            .with_ansi(false)
            .with_writer(berth_shim::log::writer)
            .init();
    } else {
        subscriber.with_writer(std::io::stderr).init();
    }
    let done = |result: anyhow::Result<()>| result.map(|()| ExitCode::SUCCESS);
    let result = match cli.command {
        cli::Command::Up(flags) => done(flags.validate().and_then(up::run)),
        cli::Command::Status(flags) => done(client::status(&flags.endpoint())),
        cli::Command::Image(command) => done(image_cmd::run(command)),
        cli::Command::Run(flags) => task_cmd::run(flags),
        cli::Command::Ps {
            all,
            cluster,
            client,
        } => done(task_cmd::ps(&client.endpoint(), all, cluster)),
        cli::Command::Stop {
            task,
            cluster,
            client,
        } => done(task_cmd::stop(&client.endpoint(), &task, cluster)),
        cli::Command::Logs {
            task,
            container,
            follow,
            timestamps,
            cluster,
            client,
        } => done(task_cmd::logs(
            &client.endpoint(),
            &task,
            task_cmd::LogOptions {
                container,
                follow,
                timestamps,
            },
            cluster,
        )),
        cli::Command::Shim {
            task_dir,
            pooled,
            bridge,
        } => done(
            match task_dir {
                Some(task_dir) if !pooled => berth_shim::run(&task_dir),
                _ => berth_shim::run_pooled(bridge.as_deref()),
            }
            .map_err(anyhow::Error::from),
        ),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("berth: {error:#}");
            ExitCode::FAILURE
        }
    }
}
