//! The messages host and worker exchange. Tasks travel in batches (chunks), never one message
//! per item; inputs and results travel as JSON text so the host never re-parses them.

use std::path::PathBuf;

use compact_str::CompactString;
use serde::{Deserialize, Serialize};

use crate::error::ErrorKind;
use crate::ids::{BatchId, TaskIndex};
use crate::limits::Limits;
use crate::sandbox::grants::Grants;
use crate::task::{CommandSpec, FunctionPath, ModuleKind};

/// Host → worker.
#[derive(Debug, Serialize, Deserialize)]
pub enum ToWorker {
    /// The first message: what to load and how to run it.
    Setup(Box<Setup>),
    /// Run these tasks in order and answer with one [`FromWorker::Done`].
    Run(Batch),
}

/// Everything a worker needs to become a sandbox host for one task module.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Setup {
    /// The precompiled artifact the host wrote (the worker never compiles).
    pub artifact: PathBuf,
    /// Component or core module.
    pub kind: ModuleKind,
    /// What each task runs: a function, or the whole program.
    pub entry: Entry,
    /// Per-task limits.
    pub limits: Limits,
    /// A new instance for every task.
    pub fresh: bool,
    /// Measure every task's run time (programs are always timed).
    pub timed: bool,
    /// Directories and environment variables granted to every sandbox.
    pub grants: Grants,
}

/// What a task runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Entry {
    /// Calls an exported function with the input as its arguments.
    Function {
        /// The export each task calls.
        function: FunctionPath,
        /// The export run once in every new instance before its first task.
        init: Option<FunctionPath>,
    },
    /// Runs the module as a WASI program (`wasi:cli/run`, or `_start`), in a new instance
    /// for every task, with arguments and stdin made from the input.
    Program(CommandSpec),
}

/// A chunk of tasks for one worker.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Batch {
    /// Identifies the batch in the answer.
    pub id: BatchId,
    /// The tasks, run in this order.
    pub tasks: Vec<WireTask>,
}

/// One task: its index in its job and its input as JSON text.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireTask {
    /// The task's index within its job.
    pub index: TaskIndex,
    /// The input, JSON text (a value, or an array of arguments). Short inputs (numbers,
    /// words) are stored inline, without an allocation per task.
    pub input: CompactString,
}

/// Borrowed twins of [`ToWorker`], [`Batch`] and [`WireTask`] that encode to the very same
/// bytes, so the host frames a batch straight from its queue without copying each input.
#[derive(Debug, Serialize)]
pub enum ToWorkerRef<'a> {
    /// As [`ToWorker::Setup`].
    Setup(&'a Setup),
    /// As [`ToWorker::Run`].
    Run(BatchRef<'a>),
}

/// Borrowed [`Batch`].
#[derive(Debug, Serialize)]
pub struct BatchRef<'a> {
    /// As [`Batch::id`].
    pub id: BatchId,
    /// As [`Batch::tasks`].
    pub tasks: Vec<WireTaskRef<'a>>,
}

/// Borrowed [`WireTask`].
#[derive(Debug, Serialize)]
pub struct WireTaskRef<'a> {
    /// As [`WireTask::index`].
    pub index: TaskIndex,
    /// As [`WireTask::input`].
    pub input: &'a str,
}

/// Worker → host.
#[derive(Debug, Serialize, Deserialize)]
pub enum FromWorker {
    /// The worker loaded the module and waits for batches.
    Ready {
        /// The worker's process id.
        pid: u32,
        /// Whether the OS confinement (Landlock) is fully in force.
        confined: bool,
        /// What the OS confinement enforces.
        confinement: String,
    },
    /// The worker could not load the module; it exits after this.
    SetupFailed {
        /// What went wrong.
        message: String,
    },
    /// A batch finished: one outcome per task, in the batch's order.
    Done(BatchDone),
    /// A task has run past its timeout plus a grace period and epoch interruption did not stop
    /// it (it is blocked in a host call): the host must kill this worker. `done` holds the
    /// outcomes of the batch's tasks that finished before it.
    Stuck {
        /// The batch holding the stuck task.
        id: BatchId,
        /// Outcomes of the tasks before it, in order.
        done: Vec<WireOutcome>,
        /// The stuck task.
        index: TaskIndex,
    },
}

/// The answer to a [`Batch`].
#[derive(Debug, Serialize, Deserialize)]
pub struct BatchDone {
    /// The batch this answers.
    pub id: BatchId,
    /// One outcome per task.
    pub outcomes: Vec<WireOutcome>,
    /// Wall time the worker spent on the batch, in nanoseconds (feeds chunk sizing).
    pub busy_nanos: u64,
}

/// The outcome of one task, as the worker reports it.
#[derive(Debug, Serialize, Deserialize)]
pub struct WireOutcome {
    /// The task's index within its job.
    pub index: TaskIndex,
    /// The result as JSON text (inline when short), or why it failed (boxed: failures are
    /// rare and should not make every outcome bigger; the encoding is the same).
    pub result: Result<CompactString, Box<WireFailure>>,
    /// What the guest wrote to stdout and stderr during the task.
    pub output: CapturedOutput,
    /// How long the task ran in the worker, in nanoseconds (instantiation included), for
    /// programs; 0 (one byte on the wire) for function calls, which are not timed.
    pub nanos: u64,
}

/// A failed task, as the worker reports it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireFailure {
    /// The failure's kind.
    pub kind: ErrorKind,
    /// A message naming the cause and the limit.
    pub message: String,
    /// What the task produced despite failing, as JSON text (a program's exit status and
    /// output when it exited with a non-zero status).
    pub value: Option<CompactString>,
}

impl WireFailure {
    /// A failure with no value.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> WireFailure {
        WireFailure {
            kind,
            message: message.into(),
            value: None,
        }
    }
}

/// Guest output captured during one task, capped at the output limit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapturedOutput {
    /// The bytes kept, stdout and stderr interleaved as written.
    pub bytes: Vec<u8>,
    /// How many bytes were dropped past the cap.
    pub dropped: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn borrowed_batches_encode_like_owned_ones() {
        let owned = ToWorker::Run(Batch {
            id: BatchId(7),
            tasks: vec![
                WireTask {
                    index: TaskIndex(3),
                    input: "[1, 2]".into(),
                },
                WireTask {
                    index: TaskIndex(300),
                    input: "\"λ\"".into(),
                },
            ],
        });
        let ToWorker::Run(batch) = &owned else {
            unreachable!("built above")
        };
        let borrowed = ToWorkerRef::Run(BatchRef {
            id: batch.id,
            tasks: batch
                .tasks
                .iter()
                .map(|t| WireTaskRef {
                    index: t.index,
                    input: &t.input,
                })
                .collect(),
        });
        assert_eq!(
            postcard::to_stdvec(&owned).expect("encodes"),
            postcard::to_stdvec(&borrowed).expect("encodes")
        );
    }
}
