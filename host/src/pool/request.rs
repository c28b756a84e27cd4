//! What a job asks of whatever runs it ([`Request`]) and what it gets back ([`JobMsg`]). A job
//! ([`super::job`]) speaks only these, over a plain channel: the local
//! [`dispatcher`](super::dispatcher) serves them, and so does a broker's submitter, so the same
//! [`Submitter`](super::Submitter) / [`Outcomes`](super::Outcomes) pair works for both.

use std::sync::{Arc, Mutex};

use atomic_waker::AtomicWaker;
use crossbeam_channel::{SendError, Sender};
use serde_json::Value;

use super::handlers::JobScope;
use super::lane::RouterEnd;
use super::outcome::TaskOutcome;
use super::trace::OutputTrace;
use crate::ids::TaskIndex;
use crate::shared::{Remote, SharedLimits, SharedStore};
use crate::sync;
use crate::vocab::{CallLimits, FunctionPath, WireTask};
use crate::wire::message::TaskRange;

/// Identifies a job (one `map`, `imap`, `apply_async`, ...) within the pool that runs it.
pub type JobId = u64;

/// A job's request.
pub enum Request {
    /// A job starts; its outcomes go to `results`.
    Open {
        /// The job.
        job: JobId,
        /// Where its outcomes go.
        results: JobSender,
        /// What its tasks' host calls see: the context, the shared state.
        scope: Arc<JobScope>,
        /// Whether it may cancel its tasks (`Cancel`); the workers track only such tasks.
        cancellable: bool,
        /// In a pool of plugins: the plugin its tasks call, and how its export was named.
        target: Option<Arc<PluginTarget>>,
        /// Where its tasks wait to be taken (`Take`), for a job whose tasks come from many
        /// threads one at a time (a lane); `None`: they come in `Submit`s.
        queue: Option<Arc<TaskQueue>>,
    },
    /// Tasks for a job, in index order.
    Submit {
        /// The job.
        job: JobId,
        /// The tasks.
        tasks: Vec<WireTask>,
    },
    /// Tasks for a job over consecutive integers, in index order: task `range.index + k`
    /// has the input `range.first + k`, calls the pool's own function under the pool's
    /// limits. A map over a range sends these instead of a task per integer; a server that
    /// has no use for the range takes it as the `Submit` of its tasks ([`Request::expanded`]).
    SubmitRange {
        /// The job.
        job: JobId,
        /// The tasks.
        range: TaskRange,
    },
    /// Take every task waiting in the job's queue (given at `Open`), as a `Submit` of them. A
    /// submitter sends one when its task is the first in the empty queue, so one `Take`
    /// brings all the tasks put there until it is served.
    Take {
        /// The job.
        job: JobId,
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

impl Request {
    /// The request, with a `SubmitRange` made into the `Submit` of its tasks.
    pub fn expanded(self) -> Request {
        match self {
            Request::SubmitRange { job, range } => Request::Submit {
                job,
                tasks: range.tasks().collect(),
            },
            request => request,
        }
    }
}

/// Tasks waiting for a job's server to take them ([`Request::Take`]).
#[derive(Default)]
pub struct TaskQueue(Mutex<Vec<WireTask>>);

impl TaskQueue {
    /// Adds `task`; true when the queue was empty (the caller then sends the `Take`).
    pub fn push(&self, task: WireTask) -> bool {
        let mut tasks = sync::lock(&self.0);
        tasks.push(task);
        tasks.len() == 1
    }

    /// Every task waiting, in order.
    pub fn take(&self) -> Vec<WireTask> {
        std::mem::take(&mut *sync::lock(&self.0))
    }

    /// Removes task `index` if it still waits; whether it did.
    pub fn remove(&self, index: TaskIndex) -> bool {
        let mut tasks = sync::lock(&self.0);
        match tasks.iter().position(|t| t.index == index) {
            Some(at) => {
                tasks.remove(at);
                true
            }
            None => false,
        }
    }
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
    /// Its shared state, when the module imports a shared interface.
    pub shared: Option<JobShared>,
    /// Where its tasks' output goes as `tracing` events, when the pool sends it there.
    pub(crate) trace: Option<Arc<OutputTrace>>,
    /// In a pool of plugins: the plugin its tasks call.
    pub(crate) target: Option<Arc<PluginTarget>>,
}

/// The plugin a job's tasks call in a pool of plugins, and how its export was chosen: the
/// dispatcher runs each task on the plugin's version current when the task goes to a worker,
/// which may be newer than the one `export` was numbered in (after a replace): then it finds
/// the export by name in that version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginTarget {
    /// The plugin's number in its pool.
    pub plugin: u32,
    /// The version the job's export number was found in.
    pub version: u32,
    /// The export by name; `None` for the plugin's own function (number 0 in every version).
    pub function: Option<FunctionPath>,
}

/// A job's shared state as it opens: the store (the one its options gave, or a fresh one
/// seeded as the pool says), its limits, and whether its tasks may add inputs.
#[derive(Debug, Clone, Default)]
pub struct JobShared {
    /// The store.
    pub store: SharedStore,
    /// Its limits.
    pub limits: SharedLimits,
    /// Whether `work#submit` may add inputs (not for a job of one call).
    pub growable: bool,
    /// Where the calls are answered instead of in this process (a broker worker's Redis).
    pub(crate) remote: Option<Remote>,
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

/// Where a job's server sends its [`JobMsg`]s: a channel, and the task waker of a consumer
/// that awaits the job (a [`Future`](std::future::Future) or a `Stream`), woken after each
/// message so no thread of an async runtime ever blocks on the channel, and woken again when
/// a sender goes away, so a consumer whose server vanished without a word sees the channel
/// disconnected (and answers `cancelled`) instead of waiting forever.
///
/// A lane's job (`pool/lane.rs`) has no channel: its outcomes go straight to each call's slot.
#[derive(Clone)]
pub struct JobSender {
    /// Always `Some` until the sender is dropped (taken then, so the channel may disconnect
    /// before the consumer is woken); `None` for a lane's job.
    tx: Option<Sender<JobMsg>>,
    wake: Arc<AtomicWaker>,
    /// A lane's router, which hands each outcome to its call.
    route: Option<Arc<RouterEnd>>,
}

impl JobSender {
    /// A sender over `tx` that wakes whatever task registered in `wake`.
    pub(crate) fn new(tx: Sender<JobMsg>, wake: Arc<AtomicWaker>) -> JobSender {
        JobSender {
            tx: Some(tx),
            wake,
            route: None,
        }
    }

