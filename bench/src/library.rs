//! The mpwasm library as a contender, for workloads that are an API call: `apply` on a warm pool
//! (W3), `imap_unordered` with chunksize 1 (W5), the memory of idle workers (W9), a guest's
//! call into the application (W13), awaited calls from tokio against `imap_unordered` (W14),
//! and many plugins in one pool against a pool each (W21).

use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use mpwasm::{HostCallInfo, HostError, PluginOptions, Pool};
use serde_json::{Value, json};

use crate::{metric, time_rounds};

fn pool(task: &Path, worker: &Path, chunksize: Option<usize>) -> Result<Pool> {
    let mut builder = Pool::builder().worker_program(worker);
    if let Some(n) = chunksize {
        builder = builder.chunksize(n);
    }
    builder
        .build(task)
        .with_context(|| format!("cannot start a pool for {}", task.display()))
}

/// Times `rounds` sequential `apply(square(3))` calls on a warm pool.
pub fn apply(task: &Path, worker: &Path, rounds: u32) -> Result<()> {
    let pool = pool(task, worker, None)?;
    let per_call = time_rounds(rounds, || {
        let value = pool.apply(vec![json!(3)])?;
        if value != json!(9) {
            bail!("square(3) returned {value}");
        }
        Ok(())
    })?;
    println!("check {rounds} calls returned 9");
    metric("roundtrip", per_call, "us");
    Ok(())
}

/// Times a host call's round trip: one task of the `host-calls` plugin calls the
/// application's `echo` `rounds` times (`chatter`); the task's own cost is amortised away.
pub fn host_call(task: &Path, worker: &Path, rounds: u32) -> Result<()> {
    let echo = |call: &HostCallInfo<'_>| -> Result<Value, HostError> {
        match call.args() {
            [text] => Ok(text.clone()),
            _ => Err(HostError::new("echo takes one argument")),
        }
    };
    let pool = Pool::builder()
        .worker_program(worker)
        .processes(1)
        .host("mpwasm:tasks/store", echo)
        .host("log", |_: &HostCallInfo<'_>| Ok(Value::Null))
        .function("chatter")
        .build(task)
        .with_context(|| format!("cannot start a pool for {}", task.display()))?;
    // Warm up: the instance, the handler thread, the pipes.
    pool.apply(vec![json!(rounds.min(1000))])?;
    let start = Instant::now();
    let matched = pool.apply(vec![json!(rounds)])?;
    let elapsed = start.elapsed();
    if matched != json!(rounds) {
        bail!("chatter({rounds}) matched {matched} echoes");
    }
    println!("check {rounds} echoes matched");
    metric(
        "roundtrip",
        elapsed.as_secs_f64() * 1e6 / f64::from(rounds.max(1)),
        "us",
    );
    Ok(())
}

/// Times `imap_unordered` over `0..n` (pool start-up excluded), with `chunksize` or the pool's
/// own chunking.
pub fn imap_unordered(task: &Path, worker: &Path, n: u64, chunksize: Option<usize>) -> Result<()> {
    let pool = pool(task, worker, chunksize)?;
    pool.apply(vec![json!(0)])?;
    let start = Instant::now();
    let mut sum: u64 = 0;
    for result in pool.imap_unordered((0..n).map(|x| json!(x))) {
        let (_, result) = result;
        let value = result?;
        sum = sum.wrapping_add(value.as_u64().context("square returned a non-number")?);
    }
    let elapsed = start.elapsed().as_secs_f64();
    println!("check sum of squares {sum}");
    metric("throughput", n as f64 / elapsed, "items/s");
    Ok(())
}

/// Times `n` calls of `apply_async` awaited on a multi-threaded tokio runtime, `in_flight` of
/// them at a time (pool start-up excluded): the async counterpart of [`imap_unordered`].
pub fn tokio_calls(task: &Path, worker: &Path, n: u64, in_flight: usize) -> Result<()> {
    use futures::stream::{FuturesUnordered, StreamExt};

    let pool = Arc::new(pool(task, worker, None)?);
    pool.apply(vec![json!(0)])?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .build()
        .context("cannot start a tokio runtime")?;
    let start = Instant::now();
    let driver = {
        let pool = Arc::clone(&pool);
        async move {
            let mut next = 0u64;
            let mut sum = 0u64;
            let mut calls = FuturesUnordered::new();
            while next < n || !calls.is_empty() {
                while next < n && calls.len() < in_flight.max(1) {
                    calls.push(pool.apply_async(vec![json!(next)]));
                    next += 1;
                }
                if let Some(result) = calls.next().await {
                    let value = result?;
                    sum = sum.wrapping_add(value.as_u64().context("square returned a non-number")?);
                }
            }
            anyhow::Ok(sum)
        }
    };
    let sum = runtime
        .block_on(runtime.spawn(driver))
        .context("the tokio task driving the calls panicked")??;
    let elapsed = start.elapsed().as_secs_f64();
    println!("check sum of squares {sum}");
    metric("throughput", n as f64 / elapsed, "items/s");
    Ok(())
}

