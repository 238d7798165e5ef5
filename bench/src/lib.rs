//! Shared helpers for the benchmark programs in `src/bin`.

use std::time::Duration;

/// The median and 99th percentile of `samples`.
pub fn median_p99(samples: &mut [Duration]) -> (Duration, Duration) {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.99))
}
