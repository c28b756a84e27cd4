//! The dispatcher: the single owner of scheduling state and the only one that talks to
//! workers. It runs on its own thread and waits on its one [`Inbox`]: jobs' [`Request`]s (tasks
//! go into one FIFO queue) and worker links' [`WorkerReport`]s. Batches go to workers with
//! room (see [`ChunkPolicy`]), outcomes go back to their jobs. When a worker dies, the tasks
//! it held are retried on a fresh worker (up to `retries` times) or reported `worker-lost`; a
//! worker that cannot even start three times in a row marks the pool broken, and every task
//! then fails with the reason instead of hanging.
//!
//! Each slot holds at most one worker process ([`Worker`]), whose life is a [`Phase`]:
//! `Starting` → `Ready` → (`Retiring` | `Failing`) → its exit, which the phase explains (put
//! the tasks back, charge them an attempt, or count a failed start); then a new process, with
//! a new generation, takes the slot.
//!
//! Adding a case: a job-facing one is a [`Request`] variant handled in `on_request` (the
//! broker's submitter serves requests too); a worker-facing one is a [`WorkerEvent`] (or a
//! [`FromWorker`] message) handled in `on_worker`. Keep the invariant that every task submitted
//! gets exactly one outcome.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, unbounded};

use super::chunking::{ChunkPolicy, fitting};
use super::events::{WorkerEvent, WorkerReport};
use super::handlers::{CallRoute, Contexts, JobScope};
use super::inbox::{Inbox, Reports, Requests};
use super::outcome::{Cancelled, TaskOutcome};
use super::request::{JobId, JobMsg, JobSender, Request};
use super::transport::{Transport, WorkerLink};
use crate::error::{Error, ErrorKind, TaskError};
use crate::ids::{BatchId, TaskIndex, WorkerId};
use crate::imports::HostImports;
use crate::limits::format_duration;
use crate::vocab::{Setup, WireOutcome, WireTask};
use crate::wire::frame::{FrameError, MAX_FRAME, encode_frame};
use crate::wire::message::{BatchDone, BatchRef, FromWorker, ToWorkerRef, WireTaskRef};

/// How many failed starts in a row (with no successful start between) break the pool.
const MAX_START_FAILURES: u32 = 3;

/// How many workers in a row may be killed from outside (SIGKILL, by the kernel out of memory
/// or by someone) before they are ready, with no successful start between, before the pool
/// breaks. Such a kill says nothing about the worker, so it gets more tries than a failed
/// start: a storm of kills that catches the odd worker while it loads must not end the pool.
const MAX_KILLED_STARTS: u32 = 20;

/// What a dispatcher needs to run.
pub struct DispatcherConfig {
    /// How many workers.
    pub processes: usize,
    /// What every worker loads.
    pub setup: Setup,
    /// A fixed chunk size, or adaptive.
    pub chunksize: Option<usize>,
    /// How often a task whose worker died is retried before it is reported `worker-lost`.
    pub retries: u32,
    /// Replace a worker process after it ran this many tasks (Python's `maxtasksperchild`).
    pub max_tasks_per_worker: Option<u64>,
    /// The application's answers to the module's imports, answered on threads serving each worker's call socket.
    pub host: HostImports,
}

struct Queued {
    job: JobId,
    task: WireTask,
    attempts: u32,
    /// Its job cancelled it while a worker held it.
    cancelled: bool,
    /// Its outcome was delivered already (cancelled before it started): whatever the worker
    /// says of it later is dropped.
    answered: bool,
}

struct InFlight {
    id: BatchId,
    tasks: Vec<Queued>,
    /// How long the worker may take over it once it is at the head (see `batch_budget`).
    budget: Option<Duration>,
}

/// A job the dispatcher serves.
struct Job {
    results: JobSender,
    /// What its tasks' host calls see: their context, the job's shared state.
    scope: Arc<JobScope>,
    /// Whether it may cancel its tasks.
    cancellable: bool,
}

/// One slot of the pool: the worker process in it, if any. Restarts bump the generation, so
/// late reports of a replaced process are recognised.
struct Slot {
    generation: u64,
    /// `None`: the last process could not be started.
    worker: Option<Worker>,
}

/// A worker process of a slot, from its start until its exit is reported.
struct Worker {
    link: Box<dyn WorkerLink>,
    phase: Phase,
    /// Batches sent and not answered, oldest first.
    in_flight: VecDeque<InFlight>,
    /// Tasks sent to this process.
    sent: u64,
    /// Since when the batch at the head of `in_flight` has been the worker's to answer.
    head_since: Option<Instant>,
}

/// Where a worker process is in its life.
enum Phase {
    /// Started; its `Ready` has not come. What it holds has not run.
    Starting,
    /// It loaded the module: it runs batches.
    Ready {
        /// Its process id.
        pid: u32,
    },
    /// It ran its share of tasks (`--max-tasks-per-worker`) and was stopped; its exit is
    /// expected and costs its tasks nothing.
    Retiring {
        /// Its process id.
        pid: u32,
    },
    /// It is going down for a reason (its setup failed, it wrote garbage, a task is stuck, it
    /// fell silent, it answered out of order); the first reason explains its exit.
    Failing {
        /// Its process id, if it was ever ready (then its tasks may have run).
        pid: Option<u32>,
        /// Why, as it ends the message of every task it takes down.
        trouble: String,
    },
}

