//! The messages host and worker exchange. Tasks travel in batches (chunks), never one message
//! per item; inputs and results travel as JSON text so the host never re-parses them.

use serde::{Deserialize, Serialize};

use crate::ids::{BatchId, TaskIndex};
use crate::vocab::{Setup, TaskCall, WireOutcome, WireTask};

/// Host → worker.
#[derive(Debug, Serialize, Deserialize)]
pub enum ToWorker {
    /// The first message: what to load and how to run it.
    Setup(Box<Setup>),
    /// Run these tasks in order and answer with one [`FromWorker::Done`].
    Run(Batch),
    /// Cancel one task of a batch sent earlier: if it has not started it never runs, if it
    /// runs it is stopped at its next epoch check (or its host call gives up); either way its
    /// outcome is `cancelled`. A task already finished is left alone.
    Cancel {
        /// The batch.
        batch: BatchId,
        /// The task's position in it.
        position: u32,
    },
}

/// A chunk of tasks for one worker.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Batch {
    /// Identifies the batch in the answer.
    pub id: BatchId,
    /// The tasks, run in this order.
    pub tasks: Vec<WireTask>,
    /// Whether a task of it may be cancelled: then the worker tracks which task runs (one
    /// memory fence per task); a batch of jobs that cannot cancel skips that.
    pub cancellable: bool,
    /// The module its tasks run, by its number in the worker's setup (0 in a pool of one
    /// module; a plugin's number in a pool of plugins). Last, so it costs one byte.
    pub module: u32,
}

/// Borrowed twins of [`ToWorker`], [`Batch`] and [`WireTask`] that encode to the very same
/// bytes, so the host frames a batch straight from its queue without copying each input.
#[derive(Debug, Serialize)]
pub enum ToWorkerRef<'a> {
    /// As [`ToWorker::Setup`].
    Setup(&'a Setup),
    /// As [`ToWorker::Run`].
    Run(BatchRef<'a>),
    /// As [`ToWorker::Cancel`].
    Cancel {
        /// As in [`ToWorker::Cancel`].
        batch: BatchId,
        /// As in [`ToWorker::Cancel`].
        position: u32,
    },
}

/// Borrowed [`Batch`].
#[derive(Debug, Serialize)]
pub struct BatchRef<'a> {
    /// As [`Batch::id`].
    pub id: BatchId,
    /// As [`Batch::tasks`].
    pub tasks: Vec<WireTaskRef<'a>>,
    /// As [`Batch::cancellable`].
    pub cancellable: bool,
    /// As [`Batch::module`].
    pub module: u32,
}

/// Borrowed [`WireTask`].
#[derive(Debug, Serialize)]
pub struct WireTaskRef<'a> {
    /// As [`WireTask::index`].
    pub index: TaskIndex,
    /// As [`WireTask::input`].
    pub input: &'a str,
    /// As [`WireTask::call`].
    pub call: Option<&'a TaskCall>,
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
    /// A task the host cancelled had not started, and will be skipped: the host may answer
    /// it at once (its outcome in the batch's answer is then dropped).
    NotStarted {
        /// The batch.
        batch: BatchId,
        /// The task's position in it.
        position: u32,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::CallLimits;

    #[test]
    fn borrowed_batches_encode_like_owned_ones() {
        let owned = ToWorker::Run(Batch {
            id: BatchId(7),
            cancellable: true,
            module: 3,
            tasks: vec![
                WireTask {
                    index: TaskIndex(3),
                    input: "[1, 2]".into(),
                    call: None,
                },
                WireTask {
                    index: TaskIndex(300),
                    input: "\"λ\"".into(),
                    call: Some(Box::new(TaskCall {
                        export: 2,
                        limits: Some(CallLimits {
                            timeout: Some(std::time::Duration::from_millis(1500)),
                            fuel: None,
                        }),
                    })),
                },
            ],
        });
        let ToWorker::Run(batch) = &owned else {
            unreachable!("built above")
        };
        let borrowed = ToWorkerRef::Run(BatchRef {
            id: batch.id,
            cancellable: batch.cancellable,
            module: batch.module,
            tasks: batch
                .tasks
                .iter()
                .map(|t| WireTaskRef {
                    index: t.index,
                    input: &t.input,
                    call: t.call.as_deref(),
                })
                .collect(),
        });
        assert_eq!(
            postcard::to_stdvec(&owned).expect("encodes"),
            postcard::to_stdvec(&borrowed).expect("encodes")
        );
    }
}
