//! A job: one stream of inputs and its outcomes. The [`Submitter`] side hands tasks to
//! whatever serves the job ([`Request`]s to the local dispatcher, or to a broker's feeder),
//! never more than the job's window ahead of what the consumer has taken, so an
//! endless input never fills memory; the [`Outcomes`] side yields outcomes in input order or
//! as they complete. The two sides may live on different threads.
//!
//! The window counts credits: a task costs one per started [`CREDIT_BYTES`] of input, so it
//! bounds the input held in flight (about window × 4 KiB) as well as the number of tasks.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use std::task::{Context, Poll};

use atomic_waker::AtomicWaker;
use compact_str::{CompactString, ToCompactString};
use crossbeam_channel::{Receiver, Sender, TryRecvError, unbounded};

use super::handlers::JobScope;
use super::inbox::Requests;
use super::outcome::TaskOutcome;
use super::request::{JobCall, JobId, JobMsg, JobSender, Request};
use super::trace::OutputTrace;
use crate::ids::TaskIndex;
use crate::shared::{SharedJob, SharedStore, Spawn};
use crate::sync;
use crate::vocab::{TaskCall, WireTask};
use crate::wire::message::TaskRange;

/// How many tasks a submitter sends in one message at most.
const SUBMIT_BATCH: usize = 256;

/// Input bytes one credit stands for.
pub const CREDIT_BYTES: usize = 4096;

/// Credits for tasks in flight: taken when a task is submitted, returned when its outcome is
/// taken by the consumer. Both sides move credits in bulk and the condition variable is only
/// signalled when the submitter waits, so the hot path costs no system call.
struct Window {
    state: Mutex<WindowState>,
    changed: Condvar,
    /// Tasks submitted so far (or about to be): what the consumer can still expect.
    issued: AtomicU64,
    closed: AtomicBool,
    /// All the credits there are.
    capacity: usize,
    /// Tasks that cost more than one credit, by index, and how many there are (so tasks of
    /// one credit, the common case, never touch the map).
    heavy: Mutex<HashMap<u64, usize>>,
    heavy_count: AtomicUsize,
}

struct WindowState {
    free: usize,
    waiting: bool,
}

impl Window {
    fn lock(&self) -> MutexGuard<'_, WindowState> {
        sync::lock(&self.state)
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Takes up to `max` credits without waiting; 0 when there are none.
    fn try_take(&self, max: usize) -> usize {
        if self.is_closed() {
            return 0;
        }
        let mut state = self.lock();
        let n = state.free.min(max);
        state.free -= n;
        n
    }

    /// Waits for at least one credit and takes up to `max`; 0 when the consumer is gone.
    fn take(&self, max: usize) -> usize {
        let mut state = self.lock();
        loop {
            if self.is_closed() {
                return 0;
            }
            if state.free > 0 {
                let n = state.free.min(max);
                state.free -= n;
                return n;
            }
            state.waiting = true;
            state = sync::wait(&self.changed, state);
            state.waiting = false;
        }
    }

    fn give(&self, n: usize) {
        if n == 0 {
            return;
        }
        let mut state = self.lock();
        state.free += n;
        let wake = state.waiting;
        drop(state);
        if wake {
            self.changed.notify_one();
        }
    }

    fn close(&self) {
        let _state = self.lock();
        self.closed.store(true, Ordering::Release);
        self.changed.notify_all();
    }

    /// How many credits a consumer holds before it gives them back (it also gives back
    /// whatever it holds before it waits): an eighth of the window, so a submitter waiting
    /// for room wakes a few times per window, not once per few tasks.
    fn return_batch(&self) -> usize {
        (self.capacity / 8).max(CREDIT_BATCH)
    }

    /// What a task with this input costs: one credit per started [`CREDIT_BYTES`], never more
    /// than the whole window (so a large input still fits, alone).
    fn cost(&self, input: &str) -> usize {
        (1 + input.len() / CREDIT_BYTES).min(self.capacity)
    }

