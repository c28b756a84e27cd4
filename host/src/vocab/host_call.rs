//! A call from a guest into the application, as it crosses the worker's call socket: the
//! worker asks ([`HostCall`]), the host answers ([`HostReply`]). Arguments and results travel as JSON
//! text, the same mapping task inputs and results use; the host never sees a wasm value.

use compact_str::CompactString;
use serde::{Deserialize, Serialize};

use crate::ids::{BatchId, TaskIndex};

/// A guest called an import the application answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostCall {
    /// Numbers the worker's calls, so a reply that comes after its call gave up (a timeout)
    /// is recognised and dropped.
    pub call: u64,
    /// The task whose guest made the call: its index in its job, and where it is in the
    /// worker's batches (which finds its job, and so the call's context, on the host).
    pub task: TaskIndex,
    /// The batch holding the task.
    pub batch: BatchId,
    /// The task's position in the batch.
    pub position: u32,
    /// The import as the application registered it: an interface (`example:app/store`) or,
    /// for a function the world imports directly, that function's name.
    pub import: String,
    /// The function's name inside the interface (equal to `import` for a direct function).
    pub function: String,
    /// The arguments, a JSON array in parameter order.
    pub args: CompactString,
    /// How long the guest will wait for the reply (the time its task has left), in
    /// milliseconds; `None`: no deadline. A call that waits on the host (a shared queue's
    /// `pop`) stops before then, so it never takes what the guest can no longer receive.
    pub patience_ms: Option<u64>,
}

impl HostCall {
    /// `interface#function`, or the function alone for a direct import: how messages name it.
    pub fn path(&self) -> String {
        if self.import == self.function {
            self.function.clone()
        } else {
            format!("{}#{}", self.import, self.function)
        }
    }
}

/// The application's answer to a [`HostCall`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostReply {
    /// The call answered.
    pub call: u64,
    /// The handler's value as JSON text (`null` for a function without a result; the `ok`
    /// payload for a function returning a `result`), or its error.
    pub result: Result<CompactString, HostFault>,
}

/// A handler's error, as it travels to the worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostFault {
    /// What went wrong, for the guest's `err` (a `result<_, string>`) or the task's failure.
    pub message: String,
    /// The `err` payload as JSON text, for a `result` whose error is not a string.
    pub value: Option<CompactString>,
}