impl Worker {
    fn new(link: Box<dyn WorkerLink>) -> Worker {
        Worker {
            link,
            phase: Phase::Starting,
            in_flight: VecDeque::new(),
            sent: 0,
            head_since: None,
        }
    }

    /// Its process id, once it was ready.
    fn pid(&self) -> Option<u32> {
        match &self.phase {
            Phase::Starting => None,
            Phase::Ready { pid } | Phase::Retiring { pid } => Some(*pid),
            Phase::Failing { pid, .. } => *pid,
        }
    }

    /// Whether new batches may go to it (a starting worker queues them in its pipe).
    fn takes_batches(&self) -> bool {
        matches!(self.phase, Phase::Starting | Phase::Ready { .. })
    }

    /// It goes down because of `trouble` (killed now when `kill`; otherwise it exits by
    /// itself). A worker already going down keeps its first reason.
    fn fail(&mut self, trouble: String, kill: bool) {
        if matches!(self.phase, Phase::Starting | Phase::Ready { .. }) {
            self.phase = Phase::Failing {
                pid: self.pid(),
                trouble,
            };
        }
        if kill {
            self.link.kill();
        }
    }
}

/// The dispatcher's state (see the module docs).
pub struct Dispatcher {
    inbox: Receiver<Inbox>,
    /// Handed to every worker link the dispatcher starts (so the inbox never disconnects).
    reports: Reports,
    transport: Box<dyn Transport>,
    setup: Setup,
    retries: u32,
    max_tasks: Option<u64>,
    slots: Vec<Slot>,
    queue: VecDeque<Queued>,
    jobs: HashMap<JobId, Job>,
    policy: ChunkPolicy,
    next_batch: u64,
    start_failures: u32,
    /// Workers killed from outside before they were ready, in a row.
    killed_starts: u32,
    broken: Option<String>,
    warned_confinement: bool,
    /// The scopes of tasks in flight whose job has one, for the threads serving host calls.
    contexts: Arc<Contexts>,
    /// How many open jobs have a scope (a context or shared state; none: batches file
    /// nothing).
    jobs_with_context: usize,
    /// How many open jobs may cancel (none: no batch is marked cancellable).
    cancellable_jobs: usize,
}

/// Starts the workers and the dispatcher thread; returns where jobs send their requests.
///
/// # Errors
/// [`Error::Spawn`] when the first workers cannot be started at all.
pub fn start(
    config: DispatcherConfig,
    transport: Box<dyn Transport>,
) -> Result<(Requests, std::thread::JoinHandle<()>), Error> {
    let (inbox_tx, inbox) = unbounded();
    let requests = Requests::to_dispatcher(inbox_tx.clone());
    // Host calls go from each worker's call socket to threads the transport starts for it;
    // the dispatcher only files the contexts they need.
    let contexts = Arc::new(Contexts::default());
    let route = (!config.setup.host_imports.is_empty())
        .then(|| CallRoute::new(config.host, Arc::clone(&contexts)));
    let mut dispatcher = Dispatcher {
        inbox,
        reports: Reports::to_dispatcher(inbox_tx, route),
        transport,
        setup: config.setup,
        retries: config.retries,
        max_tasks: config.max_tasks_per_worker,
        slots: Vec::new(),
        queue: VecDeque::new(),
        jobs: HashMap::new(),
        policy: ChunkPolicy::new(config.chunksize),
        next_batch: 0,
        start_failures: 0,
        killed_starts: 0,
        broken: None,
        warned_confinement: false,
        contexts,
        jobs_with_context: 0,
        cancellable_jobs: 0,
    };
    for i in 0..config.processes.max(1) {
        let id = WorkerId(i as u32);
        let link = dispatcher
            .transport
            .start(id, 0, &dispatcher.setup, dispatcher.reports.clone());
        let link = match link {
            Ok(link) => link,
            Err(e) => {
                for worker in dispatcher
                    .slots
                    .iter_mut()
                    .filter_map(|s| s.worker.as_mut())
                {
                    worker.link.kill();
                }
                return Err(e);
            }
        };
        dispatcher.slots.push(Slot {
            generation: 0,
            worker: Some(Worker::new(link)),
        });
    }
    let handle = std::thread::Builder::new()
        .name("mpwasm-dispatcher".into())
        .spawn(move || dispatcher.run())
        .map_err(|cause| Error::Spawn {
            program: "dispatcher thread".into(),
            cause,
        })?;
    Ok((requests, handle))
}

impl Dispatcher {
    fn run(mut self) {
        loop {
            // The dispatcher holds a sender of its inbox itself: it never disconnects.
            let next = match self.next_deadline() {
                Some(deadline) => self.inbox.recv_deadline(deadline).ok(),
                None => self.inbox.recv().ok(),
            };
            match next {
                Some(Inbox::Request(Request::Shutdown)) => {
                    self.shutdown();
                    return;
                }
                Some(Inbox::Request(request)) => self.on_request(request),
                Some(Inbox::Report(WorkerReport {
                    slot,
                    generation,
                    event,
                })) => self.on_worker(slot, generation, event),
                None => self.stop_silent_workers(),
            }
            self.schedule();
        }
    }

