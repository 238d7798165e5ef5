//! Fargate's task sizes: parsing `cpu` and `memory` as ECS accepts them ("1024", "1 vCPU",
//! "2 GB") and the table of cpu/memory pairs Fargate can run.

use std::fmt;

/// CPU units: 1024 units are one vCPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct CpuUnits(pub u32);

/// Memory in MiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct MemoryMib(pub u32);

/// A task's cpu and memory, already known to be one of Fargate's pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskSize {
    /// Task CPU.
    pub cpu: CpuUnits,
    /// Task memory.
    pub memory: MemoryMib,
}

/// Why a `cpu` or `memory` value cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    /// Not a number of units nor a `N vCPU` string.
    #[error(
        "Invalid 'cpu' setting for task: '{0}'. Give CPU units (for example 1024) or vCPUs (for example '1 vCPU')."
    )]
    Cpu(String),
    /// Not a number of MiB nor a `N GB` string.
    #[error(
        "Invalid 'memory' setting for task: '{0}'. Give MiB (for example 2048) or GB (for example '2 GB')."
    )]
    Memory(String),
    /// Both parse, but Fargate has no such pair.
    #[error(
        "No Fargate configuration exists for given values: {cpu} CPU, {memory} memory. Valid pairs: {pairs}."
    )]
    NoFargateConfiguration {
        /// The cpu asked for, in units.
        cpu: u32,
        /// The memory asked for, in MiB.
        memory: u32,
        /// Fargate's table, for the message.
        pairs: PairsHelp,
    },
}

/// Fargate's table rendered for an error message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PairsHelp;

impl fmt::Display for PairsHelp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rows: Vec<String> = FARGATE_SIZES
            .iter()
            .map(|row| {
                if row.min == row.max {
                    format!("{} → {}", row.cpu, row.min)
                } else if row.cpu == 256 {
                    "256 → 512, 1024, 2048".to_owned()
                } else {
                    format!(
                        "{} → {}–{} in steps of {}",
                        row.cpu, row.min, row.max, row.step
                    )
                }
            })
            .collect();
        f.write_str(&rows.join("; "))
    }
}

struct SizeRow {
    cpu: u32,
    min: u32,
    max: u32,
    step: u32,
}

/// Fargate's cpu → memory table (MiB). 256 CPU units take 512, 1024 or 2048: that row is the
/// one whose memory doubles, so `step` there is a special case handled in [`is_fargate_pair`].
const FARGATE_SIZES: &[SizeRow] = &[
    SizeRow {
        cpu: 256,
        min: 512,
        max: 2048,
        step: 0,
    },
    SizeRow {
        cpu: 512,
        min: 1024,
        max: 4096,
        step: 1024,
    },
    SizeRow {
        cpu: 1024,
        min: 2048,
        max: 8192,
        step: 1024,
    },
    SizeRow {
        cpu: 2048,
        min: 4096,
        max: 16384,
        step: 1024,
    },
    SizeRow {
        cpu: 4096,
        min: 8192,
        max: 30720,
        step: 1024,
    },
    SizeRow {
        cpu: 8192,
        min: 16384,
        max: 61440,
        step: 4096,
    },
    SizeRow {
        cpu: 16384,
        min: 32768,
        max: 122880,
        step: 8192,
    },
];

/// True when Fargate can run a task of `cpu` units and `memory` MiB.
pub fn is_fargate_pair(cpu: CpuUnits, memory: MemoryMib) -> bool {
    FARGATE_SIZES.iter().any(|row| {
        row.cpu == cpu.0
            && (row.min..=row.max).contains(&memory.0)
            && if row.step == 0 {
                matches!(memory.0, 512 | 1024 | 2048)
            } else {
                (memory.0 - row.min).is_multiple_of(row.step)
            }
    })
}

/// Parses a task or container `cpu`: units ("1024") or vCPUs ("1 vCPU", "0.5 vcpu").
pub fn parse_cpu(text: &str) -> Result<CpuUnits, SizeError> {
    parse_scaled(text, &["vcpu"], 1024)
        .map(CpuUnits)
        .ok_or_else(|| SizeError::Cpu(text.to_owned()))
}

