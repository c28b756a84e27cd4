//! A job: one stream of inputs and its outcomes. The [`Submitter`] side hands tasks to the
//! dispatcher, never more than the job's window ahead of what the consumer has taken, so an
//! endless input never fills memory; the [`Outcomes`] side yields outcomes in input order or
//! as they complete. The two sides may live on different threads.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crossbeam_channel::{Receiver, Sender, TryRecvError, unbounded};

use super::events::{Event, JobId, JobMsg, TaskOutcome};
use crate::ids::TaskIndex;
use crate::wire::message::WireTask;

/// How many tasks a submitter sends in one message at most.
const SUBMIT_BATCH: usize = 256;

/// Credits for tasks in flight: taken when a task is submitted, returned when its outcome is
/// taken by the consumer.
struct Window {
    state: Mutex<WindowState>,
    changed: Condvar,
}

struct WindowState {
    free: usize,
    closed: bool,
    /// Credits handed out so far: every task submitted, or about to be.
    issued: u64,
}

impl Window {
    fn lock(&self) -> MutexGuard<'_, WindowState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn try_take(&self) -> bool {
        let mut state = self.lock();
        if state.free > 0 && !state.closed {
            state.free -= 1;
            state.issued += 1;
            true
        } else {
            false
        }
    }

    /// Waits for a credit; `false` when the consumer is gone.
    fn take(&self) -> bool {
        let mut state = self.lock();
        loop {
            if state.closed {
                return false;
            }
            if state.free > 0 {
                state.free -= 1;
                state.issued += 1;
                return true;
            }
            state = self.changed.wait(state).unwrap_or_else(|p| p.into_inner());
        }
    }

    fn give(&self, n: usize) {
        self.lock().free += n;
        self.changed.notify_all();
    }

    fn close(&self) {
        self.lock().closed = true;
        self.changed.notify_all();
    }
}

/// Opens a job on the dispatcher: returns its two sides.
pub(crate) fn open(
    events: &Sender<Event>,
    job: JobId,
    window: usize,
    ordered: bool,
) -> (Submitter, Outcomes) {
    let (results_tx, results_rx) = unbounded();
    let window = Arc::new(Window {
        state: Mutex::new(WindowState {
            free: window.max(1),
            closed: false,
            issued: 0,
        }),
        changed: Condvar::new(),
    });
    let dispatcher_alive = events
        .send(Event::OpenJob {
            job,
            results: results_tx.clone(),
        })
        .is_ok();
    let submitter = Submitter {
        job,
        events: events.clone(),
        results: results_tx,
        window: Arc::clone(&window),
        next: 0,
        pending: Vec::new(),
        dispatcher_alive,
        finished: false,
    };
    let outcomes = Outcomes {
        job,
        events: events.clone(),
        rx: results_rx,
        window,
        ordered,
        next_in_order: 0,
        reorder: VecDeque::new(),
        ready: VecDeque::new(),
        taken: 0,
        total: None,
        wake: None,
    };
    (submitter, outcomes)
}

/// The input side of a job. Dropping it ends the job's input, like [`Submitter::finish`].
pub struct Submitter {
    job: JobId,
    events: Sender<Event>,
    results: Sender<JobMsg>,
    window: Arc<Window>,
    next: u64,
    pending: Vec<WireTask>,
    dispatcher_alive: bool,
    finished: bool,
}

impl Submitter {
    /// Adds one input (JSON text), waiting while the window is full. Returns its index, or
    /// `None` when the consumer is gone.
    pub fn push(&mut self, input: String) -> Option<TaskIndex> {
        if !self.window.try_take() {
            self.flush();
            if !self.window.take() {
                return None;
            }
        }
        Some(self.push_with_credit(input))
    }

    /// Whether the window has room for one more input now.
    pub(crate) fn has_room(&self) -> bool {
        self.window.lock().free > 0
    }

    fn push_with_credit(&mut self, input: String) -> TaskIndex {
        let index = TaskIndex(self.next);
        self.next += 1;
        self.pending.push(WireTask { index, input });
        if self.pending.len() >= SUBMIT_BATCH {
            self.flush();
        }
        index
    }

    /// How many inputs were pushed so far.
    pub fn submitted(&self) -> u64 {
        self.next
    }

    /// Sends what is pending to the dispatcher (call before the input source may block).
    pub fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let tasks = std::mem::take(&mut self.pending);
        if self.dispatcher_alive {
            match self.events.send(Event::Submit {
                job: self.job,
                tasks,
            }) {
                Ok(()) => {}
                Err(crossbeam_channel::SendError(Event::Submit { tasks, .. })) => {
                    self.dispatcher_alive = false;
                    self.cancel(tasks);
                }
                Err(_) => self.dispatcher_alive = false,
            }
        } else {
            self.cancel(tasks);
        }
    }

    /// The pool is gone: these tasks end as `cancelled`.
    fn cancel(&self, tasks: Vec<WireTask>) {
        let _ = self
            .results
            .send(JobMsg::Outcomes(TaskOutcome::never_started(tasks)));
    }

    /// Ends the input: the consumer's iteration ends once every submitted task is taken.
    pub fn finish(mut self) {
        self.end();
    }

    fn end(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        self.flush();
        let _ = self.results.send(JobMsg::InputsEnded { total: self.next });
    }
}

impl Drop for Submitter {
    fn drop(&mut self) {
        self.end();
    }
}