    /// How long a worker may take over a batch at the head of its queue before the host
    /// gives up on it: every task its full timeout (its call's own, or the pool's) plus the
    /// worker's own watchdog grace, and two seconds of slack. Only when every task has a
    /// timeout; without one a task may run forever.
    fn batch_budget(&self, tasks: &[Queued]) -> Option<Duration> {
        let mut budget = Duration::from_secs(2);
        for q in tasks {
            let timeout = q
                .task
                .limits()
                .and_then(|l| l.timeout)
                .or(self.setup.limits.timeout)?;
            budget = budget
                .saturating_add(timeout)
                .saturating_add(crate::worker::stuck_grace(timeout));
        }
        Some(budget)
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.slots
            .iter()
            .filter_map(|s| s.worker.as_ref())
            .filter_map(|w| w.head_since?.checked_add(w.in_flight.front()?.budget?))
            .min()
    }

    /// The host-side watchdog: a worker that did not answer its head batch within the budget
    /// (stopped, wedged so badly that its own watchdog cannot report) is killed; its exit
    /// retries or reports its tasks.
    fn stop_silent_workers(&mut self) {
        let now = Instant::now();
        for i in 0..self.slots.len() {
            let Some(worker) = &self.slots[i].worker else {
                continue;
            };
            let budget = worker.in_flight.front().and_then(|head| head.budget);
            let (Some(budget), Some(since)) = (budget, worker.head_since) else {
                continue;
            };
            if since.checked_add(budget).is_some_and(|due| now >= due)
                && let Some(worker) = self.slots[i].worker.as_mut()
            {
                worker.head_since = None;
                worker.fail(
                    format!(
                        "it did not answer within {} (--timeout per task plus grace) and was \
                         killed",
                        format_duration(budget)
                    ),
                    true,
                );
            }
        }
    }

    fn on_request(&mut self, request: Request) {
        match request {
            Request::Open {
                job,
                results,
                scope,
                cancellable,
            } => self.open(job, results, scope, cancellable),
            Request::Cancel { job, index } => self.cancel(job, index),
            Request::Submit { job, tasks } => {
                if !self.jobs.contains_key(&job) {
                    return;
                }
                if let Some(reason) = self.broken.clone() {
                    let outcomes = tasks
                        .into_iter()
                        .map(|t| TaskOutcome::failed(t.index, ErrorKind::WorkerLost, &reason))
                        .collect();
                    self.deliver(job, outcomes);
                    return;
                }
                self.queue.extend(tasks.into_iter().map(|task| Queued {
                    job,
                    task,
                    attempts: 0,
                    cancelled: false,
                    answered: false,
                }));
            }
            Request::Close { job } => {
                if let Some(j) = self.jobs.remove(&job) {
                    self.forgot(&j);
                }
                self.queue.retain(|q| q.job != job);
            }
            Request::Shutdown => {}
        }
    }

    /// A job cancels its task `index`: a queued one never runs; one a worker holds is skipped
    /// or stopped there (a worker that cannot stop it ends itself, and its exit answers the
    /// call `cancelled`); a finished one is left.
    fn cancel(&mut self, job: JobId, index: TaskIndex) {
        if let Some(at) = self
            .queue
            .iter()
            .position(|q| q.job == job && q.task.index == index)
        {
            let _ = self.queue.remove(at);
            self.deliver(job, vec![cancelled_before_start(index)]);
            return;
        }
        for worker in self.slots.iter_mut().filter_map(|s| s.worker.as_mut()) {
            for batch in &mut worker.in_flight {
                let Some(position) = batch
                    .tasks
                    .iter()
                    .position(|q| q.job == job && q.task.index == index)
                else {
                    continue;
                };
                if batch.tasks[position].cancelled {
                    return;
                }
                batch.tasks[position].cancelled = true;
                let frame = encode_frame(&ToWorkerRef::Cancel {
                    batch: batch.id,
                    position: position as u32,
                });
                if let Ok(frame) = frame {
                    worker.link.send(frame);
                }
                return;
            }
        }
    }

