//! The dispatcher: the single owner of scheduling state and the only one that talks to
//! workers. It runs on its own thread and waits on its two inboxes: jobs' [`Request`]s (tasks
//! go into one FIFO queue) and worker links' [`WorkerReport`]s. Batches go to workers with
//! room (see [`ChunkPolicy`]), outcomes go back to their jobs. When a worker dies, the tasks it held are retried on a fresh worker (up to `retries`
//! times) or reported `worker-lost`; a worker that cannot even start three times in a row
//! marks the pool broken, and every task then fails with the reason instead of hanging.
//!
//! Adding a case: a job-facing one is a [`Request`] variant handled in `on_request` (the
//! broker's submitter serves requests too); a worker-facing one is a [`WorkerEvent`] (or a
//! [`FromWorker`] message) handled in `on_worker`. Keep the invariant that every task submitted
//! gets exactly one outcome.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, unbounded};

use super::chunking::ChunkPolicy;
use super::events::{WorkerEvent, WorkerReport};
use super::outcome::{Cancelled, TaskOutcome};
use super::request::{JobId, JobMsg, Request};
use super::transport::{Transport, WorkerLink};
use crate::error::{Error, ErrorKind, TaskError};
use crate::ids::{BatchId, TaskIndex, WorkerId};
use crate::limits::format_duration;
use crate::vocab::{Setup, WireOutcome, WireTask};
use crate::wire::frame::encode_frame;
use crate::wire::message::{BatchDone, BatchRef, FromWorker, ToWorkerRef, WireTaskRef};

/// How many failed starts in a row (with no successful start between) break the pool.
const MAX_START_FAILURES: u32 = 3;

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
}

struct Queued {
    job: JobId,
    task: WireTask,
    attempts: u32,
}

struct InFlight {
    id: BatchId,
    tasks: Vec<Queued>,
}

struct Slot {
    generation: u64,
    link: Option<Box<dyn WorkerLink>>,
    pid: Option<u32>,
    ready: bool,
    trouble: Option<String>,
    in_flight: VecDeque<InFlight>,
    /// Tasks sent to the current process.
    sent: u64,
    /// It is being replaced after its share of tasks; its exit is expected.
    retiring: bool,
    /// Since when the batch at the head of `in_flight` has been the worker's to answer.
    head_since: Option<Instant>,
}

/// The dispatcher's state (see the module docs).
pub struct Dispatcher {
    requests: Receiver<Request>,
    reports: Receiver<WorkerReport>,
    /// Handed to every worker link the dispatcher starts.
    reports_tx: Sender<WorkerReport>,
    transport: Box<dyn Transport>,
    setup: Setup,
    retries: u32,
    max_tasks: Option<u64>,
    slots: Vec<Slot>,
    queue: VecDeque<Queued>,
    jobs: HashMap<JobId, Sender<JobMsg>>,
    policy: ChunkPolicy,
    next_batch: u64,
    start_failures: u32,
    broken: Option<String>,
    warned_confinement: bool,
}

/// Starts the workers and the dispatcher thread; returns the channel for jobs' requests.
///
/// # Errors
/// [`Error::Spawn`] when the first workers cannot be started at all.
pub fn start(
    config: DispatcherConfig,
    transport: Box<dyn Transport>,
) -> Result<(Sender<Request>, std::thread::JoinHandle<()>), Error> {
    let (requests_tx, requests) = unbounded();
    let (reports_tx, reports) = unbounded();
    let mut dispatcher = Dispatcher {
        requests,
        reports,
        reports_tx,
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
        broken: None,
        warned_confinement: false,
    };
    for i in 0..config.processes.max(1) {
        let id = WorkerId(i as u32);
        let link =
            dispatcher
                .transport
                .start(id, 0, &dispatcher.setup, dispatcher.reports_tx.clone());
        let link = match link {
            Ok(link) => link,
            Err(e) => {
                for slot in &mut dispatcher.slots {
                    if let Some(link) = slot.link.as_mut() {
                        link.kill();
                    }
                }
                return Err(e);
            }
        };
        dispatcher.slots.push(Slot {
            generation: 0,
            link: Some(link),
            pid: None,
            ready: false,
            trouble: None,
            in_flight: VecDeque::new(),
            sent: 0,
            retiring: false,
            head_since: None,
        });
    }
    let handle = std::thread::Builder::new()
        .name("mpwasm-dispatcher".into())
        .spawn(move || dispatcher.run())
        .map_err(|cause| Error::Spawn {
            program: "dispatcher thread".into(),
            cause,
        })?;
    Ok((requests_tx, handle))
}

