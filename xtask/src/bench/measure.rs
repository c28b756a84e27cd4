//! Running one contender's command once: wall-clock time from spawn to exit, the peak resident
//! set size the kernel reports for it (the largest process of its tree), its standard output,
//! and the `check` and `metric` lines in-process contenders print.

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
    /// Everything it wrote to standard output.
    pub stdout: Vec<u8>,
}

impl Sample {
    /// The value of its `metric NAME VALUE UNIT` line.
    pub fn metric(&self, name: &str) -> Option<f64> {
        String::from_utf8_lossy(&self.stdout)
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
        String::from_utf8_lossy(&self.stdout)
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
    let mut stdout = Vec::new();
    if let Some(mut pipe) = child.stdout.take() {
        pipe.read_to_end(&mut stdout)
            .context("cannot read the command's output")?;
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
        stdout,
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
