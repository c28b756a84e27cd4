//! One task and its outcome as they travel between the host and a worker: the input and the
//! result as JSON text (the host never re-parses them), a failure's kind and message, and the
//! guest's captured output.

use std::time::Duration;

use compact_str::CompactString;
use serde::{Deserialize, Serialize};

use crate::error::ErrorKind;
use crate::ids::TaskIndex;

/// One task: its index in its job, its input as JSON text, the export it calls and the
/// limits its call sets for itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireTask {
    /// The task's index within its job.
    pub index: TaskIndex,
    /// The input, JSON text (a value, or an array of arguments). Short inputs (numbers,
    /// words) are stored inline, without an allocation per task.
    pub input: CompactString,
    /// What the call asks beyond the pool's defaults: another export, its own limits. `None`
    /// (one byte on the wire, nothing to allocate) for a call of the pool's own function
    /// under the pool's limits.
    pub call: Option<Box<TaskCall>>,
}

impl WireTask {
    /// The function called: an index into the setup's table
    /// ([`Entry::Functions`](super::Entry::Functions)); 0 is the pool's own function.
    pub fn export(&self) -> u32 {
        self.call.as_ref().map_or(0, |c| c.export)
    }

    /// The limits the call sets for itself, if any.
    pub fn limits(&self) -> Option<&CallLimits> {
        self.call.as_ref().and_then(|c| c.limits.as_ref())
    }
}

/// What one call asks beyond the pool's defaults.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskCall {
    /// The export, by its number in the setup's table.
    pub export: u32,
    /// Limits the call sets instead of the pool's.
    pub limits: Option<CallLimits>,
}

/// The limits one call sets for itself, each instead of the pool's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallLimits {
    /// Its wall-clock limit.
    pub timeout: Option<Duration>,
    /// Its instruction budget (the pool must meter fuel).
    pub fuel: Option<u64>,
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

impl CapturedOutput {
    /// Whether the task wrote nothing (nothing kept, nothing dropped).
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty() && self.dropped == 0
    }
}