/// What the dispatcher woke up for.
enum Inbox {
    /// A job's request; `None` when every job-side sender is gone (the pool was dropped).
    Request(Option<Request>),
    /// A worker link's report.
    Report(WorkerReport),
    /// The earliest deadline passed.
    Deadline,
}

impl Dispatcher {
    fn run(mut self) {
        loop {
            match self.wait(self.next_deadline()) {
                Inbox::Request(None | Some(Request::Shutdown)) => {
                    self.shutdown();
                    return;
                }
                Inbox::Request(Some(request)) => self.on_request(request),
                Inbox::Report(WorkerReport {
                    slot,
                    generation,
                    event,
                }) => self.on_worker(slot, generation, event),
                Inbox::Deadline => self.stop_silent_workers(),
            }
            self.schedule();
        }
    }

    /// Waits for the next request or report, or until `deadline`.
    fn wait(&self, deadline: Option<Instant>) -> Inbox {
        // The dispatcher holds a report sender itself, so `reports` never disconnects.
        let report = |r: Result<WorkerReport, _>| r.map_or(Inbox::Deadline, Inbox::Report);
        match deadline {
            Some(deadline) => crossbeam_channel::select! {
                recv(self.requests) -> r => Inbox::Request(r.ok()),
                recv(self.reports) -> r => report(r),
                default(deadline.saturating_duration_since(Instant::now())) => Inbox::Deadline,
            },
            None => crossbeam_channel::select! {
                recv(self.requests) -> r => Inbox::Request(r.ok()),
                recv(self.reports) -> r => report(r),
            },
        }
    }

    /// How long a worker may take over the batch at the head of its queue before the host
    /// gives up on it: every task its full timeout plus the worker's own watchdog grace, and
    /// two seconds of slack. Only with a timeout; without one a task may run forever.
    fn batch_budget(&self, tasks: usize) -> Option<Duration> {
        let timeout = self.setup.limits.timeout?;
        let per_task = timeout + crate::worker::stuck_grace(timeout);
        Some(per_task * tasks as u32 + Duration::from_secs(2))
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.slots
            .iter()
            .filter(|s| s.link.is_some())
            .filter_map(|s| {
                let head = s.in_flight.front()?;
                Some(s.head_since? + self.batch_budget(head.tasks.len())?)
            })
            .min()
    }

    /// The host-side watchdog: a worker that did not answer its head batch within the budget
    /// (stopped, wedged so badly that its own watchdog cannot report) is killed; its exit
    /// retries or reports its tasks.
    fn stop_silent_workers(&mut self) {
        let now = Instant::now();
        for i in 0..self.slots.len() {
            let budget = self.slots[i]
                .in_flight
                .front()
                .and_then(|head| self.batch_budget(head.tasks.len()));
            let slot = &mut self.slots[i];
            let (Some(budget), Some(since)) = (budget, slot.head_since) else {
                continue;
            };
            if slot.link.is_some() && now >= since + budget {
                slot.trouble = Some(format!(
                    "it did not answer within {} (--timeout per task plus grace) and was killed",
                    format_duration(budget)
                ));
                slot.head_since = None;
                if let Some(link) = slot.link.as_mut() {
                    link.kill();
                }
            }
        }
    }

