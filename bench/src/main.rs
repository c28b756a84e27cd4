//! `mpwasm-bench`: the contenders of `cargo xtask bench` that are programs of ours but not the
//! mpwasm CLI. Each subcommand does one workload and prints its results to stdout; in-process
//! measurements end with `metric NAME VALUE UNIT` lines that the harness reads.
//!
//! - `native-*`: the same algorithms as the guest tasks, in native Rust over rayon's thread pool
//!   (one thread per core): the ceiling for CPU-bound work; and the same output loop (W18).
//! - `lib-*`: the mpwasm library, for the workloads that are an API call (apply, imap_unordered,
//!   async calls from tokio) or that look inside a running pool (the workers' memory).
//! - `broker-*`: a local run and the same run through a Redis broker, timed alike.
//! - `pipe-roundtrip` (and its child, `echo`): the physical anchor for an apply round trip;
//!   `pipe-echo` the same for W13.
//! - `shm-roundtrip` (and its child, `shm-child`): a round trip through shared memory, what a
//!   shared-memory channel between worker and host would cost (W13's report).

mod anchor;
mod broker;
mod library;
mod native;
#[path = "../../xtask/src/redis_server.rs"]
mod redis_server;
mod shm;

use std::process::ExitCode;

use anyhow::{Context, Result, bail};

const USAGE: &str = "\
usage: mpwasm-bench <workload> [args]

  native-square N              print x*x for x in 0..N, in order (rayon)
  native-primes N COUNT        print primes(N) COUNT times (trial division, rayon)
  native-hash FILE             print the hex SHA-256 of each JSON string line of FILE (rayon)
  native-output N TO           time N lines `line I` written natively to stderr (eprintln!),
                               stdout (println!) or memory (writeln! into a Vec)
  lib-apply TASK WORKER ROUNDS     time Pool::apply of square(3) on a warm pool
  lib-output TASK WORKER N EXPORT CAP  time one call of the misbehave guest's EXPORT
                                   (chatter-stderr or chatter-stdout) printing N lines, output
                                   kept up to CAP bytes
  lib-imap-unordered TASK WORKER N time imap_unordered with chunksize 1 over 0..N
  lib-imap-unordered-auto TASK WORKER N  the same with the pool's own chunking
  lib-tokio-calls TASK WORKER N K  time N apply_async calls awaited from a multi-threaded tokio
                                   runtime, K in flight at a time
  lib-plugins TASK WORKER P N MODE  time N apply calls round robin over P copies of TASK as
                                   plugins of one pool (MODE one-pool) or a pool each (pools),
                                   and the workers' PSS together
  lib-idle-pss TASK WORKER     the proportional set size of each idle, warm worker
  lib-hostcall TASK WORKER ROUNDS  time a guest's call to an application function (TASK is
                                   the host-calls guest: its `chatter` calls `echo` ROUNDS times)
  broker-local MPWASM TASK A..B J          time `mpwasm run TASK --map A..B -j J` (`@PATH`
                                           for A..B: `--input PATH`)
  broker-remote MPWASM TASK A..B N P       the same through a Redis broker with N workers of
                                           one process holding P inputs each (`auto`: their
                                           adaptive window) (redis-server)
  test-suite MPWASM BINARY N                time `mpwasm test BINARY`: here (N = 0) or through a
                                           Redis broker with N workers of one process
  pipe-roundtrip ROUNDS        time a 16-byte round trip to a child process over pipes
  pipe-echo ROUNDS             the same, as W13's anchor
  shm-roundtrip ROUNDS         a round trip through shared memory to a spinning child (W13's
                               report of what a shared-memory channel would give)
  shm-child PATH               (the child of shm-roundtrip)
  echo                         (the child of pipe-roundtrip) echo 16-byte messages

TASK is the square guest (.wasm), WORKER the mpwasm binary the pool runs as its workers.
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("mpwasm-bench: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<()> {
    let strs: Vec<&str> = args.iter().map(String::as_str).collect();
    match strs.as_slice() {
        ["native-square", n] => native::square(number(n)?),
        ["native-primes", n, count] => native::primes(number(n)?, number(count)?),
        ["native-hash", file] => native::hash(file.as_ref()),
        ["native-output", lines, to] => native::output(number(lines)?, to),
        ["lib-output", task, worker, lines, export, cap] => library::output(
            task.as_ref(),
            worker.as_ref(),
            number(lines)?,
            export,
            number(cap)?,
        ),
        ["lib-apply", task, worker, rounds] => {
            library::apply(task.as_ref(), worker.as_ref(), number(rounds)?)
        }
        ["lib-imap-unordered", task, worker, n] => {
            library::imap_unordered(task.as_ref(), worker.as_ref(), number(n)?, Some(1))
        }
        ["lib-imap-unordered-auto", task, worker, n] => {
            library::imap_unordered(task.as_ref(), worker.as_ref(), number(n)?, None)
        }
        ["lib-plugins", task, worker, plugins, rounds, mode] => library::plugins(
            task.as_ref(),
            worker.as_ref(),
            number(plugins)?,
            number(rounds)?,
            mode,
        ),
        ["lib-tokio-calls", task, worker, n, in_flight] => library::tokio_calls(
            task.as_ref(),
            worker.as_ref(),
            number(n)?,
            number(in_flight)?,
        ),
        ["lib-idle-pss", task, worker] => library::idle_pss(task.as_ref(), worker.as_ref()),
        ["lib-hostcall", task, worker, rounds] => {
            library::host_call(task.as_ref(), worker.as_ref(), number(rounds)?)
        }
        ["broker-local", mpwasm, task, range, j] => {
            broker::local(mpwasm.as_ref(), task.as_ref(), range, number(j)?)
        }
        ["broker-remote", mpwasm, task, range, n, prefetch] => broker::broker(
            mpwasm.as_ref(),
            task.as_ref(),
            range,
            number(n)?,
            match *prefetch {
                "auto" => None,
                n => Some(number(n)?),
            },
        ),
        ["test-suite", mpwasm, binary, workers] => {
            broker::test_suite(mpwasm.as_ref(), binary.as_ref(), number(workers)?)
        }
        ["pipe-roundtrip", rounds] => anchor::pipe_roundtrip(number(rounds)?, "calls returned 9"),
        ["pipe-echo", rounds] => anchor::pipe_roundtrip(number(rounds)?, "echoes matched"),
        ["shm-roundtrip", rounds] => shm::roundtrip(number(rounds)?, "echoes matched"),
        ["shm-child", path] => shm::echo(path.as_ref()),
        ["echo"] => anchor::echo(),
        _ => {
            eprint!("{USAGE}");
            bail!("unknown workload or wrong arguments: {args:?}")
        }
    }
}

/// Parses a count argument.
fn number<T: std::str::FromStr>(text: &str) -> Result<T>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    text.parse()
        .with_context(|| format!("`{text}` is not a valid number"))
}

/// Runs `round` up to 1000 times to warm up, then `rounds` times timed; returns the mean time
/// of a round in microseconds.
fn time_rounds(rounds: u32, mut round: impl FnMut() -> Result<()>) -> Result<f64> {
    for _ in 0..rounds.min(1000) {
        round()?;
    }
    let start = std::time::Instant::now();
    for _ in 0..rounds {
        round()?;
    }
    Ok(start.elapsed().as_nanos() as f64 / f64::from(rounds.max(1)) / 1000.0)
}

/// Prints one in-process measurement in the form the harness reads.
fn metric(name: &str, value: f64, unit: &str) {
    println!("metric {name} {value:.3} {unit}");
}
