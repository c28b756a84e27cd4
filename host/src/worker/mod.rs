//! The worker process: the `mpwasm` binary re-executed with the hidden `__worker` subcommand.
//! It reads a [`Setup`](crate::vocab::Setup) and then batches from stdin, runs each
//! task in its [`Sandbox`], and answers on stdout. A reader thread watches stdin: when the host
//! closes it (or dies), the worker exits at once, even in the middle of a task, so no worker
//! outlives its pool.
//!
//! With a timeout, a clock thread advances wasmtime's epoch (which stops running wasm) and
//! watches the task in progress: a task still running a grace period past its limit is blocked
//! in a host call that epochs cannot interrupt, so the worker reports it
//! ([`FromWorker::Stuck`]) with the batch's finished outcomes, and the host kills it.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, bounded};

mod confine;
mod output;

use crate::ids::{BatchId, TaskIndex};
use crate::sandbox::Sandbox;
use crate::sandbox::runner::epoch_tick;
use crate::sync::lock;
use crate::vocab::WireOutcome;
use crate::wire::frame::read_frame;
use crate::wire::message::{BatchDone, FromWorker, ToWorker};
use output::Output;

/// The hidden subcommand that makes the `mpwasm` binary a worker.
pub const WORKER_SUBCOMMAND: &str = "__worker";

/// How long past its timeout a task may still run before the worker reports it stuck.
pub fn stuck_grace(timeout: Duration) -> Duration {
    (timeout / 4).max(Duration::from_millis(250))
}

/// The batch in progress, shared with the watchdog.
#[derive(Default)]
struct Progress {
    batch: Option<BatchId>,
    done: Vec<WireOutcome>,
    current: Option<(TaskIndex, Instant)>,
    reported: bool,
}

/// Runs the worker protocol on this process's stdin and stdout; returns the exit code.
pub fn main() -> i32 {
    let mut stdin = io::stdin().lock();
    let out = Output::stdout();
    let mut buf = Vec::new();
    let setup = match read_frame::<_, ToWorker>(&mut stdin, &mut buf) {
        Ok(Some(ToWorker::Setup(setup))) => setup,
        Ok(None) => return 0,
        Ok(Some(other)) => {
            eprintln!("mpwasm worker: expected a setup message first, got {other:?}");
            return 2;
        }
        Err(e) => {
            eprintln!("mpwasm worker: cannot read the setup message: {e}");
            return 2;
        }
    };
    let mut sandbox = match Sandbox::new(&setup) {
        Ok(sandbox) => sandbox,
        Err(message) => {
            out.send(&FromWorker::SetupFailed { message });
            return 3;
        }
    };
    // The artifact is mapped; from here on the process needs only the granted directories.
    let confinement = confine::confine(&setup.grants);
    if let Some(code) = confine::self_test() {
        return code;
    }
    if !out.send(&FromWorker::Ready {
        pid: std::process::id(),
        confined: confinement.full,
        confinement: confinement.summary,
    }) {
        return 0;
    }
    let progress = setup.limits.timeout.map(|timeout| {
        let progress = Arc::new(Mutex::new(Progress::default()));
        spawn_clock(
            sandbox.engine().clone(),
            timeout,
            Arc::clone(&progress),
            out.clone(),
        );
        progress
    });
    drop(stdin);
    let requests = spawn_reader(buf);
    for request in requests.iter() {
        let ToWorker::Run(batch) = request else {
            eprintln!("mpwasm worker: unexpected second setup message");
            return 2;
        };
        let started = Instant::now();
        let outcomes = match &progress {
            None => batch.tasks.iter().map(|task| sandbox.run(task)).collect(),
            Some(progress) => {
                lock(progress).batch = Some(batch.id);
                for task in &batch.tasks {
                    lock(progress).current = Some((task.index, Instant::now()));
                    let outcome = sandbox.run(task);
                    let mut p = lock(progress);
                    p.current = None;
                    p.done.push(outcome);
                }
                let mut p = lock(progress);
                p.batch = None;
                std::mem::take(&mut p.done)
            }
        };
        let done = FromWorker::Done(BatchDone {
            id: batch.id,
            outcomes,
            busy_nanos: started.elapsed().as_nanos() as u64,
        });
        // More batches waiting: their results follow soon, so flush these with them.
        let sent = if requests.is_empty() {
            out.send(&done)
        } else {
            out.send_soon(&done)
        };
        if !sent {
            return 0; // the host is gone
        }
    }
    0
}

/// The clock: advances the epoch every tick (a clock, not a poll: running guests check the
/// epoch) and reports a task stuck past its timeout plus grace.
fn spawn_clock(
    engine: wasmtime::Engine,
    timeout: Duration,
    progress: Arc<Mutex<Progress>>,
    out: Output,
) {
    let tick = epoch_tick(timeout);
    let limit = timeout + stuck_grace(timeout);
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(tick);
            engine.increment_epoch();
            let mut p = lock(&progress);
            let stuck = match (p.batch, p.current) {
                (Some(id), Some((index, since))) if !p.reported && since.elapsed() > limit => {
                    Some((id, index))
                }
                _ => None,
            };
            if let Some((id, index)) = stuck {
                p.reported = true;
                let done = std::mem::take(&mut p.done);
                drop(p);
                out.send(&FromWorker::Stuck { id, done, index });
            }
        }
    });
}

/// Reads requests on a thread of their own. On end of input the process exits at once: the
/// host closed the pipe (shutdown) or died, and a running task must not outlive it.
///
/// The queue is roomy: the host already bounds how many batches a worker holds, and a
/// reader that blocks after every few tiny batches costs more than the tasks (measured:
/// chunksize 1 went from 160 000 to 350 000 tasks/s with room for 512 instead of 4).
fn spawn_reader(mut buf: Vec<u8>) -> Receiver<ToWorker> {
    let (tx, rx) = bounded(512);
    std::thread::spawn(move || {
        let mut stdin = io::stdin().lock();
        loop {
            match read_frame::<_, ToWorker>(&mut stdin, &mut buf) {
                Ok(Some(request)) => {
                    if tx.send(request).is_err() {
                        return;
                    }
                }
                Ok(None) => std::process::exit(0),
                Err(e) => {
                    eprintln!("mpwasm worker: bad message from the host: {e}");
                    std::process::exit(2);
                }
            }
        }
    });
    rx
}
