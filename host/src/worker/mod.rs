//! The worker process: the `mpwasm` binary re-executed with the hidden `__worker` subcommand.
//! It reads a [`Setup`](crate::wire::message::Setup) and then batches from stdin, runs each
//! task in its [`Sandbox`], and answers on stdout. A reader thread watches stdin: when the host
//! closes it (or dies), the worker exits at once, even in the middle of a task, so no worker
//! outlives its pool.

use std::io::{self, BufWriter, Write};
use std::time::Instant;

use crossbeam_channel::{Receiver, bounded};

use crate::sandbox::Sandbox;
use crate::sandbox::runner::epoch_tick;
use crate::wire::frame::{read_frame, write_frame};
use crate::wire::message::{BatchDone, FromWorker, ToWorker};

/// The hidden subcommand that makes the `mpwasm` binary a worker.
pub const WORKER_SUBCOMMAND: &str = "__worker";

/// Runs the worker protocol on this process's stdin and stdout; returns the exit code.
pub fn main() -> i32 {
    let mut stdin = io::stdin().lock();
    let mut out = BufWriter::new(io::stdout().lock());
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
            let _ = write_frame(&mut out, &FromWorker::SetupFailed { message });
            let _ = out.flush();
            return 3;
        }
    };
    if write_frame(
        &mut out,
        &FromWorker::Ready {
            pid: std::process::id(),
        },
    )
    .and_then(|()| out.flush().map_err(Into::into))
    .is_err()
    {
        return 0;
    }
    if let Some(timeout) = setup.limits.timeout {
        let engine = sandbox.engine().clone();
        let tick = epoch_tick(timeout);
        // A clock, not a poll: it advances the epoch that running guests check.
        std::thread::spawn(move || {
            loop {
                std::thread::sleep(tick);
                engine.increment_epoch();
            }
        });
    }
    drop(stdin);
    let requests = spawn_reader(buf);
    for request in requests {
        let ToWorker::Run(batch) = request else {
            eprintln!("mpwasm worker: unexpected second setup message");
            return 2;
        };
        let started = Instant::now();
        let outcomes = batch.tasks.iter().map(|task| sandbox.run(task)).collect();
        let done = FromWorker::Done(BatchDone {
            id: batch.id,
            outcomes,
            busy_nanos: started.elapsed().as_nanos() as u64,
        });
        if write_frame(&mut out, &done).is_err() || out.flush().is_err() {
            // The host is gone.
            return 0;
        }
    }
    0
}

/// Reads requests on a thread of their own. On end of input the process exits at once: the
/// host closed the pipe (shutdown) or died, and a running task must not outlive it.
fn spawn_reader(mut buf: Vec<u8>) -> Receiver<ToWorker> {
    let (tx, rx) = bounded(4);
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
