//! The worker process: the `mpwasm` binary re-executed with the hidden `__worker` subcommand.
//! It reads a [`Setup`](crate::vocab::Setup) and then batches from stdin, runs each
//! task in the [`Sandbox`] of the batch's module ([`modules`]), and answers on stdout. A reader thread watches stdin: when the host
//! closes it (or dies), the worker exits at once, even in the middle of a task, so no worker
//! outlives its pool.
//!
//! With a timeout, a clock thread advances wasmtime's epoch (which stops running wasm) and
//! watches the task in progress: a task still running a grace period past its limit is blocked
//! in a host call that epochs cannot interrupt (WASI; the application's own host functions
//! give up at the deadline by themselves), so the worker reports it
//! ([`FromWorker::Stuck`]) with the batch's finished outcomes, and the host kills it.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use compact_str::CompactString;
use crossbeam_channel::{Receiver, bounded};

mod confine;
mod modules;
mod output;
#[cfg(target_os = "linux")]
mod seccomp;
mod self_test;

use crate::error::ErrorKind;
use crate::ids::{BatchId, TaskIndex};
use crate::limits::format_size;
use crate::sandbox::Sandbox;
use crate::sandbox::cancel::{CancelKey, Cancels, STOP_GRACE};
use crate::sandbox::engine;
use crate::sandbox::host_calls::HostLine;
use crate::sandbox::runner::worker_tick;
use crate::sync::lock;
use crate::vocab::{CapturedOutput, WireFailure, WireOutcome, WireTask};
use crate::wire::frame::{MAX_FRAME, read_frame};
use crate::wire::message::{Answers, Batch, BatchDone, FromWorker, ToWorker};
use modules::Modules;
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
    /// The running task, since when, and how long it may run before it counts as stuck.
    current: Option<(TaskIndex, Instant, Duration)>,
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
    // Host calls go over a socket of their own, which the thread running the guest reads
    // itself; it is connected before the OS confinement starts.
    let cancels = Arc::new(Cancels::default());
    let line = match &setup.host_socket {
        None => None,
        Some(path) => match HostLine::connect(path) {
            Ok(line) => Some(Arc::new(line)),
            Err(e) => {
                out.send(&FromWorker::SetupFailed {
                    message: format!(
                        "cannot connect to the host's call socket {}: {e}",
                        path.display()
                    ),
                });
                return 3;
            }
        },
    };
    let engine =
        match engine::build_for_worker(setup.engine, setup.memory_init, setup.kept_instances) {
            Ok(engine) => engine,
            Err(e) => {
                out.send(&FromWorker::SetupFailed {
                    message: format!("cannot configure wasmtime: {e:#}"),
                });
                return 3;
            }
        };
    // The clock always runs: a call may bring its own timeout, and a running call is
    // cancelled at the next epoch check.
    let tick = worker_tick(setup.shortest_timeout());
    let mut modules = match Modules::load(&setup, &engine, tick, line.as_ref(), &cancels) {
        Ok(modules) => modules,
        Err(message) => {
            out.send(&FromWorker::SetupFailed { message });
            return 3;
        }
    };
    // The artifacts are mapped; from here on the process needs only the granted directories
    // and the syscalls of the filter.
    let confinement = confine::confine(&setup.grants);
    #[cfg(target_os = "linux")]
    let confinement = confinement.with_seccomp(seccomp::install(&setup.grants));
    if let Some(code) = self_test::run() {
        return code;
    }
    if !out.send(&FromWorker::Ready {
        pid: std::process::id(),
        confined: confinement.full,
        confinement: confinement.summary,
    }) {
        return 0;
    }
    let progress = Arc::new(Mutex::new(Progress::default()));
    spawn_clock(
        engine.clone(),
        tick,
        Arc::clone(&progress),
        out.clone(),
        Arc::clone(&cancels),
    );
    drop(stdin);
    let requests = spawn_reader(buf, Arc::clone(&cancels), engine, out.clone());
    for batch in requests.iter() {
        let started = Instant::now();
        let outcomes = match modules.prepare(batch.module) {
            Some(sandbox) => run_batch(sandbox, &batch, &cancels, &progress),
            // The host sends only the modules it set up: a batch for another is its mistake,
            // answered rather than lost.
            None => batch
                .tasks
                .iter()
                .map(|task| {
                    failed(
                        &task,
                        ErrorKind::Trap,
                        format!("this worker process has no module number {}", batch.module),
                    )
                })
                .collect(),
        };
        modules.ran(batch.module);
        cancels.batch_done(batch.id);
        let done = FromWorker::Done(BatchDone {
            id: batch.id,
            answers: Answers::from_outcomes(outcomes),
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

/// Runs `batch`'s tasks in `sandbox`, in order, and returns their outcomes (their output and
/// results within what one answer may carry).
fn run_batch(
    sandbox: &mut Sandbox,
    batch: &Batch,
    cancels: &Cancels,
    progress: &Mutex<Progress>,
) -> Vec<WireOutcome> {
    let mut budget = OutputBudget::new();
    let own_timeout = sandbox.limits().timeout;
    // Watched when a task of it may time out (the module's timeout, or its call's own).
    let watched = own_timeout.is_some()
        || batch
            .tasks
            .iter()
            .any(|t| t.limits().is_some_and(|l| l.timeout.is_some()));
    let run = |sandbox: &mut Sandbox, position: usize, task: &WireTask| {
        let key = CancelKey::new(batch.id, position);
        if !batch.cancellable {
            return sandbox.run(task, key);
        }
        cancels.started(key);
        let outcome = if cancels.take_queued(key) {
            cancelled_before_start(task)
        } else {
            sandbox.run(task, key)
        };
        cancels.finished();
        outcome
    };
    if !watched {
        return batch
            .tasks
            .iter()
            .enumerate()
            .map(|(position, task)| budget.charge(run(sandbox, position, &task)))
            .collect();
    }
    lock(progress).batch = Some(batch.id);
    for (position, task) in batch.tasks.iter().enumerate() {
        let task = &*task;
        let timeout = task.limits().and_then(|l| l.timeout).or(own_timeout);
        let limit = timeout.map_or(Duration::MAX, |t| t.saturating_add(stuck_grace(t)));
        lock(progress).current = Some((task.index, Instant::now(), limit));
        let outcome = budget.charge(run(sandbox, position, task));
        let mut p = lock(progress);
        p.current = None;
        p.done.push(outcome);
    }
    let mut p = lock(progress);
    p.batch = None;
    std::mem::take(&mut p.done)
}

/// The clock: advances the epoch every tick (a clock, not a poll: running guests check the
/// epoch) and reports a task stuck past its timeout plus grace.
fn spawn_clock(
    engine: wasmtime::Engine,
    tick: Duration,
    progress: Arc<Mutex<Progress>>,
    out: Output,
    cancels: Arc<Cancels>,
) {
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(tick);
            engine.increment_epoch();
            if cancels.overdue() {
                // Blocked where nothing can interrupt it: end the process; the host answers
                // the call `cancelled` and runs the other tasks elsewhere.
                eprintln!(
                    "mpwasm worker: a cancelled call did not stop within {} (blocked in a \
                     WASI call); the worker exits",
                    crate::limits::format_duration(STOP_GRACE)
                );
                std::process::exit(4);
            }
            let mut p = lock(&progress);
            let stuck = match (p.batch, p.current) {
                (Some(id), Some((index, since, limit)))
                    if !p.reported && since.elapsed() > limit =>
                {
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

/// The outcome of a task cancelled before it started.
fn cancelled_before_start(task: &WireTask) -> WireOutcome {
    failed(
        task,
        ErrorKind::Cancelled,
        "the call was cancelled before it started",
    )
}

/// The outcome of a task that failed before it ran.
fn failed(task: &WireTask, kind: ErrorKind, message: impl Into<String>) -> WireOutcome {
    WireOutcome {
        index: task.index,
        result: Err(Box::new(WireFailure::new(kind, message))),
        output: CapturedOutput::default(),
        nanos: 0,
    }
}

/// Reads requests on a thread of their own: batches to the returned queue, cancels to
/// `cancels`. On end of input the process exits at once: the host closed the pipe (shutdown)
/// or died, and a running task must not outlive it.
///
/// The queue is roomy: the host already bounds how many batches a worker holds, and a
/// reader that blocks after every few tiny batches costs more than the tasks (measured:
/// chunksize 1 went from 160 000 to 350 000 tasks/s with room for 512 instead of 4).
fn spawn_reader(
    mut buf: Vec<u8>,
    cancels: Arc<Cancels>,
    engine: wasmtime::Engine,
    out: Output,
) -> Receiver<Batch> {
    let (tx, rx) = bounded(512);
    std::thread::spawn(move || {
        let mut stdin = io::stdin().lock();
        loop {
            match read_frame::<_, ToWorker>(&mut stdin, &mut buf) {
                Ok(Some(ToWorker::Run(batch))) => {
                    if tx.send(batch).is_err() {
                        return;
                    }
                }
                Ok(Some(ToWorker::Cancel { batch, position })) => {
                    let key = CancelKey::new(batch, position as usize);
                    if cancels.cancel(key) {
                        // It will be skipped: the host may answer it now.
                        out.send(&FromWorker::NotStarted { batch, position });
                    }
                    // A running guest checks at its next epoch, a waiting host call within
                    // its slice.
                    engine.increment_epoch();
                }
                Ok(Some(ToWorker::Setup(_))) => {
                    eprintln!("mpwasm worker: unexpected second setup message");
                    std::process::exit(2);
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

/// How much captured output one batch's answer may carry: half the frame limit, so a batch of
/// many chatty tasks never makes an answer the host must refuse (which would lose the worker
/// and every task of the batch); the other half is room for the results themselves.
pub const BATCH_OUTPUT_BUDGET: u64 = MAX_FRAME as u64 / 2;

/// How many bytes of results (the values' JSON, a failure's message and value) one batch's
/// answer carries, with [`OUTCOME_OVERHEAD`] counted for each outcome: the other half of a
/// frame, less room for the answer's own fields. A result past it fails alone, as
/// [`ErrorKind::ResultTooLarge`], so the answer always fits a frame.
pub const BATCH_RESULT_BUDGET: u64 = MAX_FRAME as u64 / 2 - (4 << 20);

/// What one outcome's fields besides its result and output take on the wire, at most.
const OUTCOME_OVERHEAD: u64 = 64;

/// What is left of a batch's [`BATCH_OUTPUT_BUDGET`] and [`BATCH_RESULT_BUDGET`]: each
/// outcome keeps its output while it fits, and past it the bytes are dropped and counted as
/// the output limit's are; a result that does not fit is replaced by a failure saying so.
struct OutputBudget {
    left: u64,
    results_left: u64,
}

impl OutputBudget {
    fn new() -> OutputBudget {
        OutputBudget {
            left: BATCH_OUTPUT_BUDGET,
            results_left: BATCH_RESULT_BUDGET,
        }
    }

    /// `outcome`, with its output cut to what the batch has left, and its result replaced
    /// when it does not fit.
    fn charge(&mut self, mut outcome: WireOutcome) -> WireOutcome {
        let output = &mut outcome.output;
        let len = output.bytes.len() as u64;
        if len > self.left {
            let keep = usize::try_from(self.left).unwrap_or(usize::MAX);
            output.dropped += len - self.left;
            output.bytes.truncate(keep);
        }
        self.left -= output.bytes.len() as u64;
        let size = |result: &Result<CompactString, Box<WireFailure>>| {
            OUTCOME_OVERHEAD
                + match result {
                    Ok(json) => json.len() as u64,
                    Err(f) => (f.message.len() + f.value.as_ref().map_or(0, |v| v.len())) as u64,
                }
        };
        let needed = size(&outcome.result);
        if needed > self.results_left {
            let result = needed - OUTCOME_OVERHEAD;
            let message = if needed > BATCH_RESULT_BUDGET {
                format!(
                    "its result is {} ({result} bytes), more than the {} a result may be \
                     (it must fit the worker's answer); return less, or write it to a --dir",
                    format_size(result),
                    format_size(BATCH_RESULT_BUDGET - OUTCOME_OVERHEAD)
                )
            } else {
                format!(
                    "its result is {} ({result} bytes), more than the {} left of the {} that \
                     the results of one batch share (the tasks before it in its batch took \
                     the rest); give it a batch of its own with --chunksize 1, or return less",
                    format_size(result),
                    format_size(self.results_left.saturating_sub(OUTCOME_OVERHEAD)),
                    format_size(BATCH_RESULT_BUDGET)
                )
            };
            outcome.result = Err(Box::new(WireFailure::new(
                ErrorKind::ResultTooLarge,
                message,
            )));
        }
        self.results_left = self.results_left.saturating_sub(size(&outcome.result));
        outcome
    }
}

#[cfg(test)]
mod budget_tests {
    use super::*;

    fn ok(bytes: usize) -> WireOutcome {
        WireOutcome {
            index: TaskIndex(0),
            result: Ok(CompactString::from("x".repeat(bytes))),
            output: CapturedOutput::default(),
            nanos: 0,
        }
    }

    fn kind(outcome: &WireOutcome) -> Option<ErrorKind> {
        outcome.result.as_ref().err().map(|f| f.kind)
    }

    #[test]
    fn results_past_the_batch_budget_fail_alone_and_say_why() {
        let mut budget = OutputBudget::new();
        let half = usize::try_from(BATCH_RESULT_BUDGET / 2).expect("fits");
        assert_eq!(kind(&budget.charge(ok(half))), None);
        // One that would have fitted an empty batch but not this one.
        let second = budget.charge(ok(half));
        assert_eq!(kind(&second), Some(ErrorKind::ResultTooLarge));
        let message = &second.result.as_ref().expect_err("failed").message;
        assert!(message.contains("--chunksize 1"), "{message}");
        // A small one after it still fits.
        assert_eq!(kind(&budget.charge(ok(1000))), None);
        // One larger than any batch can carry says that instead.
        let huge = OutputBudget::new().charge(ok(half * 2 + 1));
        let message = &huge.result.as_ref().expect_err("failed").message;
        assert!(message.contains("a result may be"), "{message}");
    }
}
