//! The native contender: the guest tasks' algorithms compiled for the host and spread over
//! rayon's thread pool, printing exactly what `mpwasm run` prints for the same inputs.

use std::fs;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result};
use rayon::prelude::*;
use sha2::{Digest, Sha256};

/// `square` over `0..n`, printed one per line in input order (as `guest-tasks/square`).
pub fn square(n: u64) -> Result<()> {
    let results: Vec<u64> = (0..n).into_par_iter().map(|x| x.wrapping_mul(x)).collect();
    print_lines(results.iter().map(|value| value.to_string()))
}

/// `primes(n)` for `count` inputs, printed one per line (as `guest-tasks/primes`).
pub fn primes(n: u32, count: usize) -> Result<()> {
    let results: Vec<u32> = (0..count)
        .into_par_iter()
        .with_max_len(1)
        .map(|_| count_primes(n))
        .collect();
    print_lines(results.iter().map(|value| value.to_string()))
}

/// The hex SHA-256 of each line of `file` (each a JSON string), printed as JSON strings.
pub fn hash(file: &Path) -> Result<()> {
    let text =
        fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let lines: Vec<&str> = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .collect();
    let results: Vec<String> = lines
        .par_iter()
        .map(|line| -> Result<String> {
            let data: String = serde_json::from_str(line)
                .with_context(|| format!("not a JSON string: {line:.40}"))?;
            let digest = Sha256::digest(data.as_bytes());
            Ok(format!("\"{}\"", hex(&digest)))
        })
        .collect::<Result<_>>()?;
    print_lines(results.into_iter())
}

fn print_lines(lines: impl Iterator<Item = String>) -> Result<()> {
    let mut out = BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    for line in lines {
        out.write_all(line.as_bytes())?;
        out.write_all(b"\n")?;
    }
    out.flush().context("cannot write to stdout")
}

/// Counts the primes below `n` by trial division: the guest's algorithm, line for line.
fn count_primes(n: u32) -> u32 {
    let mut count = 0;
    for candidate in 0..n {
        if is_prime(candidate) {
            count += 1;
        }
    }
    count
}

fn is_prime(candidate: u32) -> bool {
    if candidate < 2 {
        return false;
    }
    if candidate.is_multiple_of(2) {
        return candidate == 2;
    }
    let candidate = u64::from(candidate);
    let mut divisor: u64 = 3;
    while divisor * divisor <= candidate {
        if candidate.is_multiple_of(divisor) {
            return false;
        }
        divisor += 2;
    }
    true
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The loop of `misbehave`'s `chatter-stderr` / `chatter-stdout` natively: `lines` lines
/// `line 1` .. `line N`, one `eprintln!` (`stderr`: unbuffered, into the harness's pipe), one
/// `writeln!` through a line buffer as `println!` does (`stdout`: into the same pipe, since
/// stdout carries the measurement) or one `writeln!` into memory (`memory`: what libtest's
/// capture does) each; prints the time per line.
pub fn output(lines: u32, to: &str) -> Result<()> {
    let start = std::time::Instant::now();
    let mut memory = Vec::new();
    match to {
        "stderr" => (1..=lines).for_each(|line| eprintln!("line {line}")),
        "stdout" => {
            let mut out = std::io::LineWriter::new(std::io::stderr());
            for line in 1..=lines {
                writeln!(out, "line {line}")?;
            }
        }
        "memory" => {
            for line in 1..=lines {
                writeln!(memory, "line {line}")?;
            }
        }
        _ => anyhow::bail!("native-output writes to stderr, stdout or memory, not `{to}`"),
    }
    let elapsed = start.elapsed();
    std::hint::black_box(&memory);
    println!("check {lines} lines written");
    crate::metric(
        "per_line",
        elapsed.as_secs_f64() * 1e6 / f64::from(lines.max(1)),
        "us",
    );
    Ok(())
}
