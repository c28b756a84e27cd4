//! The contenders of the broker workloads (W11, W12, W16): a local `mpwasm run`, and the same run
//! submitted to a Redis broker served by N `mpwasm worker` processes on this machine; and W17's
//! `mpwasm test`, here or through such a broker. Each
//! times the submitting `mpwasm run` process, whole, the way a user waits for it; the broker
//! and the workers are started (and given one warm-up job, so each has fetched and compiled
//! the module) before the clock starts, as long-lived servers are. The output is checked, not
//! just timed: every contender prints a digest of its stdout.

use std::hash::{DefaultHasher, Hasher};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::metric;
use crate::redis_server::RedisServer;

/// The inputs of a run: `A..B` (`--map`) or `@PATH` (`--input PATH`, one per line); the
/// flags, and how many inputs there are.
fn inputs(spec: &str) -> Result<(Vec<String>, u64)> {
    match spec.strip_prefix('@') {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the inputs {path}"))?;
            let lines = text.lines().count() as u64;
            Ok((vec!["--input".into(), path.into()], lines.max(1)))
        }
        None => Ok((vec!["--map".into(), spec.into()], count(spec)?)),
    }
}

/// Times `mpwasm run TASK --map RANGE -j PROCESSES` (or `--input PATH` for `@PATH`).
pub fn local(mpwasm: &Path, task: &Path, range: &str, processes: usize) -> Result<()> {
    let (flags, items) = inputs(range)?;
    let mut command = Command::new(mpwasm);
    command
        .args(["run", "-q", "-j", &processes.to_string()])
        .args(&flags)
        .arg(task);
    timed(&mut command, items)
}

/// Times `mpwasm run TASK --map RANGE --broker URL` with `workers` workers of one process,
/// each holding `prefetch` inputs at most (`None`: `--prefetch auto`, the adaptive window).
pub fn broker(
    mpwasm: &Path,
    task: &Path,
    range: &str,
    workers: usize,
    prefetch: Option<usize>,
) -> Result<()> {
    let redis = RedisServer::start(&[])?;
    let url = redis.url();
    let mut children = Vec::new();
    for _ in 0..workers {
        let mut worker = Command::new(mpwasm);
        worker.args(["worker", "-q", "-j", "1", "--broker", &url]);
        let window = prefetch.map_or_else(|| "auto".to_owned(), |n| n.to_string());
        worker.args(["--prefetch", &window]);
        let child = worker
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .context("cannot start mpwasm worker")?;
        children.push(Guard(child));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while redis.query(&["ZCARD", "mpwasm:workers"])? != format!(":{workers}") {
        if Instant::now() > deadline {
            bail!("the {workers} workers did not register with the broker");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let (flags, items) = inputs(range)?;
    // Enough for every worker to fill its window twice (an adaptive one learns the cost from
    // its first batches).
    let warm_count = workers * prefetch.unwrap_or(8) * 2;
    let warm_flags = match range.strip_prefix('@') {
        // The first inputs of the file, so that they fit the function.
        Some(path) => {
            let text = std::fs::read_to_string(path)?;
            let first: Vec<&str> = text.lines().take(warm_count).collect();
            let warm =
                std::env::temp_dir().join(format!("mpwasm-warm-{}.jsonl", std::process::id()));
            std::fs::write(&warm, first.join("\n") + "\n")?;
            vec!["--input".to_string(), warm.display().to_string()]
        }
        None => vec!["--map".to_string(), format!("0..{warm_count}")],
    };
    let warm_up = Command::new(mpwasm)
        .args(["run", "-q", "--broker", &url])
        .args(&warm_flags)
        .arg(task)
        .stdout(Stdio::null())
        .status()
        .context("cannot run the warm-up job")?;
    if !warm_up.success() {
        bail!("the warm-up job failed: {warm_up}");
    }
    let mut command = Command::new(mpwasm);
    command
        .args(["run", "-q", "--broker", &url])
        .args(&flags)
        .arg(task);
    timed(&mut command, items)
}

/// Times `mpwasm test BINARY` (W17): here when `workers` is 0, else through a Redis broker
/// served by `workers` workers of one process each (started and warmed up with one test
/// first). Prints the summary's counts as the check (the same for both) and the seconds.
pub fn test_suite(mpwasm: &Path, binary: &Path, workers: usize) -> Result<()> {
    let redis = if workers > 0 {
        Some(RedisServer::start(&[])?)
    } else {
        None
    };
    let url = redis.as_ref().map(RedisServer::url);
    let mut children = Vec::new();
    if let (Some(redis), Some(url)) = (&redis, &url) {
        for _ in 0..workers {
            let child = Command::new(mpwasm)
                .args(["worker", "-q", "-j", "1", "--broker", url])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .spawn()
                .context("cannot start mpwasm worker")?;
            children.push(Guard(child));
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while redis.query(&["ZCARD", "mpwasm:workers"])? != format!(":{workers}") {
            if Instant::now() > deadline {
                bail!("the {workers} workers did not register with the broker");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let command = |extra: &[&str]| {
        let mut command = Command::new(mpwasm);
        command
            .arg("test")
            .arg(binary)
            .args(extra)
            .args(["--status-level", "fail"]);
        if let Some(url) = &url {
            command.args(["--broker", url]);
        }
        command
    };
    let warm_up = command(&["t00000", "--exact"])
        .stdout(Stdio::null())
        .status()
        .context("cannot run the warm-up")?;
    if !warm_up.success() {
        bail!("the warm-up test failed: {warm_up}");
    }
    let start = Instant::now();
    let out = command(&[])
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run mpwasm test")?;
    let seconds = start.elapsed().as_secs_f64();
    if !out.status.success() {
        bail!("mpwasm test failed: {}", out.status);
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("Summary"))
        .and_then(|l| l.split_once("] "))
        .map(|(_, counts)| counts.to_string())
        .context("mpwasm test printed no summary")?;
    println!("check {summary}");
    metric("seconds", seconds, "s");
    drop(children);
    Ok(())
}

/// Runs `command`, prints the digest of its output and the time it took, in seconds and per
/// item (of `items`).
fn timed(command: &mut Command, items: u64) -> Result<()> {
    let start = Instant::now();
    let out = command
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run mpwasm")?;
    let seconds = start.elapsed().as_secs_f64();
    if !out.status.success() {
        bail!("mpwasm failed: {}", out.status);
    }
    let mut digest = DefaultHasher::new();
    digest.write(&out.stdout);
    let lines = out.stdout.iter().filter(|&&b| b == b'\n').count();
    println!("check {lines} lines, digest {:016x}", digest.finish());
    metric("seconds", seconds, "s");
    metric("per_item", seconds / items as f64 * 1e6, "us");
    metric("items_per_second", items as f64 / seconds, "1/s");
    Ok(())
}

/// How many values `A..B` has.
fn count(range: &str) -> Result<u64> {
    let (a, b) = range
        .split_once("..")
        .with_context(|| format!("`{range}` is not A..B"))?;
    let (a, b): (u64, u64) = (a.parse()?, b.parse()?);
    Ok(b.saturating_sub(a).max(1))
}

/// Kills and reaps a child when dropped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
