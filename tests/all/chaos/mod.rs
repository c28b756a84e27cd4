//! Chaos: the faults mpwasm promises to survive, injected for real (kill storms, a broker
//! restarted, frozen or cutting connections, Ctrl-C and SIGTERM at random moments, a full
//! disk, hostile guests), each asserting that every input got exactly one outcome (or a named
//! error) and that nothing hung. Each scenario also records its figures ([`Figures`]): CI runs
//! them at the sizes here, and `cargo xtask chaos` runs them at full size
//! (`MPWASM_FULL_TESTS=1`) and writes RELIABILITY.md from what they recorded in
//! `$MPWASM_CHAOS_REPORT`.

mod broker;
mod local;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::process::Child;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Whether the full sizes were asked for (`MPWASM_FULL_TESTS=1`, as `cargo xtask chaos` does).
pub fn full() -> bool {
    std::env::var_os("MPWASM_FULL_TESTS").is_some_and(|v| v == "1")
}

/// `small` in CI, `large` at full size.
pub fn sized(small: u64, large: u64) -> u64 {
    if full() { large } else { small }
}

/// What one scenario held up under, for RELIABILITY.md.
#[derive(Debug, Default)]
pub struct Figures {
    /// The scenario's name (its test's).
    pub scenario: &'static str,
    /// The load: what ran, how many workers.
    pub load: String,
    /// The faults injected, with how many.
    pub faults: String,
    /// The inputs the job was given.
    pub inputs: u64,
    /// Inputs without any outcome.
    pub lost: u64,
    /// Outcomes past the first for the same input.
    pub doubled: u64,
    /// Results that were not the right value.
    pub wrong: u64,
    /// Failed outcomes by error kind (a named error, which may be what the scenario expects).
    pub failed: BTreeMap<String, u64>,
    /// The longest time without an outcome after the first fault.
    pub recovery: Duration,
    /// The host process's peak resident memory, in KiB (0 when not measured).
    pub peak_host_kib: u64,
    /// The whole scenario's time.
    pub elapsed: Duration,
}

impl Figures {
    /// Prints the figures on stderr and, when `$MPWASM_CHAOS_REPORT` names a file, appends
    /// them to it as one JSON line.
    pub fn record(&self) {
        let line = serde_json::json!({
            "scenario": self.scenario,
            "full": full(),
            "load": self.load,
            "faults": self.faults,
            "inputs": self.inputs,
            "lost": self.lost,
            "doubled": self.doubled,
            "wrong": self.wrong,
            "failed": self.failed,
            "recovery_ms": self.recovery.as_millis() as u64,
            "peak_host_kib": self.peak_host_kib,
            "elapsed_ms": self.elapsed.as_millis() as u64,
        });
        eprintln!("chaos figures: {line}");
        if let Some(path) = std::env::var_os("MPWASM_CHAOS_REPORT") {
            use std::io::Write;
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .expect("the chaos report opens");
            writeln!(file, "{line}").expect("the chaos report is written");
        }
    }

    /// The figures a watched run gives: its longest stall after `since` (the first fault),
    /// its peak memory and its time; the rest to fill in.
    pub fn of_run(run: &Observed, since: Option<Instant>) -> Figures {
        Figures {
            recovery: run.longest_stall(since),
            peak_host_kib: run.peak_kib,
            elapsed: run.elapsed,
            ..Figures::default()
        }
    }

    /// Fills in the counts of `tally`.
    pub fn with(mut self, tally: &Tally) -> Figures {
        self.lost = tally.lost;
        self.doubled = tally.doubled;
        self.wrong = tally.wrong;
        self.failed = tally.failed.clone();
        self
    }
}

/// A process's peak resident memory so far (`VmHWM`), in KiB; 0 once it has exited.
pub fn peak_kib(pid: u32) -> u64 {
    status_kib(pid, "VmHWM:")
}

/// A process's resident memory now (`VmRSS`), in KiB; 0 once it has exited.
pub fn rss_kib(pid: u32) -> u64 {
    status_kib(pid, "VmRSS:")
}

fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// A host process watched to its end: its JSON Lines on stdout with when each arrived, its
/// stderr, exit status and peak memory.
#[derive(Debug)]
pub struct Observed {
    /// The lines of stdout, parsed.
    pub lines: Vec<serde_json::Value>,
    /// When each line arrived.
    pub times: Vec<Instant>,
    /// Its exit status (-1 for a signal).
    pub code: i32,
    /// The signal that ended it, if one did.
    pub signal: Option<i32>,
    /// What it wrote to stderr.
    pub stderr: String,
    /// Its peak resident memory, sampled until it exited, in KiB.
    pub peak_kib: u64,
    /// From start to exit.
    pub elapsed: Duration,
}

