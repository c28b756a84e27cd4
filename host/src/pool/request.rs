//! What a job asks of whatever runs it ([`Request`]) and what it gets back ([`JobMsg`]). A job
//! ([`super::job`]) speaks only these, over a plain channel: the local
//! [`dispatcher`](super::dispatcher) serves them, and so does a broker's submitter, so the same
//! [`Submitter`](super::Submitter) / [`Outcomes`](super::Outcomes) pair works for both.

use crossbeam_channel::Sender;

use super::outcome::TaskOutcome;
use crate::vocab::WireTask;

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
    },
    /// Tasks for a job, in index order.
    Submit {
        /// The job.
        job: JobId,
        /// The tasks.
        tasks: Vec<WireTask>,
    },
    /// A job's consumer is gone: drop its queued tasks, forget it.
    Close {
        /// The job.
        job: JobId,
    },
    /// Stop everything now: what has not finished ends as `cancelled`.
    Shutdown,
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
