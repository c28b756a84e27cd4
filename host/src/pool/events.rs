//! What flows through the pool: [`Event`]s into the dispatcher (from jobs and from worker
//! links), [`JobMsg`]s out to a job, and the [`TaskOutcome`] each task ends with.

use std::time::Duration;

use compact_str::CompactString;
use crossbeam_channel::Sender;
use serde_json::Value;

use crate::error::{ErrorKind, TaskError};
use crate::ids::{TaskIndex, WorkerId};
use crate::task::ProgramRun;
use crate::wire::message::{CapturedOutput, FromWorker, WireTask};

/// Identifies a job (one `map`, `imap`, `apply_async`, ...) within a pool.
pub type JobId = u64;

/// Everything the dispatcher reacts to.
pub enum Event {
    /// A job starts; its outcomes go to `results`.
    OpenJob {
        /// The job.
        job: JobId,
        /// Where its outcomes go.
        results: Sender<JobMsg>,
    },
    /// Tasks for a job.
    Submit {
        /// The job.
        job: JobId,
        /// The tasks, in index order.
        tasks: Vec<WireTask>,
    },
    /// A job's consumer is gone: drop its queued tasks, forget it.
    CloseJob {
        /// The job.
        job: JobId,
    },
    /// Something happened to a worker.
    Worker {
        /// The slot.
        slot: WorkerId,
        /// Which process in that slot (restarts bump it), so late events of a dead process
        /// are recognised.
        generation: u64,
        /// What happened.
        event: WorkerEvent,
    },
    /// The pool is being dropped: stop the workers, cancel what is left.
    Shutdown,
}

/// What a worker link reports.
pub enum WorkerEvent {
    /// A message from the worker.
    Message(FromWorker),
    /// The worker's output could not be decoded (garbage on the pipe); the link kills it.
    Garbled(String),
    /// The worker process ended.
    Exited {
        /// How it ended (`exit status 1`, `signal 9 (SIGKILL)`).
        status: String,
        /// The last lines it wrote to its stderr.
        stderr: String,
    },
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

/// The outcome of one task: its result as JSON text or its error, the guest's captured output,
/// and the worker process that ran it.
#[derive(Debug, Clone)]
pub struct TaskOutcome {
    pub(crate) index: TaskIndex,
    pub(crate) worker_pid: Option<u32>,
    pub(crate) result: Result<CompactString, TaskError>,
    pub(crate) output: CapturedOutput,
    /// Run time in the worker in nanoseconds; 0 when not measured.
    pub(crate) nanos: u64,
}

impl TaskOutcome {
    pub(crate) fn failed(index: TaskIndex, kind: ErrorKind, message: impl Into<String>) -> Self {
        TaskOutcome {
            index,
            worker_pid: None,
            result: Err(TaskError::new(index, kind, message)),
            output: CapturedOutput::default(),
            nanos: 0,
        }
    }

    /// Outcomes for tasks that never started because the pool was shut down.
    pub(crate) fn never_started(tasks: Vec<WireTask>) -> Vec<TaskOutcome> {
        tasks
            .into_iter()
            .map(|t| {
                TaskOutcome::failed(
                    t.index,
                    ErrorKind::Cancelled,
                    "the pool was shut down before the task started",
                )
            })
            .collect()
    }

    /// The task's index in its job.
    pub fn index(&self) -> TaskIndex {
        self.index
    }

    /// The process id of the worker that ran it (none if it never reached one).
    pub fn worker_pid(&self) -> Option<u32> {
        self.worker_pid
    }

    /// The result as JSON text, or the error.
    pub fn json(&self) -> Result<&str, &TaskError> {
        self.result.as_deref()
    }

    /// What the guest wrote to stdout and stderr while running the task (capped).
    pub fn output(&self) -> &[u8] {
        &self.output.bytes
    }

    /// How long the task ran in its worker, when measured: for programs (every `mpwasm test`
    /// test), not for function calls, where reading the clock would cost more than many tasks.
    /// None if it never reached a worker, or its worker was lost.
    pub fn duration(&self) -> Option<Duration> {
        (self.nanos > 0).then(|| Duration::from_nanos(self.nanos))
    }

    /// How many output bytes were dropped past the cap.
    pub fn output_dropped(&self) -> u64 {
        self.output.dropped
    }

    /// For a task that ran a program, what the run produced, whether it succeeded or not (a
    /// non-zero exit status and a run stopped by a limit still have one); `None` for function
    /// calls and for runs that never started.
    pub fn program_run(&self) -> Option<ProgramRun> {
        let text = match &self.result {
            Ok(value) => value.as_str(),
            Err(error) => error.value_json()?,
        };
        serde_json::from_str(text).ok()
    }

    /// The result as a JSON value, or the error.
    pub fn into_value(self) -> Result<Value, TaskError> {
        let index = self.index;
        self.result.and_then(|text| {
            serde_json::from_str(&text).map_err(|e| {
                TaskError::new(
                    index,
                    ErrorKind::Trap,
                    format!("the worker sent an unreadable result: {e}"),
                )
            })
        })
    }
}
