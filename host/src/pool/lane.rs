//! Single calls that share one job: a [`Lane`] is a job that never ends, opened once per
//! export and call options, into which every `apply_async` of that export puts its one task;
//! the dispatcher's answers are routed to each call's [`Slot`] by the task's index. A call so
//! costs the pool one queued task, as an input of a map does, instead of a job of its own to
//! open, fill, close and forget.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll};

use atomic_waker::AtomicWaker;
use compact_str::CompactString;

use super::handlers::JobScope;
use super::inbox::Requests;
use super::outcome::{Cancelled, TaskOutcome};
use super::request::{JobId, JobSender, PluginTarget, Request};
use crate::ids::TaskIndex;
use crate::sync;
use crate::vocab::{TaskCall, WireTask};

/// One call's outcome, once it arrives: waited for by a thread or awaited by a task.
pub(crate) struct Slot {
    outcome: Mutex<Option<TaskOutcome>>,
    arrived: Condvar,
    /// Set once the outcome is in (read without the lock by a poller).
    done: AtomicBool,
    waker: AtomicWaker,
}

impl Slot {
    fn new() -> Slot {
        Slot {
            outcome: Mutex::new(None),
            arrived: Condvar::new(),
            done: AtomicBool::new(false),
            waker: AtomicWaker::new(),
        }
    }

    /// Puts the outcome in and wakes whoever waits (the first one given counts).
    fn fill(&self, outcome: TaskOutcome) {
        let mut slot = sync::lock(&self.outcome);
        if self.done.load(Ordering::Acquire) {
            return;
        }
        *slot = Some(outcome);
        self.done.store(true, Ordering::Release);
        drop(slot);
        self.arrived.notify_all();
        self.waker.wake();
    }

    /// The outcome if it arrived (taken: a second take gives `None`).
    pub(crate) fn try_take(&self) -> Option<TaskOutcome> {
        if !self.done.load(Ordering::Acquire) {
            return None;
        }
        sync::lock(&self.outcome).take()
    }

    /// Waits for the outcome, blocking the thread.
    pub(crate) fn wait(&self) -> Option<TaskOutcome> {
        let mut slot = sync::lock(&self.outcome);
        while !self.done.load(Ordering::Acquire) {
            slot = sync::wait(&self.arrived, slot);
        }
        slot.take()
    }

    /// The outcome if it arrived; otherwise `Pending` with the task's waker registered.
    pub(crate) fn poll_take(&self, cx: &mut Context<'_>) -> Poll<Option<TaskOutcome>> {
        if self.done.load(Ordering::Acquire) {
            return Poll::Ready(sync::lock(&self.outcome).take());
        }
        self.waker.register(cx.waker());
        // Filled between the check and the registration: its wake found no waker.
        if self.done.load(Ordering::Acquire) {
            return Poll::Ready(sync::lock(&self.outcome).take());
        }
        Poll::Pending
    }
}

/// Where a lane's outcomes go: each to the slot of its task's index.
pub(crate) struct Router {
    slots: Mutex<HashMap<u64, Arc<Slot>>>,
    /// No more outcome will come (the job's server is gone): a new call fails at once.
    closed: AtomicBool,
}

impl Router {
    /// Gives each outcome to its call's slot.
    pub(crate) fn deliver(&self, outcomes: Vec<TaskOutcome>) {
        let mut found = Vec::with_capacity(outcomes.len());
        {
            let mut slots = sync::lock(&self.slots);
            for outcome in outcomes {
                if let Some(slot) = slots.remove(&outcome.index.0) {
                    found.push((slot, outcome));
                }
            }
        }
        for (slot, outcome) in found {
            slot.fill(outcome);
        }
    }

    /// The job's server is gone: every call still waiting ends `cancelled`.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        let waiting: Vec<(u64, Arc<Slot>)> = sync::lock(&self.slots).drain().collect();
        for (index, slot) in waiting {
            slot.fill(TaskOutcome::cancelled(
                TaskIndex(index),
                Cancelled::NoAnswer,
            ));
        }
    }
}

/// The server's end of a lane's router: when its last copy goes (the server forgot the job,
/// or is gone), the calls still waiting are answered `cancelled`.
pub(crate) struct RouterEnd(pub(crate) Arc<Router>);

impl Drop for RouterEnd {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// A job that single calls of one export, with one set of call options, share (see the module
/// docs).
pub(crate) struct Lane {
    job: JobId,
    requests: Requests,
    /// What each task carries beyond the input (its export, its limits).
    call: Option<Box<TaskCall>>,
    next: AtomicU64,
    router: Arc<Router>,
}

impl Lane {
    /// Opens the lane's job `job` on the server behind `requests`.
    pub(crate) fn open(
        requests: &Requests,
        job: JobId,
        call: Option<Box<TaskCall>>,
        scope: Arc<JobScope>,
        target: Option<Arc<PluginTarget>>,
    ) -> Lane {
        let router = Arc::new(Router {
            slots: Mutex::new(HashMap::new()),
            closed: AtomicBool::new(false),
        });
        let results = JobSender::to_router(Arc::new(RouterEnd(Arc::clone(&router))));
        let alive = requests.send(Request::Open {
            job,
            results,
            scope,
            cancellable: true,
            target,
        });
        if !alive {
            router.close();
        }
        Lane {
            job,
            requests: requests.clone(),
            call,
            next: AtomicU64::new(0),
            router,
        }
    }

    /// The lane's job.
    pub(crate) fn job(&self) -> JobId {
        self.job
    }

    /// Submits one call of `input`: its index, and the slot its outcome arrives in.
    pub(crate) fn call(&self, input: CompactString) -> (TaskIndex, Arc<Slot>) {
        let index = TaskIndex(self.next.fetch_add(1, Ordering::Relaxed));
        let slot = Arc::new(Slot::new());
        sync::lock(&self.router.slots).insert(index.0, Arc::clone(&slot));
        // A server that went away before the slot was filed cannot answer it: the close
        // answered only the slots it found.
        if self.router.closed.load(Ordering::Acquire) {
            self.router.close();
            return (index, slot);
        }
        let task = WireTask {
            index,
            input,
            call: self.call.clone(),
        };
        let sent = self.requests.send(Request::Submit {
            job: self.job,
            tasks: vec![task],
        });
        if !sent {
            self.router.close();
        }
        (index, slot)
    }
}

impl Drop for Lane {
    fn drop(&mut self) {
        let _ = self.requests.send(Request::Close { job: self.job });
    }
}
