//! Times two commands run in turn — A, B, A, B, ... — as whole processes, and reports each
//! one's minimum, median and maximum wall time and the median of the pairwise ratios A/B.
//! Pairing keeps the ratio meaningful when the machine's speed drifts during the run.
//!
//! ```text
//! interleave RUNS WARMUP 'COMMAND A' 'COMMAND B'
//! ```
//!
//! Each command is split on whitespace (no shell); its output is discarded. A run that fails
//! stops the benchmark with its exit status.

use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [runs, warmup, a, b] = args.as_slice() else {
        eprintln!("usage: interleave RUNS WARMUP 'COMMAND A' 'COMMAND B'");
        return ExitCode::from(2);
    };
    let (Ok(runs), Ok(warmup)) = (runs.parse::<usize>(), warmup.parse::<usize>()) else {
        eprintln!("interleave: RUNS and WARMUP are counts");
        return ExitCode::from(2);
    };
    let mut times = (Vec::new(), Vec::new());
    for round in 0..warmup + runs {
        let pair = match (time(a), time(b)) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(error), _) | (_, Err(error)) => {
                eprintln!("interleave: {error}");
                return ExitCode::FAILURE;
            }
        };
        if round >= warmup {
            times.0.push(pair.0);
            times.1.push(pair.1);
        }
    }
    let mut ratios: Vec<f64> = times
        .0
        .iter()
        .zip(&times.1)
        .map(|(a, b)| a.as_secs_f64() / b.as_secs_f64())
        .collect();
    ratios.sort_by(f64::total_cmp);
    println!("| command | min [ms] | median [ms] | max [ms] |");
    println!("|:---|---:|---:|---:|");
    for (label, command, samples) in [("A", a, &mut times.0), ("B", b, &mut times.1)] {
        samples.sort_unstable();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "| {label}: `{command}` | {:.1} | {:.1} | {:.1} |",
            ms(samples[0]),
            ms(samples[samples.len() / 2]),
            ms(samples[samples.len() - 1])
        );
    }
    println!(
        "\nA/B wall-time ratio over {runs} pairs: median {:.2} (min {:.2}, max {:.2})",
        ratios[ratios.len() / 2],
        ratios[0],
        ratios[ratios.len() - 1]
    );
    ExitCode::SUCCESS
}

/// The wall time of one run of `command`, or why it failed.
fn time(command: &str) -> Result<Duration, String> {
    let mut words = command.split_whitespace();
    let program = words.next().ok_or("an empty command")?;
    let started = Instant::now();
    let status = Command::new(program)
        .args(words)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    let elapsed = started.elapsed();
    if !status.success() {
        return Err(format!("`{command}` failed: {status}"));
    }
    Ok(elapsed)
}
