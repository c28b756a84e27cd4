//! Single calls that share one job: a [`Lane`] is a job that never ends, opened once per
//! export and call options, into which every `apply_async` of that export puts its one task
//! (through the job's queue, so calls made while the dispatcher is busy travel together); the
//! dispatcher's answers are routed to each call's [`Slot`] by the task's index. A call so
//! costs the pool one queued task, as an input of a map does, instead of a job of its own to
//! open, fill, close and forget.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll};

use atomic_waker::AtomicWaker;
use compact_str::CompactString;

use super::handlers::JobScope;
use super::inbox::Requests;
use super::outcome::{Cancelled, TaskOutcome};
use super::request::{JobId, JobSender, PluginTarget, Request, TaskQueue};
use crate::ids::TaskIndex;
use crate::sync;
use crate::vocab::{TaskCall, WireTask};

/// One call's outcome, once it arrives: waited for by a thread or awaited by a task.
pub(crate) struct Slot {
    state: Mutex<SlotState>,
    arrived: Condvar,
    /// Set once the outcome is in (read without the lock by a poller).
    done: AtomicBool,
    waker: AtomicWaker,
}

#[derive(Default)]
struct SlotState {
    outcome: Option<TaskOutcome>,
    /// A thread waits on `arrived` (only then does filling it make a system call).
    waiting: bool,
}

impl Slot {
    fn new() -> Slot {
        Slot {
            state: Mutex::new(SlotState::default()),
            arrived: Condvar::new(),
            done: AtomicBool::new(false),
            waker: AtomicWaker::new(),
        }
    }

    /// Puts the outcome in and wakes whoever waits (the first one given counts).
    fn fill(&self, outcome: TaskOutcome) {
        let mut state = sync::lock(&self.state);
        if self.done.load(Ordering::Acquire) {
            return;
        }
        state.outcome = Some(outcome);
        self.done.store(true, Ordering::Release);
        let waiting = state.waiting;
        drop(state);
        if waiting {
            self.arrived.notify_all();
        }
        self.waker.wake();
    }

    /// The outcome if it arrived (taken: a second take gives `None`).
    pub(crate) fn try_take(&self) -> Option<TaskOutcome> {
        if !self.done.load(Ordering::Acquire) {
            return None;
        }
        sync::lock(&self.state).outcome.take()
    }

    /// Waits for the outcome, blocking the thread.
    pub(crate) fn wait(&self) -> Option<TaskOutcome> {
        let mut state = sync::lock(&self.state);
        while !self.done.load(Ordering::Acquire) {
            state.waiting = true;
            state = sync::wait(&self.arrived, state);
        }
        state.outcome.take()
    }

    /// The outcome if it arrived; otherwise `Pending` with the task's waker registered.
    pub(crate) fn poll_take(&self, cx: &mut Context<'_>) -> Poll<Option<TaskOutcome>> {
        if self.done.load(Ordering::Acquire) {
            return Poll::Ready(sync::lock(&self.state).outcome.take());
        }
        self.waker.register(cx.waker());
        // Filled between the check and the registration: its wake found no waker.
        if self.done.load(Ordering::Acquire) {
            return Poll::Ready(sync::lock(&self.state).outcome.take());
        }
        Poll::Pending
    }
}

/// Hashes a task's index for the router's map: indices count up, so a multiplication spreads
/// them (SipHash, the default, costs more than the rest of the lookup).
#[derive(Default)]
struct IndexHasher(u64);

impl Hasher for IndexHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// The slots of calls waiting, by task index.
type Slots = HashMap<u64, Arc<Slot>, BuildHasherDefault<IndexHasher>>;

/// Where a lane's outcomes go: each to the slot of its task's index.
pub(crate) struct Router {
    slots: Mutex<Slots>,
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
    /// Calls not yet taken by the dispatcher: the first into the empty queue sends the
    /// `Take` that brings them all, so calls made while it is busy travel together.
    queue: Arc<TaskQueue>,
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
            slots: Mutex::new(Slots::default()),
            closed: AtomicBool::new(false),
        });
        let queue = Arc::new(TaskQueue::default());
        let results = JobSender::to_router(Arc::new(RouterEnd(Arc::clone(&router))));
        let alive = requests.send(Request::Open {
            job,
            results,
            scope,
            cancellable: true,
            target,
            queue: Some(Arc::clone(&queue)),
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
            queue,
        }
    }

    /// The lane's job.
    pub(crate) fn job(&self) -> JobId {
        self.job
    }

    /// Where the lane's requests go.
    pub(crate) fn requests(&self) -> &Requests {
        &self.requests
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
        if self.queue.push(task) && !self.requests.send(Request::Take { job: self.job }) {
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

#[cfg(test)]
mod tests {
    use crossbeam_channel::Receiver;
    use serde_json::Value;

    use super::*;
    use crate::error::ErrorKind;
    use crate::pool::request::JobMsg;

    /// A lane on a server of the test's own: the lane, and what the server receives.
    fn lane() -> (Lane, Receiver<Request>) {
        let (requests, server) = Requests::channel();
        let scope = Arc::new(JobScope {
            context: Arc::new(Value::Null),
            shared: None,
        });
        (Lane::open(&requests, 7, None, scope, None), server)
    }

    fn answer(index: u64) -> TaskOutcome {
        let mut outcome = TaskOutcome::failed(TaskIndex(index), ErrorKind::Trap, "");
        outcome.result = Ok(format!("{index}").into());
        outcome
    }

    #[test]
    fn calls_travel_together_and_each_answer_reaches_its_own_call() {
        let (lane, server) = lane();
        let Ok(Request::Open { results, queue, .. }) = server.try_recv() else {
            panic!("the lane opens its job first");
        };
        let queue = queue.expect("a lane's job has a queue");
        let calls: Vec<_> = (0..3).map(|i| lane.call(format!("{i}").into())).collect();
        // One `Take` for the three: they wait in the queue together.
        assert!(matches!(server.try_recv(), Ok(Request::Take { job: 7 })));
        assert!(server.try_recv().is_err(), "one Take brings them all");
        let taken: Vec<u64> = queue.take().iter().map(|t| t.index.0).collect();
        assert_eq!(taken, [0, 1, 2]);
        // Answers out of order, each to its own slot.
        results
            .send(JobMsg::Outcomes(vec![answer(2), answer(0)]))
            .expect("routed");
        assert_eq!(calls[2].1.try_take().map(|o| o.index.0), Some(2));
        assert_eq!(calls[0].1.try_take().map(|o| o.index.0), Some(0));
        assert!(calls[1].1.try_take().is_none(), "not answered yet");
        // The server forgets the job: the call still waiting is answered `cancelled`.
        drop(results);
        let last = calls[1].1.wait().expect("answered");
        assert_eq!(last.json().map_err(|e| e.kind()), Err(ErrorKind::Cancelled));
        // And a call after that is answered at once.
        let (_, late) = lane.call("9".into());
        assert_eq!(
            late.try_take()
                .map(|o| o.json().map_err(|e| e.kind()).err()),
            Some(Some(ErrorKind::Cancelled))
        );
        drop(lane);
        assert!(
            server
                .try_iter()
                .any(|r| matches!(r, Request::Close { job: 7 })),
            "a dropped lane closes its job"
        );
    }
}