    fn on_worker(&mut self, slot: WorkerId, generation: u64, event: WorkerEvent) {
        let Some(s) = self.slots.get_mut(slot.0 as usize) else {
            return;
        };
        let Some(worker) = s.worker.as_mut().filter(|_| s.generation == generation) else {
            return; // a late event from a process already replaced
        };
        match event {
            WorkerEvent::Message(FromWorker::Ready {
                pid,
                confined,
                confinement,
            }) => {
                match &mut worker.phase {
                    Phase::Starting => worker.phase = Phase::Ready { pid },
                    // Trouble came first: its tasks may run now, so its exit charges them.
                    Phase::Failing { pid: known, .. } => *known = Some(pid),
                    Phase::Ready { .. } | Phase::Retiring { .. } => {}
                }
                self.start_failures = 0;
                self.killed_starts = 0;
                if !confined && !self.warned_confinement {
                    self.warned_confinement = true;
                    eprintln!("mpwasm: warning: {confinement}");
                }
            }
            // It exits by itself after saying so.
            WorkerEvent::Message(FromWorker::SetupFailed { message }) => {
                worker.fail(message, false)
            }
            WorkerEvent::Message(FromWorker::Done(done)) => self.on_done(slot, done),
            WorkerEvent::Message(FromWorker::Stuck { id, done, index }) => {
                self.on_stuck(slot, id, done, index);
            }
            WorkerEvent::Message(FromWorker::NotStarted { batch, position }) => {
                let task = worker
                    .in_flight
                    .iter_mut()
                    .find(|b| b.id == batch)
                    .and_then(|b| b.tasks.get_mut(position as usize))
                    .filter(|q| q.cancelled && !q.answered);
                if let Some(q) = task {
                    q.answered = true;
                    let (job, index) = (q.job, q.task.index);
                    self.deliver(job, vec![cancelled_before_start(index)]);
                }
            }
            WorkerEvent::Garbled(message) => {
                worker.fail(format!("it wrote garbage on its pipe ({message})"), true);
            }
            WorkerEvent::Exited {
                status,
                killed,
                stderr,
            } => self.on_exit(slot, status, killed, stderr),
        }
    }

    fn on_done(&mut self, slot: WorkerId, done: BatchDone) {
        let Some(worker) = self.slots[slot.0 as usize].worker.as_mut() else {
            return;
        };
        let matches = worker
            .in_flight
            .front()
            .is_some_and(|b| b.id == done.id && b.tasks.len() == done.outcomes.len());
        if !matches {
            let trouble = format!(
                "it answered batch {} out of order or incompletely",
                done.id.0
            );
            worker.fail(trouble, true);
            return;
        }
        let Some(batch) = worker.in_flight.pop_front() else {
            return;
        };
        self.contexts.forget(batch.id);
        worker.head_since = (!worker.in_flight.is_empty()).then(Instant::now);

        let pid = worker.pid();
        if let Phase::Ready { pid } = worker.phase
            && self.max_tasks.is_some_and(|max| worker.sent >= max)
            && worker.in_flight.is_empty()
        {
            // It ran its share (--max-tasks-per-worker): replace it.
            worker.phase = Phase::Retiring { pid };
            worker.link.kill();
        }
        self.policy
            .observe(batch.tasks.len(), Duration::from_nanos(done.busy_nanos));
        let mut run: Vec<TaskOutcome> = Vec::with_capacity(batch.tasks.len());
        let mut run_job = None;
        for (queued, outcome) in batch.tasks.into_iter().zip(done.outcomes) {
            if queued.answered {
                continue;
            }
            if run_job.is_some_and(|j| j != queued.job) {
                let job = run_job.take().unwrap_or_default();
                self.deliver(job, std::mem::take(&mut run));
            }
            run_job = Some(queued.job);
            let index = queued.task.index;
            run.push(TaskOutcome {
                index,
                worker_pid: pid,
                result: outcome
                    .result
                    .map_err(|f| TaskError::new(index, f.kind, f.message).with_value(f.value)),
                output: outcome.output,
                nanos: outcome.nanos,
            });
        }
        if let Some(job) = run_job {
            self.deliver(job, run);
        }
    }

    /// A task is blocked past its timeout where epochs cannot reach it: keep what the batch
    /// finished, report the task as `timeout`, put the rest back (they did not run), and kill
    /// the worker; its exit starts a replacement.
    fn on_stuck(&mut self, slot: WorkerId, id: BatchId, done: Vec<WireOutcome>, index: TaskIndex) {
        let Some(worker) = self.slots[slot.0 as usize].worker.as_mut() else {
            return;
        };
        if worker.in_flight.front().is_none_or(|b| b.id != id) {
            return;
        }
        let pid = worker.pid();
        worker.fail(
            format!("it was stopped because task {index} was stuck"),
            true,
        );
        let mut batches: Vec<InFlight> = worker.in_flight.drain(..).collect();
        for b in &batches {
            self.contexts.forget(b.id);
        }
        let first = batches.remove(0);
        let mut tasks = first.tasks.into_iter();
        let finished: Vec<Queued> = tasks.by_ref().take(done.len()).collect();
        let stuck = tasks.next();
        let mut back: Vec<Queued> = tasks.collect();
        back.extend(batches.into_iter().flat_map(|b| b.tasks));
        for q in back.into_iter().rev().filter(|q| !q.answered) {
            self.queue.push_front(q);
        }
        for (q, outcome) in finished.into_iter().zip(done) {
            if q.answered {
                continue;
            }
            let index = q.task.index;
            let result = outcome
                .result
                .map_err(|f| TaskError::new(index, f.kind, f.message).with_value(f.value));
            self.deliver(
                q.job,
                vec![TaskOutcome {
                    index,
                    worker_pid: pid,
                    result,
                    output: outcome.output,
                    nanos: outcome.nanos,
                }],
            );
        }
        if let Some(q) = stuck {
            let limit = self.setup.limits.timeout.map_or_else(String::new, |t| {
                format!(" of {} (--timeout)", format_duration(t))
            });
            let message = format!(
                "the task ran past its limit{limit} blocked inside a host call, where it cannot \
                 be interrupted; its worker process was stopped and replaced"
            );
            let mut outcome = TaskOutcome::failed(q.task.index, ErrorKind::Timeout, message);
            outcome.worker_pid = pid;
            self.deliver(q.job, vec![outcome]);
        }
    }