    /// A sender handing each outcome to its call's slot through a lane's router.
    pub(crate) fn to_router(end: Arc<RouterEnd>) -> JobSender {
        JobSender {
            tx: None,
            wake: Arc::new(AtomicWaker::new()),
            route: Some(end),
        }
    }

    /// Sends `msg`, then wakes the consumer's task if one waits.
    ///
    /// # Errors
    /// The message back when the consumer is gone.
    pub fn send(&self, msg: JobMsg) -> Result<(), SendError<JobMsg>> {
        if let Some(route) = &self.route {
            if let JobMsg::Outcomes(outcomes) = msg {
                route.0.deliver(outcomes);
            }
            return Ok(());
        }
        let sent = match &self.tx {
            Some(tx) => tx.send(msg),
            None => Err(SendError(msg)),
        };
        self.wake.wake();
        sent
    }
}

impl Drop for JobSender {
    fn drop(&mut self) {
        // Drop the channel's sender first: if it was the last, the woken consumer finds the
        // channel disconnected. (Any other drop wakes it for nothing; it polls and waits on.)
        drop(self.tx.take());
        self.wake.wake();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Wake, Waker};

    use crossbeam_channel::{TryRecvError, unbounded};

    use super::*;

    /// Counts its wakes, and whether the channel was already disconnected at each.
    struct Probe {
        wakes: AtomicUsize,
        disconnected: AtomicUsize,
        rx: crossbeam_channel::Receiver<JobMsg>,
    }

    impl Wake for Probe {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }

        fn wake_by_ref(self: &Arc<Self>) {
            self.wakes.fetch_add(1, Ordering::SeqCst);
            if matches!(self.rx.try_recv(), Err(TryRecvError::Disconnected)) {
                self.disconnected.fetch_add(1, Ordering::SeqCst);
            }
        }
    }

    #[test]
    fn the_last_sender_going_away_wakes_the_consumer_to_a_disconnected_channel() {
        let (tx, rx) = unbounded();
        let wake = Arc::new(AtomicWaker::new());
        let probe = Arc::new(Probe {
            wakes: AtomicUsize::new(0),
            disconnected: AtomicUsize::new(0),
            rx,
        });
        let sender = JobSender::new(tx, Arc::clone(&wake));
        let clone = sender.clone();
        wake.register(&Waker::from(Arc::clone(&probe)));
        drop(clone);
        // AtomicWaker hands its waker out once per registration.
        wake.register(&Waker::from(Arc::clone(&probe)));
        drop(sender);
        assert_eq!(probe.wakes.load(Ordering::SeqCst), 2, "woken at each drop");
        assert_eq!(
            probe.disconnected.load(Ordering::SeqCst),
            1,
            "the last drop wakes the consumer after the channel disconnected"
        );
    }
}