    fn on_request(&mut self, request: Request) {
        match request {
            Request::Open { job, results } => {
                self.jobs.insert(job, results);
            }
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
                }));
            }
            Request::Close { job } => {
                self.jobs.remove(&job);
                self.queue.retain(|q| q.job != job);
            }
            Request::Shutdown => {}
        }
    }

    fn on_worker(&mut self, slot: WorkerId, generation: u64, event: WorkerEvent) {
        let Some(s) = self.slots.get_mut(slot.0 as usize) else {
            return;
        };
        if s.generation != generation {
            return; // a late event from a process already replaced
        }
        match event {
            WorkerEvent::Message(FromWorker::Ready {
                pid,
                confined,
                confinement,
            }) => {
                s.pid = Some(pid);
                s.ready = true;
                self.start_failures = 0;
                if !confined && !self.warned_confinement {
                    self.warned_confinement = true;
                    eprintln!("mpwasm: warning: {confinement}");
                }
            }
            WorkerEvent::Message(FromWorker::SetupFailed { message }) => {
                s.trouble = Some(message);
            }
            WorkerEvent::Message(FromWorker::Done(done)) => self.on_done(slot, done),
            WorkerEvent::Message(FromWorker::Stuck { id, done, index }) => {
                self.on_stuck(slot, id, done, index);
            }
            WorkerEvent::Garbled(message) => {
                s.trouble = Some(format!("it wrote garbage on its pipe ({message})"));
                if let Some(link) = s.link.as_mut() {
                    link.kill();
                }
            }
            WorkerEvent::Exited { status, stderr } => self.on_exit(slot, status, stderr),
        }
    }

    fn on_done(&mut self, slot: WorkerId, done: BatchDone) {
        let s = &mut self.slots[slot.0 as usize];
        let matches = s
            .in_flight
            .front()
            .is_some_and(|b| b.id == done.id && b.tasks.len() == done.outcomes.len());
        if !matches {
            s.trouble = Some(format!(
                "it answered batch {} out of order or incompletely",
                done.id.0
            ));
            if let Some(link) = s.link.as_mut() {
                link.kill();
            }
            return;
        }
        let Some(batch) = s.in_flight.pop_front() else {
            return;
        };
        s.head_since = (!s.in_flight.is_empty()).then(Instant::now);
        let pid = s.pid;
        if self.max_tasks.is_some_and(|max| s.sent >= max) && s.in_flight.is_empty() {
            // It ran its share (--max-tasks-per-worker): replace it.
            s.retiring = true;
            if let Some(link) = s.link.as_mut() {
                link.kill();
            }
        }
        self.policy
            .observe(batch.tasks.len(), Duration::from_nanos(done.busy_nanos));
        let mut run: Vec<TaskOutcome> = Vec::with_capacity(batch.tasks.len());
        let mut run_job = None;
        for (queued, outcome) in batch.tasks.into_iter().zip(done.outcomes) {
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
        let s = &mut self.slots[slot.0 as usize];
        if s.in_flight.front().is_none_or(|b| b.id != id) {
            return;
        }
        let pid = s.pid;
        s.trouble = Some(format!("it was stopped because task {index} was stuck"));
        if let Some(link) = s.link.as_mut() {
            link.kill();
        }
        let mut batches: Vec<InFlight> = s.in_flight.drain(..).collect();
        let first = batches.remove(0);
        let mut tasks = first.tasks.into_iter();
        let finished: Vec<Queued> = tasks.by_ref().take(done.len()).collect();
        let stuck = tasks.next();
        let mut back: Vec<Queued> = tasks.collect();
        back.extend(batches.into_iter().flat_map(|b| b.tasks));
        for q in back.into_iter().rev() {
            self.queue.push_front(q);
        }
        for (q, outcome) in finished.into_iter().zip(done) {
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

    fn on_exit(&mut self, slot: WorkerId, status: String, stderr: String) {
        let s = &mut self.slots[slot.0 as usize];
        s.link = None;
        let held: Vec<Queued> = s.in_flight.drain(..).flat_map(|b| b.tasks).collect();
        let what = match (&s.trouble, stderr.is_empty()) {
            (Some(trouble), _) => format!("{status}: {trouble}"),
            (None, false) => format!("{status}; its stderr ends with: {stderr}"),
            (None, true) => status,
        };
        let pid = s.pid.map_or_else(String::new, |p| format!(" (pid {p})"));
        if s.retiring {
            for q in held.into_iter().rev() {
                self.queue.push_front(q);
            }
        } else if !s.ready {
            // It never started: the tasks did not run, so put them back untouched.
            self.start_failures += 1;
            for q in held.into_iter().rev() {
                self.queue.push_front(q);
            }
            if self.start_failures >= MAX_START_FAILURES {
                self.break_pool(format!(
                    "worker processes cannot start: the last one ended with {what}"
                ));
                return;
            }
        } else {
            let mut lost = Vec::new();
            let mut again = Vec::new();
            for mut q in held {
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
        s.pid = None;
        s.ready = false;
        s.trouble = None;
        s.sent = 0;
        s.retiring = false;
        s.head_since = None;
        match self
            .transport
            .start(slot, s.generation, &self.setup, self.reports_tx.clone())
        {
            Ok(link) => s.link = Some(link),
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
        if let Some(tx) = self.jobs.get(&job)
            && tx.send(JobMsg::Outcomes(outcomes)).is_err()
        {
            self.jobs.remove(&job);
        }
    }

    fn schedule(&mut self) {
        if self.queue.is_empty() {
            return;
        }
        let live = self.slots.iter().filter(|s| s.link.is_some()).count();
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
                let slot = &mut self.slots[i];
                let Some(link) = slot.link.as_mut() else {
                    continue;
                };
                if slot.in_flight.len() >= depth || slot.retiring {
                    continue;
                }
                let share = self.max_tasks.map_or(usize::MAX, |max| {
                    usize::try_from(max.saturating_sub(slot.sent)).unwrap_or(usize::MAX)
                });
                if share == 0 {
                    continue;
                }
                let take = chunk.min(self.queue.len()).min(share);
                slot.sent += take as u64;
                let tasks: Vec<Queued> = self.queue.drain(..take).collect();
                let id = BatchId(self.next_batch);
                self.next_batch += 1;
                let frame = encode_frame(&ToWorkerRef::Run(BatchRef {
                    id,
                    tasks: tasks
                        .iter()
                        .map(|q| WireTaskRef {
                            index: q.task.index,
                            input: &q.task.input,
                        })
                        .collect(),
                }));
                match frame {
                    Ok(frame) => link.send(frame),
                    Err(e) => {
                        // Only an input over the frame limit gets here: fail those tasks.
                        let message = format!("the input cannot be sent to a worker: {e}");
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
                if slot.in_flight.is_empty() {
                    slot.head_since = Some(Instant::now());
                }
                slot.in_flight.push_back(InFlight { id, tasks });
                sent_any = true;
            }
            if !sent_any {
                return;
            }
        }
    }

    fn shutdown(&mut self) {
        let mut running = 0;
        for slot in &mut self.slots {
            if let Some(link) = slot.link.as_mut() {
                link.kill();
                running += 1;
            }
            slot.link = None;
        }
        let mut left: Vec<Queued> = self
            .slots
            .iter_mut()
            .flat_map(|s| s.in_flight.drain(..))
            .flat_map(|b| b.tasks)
            .collect();
        left.extend(self.queue.drain(..));
        for q in left {
            let outcome = TaskOutcome::cancelled(q.task.index, Cancelled::BeforeFinish);
            self.deliver(q.job, vec![outcome]);
        }
        // Wait (briefly) until every killed worker is reaped, so none outlives the pool; answer
        // what still arrives meanwhile.
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut jobs_gone = false;
        while running > 0 {
            let inbox = if jobs_gone {
                self.reports
                    .recv_deadline(deadline)
                    .map_or(Inbox::Deadline, Inbox::Report)
            } else {
                self.wait(Some(deadline))
            };
            match inbox {
                Inbox::Deadline => break,
                Inbox::Report(WorkerReport {
                    slot,
                    generation,
                    event: WorkerEvent::Exited { .. },
                }) if self.slots[slot.0 as usize].generation == generation => running -= 1,
                Inbox::Request(Some(Request::Submit { job, tasks })) => {
                    self.deliver(job, TaskOutcome::never_started(tasks));
                }
                Inbox::Request(Some(Request::Open { job, results })) => {
                    self.jobs.insert(job, results);
                }
                // Every job is gone: only the reaping is left to wait for.
                Inbox::Request(None) => jobs_gone = true,
                Inbox::Report(_) | Inbox::Request(Some(_)) => {}
            }
        }
    }
}