    fn on_exit(&mut self, slot: WorkerId, status: String, killed: bool, stderr: String) {
        let Some(mut worker) = self.slots[slot.0 as usize].worker.take() else {
            return;
        };
        for b in &worker.in_flight {
            self.contexts.forget(b.id);
        }
        let held: Vec<Queued> = worker
            .in_flight
            .drain(..)
            .flat_map(|b| b.tasks)
            .filter(|q| !q.answered)
            .collect();
        let what = match (&worker.phase, stderr.is_empty()) {
            (Phase::Failing { trouble, .. }, _) => format!("{status}: {trouble}"),
            (_, false) => format!("{status}; its stderr ends with: {stderr}"),
            (_, true) => status,
        };
        let ran = worker.pid();
        let pid = ran.map_or_else(String::new, |p| format!(" (pid {p})"));
        if let Phase::Retiring { .. } = worker.phase {
            for q in held.into_iter().rev() {
                self.queue.push_front(q);
            }
        } else if ran.is_none() {
            // It never started: the tasks did not run, so put them back untouched.
            let from_outside = killed && matches!(worker.phase, Phase::Starting);
            if from_outside {
                self.killed_starts += 1;
            } else {
                self.start_failures += 1;
            }
            for q in held.into_iter().rev() {
                self.queue.push_front(q);
            }
            if self.start_failures >= MAX_START_FAILURES {
                self.break_pool(format!(
                    "worker processes cannot start: the last one ended: {what}"
                ));
                return;
            }
            if self.killed_starts >= MAX_KILLED_STARTS {
                self.break_pool(format!(
                    "worker processes cannot start: the last {MAX_KILLED_STARTS} were killed \
                     (SIGKILL) while they loaded the module, by the kernel (out of memory?) or \
                     by someone; the last one ended: {what}"
                ));
                return;
            }
        } else {
            let mut lost = Vec::new();
            let mut again = Vec::new();
            for mut q in held {
                if q.cancelled {
                    // Its cancel is what took the worker down, or it would be cancelled anyway.
                    let outcome = TaskOutcome::failed(
                        q.task.index,
                        ErrorKind::Cancelled,
                        format!(
                            "the call was cancelled; its worker process{pid} could not stop it \
                             (it was blocked in a WASI call) and ended"
                        ),
                    );
                    self.deliver(q.job, vec![outcome]);
                    continue;
                }
                q.attempts += 1;
                if q.attempts <= self.retries {
                    again.push(q);
                } else {
                    lost.push(q);
                }
            }
            for q in again.into_iter().rev() {
                self.queue.push_front(q);
            }
            for q in lost {
                let tries = if q.attempts > 1 {
                    format!(" (after {} attempts)", q.attempts)
                } else {
                    String::new()
                };
                let message =
                    format!("the worker process{pid} running this task died{tries}: {what}");
                self.deliver(
                    q.job,
                    vec![TaskOutcome::failed(
                        q.task.index,
                        ErrorKind::WorkerLost,
                        message,
                    )],
                );
            }
        }
        self.restart(slot);
    }

    fn restart(&mut self, slot: WorkerId) {
        let s = &mut self.slots[slot.0 as usize];
        s.generation += 1;
        match self
            .transport
            .start(slot, s.generation, &self.setup, self.reports.clone())
        {
            Ok(link) => s.worker = Some(Worker::new(link)),
            Err(e) => {
                self.start_failures += 1;
                if self.start_failures >= MAX_START_FAILURES {
                    self.break_pool(e.to_string());
                }
            }
        }
    }

    /// No worker can be started: fail everything queued and everything to come.
    fn break_pool(&mut self, reason: String) {
        let queued: Vec<Queued> = self.queue.drain(..).collect();
        for q in queued {
            self.deliver(
                q.job,
                vec![TaskOutcome::failed(
                    q.task.index,
                    ErrorKind::WorkerLost,
                    &reason,
                )],
            );
        }
        self.broken = Some(reason);
    }

    fn deliver(&mut self, job: JobId, outcomes: Vec<TaskOutcome>) {
        if let Some(j) = self.jobs.get(&job)
            && j.results.send(JobMsg::Outcomes(outcomes)).is_err()
            && let Some(j) = self.jobs.remove(&job)
        {
            self.forgot(&j);
        }
    }

    /// Job `job` starts.
    fn open(&mut self, job: JobId, results: JobSender, scope: Arc<JobScope>, cancellable: bool) {
        self.jobs_with_context += usize::from(!scope.is_plain());
        self.cancellable_jobs += usize::from(cancellable);
        let job_entry = Job {
            results,
            scope,
            cancellable,
        };
        self.jobs.insert(job, job_entry);
    }

    /// Job `j` was removed: it no longer counts.
    fn forgot(&mut self, j: &Job) {
        self.jobs_with_context -= usize::from(!j.scope.is_plain());
        self.cancellable_jobs -= usize::from(j.cancellable);
    }

