//! The `berth` binary: the CLI, and the wiring that composes berth's pieces into `berth up`.
//! Business logic lives in the library crates; this crate only parses flags into one config
//! per component and connects them.

mod cli;
mod client;
mod data_dir;
mod image_cmd;
mod local_node;
mod node_images;
mod up;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("BERTH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        cli::Command::Up(flags) => flags.validate().and_then(up::run),
        cli::Command::Status(flags) => client::status(&flags.endpoint()),
        cli::Command::Image(command) => image_cmd::run(command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("berth: {error:#}");
            ExitCode::FAILURE
        }
    }
}