/// W21: `plugins` copies of the square task called round robin, one `apply` at a time, as
/// plugins of one pool (`one-pool`) or each in a pool of its own (`pools`, each with the
/// machine's default processes): the mean round trip over `rounds` calls (after a warm-up),
/// and the proportional set size of all the worker processes together.
pub fn plugins(task: &Path, worker: &Path, plugins: usize, rounds: u32, mode: &str) -> Result<()> {
    let names: Vec<String> = (0..plugins).map(|n| format!("p{n}")).collect();
    // Call `k` goes to plugin `k % plugins` (`apply(k, x)`), squaring `k`.
    let round_robin = |apply: &dyn Fn(usize, Value) -> Result<Value>| -> Result<f64> {
        let mut turn = 0usize;
        time_rounds(rounds, || {
            let x = turn as u64;
            let value = apply(turn, json!(x))?;
            turn += 1;
            if value != json!(x * x) {
                bail!("square({x}) returned {value}");
            }
            Ok(())
        })
    };
    let (per_call, workers) = match mode {
        "one-pool" => {
            let mut builder = Pool::builder().worker_program(worker);
            for name in &names {
                builder = builder.plugin(name.as_str(), task, PluginOptions::new());
            }
            let pool = builder
                .build_plugins()
                .with_context(|| format!("cannot start a pool of plugins of {}", task.display()))?;
            let handles = names
                .iter()
                .map(|n| pool.plugin(n))
                .collect::<Result<Vec<_>, _>>()?;
            let per_call = round_robin(&|k, x| Ok(handles[k % handles.len()].apply(vec![x])?))?;
            (per_call, workers_pss()?)
        }
        "pools" => {
            let pools = (0..plugins)
                .map(|_| pool(task, worker, None))
                .collect::<Result<Vec<_>>>()?;
            let per_call = round_robin(&|k, x| Ok(pools[k % pools.len()].apply(vec![x])?))?;
            (per_call, workers_pss()?)
        }
        other => bail!("unknown mode `{other}`: one-pool or pools"),
    };
    println!("check {rounds} calls over {plugins} plugins answered");
    metric("roundtrip", per_call, "us");
    metric("pss", workers.0, "MiB");
    metric("workers", workers.1 as f64, "processes");
    Ok(())
}

/// The proportional set size of this process's children together, in MiB, and how many.
fn workers_pss() -> Result<(f64, usize)> {
    let workers = children()?;
    let mut total = 0.0;
    for pid in &workers {
        total += pss_kib(*pid)?;
    }
    Ok((total / 1024.0, workers.len()))
}

/// Warms every worker, lets them go idle, and reports each one's proportional set size.
pub fn idle_pss(task: &Path, worker: &Path) -> Result<()> {
    let pool = pool(task, worker, Some(1))?;
    let inputs: Vec<Value> = (0..(pool.processes() as u64 * 20))
        .map(|x| json!(x))
        .collect();
    for result in pool.map(inputs) {
        result?;
    }
    std::thread::sleep(Duration::from_millis(200));
    let workers = children()?;
    if workers.is_empty() {
        bail!("found no worker processes under this one");
    }
    let mut total = 0.0;
    for pid in &workers {
        total += pss_kib(*pid)?;
    }
    println!("check {} workers", workers.len());
    metric("pss", total / workers.len() as f64 / 1024.0, "MiB");
    Ok(())
}

/// The pids of this process's children, from /proc.
fn children() -> Result<Vec<u32>> {
    let me = std::process::id();
    let mut pids = Vec::new();
    for entry in fs::read_dir("/proc").context("cannot list /proc")? {
        let Ok(pid) = entry?.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // The command name is in parentheses and may hold spaces: fields start after the last `)`.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map_or("", |(_, rest)| rest)
            .split_whitespace()
            .collect();
        if fields.get(1).and_then(|ppid| ppid.parse::<u32>().ok()) == Some(me) {
            pids.push(pid);
        }
    }
    Ok(pids)
}

/// `Pss:` of /proc/PID/smaps_rollup, in KiB.
fn pss_kib(pid: u32) -> Result<f64> {
    let path = format!("/proc/{pid}/smaps_rollup");
    let text = fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    text.lines()
        .find_map(|line| line.strip_prefix("Pss:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .with_context(|| format!("no Pss line in {path}"))
}

/// Times one call of a `misbehave` export that prints `lines` lines one at a time
/// (`chatter-stderr` or `chatter-stdout`), with the output kept up to `cap` bytes: the cost of
/// guest output per line, the capture and its trip to the application included. Checks the
/// lines kept (all of them, or the cap's worth and the rest counted as dropped).
pub fn output(task: &Path, worker: &Path, lines: u32, export: &str, cap: u64) -> Result<()> {
    let pool = Pool::builder()
        .worker_program(worker)
        .processes(1)
        .output_limit(cap)
        .function(export)
        .build(task)
        .with_context(|| format!("cannot start a pool for {}", task.display()))?;
    // Warm up: the instance, its stdout and stderr handles, the pipes.
    pool.apply_async(vec![json!(lines.min(1000))]).wait()?;
    let start = Instant::now();
    let mut call = pool.apply_async(vec![json!(lines)]);
    let outcome = call.wait_outcome();
    let elapsed = start.elapsed();
    let written = outcome.json().map_err(Clone::clone)?.to_owned();
    if written != lines.to_string() {
        bail!("{export}({lines}) returned {written}");
    }
    let kept = outcome.output().iter().filter(|&&b| b == b'\n').count();
    let expected: u64 = (1..=u64::from(lines))
        .map(|line| format!("line {line}\n").len() as u64)
        .sum();
    let total = outcome.output().len() as u64 + outcome.output_dropped();
    if total != expected || (total <= cap && kept != lines as usize) {
        bail!(
            "{export}({lines}) left {kept} lines and {} bytes dropped, {expected} bytes were \
             written",
            outcome.output_dropped()
        );
    }
    println!("check {lines} lines written");
    metric(
        "per_line",
        elapsed.as_secs_f64() * 1e6 / f64::from(lines.max(1)),
        "us",
    );
    Ok(())
}