    fn heavy(&self) -> MutexGuard<'_, HashMap<u64, usize>> {
        sync::lock(&self.heavy)
    }

    /// Notes that task `index` cost `cost` credits.
    fn charge(&self, index: TaskIndex, cost: usize) {
        if cost != 1 {
            self.heavy().insert(index.0, cost);
            self.heavy_count.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// The credits task `index` was charged, forgetting it.
    fn refund(&self, index: TaskIndex) -> usize {
        if self.heavy_count.load(Ordering::Acquire) == 0 {
            return 1;
        }
        match self.heavy().remove(&index.0) {
            Some(cost) => {
                self.heavy_count.fetch_sub(1, Ordering::AcqRel);
                cost
            }
            None => 1,
        }
    }
}

/// What [`Submitter::try_push`] did.
pub enum TryPush {
    /// The task was submitted, with this index.
    Pushed(TaskIndex),
    /// The window has no room for it now: here it is back.
    Full(CompactString),
    /// The consumer is gone.
    Closed,
}

/// Credits moved at a time.
const CREDIT_BATCH: usize = 64;

/// Opens job `job` on the server behind `requests`, every task calling as `call` says:
/// returns its two sides.
pub(crate) fn open(
    requests: &Requests,
    job: JobId,
    window: usize,
    ordered: bool,
    call: JobCall,
) -> (Submitter, Outcomes) {
    let (results_tx, results_rx) = unbounded();
    let trace = call.trace.clone();
    let task_waker = Arc::new(AtomicWaker::new());
    let results_tx = JobSender::new(results_tx, Arc::clone(&task_waker));
    let window = Arc::new(Window {
        state: Mutex::new(WindowState {
            free: window.max(1),
            waiting: false,
        }),
        changed: Condvar::new(),
        issued: AtomicU64::new(0),
        closed: AtomicBool::new(false),
        capacity: window.max(1),
        heavy: Mutex::new(HashMap::new()),
        heavy_count: AtomicUsize::new(0),
    });
    let task_call = (call.export != 0 || call.limits.is_some()).then(|| {
        Box::new(TaskCall {
            export: call.export,
            limits: call.limits,
        })
    });
    let growth = call
        .shared
        .as_ref()
        .filter(|shared| shared.growable)
        .map(|shared| {
            Arc::new(Growth {
                job,
                requests: requests.clone(),
                results: results_tx.clone(),
                window: Arc::clone(&window),
                call: task_call.clone(),
                max: shared.limits.submitted,
                state: Mutex::new(GrowthState::default()),
            })
        });
    let shared = call.shared.map(|shared| {
        let spawn = growth.clone().map(|g| g as Arc<dyn Spawn>);
        Arc::new(SharedJob::new(
            shared.store,
            shared.limits,
            spawn,
            shared.remote,
        ))
    });
    let server_alive = requests.send(Request::Open {
        job,
        results: results_tx.clone(),
        scope: Arc::new(JobScope {
            context: call.context,
            shared: shared.clone(),
        }),
        cancellable: call.cancellable,
        target: call.target,
        queue: None,
    });
    let submitter = Submitter {
        job,
        call: task_call,
        growth: growth.clone(),
        requests: requests.clone(),
        results: results_tx,
        window: Arc::clone(&window),
        next: 0,
        pending: Vec::new(),
        server_alive,
        finished: false,
        credits: 0,
    };
    let outcomes = Outcomes {
        job,
        requests: requests.clone(),
        rx: results_rx,
        window,
        ordered,
        next_in_order: 0,
        reorder: VecDeque::new(),
        ready: VecDeque::new(),
        taken: 0,
        total: None,
        wake: None,
        task_waker,
        owed: 0,
        growth,
        shared,
        trace,
    };
    (submitter, outcomes)
}

/// A job whose tasks add inputs (`work#submit`): numbers every input, the submitter's and the
/// tasks', from one counter, and decides when the job is over (the submitter's input has
/// ended, and every task numbered so far has been taken: no task runs that could add more).
struct Growth {
    job: JobId,
    requests: Requests,
    /// Where an added input that cannot reach the pool is answered.
    results: JobSender,
    window: Arc<Window>,
    call: Option<Box<TaskCall>>,
    /// How many inputs tasks may add.
    max: u64,
    state: Mutex<GrowthState>,
}

#[derive(Default)]
struct GrowthState {
    /// The next index.
    next: u64,
    /// Inputs added by tasks.
    added: u64,
    /// The job is over: nothing more may be added.
    sealed: bool,
}

impl GrowthState {
    /// Takes the next index.
    fn take(&mut self) -> TaskIndex {
        let index = TaskIndex(self.next);
        self.next += 1;
        index
    }
}

impl Growth {
    /// The index of the submitter's next input.
    fn number(&self) -> TaskIndex {
        sync::lock(&self.state).take()
    }

    /// Whether the job is over once `taken` outcomes were taken; if so, it is sealed.
    fn try_seal(&self, taken: u64) -> bool {
        let mut state = sync::lock(&self.state);
        if !state.sealed && taken >= self.window.issued.load(Ordering::Acquire) {
            state.sealed = true;
        }
        state.sealed
    }

    fn added(&self) -> u64 {
        sync::lock(&self.state).added
    }

    /// The job is over whatever is left: nothing more may be added.
    fn seal(&self) {
        sync::lock(&self.state).sealed = true;
    }
}

impl Spawn for Growth {
    fn submit(&self, parent: TaskIndex, input: CompactString) -> Result<TaskIndex, String> {
        let index = {
            let mut state = sync::lock(&self.state);
            if state.sealed {
                return Err("the job is over: no input can be added to it any more".into());
            }
            if state.added >= self.max {
                return Err(format!(
                    "task {parent} would add input number {} to the job, past its limit of {} \
                     added inputs (--max-submitted)",
                    state.added + 1,
                    self.max
                ));
            }
            state.added += 1;
            self.window.issued.fetch_add(1, Ordering::AcqRel);
            state.take()
        };
        // Added inputs take no credit of the window (a task waiting for room could wait for
        // its own outcome): its outcome gives none back.
        self.window.charge(index, 0);
        let task = WireTask {
            index,
            input,
            call: self.call.clone(),
        };
        let submit = Request::Submit {
            job: self.job,
            tasks: vec![task],
        };
        if let Err(tasks) = self.requests.submit(submit) {
            // Numbered and counted: it must still get its one outcome.
            let _ = self
                .results
                .send(JobMsg::Outcomes(TaskOutcome::never_started(tasks)));
            return Err("the pool is shutting down".into());
        }
        Ok(index)
    }
}

/// The input side of a job. Dropping it ends the job's input, like [`Submitter::finish`].
pub struct Submitter {
    job: JobId,
    /// Stamped on every task: the export it calls and its own limits.
    call: Option<Box<TaskCall>>,
    /// Numbers the inputs when tasks may add inputs too.
    growth: Option<Arc<Growth>>,
    requests: Requests,
    results: JobSender,
    window: Arc<Window>,
    next: u64,
    pending: Vec<WireTask>,
    server_alive: bool,
    finished: bool,
    /// Credits taken from the window and not yet used.
    credits: usize,
}

impl Submitter {
    /// Adds one input (JSON text: a `String`, a `&str`, or a `CompactString`, which keeps
    /// short inputs without an allocation), waiting while the window is full. Returns its
    /// index, or `None` when the consumer is gone.
    pub fn push(&mut self, input: impl Into<CompactString>) -> Option<TaskIndex> {
        let input = input.into();
        if self.window.is_closed() {
            return None;
        }
        let cost = self.window.cost(&input);
        while self.credits < cost {
            let want = (cost - self.credits).max(CREDIT_BATCH);
            let mut got = self.window.try_take(want);
            if got == 0 {
                self.flush();
                got = self.window.take(want);
                if got == 0 {
                    return None;
                }
            }
            self.credits += got;
        }
        Some(self.push_with_credits(input, cost))
    }

    /// Submits `input` if the window has room for it now, never waiting (for a thread that is
    /// also the consumer, which must not block on credits only it can give back).
    pub fn try_push(&mut self, input: CompactString) -> TryPush {
        if self.window.is_closed() {
            return TryPush::Closed;
        }
        let cost = self.window.cost(&input);
        if self.credits < cost {
            self.credits += self
                .window
                .try_take((cost - self.credits).max(CREDIT_BATCH));
        }
        if self.credits < cost {
            return TryPush::Full(input);
        }
        TryPush::Pushed(self.push_with_credits(input, cost))
    }

    /// Whether there is room for at least one more small input now.
    pub(crate) fn has_room(&self) -> bool {
        !self.window.is_closed() && (self.credits > 0 || self.window.lock().free > 0)
    }

    fn push_with_credits(&mut self, input: CompactString, cost: usize) -> TaskIndex {
        self.credits -= cost;
        self.window.issued.fetch_add(1, Ordering::AcqRel);
        let index = match &self.growth {
            Some(growth) => growth.number(),
            None => TaskIndex(self.next),
        };
        self.next += 1;
        self.window.charge(index, cost);
        self.pending.push(WireTask {
            index,
            input,
            call: self.call.clone(),
        });
        if self.pending.len() >= SUBMIT_BATCH {
            self.flush();
        }
        index
    }

    /// Adds `count` inputs, the integers from `first` on, waiting while the window is full:
    /// the same as pushing each one's JSON text, but they travel as ranges (where the job's
    /// server keeps them so) instead of a task per integer. Returns how many were added
    /// (fewer when the consumer went away first, or the integers would pass `i64::MAX`).
    pub fn push_range(&mut self, first: i64, count: u64) -> u64 {
        // Past i64, or tasks that are numbered as they come or call something of their own:
        // one by one.
        let fits = count
            .checked_sub(1)
            .and_then(|last| i64::try_from(last).ok())
            .is_some_and(|last| first.checked_add(last).is_some());
        if !fits || self.growth.is_some() || self.call.is_some() {
            let mut added = 0;
            for value in (0..count).map_while(|k| first.checked_add(i64::try_from(k).ok()?)) {
                if self.push(value.to_compact_string()).is_none() {
                    break;
                }
                added += 1;
            }
            return added;
        }
        let mut added = 0u64;
        while added < count {
            if self.window.is_closed() {
                break;
            }
            if self.credits == 0 {
                let want = usize::try_from(count - added).unwrap_or(usize::MAX);
                let mut got = self.window.try_take(want);
                if got == 0 {
                    self.flush();
                    got = self.window.take(want);
                    if got == 0 {
                        break;
                    }
                }
                self.credits += got;
            }
            // Each integer is a credit (its text is far below `CREDIT_BYTES`).
            let n = (count - added)
                .min(self.credits as u64)
                .min(u64::from(u32::MAX));
            self.credits -= n as usize;
            self.window.issued.fetch_add(n, Ordering::AcqRel);
            let range = TaskRange {
                index: TaskIndex(self.next),
                // `fits` checked that first + count - 1 is an i64.
                first: first + added as i64,
                count: n as u32,
            };
            self.next += n;
            added += n;
            // Whatever was pushed one by one goes first, in order.
            self.flush();
            self.send(Request::SubmitRange {
                job: self.job,
                range,
            });
        }
        added
    }

    /// How many inputs were pushed so far.
    pub fn submitted(&self) -> u64 {
        self.next
    }

    /// Sends what is pending to the job's server (call before the input source may block).
    pub fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let tasks = std::mem::take(&mut self.pending);
        self.send(Request::Submit {
            job: self.job,
            tasks,
        });
    }

    /// Sends tasks (a `Submit` or a `SubmitRange`) to the job's server; once it is gone, they
    /// end as `cancelled`.
    fn send(&mut self, request: Request) {
        let unsent = if self.server_alive {
            match self.requests.submit(request) {
                Ok(()) => return,
                Err(tasks) => {
                    self.server_alive = false;
                    tasks
                }
            }
        } else {
            match request.expanded() {
                Request::Submit { tasks, .. } => tasks,
                _ => Vec::new(),
            }
        };
        self.cancel(unsent);
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
        self.window.give(std::mem::take(&mut self.credits));
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
    requests: Requests,
    rx: Receiver<JobMsg>,
    window: Arc<Window>,
    ordered: bool,
    next_in_order: u64,
    reorder: VecDeque<Option<TaskOutcome>>,
    ready: VecDeque<TaskOutcome>,
    taken: u64,
    total: Option<u64>,
    wake: Option<Receiver<()>>,
    /// The async task awaiting the job, woken by each message its server sends.
    task_waker: Arc<AtomicWaker>,
    /// Credits of taken outcomes not yet given back.
    owed: usize,
    /// Whether (and how) tasks add inputs: the job ends only when none can.
    growth: Option<Arc<Growth>>,
    /// The job's shared state: each final outcome settles its task's record.
    shared: Option<Arc<SharedJob>>,
    /// Where its tasks' output goes as `tracing` events.
    trace: Option<Arc<OutputTrace>>,
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
    /// The job's id on its server.
    pub(crate) fn job_id(&self) -> JobId {
        self.job
    }

    /// Where the job's requests go.
    pub(crate) fn requests(&self) -> &Requests {
        &self.requests
    }

    /// A handle that wakes this consumer from another thread.
    pub fn waker(&mut self) -> Waker {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.wake = Some(rx);
        Waker(tx)
    }

    /// The next outcome, waiting for it, or why there is none.
    pub fn wait_next(&mut self) -> Next {
        match self.wait_next_until(None) {
            Some(next) => next,
            None => Next::Done, // without a deadline the wait cannot time out
        }
    }

    /// [`wait_next`](Self::wait_next), waiting at most until `deadline` (`None` when it
    /// passed first; no deadline: as long as it takes).
    pub fn wait_next_until(&mut self, deadline: Option<std::time::Instant>) -> Option<Next> {
        loop {
            if let Some(outcome) = self.try_next() {
                return Some(Next::Outcome(outcome));
            }
            if self.is_done() {
                return Some(Next::Done);
            }
            self.return_credits();
            let msg = match (&self.wake, deadline) {
                (Some(wake), Some(deadline)) => crossbeam_channel::select! {
                    recv(self.rx) -> msg => msg,
                    recv(wake) -> _ => return Some(Next::Woken),
                    recv(crossbeam_channel::at(deadline)) -> _ => return None,
                },
                (Some(wake), None) => crossbeam_channel::select! {
                    recv(self.rx) -> msg => msg,
                    recv(wake) -> _ => return Some(Next::Woken),
                },
                (None, Some(deadline)) => match self.rx.recv_deadline(deadline) {
                    Ok(msg) => Ok(msg),
                    Err(crossbeam_channel::RecvTimeoutError::Timeout) => return None,
                    Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                        return Some(Next::Done);
                    }
                },
                (None, None) => self.rx.recv(),
            };
            match msg {
                Ok(msg) => self.accept(msg),
                Err(_) => return Some(Next::Done),
            }
        }
    }

    fn accept(&mut self, msg: JobMsg) {
        match msg {
            JobMsg::InputsEnded { total } => self.total = Some(total),
            JobMsg::Outcomes(outcomes) => {
                for outcome in outcomes {
                    if let Some(trace) = &self.trace {
                        trace.emit(&outcome);
                    }
                    if let Some(shared) = &self.shared {
                        shared.settle(outcome.index);
                    }
                    if self.ordered {
                        let Some(offset) = outcome.index.0.checked_sub(self.next_in_order) else {
                            continue; // a duplicate of one already taken: impossible, ignored
                        };
                        let offset = offset as usize;
                        if offset == self.reorder.len() {
                            // The next one after those held: the common case, in order.
                            self.reorder.push_back(Some(outcome));
                        } else {
                            if self.reorder.len() < offset {
                                self.reorder.resize_with(offset, || None);
                            }
                            match self.reorder.get_mut(offset) {
                                Some(slot) => *slot = Some(outcome),
                                None => self.reorder.push_back(Some(outcome)),
                            }
                        }
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
        self.owed += self.window.refund(outcome.index);
        if self.owed >= self.window.return_batch() {
            self.return_credits();
        }
        Some(outcome)
    }

    /// Whether every task has been taken and the input has ended (and, when tasks add
    /// inputs, no task is left that could add one).
    pub fn is_done(&self) -> bool {
        match &self.growth {
            None => self.total.is_some_and(|t| self.taken >= t),
            Some(growth) => self.total.is_some() && growth.try_seal(self.taken),
        }
    }

    /// How many inputs the job's tasks added (`work#submit`) so far.
    pub fn added(&self) -> u64 {
        self.growth.as_ref().map_or(0, |g| g.added())
    }

    /// Where the job's tasks add inputs, when they may (a broker's collector hands it what
    /// workers submit).
    pub(crate) fn spawner(&self) -> Option<Arc<dyn Spawn>> {
        self.shared.as_ref().and_then(|s| s.spawn().cloned())
    }

    /// The job's shared store, when its module imports a shared interface: read it once the
    /// job is over (`--shared-out`).
    pub fn shared_store(&self) -> Option<SharedStore> {
        self.shared.as_ref().map(|s| s.store().clone())
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

    /// The next outcome for an async consumer: `Ready(Some)` when one has arrived,
    /// `Ready(None)` once every task's outcome was taken, and otherwise `Pending` with the
    /// task's waker registered, so the job's next message wakes it. Never blocks.
    pub fn poll_next_outcome(&mut self, cx: &mut Context<'_>) -> Poll<Option<TaskOutcome>> {
        let mut registered = false;
        loop {
            if let Some(outcome) = self.pop_ready() {
                return Poll::Ready(Some(outcome));
            }
            match self.rx.try_recv() {
                Ok(msg) => {
                    self.accept(msg);
                    continue;
                }
                // Every sender is gone (the pool was dropped): nothing will ever arrive.
                Err(TryRecvError::Disconnected) => return Poll::Ready(None),
                Err(TryRecvError::Empty) => {}
            }
            if self.is_done() {
                return Poll::Ready(None);
            }
            if registered {
                return Poll::Pending;
            }
            self.return_credits();
            self.task_waker.register(cx.waker());
            // A message sent before the registration woke nobody: look once more.
            registered = true;
        }
    }

    /// Gives the credits of outcomes taken so far back to the submitter now (they also go back
    /// in bulk before every wait, so a waiting submitter is never starved): for a thread that
    /// both takes outcomes and pushes inputs with [`Submitter::try_push`].
    pub fn return_credits(&mut self) {
        self.window.give(std::mem::take(&mut self.owed));
    }

    /// Stops the job's input: the submitter's next push fails, so a feeding thread ends.
    pub fn close_input(&self) {
        self.window.close();
    }

    /// Whether every task submitted so far (or about to be) has been taken.
    pub fn all_taken(&self) -> bool {
        self.taken >= self.window.issued.load(Ordering::Relaxed)
    }

    /// The next outcome, waiting at most until `deadline`.
    pub fn next_until(&mut self, deadline: std::time::Instant) -> Option<TaskOutcome> {
        loop {
            if let Some(outcome) = self.try_next() {
                return Some(outcome);
            }
            self.return_credits();
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
            self.return_credits();
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
        self.return_credits();
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
        if let Some(growth) = &self.growth {
            growth.seal();
        }
        if let Some(shared) = &self.shared {
            shared.close();
        }
        let _ = self.requests.send(Request::Close { job: self.job });
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Plays the job's server: every task submitted so far, without answering any.
    fn submitted(requests: &Receiver<Request>, results: &mut Option<JobSender>) -> Vec<u64> {
        let mut got = Vec::new();
        while let Ok(request) = requests.recv_timeout(Duration::from_millis(200)) {
            match request.expanded() {
                Request::Open { results: tx, .. } => *results = Some(tx),
                Request::Submit { tasks, .. } => got.extend(tasks.iter().map(|t| t.index.0)),
                Request::SubmitRange { .. }
                | Request::Take { .. }
                | Request::Cancel { .. }
                | Request::Close { .. }
                | Request::Shutdown => {}
            }
        }
        got
    }

    #[test]
    fn the_window_bounds_what_is_submitted_and_order_is_restored() {
        let (requests_tx, requests) = Requests::channel();
        let (mut submitter, mut outcomes) = open(&requests_tx, 7, 4, true, JobCall::default());
        let feeder = std::thread::spawn(move || {
            for i in 0..10 {
                submitter.push(i.to_string());
            }
        });
        let mut results = None;
        assert_eq!(
            submitted(&requests, &mut results),
            [0, 1, 2, 3],
            "the window is 4"
        );
        let results = results.expect("the job opened");
        let answer = |indices: &[u64]| {
            let outcomes = indices
                .iter()
                .map(|&i| {
                    let mut o = TaskOutcome::failed(TaskIndex(i), crate::ErrorKind::Trap, "");
                    o.result = Ok(i.to_string().into());
                    o
                })
                .collect();
            results.send(JobMsg::Outcomes(outcomes)).expect("job alive");
        };
        // Answers out of order come out in order; taking them frees the window.
        answer(&[2, 0, 3, 1]);
        let taken: Vec<u64> = (0..4)
            .map(|_| outcomes.next_blocking().expect("an outcome").index().0)
            .collect();
        assert_eq!(taken, [0, 1, 2, 3]);
        outcomes.return_credits();
        let more = submitted(&requests, &mut None);
        assert!(
            !more.is_empty() && more.len() <= 4 && more[0] == 4,
            "{more:?}"
        );
        drop(outcomes);
        let _ = feeder.join();
    }

    #[test]
    fn a_range_goes_as_ranges_within_the_window_after_what_was_pushed_before_it() {
        let (requests_tx, requests) = Requests::channel();
        let (mut submitter, mut outcomes) = open(&requests_tx, 3, 5, true, JobCall::default());
        let feeder = std::thread::spawn(move || {
            submitter.push("\"a\"");
            let added = submitter.push_range(-3, 8);
            (added, submitter.submitted())
        });
        // (index, input) of every task the server was sent, and whether each came in a range.
        let mut got: Vec<(u64, String, bool)> = Vec::new();
        let mut results = None;
        let read = |got: &mut Vec<(u64, String, bool)>, results: &mut Option<JobSender>| {
            while let Ok(request) = requests.recv_timeout(Duration::from_millis(200)) {
                let ranged = matches!(request, Request::SubmitRange { .. });
                match request.expanded() {
                    Request::Open { results: tx, .. } => *results = Some(tx),
                    Request::Submit { tasks, .. } => got.extend(
                        tasks
                            .into_iter()
                            .map(|t| (t.index.0, t.input.to_string(), ranged)),
                    ),
                    _ => {}
                }
            }
        };
        read(&mut got, &mut results);
        assert_eq!(got.len(), 5, "the window is 5: {got:?}");
        let results = results.expect("the job opened");
        let answer = |from: u64, to: u64| {
            let outcomes = (from..to)
                .map(|i| {
                    let mut o = TaskOutcome::failed(TaskIndex(i), crate::ErrorKind::Trap, "");
                    o.result = Ok("0".into());
                    o
                })
                .collect();
            results.send(JobMsg::Outcomes(outcomes)).expect("job alive");
        };
        answer(0, 5);
        for _ in 0..5 {
            outcomes.next_blocking().expect("an outcome");
        }
        outcomes.return_credits();
        read(&mut got, &mut None);
        answer(5, 9);
        let (added, submitted) = feeder.join().expect("the feeder ends");
        assert_eq!((added, submitted), (8, 9));
        let inputs: Vec<(u64, &str)> = got.iter().map(|(i, s, _)| (*i, s.as_str())).collect();
        assert_eq!(
            inputs,
            [
                (0, "\"a\""),
                (1, "-3"),
                (2, "-2"),
                (3, "-1"),
                (4, "0"),
                (5, "1"),
                (6, "2"),
                (7, "3"),
                (8, "4")
            ]
        );
        assert!(!got[0].2 && got[1..].iter().all(|t| t.2), "{got:?}");
    }

    #[test]
    fn a_range_past_i64_goes_one_by_one_and_stops_at_its_end() {
        let (requests_tx, requests) = Requests::channel();
        let (mut submitter, _outcomes) = open(&requests_tx, 3, 16, true, JobCall::default());
        assert_eq!(
            submitter.push_range(i64::MAX - 1, 5),
            2,
            "only two i64s are left"
        );
        submitter.flush();
        let mut results = None;
        assert_eq!(submitted(&requests, &mut results), [0, 1]);
    }
}