    fn schedule(&mut self) {
        if self.queue.is_empty() {
            return;
        }
        let live = self
            .slots
            .iter()
            .filter_map(|s| s.worker.as_ref())
            .filter(|w| w.takes_batches())
            .count();
        if live == 0 {
            return;
        }
        // One batch per worker per round, so a short queue spreads over all workers.
        loop {
            let mut sent_any = false;
            for i in 0..self.slots.len() {
                if self.queue.is_empty() {
                    return;
                }
                let chunk = self.policy.chunk(self.queue.len(), live);
                let depth = self.policy.depth(chunk);
                let Some(worker) = self.slots[i].worker.as_mut() else {
                    continue;
                };
                if worker.in_flight.len() >= depth || !worker.takes_batches() {
                    continue;
                }
                let share = self.max_tasks.map_or(usize::MAX, |max| {
                    usize::try_from(max.saturating_sub(worker.sent)).unwrap_or(usize::MAX)
                });
                if share == 0 {
                    continue;
                }
                let take = chunk.min(self.queue.len()).min(share);
                let take = fitting(self.queue.iter().map(|q| q.task.input.len()), take);
                worker.sent += take as u64;
                let tasks: Vec<Queued> = self.queue.drain(..take).collect();
                let id = BatchId(self.next_batch);
                self.next_batch += 1;
                let cancellable = self.cancellable_jobs > 0
                    && tasks
                        .iter()
                        .any(|q| self.jobs.get(&q.job).is_some_and(|j| j.cancellable));
                // Filed before the batch is sent: its first host call may come at once.
                if self.jobs_with_context > 0 {
                    for (position, q) in tasks.iter().enumerate() {
                        if let Some(j) = self.jobs.get(&q.job).filter(|j| !j.scope.is_plain()) {
                            self.contexts
                                .file(id, position as u32, Arc::clone(&j.scope));
                        }
                    }
                }
                let frame = encode_frame(&ToWorkerRef::Run(BatchRef {
                    id,
                    cancellable,
                    tasks: tasks
                        .iter()
                        .map(|q| WireTaskRef {
                            index: q.task.index,
                            input: &q.task.input,
                            call: q.task.call.as_deref(),
                        })
                        .collect(),
                }));
                match frame {
                    Ok(frame) => worker.link.send(frame),
                    Err(e) => {
                        // Only an input over the frame limit by itself gets here (`fitting`
                        // sends it alone): fail it.
                        self.contexts.forget(id);
                        let bytes: usize = tasks.iter().map(|q| q.task.input.len()).sum();
                        let message = match e {
                            FrameError::TooLarge(_) => format!(
                                "the input is {bytes} bytes, more than the {} MiB a worker takes \
                                 in one message: pass data this large in a file (--dir) and \
                                 its path as the input",
                                MAX_FRAME >> 20
                            ),
                            e => format!("the input cannot be sent to a worker: {e}"),
                        };
                        let failed: Vec<(JobId, TaskOutcome)> = tasks
                            .into_iter()
                            .map(|q| {
                                let o = TaskOutcome::failed(
                                    q.task.index,
                                    ErrorKind::BadInput,
                                    &message,
                                );
                                (q.job, o)
                            })
                            .collect();
                        for (job, outcome) in failed {
                            self.deliver(job, vec![outcome]);
                        }
                        continue;
                    }
                }
                if worker.in_flight.is_empty() {
                    worker.head_since = Some(Instant::now());
                }
                let budget = self.batch_budget(&tasks);
                let Some(worker) = self.slots[i].worker.as_mut() else {
                    continue;
                };
                worker.in_flight.push_back(InFlight { id, tasks, budget });
                sent_any = true;
            }
            if !sent_any {
                return;
            }
        }
    }

    fn shutdown(&mut self) {
        let mut running = 0;
        let mut left: Vec<Queued> = Vec::new();
        for slot in &mut self.slots {
            // Dropping the worker closes its link too.
            if let Some(mut worker) = slot.worker.take() {
                worker.link.kill();
                running += 1;
                left.extend(
                    worker
                        .in_flight
                        .into_iter()
                        .flat_map(|b| b.tasks)
                        .filter(|q| !q.answered),
                );
            }
        }
        left.extend(self.queue.drain(..));
        for q in left {
            let outcome = TaskOutcome::cancelled(q.task.index, Cancelled::BeforeFinish);
            self.deliver(q.job, vec![outcome]);
        }
        // Wait (briefly) until every killed worker is reaped, so none outlives the pool; answer
        // what still arrives meanwhile.
        let deadline = Instant::now() + Duration::from_secs(2);
        while running > 0 {
            let Ok(inbox) = self.inbox.recv_deadline(deadline) else {
                break;
            };
            match inbox {
                Inbox::Report(WorkerReport {
                    slot,
                    generation,
                    event: WorkerEvent::Exited { .. },
                }) if self.slots[slot.0 as usize].generation == generation => running -= 1,
                Inbox::Request(Request::Submit { job, tasks }) => {
                    self.deliver(job, TaskOutcome::never_started(tasks));
                }
                Inbox::Request(Request::Open {
                    job,
                    results,
                    scope,
                    cancellable,
                }) => self.open(job, results, scope, cancellable),
                Inbox::Report(_) | Inbox::Request(_) => {}
            }
        }
    }
}

