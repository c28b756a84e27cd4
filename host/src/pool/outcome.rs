//! The outcome of one task as a job receives it ([`TaskOutcome`]), and why a task can end as
//! `cancelled` ([`Cancelled`]), each reason worded once.

use std::time::Duration;

use compact_str::CompactString;
use serde_json::Value;

use crate::error::{ErrorKind, TaskError};
use crate::ids::TaskIndex;
use crate::vocab::{CapturedOutput, ProgramRun, WireTask};

/// Why a task ended as `cancelled` without an answer from a sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cancelled {
    /// The pool was shut down while the task waited in its queue.
    BeforeStart,
    /// The pool was shut down while a worker held the task.
    BeforeFinish,
    /// The pool stopped before answering a single call (`apply`, a [`Process`](super::Process)).
    NoAnswer,
    /// The broker job was cancelled (its outcomes dropped, or its terminator used).
    Job,
}

impl Cancelled {
    /// The message the task's error carries.
    pub(crate) fn message(self) -> &'static str {
        match self {
            Cancelled::BeforeStart => "the pool was shut down before the task started",
            Cancelled::BeforeFinish => "the pool was shut down before the task finished",
            Cancelled::NoAnswer => "the pool stopped before answering",
            Cancelled::Job => "the job was cancelled before this task finished",
        }
    }
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
    /// In a pool of plugins, the version of the plugin that ran it.
    pub(crate) plugin_version: Option<u32>,
}

impl TaskOutcome {
    pub(crate) fn failed(index: TaskIndex, kind: ErrorKind, message: impl Into<String>) -> Self {
        TaskOutcome {
            index,
            worker_pid: None,
            result: Err(TaskError::new(index, kind, message)),
            output: CapturedOutput::default(),
            nanos: 0,
            plugin_version: None,
        }
    }

    /// An outcome for a task that ended as `cancelled`, saying why.
    pub(crate) fn cancelled(index: TaskIndex, why: Cancelled) -> Self {
        TaskOutcome::failed(index, ErrorKind::Cancelled, why.message())
    }

    /// Outcomes for tasks that never started because the pool was shut down.
    pub(crate) fn never_started(tasks: Vec<WireTask>) -> Vec<TaskOutcome> {
        tasks
            .into_iter()
            .map(|t| TaskOutcome::cancelled(t.index, Cancelled::BeforeStart))
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

    /// In a pool of plugins ([`crate::PluginPool`]), the version of the plugin that ran the
    /// task: 0 for the module it was built with, one more for each
    /// [`replace`](crate::PluginPool::replace). `None` for a task that never ran on one (it
    /// failed before, e.g. `plugin-removed`), and in a pool of one module.
    pub fn plugin_version(&self) -> Option<u32> {
        self.plugin_version
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
