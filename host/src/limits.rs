//! Per-sandbox limits (memory, time, fuel, captured output), their defaults, and the parsing
//! and printing of sizes (`64MiB`) and durations (`500ms`) used by the CLI and messages.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The limits every task runs under. Build with [`Limits::default`] and adjust fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// The most linear memory plus tables one sandbox may grow to, in bytes.
    pub memory: u64,
    /// Wall-clock limit per task (`None`: no limit).
    pub timeout: Option<Duration>,
    /// Instruction budget per task (`None`: unmetered).
    pub fuel: Option<u64>,
    /// The most guest stdout+stderr kept per task, in bytes; the rest is dropped and counted.
    pub output: u64,
}

/// The default cap on captured guest output per task: 1 MiB.
pub const DEFAULT_OUTPUT_LIMIT: u64 = 1024 * 1024;

/// The largest memory a wasm32 sandbox can address: 4 GiB.
pub const MAX_WASM32_MEMORY: u64 = 4 * 1024 * 1024 * 1024;

impl Limits {
    /// The defaults for a pool of `processes` workers: memory is half the machine's RAM shared
    /// between the workers, capped at 4 GiB; no timeout; no fuel; 1 MiB of output per task.
    pub fn for_processes(processes: usize) -> Limits {
        Limits {
            memory: default_memory_limit(processes),
            timeout: None,
            fuel: None,
            output: DEFAULT_OUTPUT_LIMIT,
        }
    }
}

impl Default for Limits {
    fn default() -> Limits {
        Limits::for_processes(default_processes())
    }
}

/// The default number of worker processes: the available parallelism (1 if unknown).
pub fn default_processes() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Half the physical memory divided by `processes`, capped at 4 GiB, at least 16 MiB.
pub fn default_memory_limit(processes: usize) -> u64 {
    let total = physical_memory().unwrap_or(8 * 1024 * 1024 * 1024);
    (total / 2 / processes.max(1) as u64).clamp(16 * 1024 * 1024, MAX_WASM32_MEMORY)
}

/// The machine's physical memory in bytes, from `/proc/meminfo` (Linux), if known.
pub fn physical_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// Parses a size such as `64MiB`, `2G`, `512k`, `1.5GiB` or `1000000` (bytes).
///
/// `K`, `M`, `G`, `KiB`, `MiB`, `GiB` are powers of 1024; `KB`, `MB`, `GB` powers of 1000.
///
/// # Errors
/// A message naming the text and the accepted forms.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        _ => return Err(size_error(text)),
    };
    let value: f64 = number.parse().map_err(|_| size_error(text))?;
    let bytes = value * multiplier as f64;
    if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
        return Err(size_error(text));
    }
    Ok(bytes as u64)
}

fn size_error(text: &str) -> String {
    format!("invalid size `{text}`: expected a number with an optional unit, e.g. 64MiB, 2G, 512k")
}

/// Parses a duration such as `500ms`, `2s`, `1.5s`, `1m`, `1h` or `10` (seconds).
///
/// # Errors
/// A message naming the text and the accepted forms.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let seconds_per_unit = match unit.trim() {
        "" | "s" | "sec" => 1.0,
        "ms" => 0.001,
        "us" | "µs" => 0.000_001,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => return Err(duration_error(text)),
    };
    let value: f64 = number.parse().map_err(|_| duration_error(text))?;
    Duration::try_from_secs_f64(value * seconds_per_unit).map_err(|_| duration_error(text))
}

fn duration_error(text: &str) -> String {
    format!("invalid duration `{text}`: expected a number with a unit, e.g. 500ms, 2s, 1m")
}

/// Prints a byte count for people: `64 MiB`, `1.5 GiB`, `512 bytes`.
pub fn format_size(bytes: u64) -> String {
    const UNITS: [(&str, u64); 4] = [
        ("TiB", 1 << 40),
        ("GiB", 1 << 30),
        ("MiB", 1 << 20),
        ("KiB", 1 << 10),
    ];
    for (name, size) in UNITS {
        if bytes >= size {
            let value = bytes as f64 / size as f64;
            return if bytes.is_multiple_of(size) {
                format!("{} {name}", bytes / size)
            } else {
                format!("{value:.1} {name}")
            };
        }
    }
    format!("{bytes} bytes")
}

/// Prints a duration for people: `500ms`, `2s`, `1.5s`.
pub fn format_duration(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{:.3}s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        let cases = [
            ("64MiB", Some(64 << 20)),
            ("2G", Some(2 << 30)),
            ("512k", Some(512 << 10)),
            ("1.5GiB", Some(3 << 29)),
            ("1000", Some(1000)),
            ("10 MB", Some(10_000_000)),
            ("", None),
            ("MiB", None),
            ("12 parsecs", None),
            ("-5M", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_size(text).ok(), want, "{text}");
        }
    }

    #[test]
    fn durations() {
        let cases = [
            ("500ms", Some(Duration::from_millis(500))),
            ("2s", Some(Duration::from_secs(2))),
            ("1.5s", Some(Duration::from_millis(1500))),
            ("1m", Some(Duration::from_secs(60))),
            ("10", Some(Duration::from_secs(10))),
            ("soon", None),
            ("-1s", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_duration(text).ok(), want, "{text}");
        }
    }

    #[test]
    fn printing() {
        assert_eq!(format_size(64 << 20), "64 MiB");
        assert_eq!(format_size(3 << 29), "1.5 GiB");
        assert_eq!(format_size(100), "100 bytes");
        assert_eq!(format_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(format_duration(Duration::from_secs(2)), "2s");
    }

    #[test]
    fn default_memory_is_bounded() {
        for n in [1, 2, 64, 10_000] {
            let m = default_memory_limit(n);
            assert!((16 << 20..=MAX_WASM32_MEMORY).contains(&m), "{n}: {m}");
        }
    }
}
