//! The `berth` binary: the CLI, and the wiring that composes berth's pieces into `berth up`.
//! Business logic lives in the library crates; this crate only parses flags into one config
//! per component and connects them.

mod account_cmd;
mod cli;
mod client;
mod credentials;
mod data_dir;
mod host_claims;
mod image_cmd;
mod local_node;
mod node_images;
mod node_logs;
mod output;
mod task_cmd;
mod up;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

use crate::output::errln;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    init_logging(matches!(cli.command, cli::Command::Shim { .. }));
    let done = |result: anyhow::Result<()>| result.map(|()| ExitCode::SUCCESS);
    let result = match cli.command {
        cli::Command::Up(flags) => done(flags.validate().and_then(up::run)),
        cli::Command::Status(flags) => done(client::status(&flags.endpoint())),
        cli::Command::Image(command) => done(image_cmd::run(command)),
        cli::Command::Account(command) => done(account_cmd::run(command)),
        cli::Command::Run(flags) => task_cmd::run(flags),
        cli::Command::Ps {
            all,
            cluster,
            listing,
            client,
        } => done(task_cmd::ps(&client.endpoint(), all, cluster, &listing)),
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
        // The reader has gone: nothing to say, and nobody to say it to (see `output`).
        Err(error) if output::is_stdout_closed(&error) => {
            ExitCode::from(output::STDOUT_CLOSED_EXIT)
        }
        Err(error) => {
            errln!("berth: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Log lines on standard error (a supervisor's in its own file): `BERTH_LOG` filters them,
/// `BERTH_LOG_FORMAT=json` makes them one JSON object each for log collectors, and colours
/// are used only when a person is looking (standard error a terminal, no `NO_COLOR`).
fn init_logging(shim: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("BERTH_LOG")
        // libcontainer warns that no seccomp profile is set, for every container: noise.
        .unwrap_or_else(|_| {
            tracing_subscriber::EnvFilter::new("info,libcontainer=error,libcgroups=error")
        });
    let format = std::env::var("BERTH_LOG_FORMAT").unwrap_or_default();
    let json = match format.as_str() {
        "json" => true,
        "" | "text" => false,
        other => {
            errln!("berth: BERTH_LOG_FORMAT={other}: expected text or json; logging text");
            false
        }
    };
    // Not standard error for a supervisor: see berth_shim::log.
    let to_file = shim && berth_shim::log::open().is_ok();
    let ansi = !to_file
        && !json
        && std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi);
    match (json, to_file) {
        (true, true) => builder.json().with_writer(berth_shim::log::writer).init(),
        (true, false) => builder.json().with_writer(std::io::stderr).init(),
        (false, true) => builder.with_writer(berth_shim::log::writer).init(),
        (false, false) => builder.with_writer(std::io::stderr).init(),
    }
}
