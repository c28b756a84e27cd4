//! What a job asks of whatever runs it ([`Request`]) and what it gets back ([`JobMsg`]). A job
//! ([`super::job`]) speaks only these, over a plain channel: the local
//! [`dispatcher`](super::dispatcher) serves them, and so does a broker's submitter, so the same
//! [`Submitter`](super::Submitter) / [`Outcomes`](super::Outcomes) pair works for both.

use std::sync::Arc;

use crossbeam_channel::Sender;
use serde_json::Value;

use super::outcome::TaskOutcome;
use crate::ids::TaskIndex;
use crate::vocab::{CallLimits, WireTask};

/// Identifies a job (one `map`, `imap`, `apply_async`, ...) within the pool that runs it.
pub type JobId = u64;

/// A job's request.
pub enum Request {
    /// A job starts; its outcomes go to `results`.
    Open {
        /// The job.
        job: JobId,
        /// Where its outcomes go.
        results: Sender<JobMsg>,
        /// The context its tasks' host calls see (`null` when none was given).
        context: Arc<Value>,
        /// Whether it may cancel its tasks (`Cancel`); the workers track only such tasks.
        cancellable: bool,
    },
    /// Tasks for a job, in index order.
    Submit {
        /// The job.
        job: JobId,
        /// The tasks.
        tasks: Vec<WireTask>,
    },
    /// Cancel one task of a job: if it is queued it never runs, if it runs it is stopped;
    /// its outcome is `cancelled` (unless it finished first). A server that cannot stop a
    /// running task (a broker's) lets it finish.
    Cancel {
        /// The job.
        job: JobId,
        /// The task.
        index: TaskIndex,
    },
    /// A job's consumer is gone: drop its queued tasks, forget it.
    Close {
        /// The job.
        job: JobId,
    },
    /// Stop everything now: what has not finished ends as `cancelled`.
    Shutdown,
}

/// What every task of a job calls, and how: the export (an index into the pool's table, 0
/// being its own function), the limits its calls set for themselves, and the context its host
/// calls see.
#[derive(Debug, Clone, Default)]
pub struct JobCall {
    /// The export.
    pub export: u32,
    /// The limits each call sets instead of the pool's.
    pub limits: Option<CallLimits>,
    /// The context (shared by every task of the job).
    pub context: Arc<Value>,
    /// Whether the job may cancel its tasks.
    pub cancellable: bool,
}

/// What a job receives.
pub enum JobMsg {
    /// Outcomes, in completion order.
    Outcomes(Vec<TaskOutcome>),
    /// The job's submitter has no more inputs; `total` tasks were submitted.
    InputsEnded {
        /// How many tasks the job has.
        total: u64,
    },
}
