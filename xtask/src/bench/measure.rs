//! Running one contender's command once: wall-clock time from spawn to exit, the peak resident
//! set size the kernel reports for it (the largest process of its tree), a digest of its
//! standard output, and the `check` and `metric` lines in-process contenders print.
//!
//! The kernel starts a child's peak RSS at its parent's peak (it is carried over at `exec`),
//! so this process stays small on purpose: output is hashed as it streams, never kept whole,
//! and input files are written line by line.

use std::hash::{DefaultHasher, Hasher};
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};

/// What one run of a command produced.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Seconds from spawn until the process was reaped.
    pub seconds: f64,
    /// `ru_maxrss` of the process (the largest of it and its waited-for children), in KiB.
    pub peak_rss_kib: u64,
    /// A digest of everything it wrote to standard output, and its length.
    pub digest: (u64, u64),
    /// The first [`HEAD`] bytes of its standard output (metrics, checks, a first line).
    pub head: Vec<u8>,
}

/// How much of a command's output is kept as it is.
const HEAD: usize = 64 * 1024;

impl Sample {
    /// The value of its `metric NAME VALUE UNIT` line.
    pub fn metric(&self, name: &str) -> Option<f64> {
        String::from_utf8_lossy(&self.head)
            .lines()
            .find_map(|line| {
                let mut words = line.split_whitespace();
                (words.next() == Some("metric") && words.next() == Some(name))
                    .then(|| words.next()?.parse().ok())
                    .flatten()
            })
    }

    /// Its `check ...` lines, which must be the same for every contender of a workload.
    pub fn checks(&self) -> String {
        String::from_utf8_lossy(&self.head)
            .lines()
            .filter(|line| line.starts_with("check "))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Runs `command` to completion with stdout and stderr captured; fails (showing the end of its
/// stderr) unless it exits successfully.
pub fn run_once(command: &mut Command) -> Result<Sample> {
    let start = Instant::now();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {:?}", command.get_program()))?;
    let mut stderr_pipe = child.stderr.take();
    let stderr_reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        if let Some(pipe) = stderr_pipe.as_mut() {
            pipe.read_to_end(&mut text).ok();
        }
        text
    });
    // DefaultHasher::new() has fixed keys: the same output gives the same digest in every run.
    let mut hasher = DefaultHasher::new();
    let mut length: u64 = 0;
    let mut head = Vec::new();
    if let Some(mut pipe) = child.stdout.take() {
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            let n = match pipe.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e).context("cannot read the command's output"),
            };
            hasher.write(&chunk[..n]);
            length += n as u64;
            let room = HEAD.saturating_sub(head.len()).min(n);
            head.extend_from_slice(&chunk[..room]);
        }
    }
    let (status, peak_rss_kib) = wait_with_rusage(child.id())?;
    let seconds = start.elapsed().as_secs_f64();
    let stderr = stderr_reader.join().unwrap_or_default();
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        let stderr = String::from_utf8_lossy(&stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(15).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!(
            "{:?} failed (wait status {status:#x}); the end of its stderr:\n{}",
            command.get_program(),
            tail.join("\n")
        );
    }
    Ok(Sample {
        seconds,
        peak_rss_kib,
        digest: (hasher.finish(), length),
        head,
    })
}

/// Reaps `pid` with `wait4`, returning its wait status and `ru_maxrss` in KiB.
fn wait_with_rusage(pid: u32) -> Result<(i32, u64)> {
    let pid = libc::pid_t::try_from(pid).context("child pid out of range")?;
    let mut status: libc::c_int = 0;
    // SAFETY: `rusage` is a plain C struct for which all-zero bytes are a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `pid` is our own unreaped child (std's `Child` never waited for it), and both
        // out-pointers point to live, writable locals of the right types for the whole call.
        let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if reaped == pid {
            break;
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(err).context("wait4 on the benchmarked command");
        }
    }
    Ok((status, u64::try_from(usage.ru_maxrss).unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_and_checks_are_read_from_the_output() {
        let sample = Sample {
            seconds: 0.0,
            peak_rss_kib: 0,
            digest: (0, 1),
            head: b"check 3 calls returned 9\nmetric roundtrip 42.500 us\nnoise\n".to_vec(),
        };
        assert_eq!(sample.metric("roundtrip"), Some(42.5));
        assert_eq!(sample.metric("throughput"), None);
        assert_eq!(sample.checks(), "check 3 calls returned 9");
    }

    #[test]
    fn a_run_is_timed_hashed_and_its_failure_reported() {
        let mut echo = Command::new("sh");
        echo.args(["-c", "printf 'a\\nb\\n'"]);
        let first = run_once(&mut echo).expect("sh runs");
        let again = run_once(&mut echo).expect("sh runs");
        assert_eq!(first.digest, again.digest);
        assert_eq!(first.digest.1, 4);
        assert!(first.seconds > 0.0 && first.peak_rss_kib > 0);

        let mut failing = Command::new("sh");
        failing.args(["-c", "echo broken >&2; exit 3"]);
        let err = run_once(&mut failing).expect_err("exit 3 fails");
        assert!(format!("{err:#}").contains("broken"), "{err:#}");
    }
}