/// Parses a task `memory`: MiB ("2048") or GB ("2 GB", "0.5 gb"), where 1 GB is 1024 MiB as
/// ECS counts it.
pub fn parse_memory(text: &str) -> Result<MemoryMib, SizeError> {
    parse_scaled(text, &["gb", "gib"], 1024)
        .map(MemoryMib)
        .ok_or_else(|| SizeError::Memory(text.to_owned()))
}

/// Checks a task's cpu and memory strings against Fargate's table.
pub fn parse_fargate_size(cpu: &str, memory: &str) -> Result<TaskSize, SizeError> {
    let size = TaskSize {
        cpu: parse_cpu(cpu)?,
        memory: parse_memory(memory)?,
    };
    if !is_fargate_pair(size.cpu, size.memory) {
        return Err(SizeError::NoFargateConfiguration {
            cpu: size.cpu.0,
            memory: size.memory.0,
            pairs: PairsHelp,
        });
    }
    Ok(size)
}

/// A plain positive integer, or a decimal number followed by one of `units` (any case, space
/// optional), scaled by `scale`.
fn parse_scaled(text: &str, units: &[&str], scale: u32) -> Option<u32> {
    let trimmed = text.trim();
    if let Ok(plain) = trimmed.parse::<u32>() {
        return (plain > 0).then_some(plain);
    }
    let lower = trimmed.to_ascii_lowercase();
    let number = units
        .iter()
        .find_map(|unit| lower.strip_suffix(unit))?
        .trim_end();
    let value: f64 = number.parse().ok()?;
    let scaled = value * f64::from(scale);
    (value.is_finite() && scaled >= 1.0 && scaled <= f64::from(u32::MAX) && scaled.fract() == 0.0)
        .then_some(scaled as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fargate_pairs_table() {
        // (cpu, memory, valid) — each row one case.
        let cases = [
            (256, 512, true),
            (256, 1024, true),
            (256, 2048, true),
            (256, 1536, false),
            (256, 3072, false),
            (512, 1024, true),
            (512, 4096, true),
            (512, 512, false),
            (512, 5120, false),
            (1024, 2048, true),
            (1024, 8192, true),
            (1024, 9216, false),
            (2048, 4096, true),
            (2048, 16384, true),
            (2048, 4608, false),
            (4096, 8192, true),
            (4096, 30720, true),
            (4096, 31744, false),
            (8192, 16384, true),
            (8192, 20480, true),
            (8192, 61440, true),
            (8192, 17408, false),
            (16384, 32768, true),
            (16384, 40960, true),
            (16384, 122880, true),
            (16384, 36864, false),
            (128, 512, false),
            (3072, 8192, false),
        ];
        for (cpu, memory, valid) in cases {
            assert_eq!(
                is_fargate_pair(CpuUnits(cpu), MemoryMib(memory)),
                valid,
                "{cpu} CPU, {memory} MiB"
            );
        }
    }

    #[test]
    fn cpu_and_memory_strings() {
        let cpu = [
            ("256", Some(256)),
            ("1 vCPU", Some(1024)),
            ("1vcpu", Some(1024)),
            ("0.25 vCPU", Some(256)),
            ("2 VCPU", Some(2048)),
            ("0", None),
            ("-1", None),
            ("one", None),
            ("1 GB", None),
        ];
        for (text, expected) in cpu {
            assert_eq!(parse_cpu(text).ok().map(|c| c.0), expected, "{text}");
        }
        let memory = [
            ("512", Some(512)),
            ("2 GB", Some(2048)),
            ("2gb", Some(2048)),
            ("0.5 GB", Some(512)),
            ("1 vCPU", None),
            ("", None),
        ];
        for (text, expected) in memory {
            assert_eq!(parse_memory(text).ok().map(|m| m.0), expected, "{text}");
        }
    }

    #[test]
    fn invalid_pair_message_names_the_values() {
        let err = parse_fargate_size("256", "4 GB").unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with(
                "No Fargate configuration exists for given values: 256 CPU, 4096 memory."
            ),
            "{text}"
        );
        assert!(text.contains("512 → 1024–4096 in steps of 1024"), "{text}");
    }
}
