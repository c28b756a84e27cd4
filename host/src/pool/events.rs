//! What worker links report to the dispatcher: a [`WorkerReport`] names the slot and the
//! process (its generation, so late reports of a replaced process are recognised) and says
//! what happened ([`WorkerEvent`]).

use crate::ids::WorkerId;
use crate::wire::message::FromWorker;

/// One report from a worker link.
pub struct WorkerReport {
    /// The slot.
    pub slot: WorkerId,
    /// Which process in that slot (restarts bump it).
    pub generation: u64,
    /// What happened.
    pub event: WorkerEvent,
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
        /// It ended by SIGKILL. Before its `Ready` (and with no trouble noted, which is when
        /// mpwasm kills a worker) only the kernel (out of memory) or someone else sends that,
        /// so it says nothing about whether workers can start.
        killed: bool,
        /// The last lines it wrote to its stderr.
        stderr: String,
    },
}