/// The outcome of a call cancelled before it started.
fn cancelled_before_start(index: TaskIndex) -> TaskOutcome {
    TaskOutcome::failed(
        index,
        ErrorKind::Cancelled,
        "the call was cancelled before it started",
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::PathBuf;
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use super::*;
    use crate::limits::Limits;
    use crate::pool::fake_transport::{Act, FakeTransport, Record, Script};
    use crate::pool::job;
    use crate::pool::request::JobCall;
    use crate::sync::lock;
    use crate::vocab::{Entry, FunctionPath, Grants, ModuleKind};

    /// A pool over fake workers acting as `script`: `tasks` inputs `0..tasks` through one job;
    /// returns every outcome by index (asserting each index comes exactly once) and what the
    /// fakes did.
    fn run(
        script: Script,
        tasks: u64,
        chunksize: Option<usize>,
        retries: u32,
        max_tasks_per_worker: Option<u64>,
    ) -> (BTreeMap<u64, Result<String, TaskError>>, Record) {
        let (transport, record) = FakeTransport::new(script);
        let config = DispatcherConfig {
            processes: 2,
            setup: Setup {
                artifact: PathBuf::from("/nonexistent.cwasm"),
                kind: ModuleKind::Component,
                entry: Entry::Functions {
                    functions: vec![FunctionPath::parse("f")],
                    init: None,
                },
                limits: Limits::for_processes(2),
                fresh: false,
                memory_init: crate::sandbox::engine::MemoryInit::CopyOnWrite,
                timed: false,
                grants: Grants::default(),
                host_imports: Vec::new(),
                host_socket: None,
            },
            chunksize,
            retries,
            max_tasks_per_worker,
            host: HostImports::default(),
        };
        let (requests, dispatcher) = start(config, Box::new(transport)).expect("starts");
        let (mut submitter, outcomes) = job::open(&requests, 0, 1 << 16, false, JobCall::default());
        for i in 0..tasks {
            submitter.push(i.to_string());
        }
        submitter.finish();
        let (done_tx, done_rx) = crossbeam_channel::bounded(1);
        std::thread::spawn(move || {
            let _ = done_tx.send(outcomes.collect::<Vec<TaskOutcome>>());
        });
        let outcomes = done_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("every task gets an outcome: the job does not hang");
        requests.send(Request::Shutdown);
        let _ = dispatcher.join();
        let mut by_index = BTreeMap::new();
        for outcome in outcomes {
            let result = outcome.json().map(str::to_string).map_err(Clone::clone);
            let again = by_index.insert(outcome.index().0, result);
            assert!(again.is_none(), "task {} got two outcomes", outcome.index());
        }
        let want: Vec<u64> = (0..tasks).collect();
        assert_eq!(by_index.keys().copied().collect::<Vec<_>>(), want);
        let record = std::mem::take(&mut *lock(&record));
        (by_index, record)
    }

    fn script(f: impl Fn(WorkerId, u64) -> Act + Send + Sync + 'static) -> Script {
        Arc::new(f)
    }

    /// The first process of slot 0 acts as `act`; every other one normally.
    fn first_worker(act: Act) -> Script {
        script(move |slot, generation| {
            if (slot.0, generation) == (0, 0) {
                act
            } else {
                Act::Normal
            }
        })
    }

    fn failures(outcomes: &BTreeMap<u64, Result<String, TaskError>>) -> Vec<(u64, ErrorKind)> {
        outcomes
            .iter()
            .filter_map(|(i, r)| r.as_ref().err().map(|e| (*i, e.kind())))
            .collect()
    }

    #[test]
    fn normal_workers_answer_every_task_with_its_own_result() {
        let (outcomes, record) = run(script(|_, _| Act::Normal), 500, None, 1, None);
        for (i, result) in &outcomes {
            assert_eq!(result.as_deref().ok(), Some(i.to_string().as_str()));
        }
        assert_eq!(record.started.len(), 2, "{record:?}");
    }

    #[test]
    fn a_worker_dying_mid_batch_has_its_tasks_run_again() {
        let (outcomes, record) = run(first_worker(Act::DieOnBatch(1)), 40, Some(4), 1, None);
        assert_eq!(failures(&outcomes), [], "retried on a fresh worker");
        assert!(record.started.contains(&(WorkerId(0), 1)), "{record:?}");

        // Without retries, exactly the tasks it held end as worker-lost, saying why.
        let (outcomes, record) = run(first_worker(Act::DieOnBatch(1)), 40, Some(4), 0, None);
        let lost = failures(&outcomes);
        let answered: usize = record.answered.values().sum();
        assert!(!lost.is_empty(), "it held tasks when it died");
        assert_eq!(lost.len() + answered, 40, "lost: {lost:?}, {record:?}");
        assert!(lost.iter().all(|(_, kind)| *kind == ErrorKind::WorkerLost));
        let (first, _) = lost[0];
        let message = outcomes[&first].as_ref().expect_err("lost").message();
        assert!(
            message.contains("(pid 1000) running this task died") && message.contains("SIGSEGV"),
            "{message}"
        );
    }

    #[test]
    fn a_stuck_task_times_out_alone_and_the_rest_run() {
        let (outcomes, record) = run(first_worker(Act::StuckOnFirstBatch), 20, Some(4), 1, None);
        let failed = failures(&outcomes);
        assert_eq!(failed.len(), 1, "{failed:?}");
        let (stuck, kind) = failed[0];
        assert_eq!(kind, ErrorKind::Timeout);
        let message = outcomes[&stuck].as_ref().expect_err("stuck").message();
        assert!(message.contains("blocked inside a host call"), "{message}");
        // The task before it kept its result; the ones after ran elsewhere.
        assert_eq!(
            outcomes[&(stuck - 1)].as_deref().ok(),
            Some((stuck - 1).to_string().as_str())
        );
        // Its process went on answering until it was killed; those answers came too late,
        // their tasks ran again, and each result was still delivered once.
        assert!(record.answered.values().sum::<usize>() >= 19, "{record:?}");
    }

    #[test]
    fn garbage_on_the_pipe_stops_the_worker_and_its_tasks_run_again() {
        let (outcomes, _) = run(first_worker(Act::GarbleOnFirstBatch), 30, Some(3), 1, None);
        assert_eq!(failures(&outcomes), []);

        let (outcomes, _) = run(first_worker(Act::GarbleOnFirstBatch), 30, Some(3), 0, None);
        let lost = failures(&outcomes);
        assert!(!lost.is_empty(), "its tasks had no retry");
        for (i, kind) in lost {
            assert_eq!(kind, ErrorKind::WorkerLost);
            let message = outcomes[&i].as_ref().expect_err("lost").message();
            assert!(
                message.contains("it wrote garbage on its pipe"),
                "{message}"
            );
        }
    }

    #[test]
    fn workers_retire_after_their_share_and_nothing_is_lost() {
        let (outcomes, record) = run(script(|_, _| Act::Normal), 50, Some(1), 0, Some(3));
        assert_eq!(
            failures(&outcomes),
            [],
            "a retirement costs no task anything"
        );
        assert!(record.started.len() >= 50 / 3, "{record:?}");
        assert!(
            record.answered.values().all(|&n| n <= 3),
            "no process ran more than its share: {:?}",
            record.answered
        );
        assert_eq!(record.answered.values().sum::<usize>(), 50);
    }

    #[test]
    fn workers_that_never_start_fail_every_task_with_the_reason() {
        let started = Instant::now();
        let (outcomes, record) = run(script(|_, _| Act::NeverStarts), 25, None, 1, None);
        assert_eq!(failures(&outcomes).len(), 25);
        for result in outcomes.values() {
            let error = result.as_ref().expect_err("failed");
            assert_eq!(error.kind(), ErrorKind::WorkerLost);
            assert!(
                error.message().starts_with("worker processes cannot start")
                    && error.message().contains("it is not one"),
                "{}",
                error.message()
            );
        }
        assert_eq!(
            record.started.len(),
            2 + MAX_START_FAILURES as usize - 1,
            "{record:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(30));
    }

    #[test]
    fn a_worker_that_recovers_before_the_limit_keeps_the_pool() {
        // Two failed starts, then good workers: nothing fails.
        let failed = Arc::new(Mutex::new(0));
        let count = Arc::clone(&failed);
        let flaky = script(move |_, _| {
            let mut n = lock(&count);
            *n += 1;
            if *n <= 2 {
                Act::NeverStarts
            } else {
                Act::Normal
            }
        });
        let (outcomes, _) = run(flaky, 30, None, 0, None);
        assert_eq!(failures(&outcomes), []);
        assert!(*lock(&failed) >= 4);
    }

    #[test]
    fn workers_killed_while_they_load_get_more_tries_than_failed_starts() {
        // More kills in a row than failed starts may be, then good workers: nothing fails.
        let starts = Arc::new(Mutex::new(0u32));
        let count = Arc::clone(&starts);
        let stormy = script(move |_, _| {
            let mut n = lock(&count);
            *n += 1;
            if *n < MAX_KILLED_STARTS {
                Act::KilledWhileLoading
            } else {
                Act::Normal
            }
        });
        let (outcomes, _) = run(stormy, 30, None, 0, None);
        assert_eq!(failures(&outcomes), []);
        assert!(*lock(&starts) > MAX_START_FAILURES);
    }

    #[test]
    fn workers_always_killed_while_they_load_break_the_pool_with_the_reason() {
        let (outcomes, record) = run(script(|_, _| Act::KilledWhileLoading), 10, None, 1, None);
        assert_eq!(failures(&outcomes).len(), 10);
        for result in outcomes.values() {
            let error = result.as_ref().expect_err("failed");
            assert_eq!(error.kind(), ErrorKind::WorkerLost);
            assert!(
                error.message().starts_with("worker processes cannot start")
                    && error.message().contains("SIGKILL")
                    && error.message().contains("out of memory"),
                "{}",
                error.message()
            );
        }
        assert_eq!(
            record.started.len(),
            2 + MAX_KILLED_STARTS as usize - 1,
            "{record:?}"
        );
    }
}