impl Observed {
    /// The longest time without a line after `since` (from `since` itself to the first line
    /// after it, then between lines): how long the job took to recover from a fault.
    pub fn longest_stall(&self, since: Option<Instant>) -> Duration {
        let Some(since) = since else {
            return Duration::ZERO;
        };
        let mut last = since;
        let mut longest = Duration::ZERO;
        for &t in self.times.iter().filter(|&&t| t > since) {
            longest = longest.max(t - last);
            last = t;
        }
        longest
    }

    /// The last lines of stderr, for a failure's message.
    pub fn stderr_tail(&self) -> String {
        let lines: Vec<&str> = self.stderr.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

/// Watches `child` (stdout and stderr piped) until it exits, calling `on_line` with the number
/// of lines so far after each line; kills it and fails the test if it runs past `limit`.
pub fn observe(mut child: Child, limit: Duration, mut on_line: impl FnMut(usize)) -> Observed {
    let started = Instant::now();
    let pid = child.id();
    let done = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(0));
    let watcher = {
        let (done, peak) = (Arc::clone(&done), Arc::clone(&peak));
        std::thread::spawn(move || {
            // Returns whether it had to kill a hung process.
            while !done.load(Ordering::SeqCst) {
                peak.fetch_max(peak_kib(pid), Ordering::SeqCst);
                if started.elapsed() > limit {
                    let _ = std::process::Command::new("kill")
                        .args(["-9", &pid.to_string()])
                        .status();
                    return true;
                }
                std::thread::sleep(Duration::from_millis(25));
            }
            false
        })
    };
    let mut stderr = child.stderr.take().expect("stderr piped");
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let mut lines = Vec::new();
    let mut times = Vec::new();
    let stdout = BufReader::new(child.stdout.take().expect("stdout piped"));
    for line in stdout.lines() {
        let Ok(line) = line else { break };
        let value: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("a line of stdout is not JSON ({e}): {line:?}"));
        lines.push(value);
        times.push(Instant::now());
        on_line(lines.len());
    }
    let status = child.wait().expect("the host process is reaped");
    done.store(true, Ordering::SeqCst);
    let hung = watcher.join().unwrap_or(false);
    let observed = Observed {
        lines,
        times,
        code: status.code().unwrap_or(-1),
        signal: std::os::unix::process::ExitStatusExt::signal(&status),
        stderr: errors.join().unwrap_or_default(),
        peak_kib: peak.load(Ordering::SeqCst),
        elapsed: started.elapsed(),
    };
    assert!(
        !hung,
        "the host hung for {limit:?} after {} lines:\n{}",
        observed.lines.len(),
        observed.stderr_tail()
    );
    observed
}

/// Counts of a job's outcomes against its inputs `0..inputs`.
#[derive(Debug, Default)]
pub struct Tally {
    /// Inputs without an outcome.
    pub lost: u64,
    /// Outcomes past the first for the same input.
    pub doubled: u64,
    /// Results that were not right (or indices outside the inputs).
    pub wrong: u64,
    /// Failed outcomes by kind.
    pub failed: BTreeMap<String, u64>,
    /// Each failure's message by index, for the scenario's own checks.
    pub messages: BTreeMap<u64, String>,
}

impl Tally {
    /// Tallies JSON Lines outcomes (`{"index", "value"}` or `{"index", "error": {"kind",
    /// "message"}}`), a value being right when `right(index, value)`.
    pub fn of(
        lines: &[serde_json::Value],
        inputs: u64,
        right: impl Fn(u64, &serde_json::Value) -> bool,
    ) -> Tally {
        let mut tally = Tally::default();
        let mut seen = vec![false; inputs as usize];
        for line in lines {
            let Some(index) = line["index"].as_u64().filter(|&i| i < inputs) else {
                tally.wrong += 1;
                continue;
            };
            if std::mem::replace(&mut seen[index as usize], true) {
                tally.doubled += 1;
                continue;
            }
            match line["error"]["kind"].as_str() {
                Some(kind) => {
                    *tally.failed.entry(kind.to_string()).or_default() += 1;
                    let message = line["error"]["message"].as_str().unwrap_or_default();
                    tally.messages.insert(index, message.to_string());
                }
                None if right(index, &line["value"]) => {}
                None => tally.wrong += 1,
            }
        }
        tally.lost = seen.iter().filter(|s| !**s).count() as u64;
        tally
    }

    /// Asserts no input lost, none doubled, no wrong value, and no failure but of `allowed`
    /// kinds.
    pub fn assert_exactly_once(&self, allowed: &[&str], what: &str) {
        assert_eq!(
            (self.lost, self.doubled, self.wrong),
            (0, 0, 0),
            "{what}: lost, doubled, wrong ({:?})",
            self.failed
        );
        assert!(
            self.failed.keys().all(|k| allowed.contains(&k.as_str())),
            "{what}: failures {:?} (only {allowed:?} may fail): {:?}",
            self.failed,
            self.messages.values().take(3).collect::<Vec<_>>()
        );
    }
}