/// The outcome side of a job: yields one [`TaskOutcome`] per submitted task, in input order or
/// as completed. Dropping it early cancels the job's queued tasks.
pub struct Outcomes {
    job: JobId,
    events: Sender<Event>,
    rx: Receiver<JobMsg>,
    window: Arc<Window>,
    ordered: bool,
    next_in_order: u64,
    reorder: VecDeque<Option<TaskOutcome>>,
    ready: VecDeque<TaskOutcome>,
    taken: u64,
    total: Option<u64>,
    wake: Option<Receiver<()>>,
}

/// Wakes a consumer blocked in [`Outcomes::wait_next`] from another thread.
#[derive(Clone)]
pub struct Waker(Sender<()>);

impl Waker {
    /// Makes the consumer's `wait_next` return [`Next::Woken`].
    pub fn wake(&self) {
        let _ = self.0.try_send(());
    }
}

/// What [`Outcomes::wait_next`] returns.
pub enum Next {
    /// An outcome.
    Outcome(TaskOutcome),
    /// Every task's outcome was taken and the input has ended.
    Done,
    /// A [`Waker`] woke the consumer.
    Woken,
}

impl Outcomes {
    /// A handle that wakes this consumer from another thread.
    pub fn waker(&mut self) -> Waker {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.wake = Some(rx);
        Waker(tx)
    }

    /// The next outcome, waiting for it, or why there is none.
    pub fn wait_next(&mut self) -> Next {
        loop {
            if let Some(outcome) = self.try_next() {
                return Next::Outcome(outcome);
            }
            if self.is_done() {
                return Next::Done;
            }
            let msg = match &self.wake {
                Some(wake) => crossbeam_channel::select! {
                    recv(self.rx) -> msg => msg,
                    recv(wake) -> _ => return Next::Woken,
                },
                None => self.rx.recv(),
            };
            match msg {
                Ok(msg) => self.accept(msg),
                Err(_) => return Next::Done,
            }
        }
    }

    fn accept(&mut self, msg: JobMsg) {
        match msg {
            JobMsg::InputsEnded { total } => self.total = Some(total),
            JobMsg::Outcomes(outcomes) => {
                for outcome in outcomes {
                    if self.ordered {
                        let Some(offset) = outcome.index.0.checked_sub(self.next_in_order) else {
                            continue; // a duplicate of one already taken: impossible, ignored
                        };
                        let offset = offset as usize;
                        if self.reorder.len() <= offset {
                            self.reorder.resize_with(offset + 1, || None);
                        }
                        self.reorder[offset] = Some(outcome);
                    } else {
                        self.ready.push_back(outcome);
                    }
                }
            }
        }
    }

    fn pop_ready(&mut self) -> Option<TaskOutcome> {
        let outcome = if self.ordered {
            match self.reorder.front() {
                Some(Some(_)) => {
                    self.next_in_order += 1;
                    self.reorder.pop_front().flatten()
                }
                _ => None,
            }
        } else {
            self.ready.pop_front()
        }?;
        self.taken += 1;
        self.window.give(1);
        Some(outcome)
    }

    /// Whether every task has been taken and the input has ended.
    pub fn is_done(&self) -> bool {
        self.total.is_some_and(|t| self.taken >= t)
    }

    /// The next outcome if one is ready now, without waiting.
    pub fn try_next(&mut self) -> Option<TaskOutcome> {
        loop {
            if let Some(outcome) = self.pop_ready() {
                return Some(outcome);
            }
            match self.rx.try_recv() {
                Ok(msg) => self.accept(msg),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => return None,
            }
        }
    }

    /// Stops the job's input: the submitter's next push fails, so a feeding thread ends.
    pub fn close_input(&self) {
        self.window.close();
    }

    /// Whether every task submitted so far (or about to be) has been taken.
    pub fn all_taken(&self) -> bool {
        self.taken >= self.window.lock().issued
    }

    /// The next outcome, waiting at most until `deadline`.
    pub fn next_until(&mut self, deadline: std::time::Instant) -> Option<TaskOutcome> {
        loop {
            if let Some(outcome) = self.try_next() {
                return Some(outcome);
            }
            match self.rx.recv_deadline(deadline) {
                Ok(msg) => self.accept(msg),
                Err(_) => return None,
            }
        }
    }

    /// The next outcome, waiting for it; `None` once every task's outcome was taken.
    pub fn next_blocking(&mut self) -> Option<TaskOutcome> {
        loop {
            if let Some(outcome) = self.try_next() {
                return Some(outcome);
            }
            if self.is_done() {
                return None;
            }
            match self.rx.recv() {
                Ok(msg) => self.accept(msg),
                // Every sender is gone (cannot happen while the submitter lives): stop.
                Err(_) => return None,
            }
        }
    }

    /// Waits for one message from the pool and takes it in (used by single-threaded jobs
    /// that also feed inputs).
    pub(crate) fn wait_message(&mut self) -> bool {
        match self.rx.recv() {
            Ok(msg) => {
                self.accept(msg);
                true
            }
            Err(_) => false,
        }
    }
}

impl Iterator for Outcomes {
    type Item = TaskOutcome;

    fn next(&mut self) -> Option<TaskOutcome> {
        self.next_blocking()
    }
}

impl Drop for Outcomes {
    fn drop(&mut self) {
        self.window.close();
        let _ = self.events.send(Event::CloseJob { job: self.job });
    }
}
