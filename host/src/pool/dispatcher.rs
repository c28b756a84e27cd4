//! The dispatcher: the single owner of scheduling state and the only one that talks to
//! workers. It runs on its own thread and waits on its one [`Inbox`]: jobs' [`Request`]s (tasks
//! go into their module's FIFO queue), worker links' [`WorkerReport`]s and, in a pool of
//! plugins, [`Control`]s. Batches go to workers with room (see [`ChunkPolicy`]), outcomes go
//! back to their jobs. When a worker dies, the tasks it held are retried on a fresh worker (up
//! to `retries` times) or reported `worker-lost`; a worker that cannot even start three times
//! in a row marks the pool broken, and every task then fails with the reason instead of
//! hanging.
//!
//! Each slot holds at most one worker process ([`Worker`]), whose life is a [`Phase`]:
//! `Starting` → `Ready` → (`Retiring` | `Failing`) → its exit, which the phase explains (put
//! the tasks back, charge them an attempt, or count a failed start); then a new process, with
//! a new generation, takes the slot.
//!
//! A pool of plugins has a module (a queue, a chunk policy) per plugin, and every worker
//! process loads them all at its start, before it confines itself (no code enters a confined
//! process). A replace or remove makes a new [`Setup`]: each slot gets a new process for it at
//! once, and the old one keeps only what it holds: it finishes its batches on the old code and
//! is stopped when it holds nothing. A task runs on the version current when it goes into a
//! batch (a retry after a worker death too). Each worker is sent the batches of the plugin it
//! ran last while that plugin has work, unless another plugin has waited longer than
//! [`WARM_PATIENCE`].
//!
//! Adding a case: a job-facing one is a [`Request`] variant handled in `on_request` (the
//! broker's submitter serves requests too); a worker-facing one is a [`WorkerEvent`] (or a
//! [`FromWorker`] message) handled in `on_worker`. Keep the invariant that every task submitted
//! gets exactly one outcome.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use compact_str::CompactString;
use crossbeam_channel::{Receiver, unbounded};

use super::chunking::{ChunkPolicy, fitting};
use super::events::{WorkerEvent, WorkerReport};
use super::handlers::{CallRoute, Contexts, JobScope};
use super::inbox::{Control, Inbox, Reports, Requests};
use super::outcome::{Cancelled, TaskOutcome};
use super::queue::{Held, Queue, Queued, Run};
use super::request::{JobId, JobMsg, JobSender, PluginTarget, Request, TaskQueue};
use super::transport::{Transport, WorkerLink};
use crate::error::{Error, ErrorKind, TaskError};
use crate::ids::{BatchId, TaskIndex, WorkerId};
use crate::imports::HostImports;
use crate::limits::format_duration;
use crate::vocab::{CapturedOutput, Entry, Setup, TaskCall, WireOutcome, WireTask};
use crate::wire::frame::{FrameError, MAX_FRAME, encode_frame};
use crate::wire::message::{
    Answers, BatchDone, BatchRef, FromWorker, TaskRange, TasksRef, ToWorkerRef, WireTaskRef,
};

/// How many failed starts in a row (with no successful start between) break the pool.
const MAX_START_FAILURES: u32 = 3;

/// How many workers in a row may be killed from outside (SIGKILL, by the kernel out of memory
/// or by someone) before they are ready, with no successful start between, before the pool
/// breaks. Such a kill says nothing about the worker, so it gets more tries than a failed
/// start: a storm of kills that catches the odd worker while it loads must not end the pool.
const MAX_KILLED_STARTS: u32 = 20;

/// How long a plugin's tasks may wait while workers keep serving the plugins they hold warm
/// instances of; past it, the next worker with room serves the plugin that waited longest.
pub const WARM_PATIENCE: Duration = Duration::from_millis(10);

/// What a dispatcher needs to run.
pub struct DispatcherConfig {
    /// How many workers.
    pub processes: usize,
    /// What every worker loads.
    pub setup: Setup,
    /// Whether the modules are plugins (outcomes then carry their version, and the setup may
    /// change through [`Control`]s).
    pub plugins: bool,
    /// A fixed chunk size, or adaptive.
    pub chunksize: Option<usize>,
    /// How often a task whose worker died is retried before it is reported `worker-lost`.
    pub retries: u32,
    /// Replace a worker process after it ran this many tasks (Python's `maxtasksperchild`).
    pub max_tasks_per_worker: Option<u64>,
    /// The application's answers to the module's imports, answered on threads serving each worker's call socket.
    pub host: HostImports,
    /// Where the dispatcher publishes what one task of the first module costs in a worker,
    /// as its chunk policy learned it (nanoseconds; 0 until the first batch comes back), for
    /// callers that size their own windows (a broker worker reading inputs).
    pub task_nanos: Arc<AtomicU64>,
}

struct InFlight {
    id: BatchId,
    /// The module its tasks run.
    module: u32,
    tasks: Held,
    /// How long the worker may take over it once it is at the head (see `batch_budget`).
    budget: Option<Duration>,
}

/// The tasks waiting for one module (a pool's one module, or a plugin).
struct ModuleQueue {
    queue: Queue,
    policy: ChunkPolicy,
    /// Since when it has waited for a worker (set when tasks arrive in an empty queue, and
    /// again when a batch leaves and some stay).
    waiting_since: Option<Instant>,
    /// Its version, in a pool of plugins: 0 at the start, one more at each replace.
    version: u32,
    /// Removed from the pool: its tasks fail `plugin-removed`.
    removed: bool,
    /// Its name, for messages.
    name: String,
    /// Keeps the current version's compiled artifact on disk while workers may load it
    /// (replaced plugins only; the pool keeps the first versions' own).
    keep: Option<Box<dyn std::any::Any + Send>>,
}

/// A job the dispatcher serves.
struct Job {
    results: JobSender,
    /// What its tasks' host calls see: their context, the job's shared state.
    scope: Arc<JobScope>,
    /// Whether it may cancel its tasks.
    cancellable: bool,
    /// The module its tasks run (0 in a pool of one module).
    module: u32,
    /// In a pool of plugins: how its export was chosen.
    target: Option<Arc<PluginTarget>>,
    /// Its export's number in a version of its plugin other than the one it was numbered in
    /// (found by name after a replace), or why that version cannot run it.
    renumbered: Option<(u32, Result<u32, String>)>,
    /// Where its tasks wait to be taken (a lane's), if they do.
    queue: Option<Arc<TaskQueue>>,
}

/// One slot of the pool: the worker process in it, if any, and processes it held before a
/// change of the pool's plugins, which finish what they hold. Restarts bump the generation,
/// so late reports of a replaced process are recognised.
struct Slot {
    generation: u64,
    /// `None`: the last process could not be started.
    worker: Option<Worker>,
    /// Processes of an older setup, each ending once it holds nothing.
    old: Vec<Worker>,
}

/// A worker process of a slot, from its start until its exit is reported.
struct Worker {
    link: Box<dyn WorkerLink>,
    /// Its slot's generation when it started.
    generation: u64,
    /// What it loaded.
    setup: Arc<Setup>,
    /// The version of each plugin in `setup` (plugins only).
    versions: Arc<Vec<u32>>,
    phase: Phase,
    /// Batches sent and not answered, oldest first.
    in_flight: VecDeque<InFlight>,
    /// Tasks sent to this process.
    sent: u64,
    /// Since when the batch at the head of `in_flight` has been the worker's to answer.
    head_since: Option<Instant>,
    /// The modules it ran batches of, most recent last: those it keeps instances of (the
    /// host's copy of the worker's choice, as far as the host can tell).
    recent: VecDeque<u32>,
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
    /// It ran its share of tasks (`--max-tasks-per-worker`), or its setup was replaced and it
    /// finished what it held, and it was stopped; its exit is expected and costs its tasks
    /// nothing.
    Retiring {
        /// Its process id, if it was ever ready.
        pid: Option<u32>,
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
    fn new(
        link: Box<dyn WorkerLink>,
        generation: u64,
        setup: Arc<Setup>,
        versions: Arc<Vec<u32>>,
    ) -> Worker {
        Worker {
            link,
            generation,
            setup,
            versions,
            phase: Phase::Starting,
            in_flight: VecDeque::new(),
            sent: 0,
            head_since: None,
            recent: VecDeque::new(),
        }
    }

    /// Its process id, once it was ready.
    fn pid(&self) -> Option<u32> {
        match &self.phase {
            Phase::Starting => None,
            Phase::Ready { pid } => Some(*pid),
            Phase::Retiring { pid } | Phase::Failing { pid, .. } => *pid,
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

    /// It is stopped with nothing lost: its exit costs nothing and starts nothing.
    fn retire(&mut self) {
        if matches!(self.phase, Phase::Starting | Phase::Ready { .. }) {
            self.phase = Phase::Retiring { pid: self.pid() };
        }
        self.link.kill();
    }

    /// It was sent batch `id` of `module`, holding `tasks`.
    fn hold(&mut self, id: BatchId, module: u32, tasks: Held, budget: Option<Duration>) {
        self.sent += tasks.len() as u64;
        if self.in_flight.is_empty() {
            self.head_since = Some(Instant::now());
        }
        let kept = self.setup.kept_instances as usize;
        self.used(module, kept);
        self.in_flight.push_back(InFlight {
            id,
            module,
            tasks,
            budget,
        });
    }

    /// Module `module` got a batch: it is the most recent, of at most `kept`.
    fn used(&mut self, module: u32, kept: usize) {
        if self.recent.back() == Some(&module) {
            return;
        }
        self.recent.retain(|&m| m != module);
        self.recent.push_back(module);
        while self.recent.len() > kept {
            self.recent.pop_front();
        }
    }
}

/// The dispatcher's state (see the module docs).
pub struct Dispatcher {
    inbox: Receiver<Inbox>,
    /// See [`DispatcherConfig::task_nanos`].
    task_nanos: Arc<AtomicU64>,
    /// Handed to every worker link the dispatcher starts (so the inbox never disconnects).
    reports: Reports,
    transport: Box<dyn Transport>,
    /// What new workers load.
    setup: Arc<Setup>,
    /// The version of each plugin in `setup`, for new workers.
    versions: Arc<Vec<u32>>,
    /// Whether the modules are plugins.
    plugins: bool,
    retries: u32,
    max_tasks: Option<u64>,
    slots: Vec<Slot>,
    /// The queue of each module, by its number.
    modules: Vec<ModuleQueue>,
    /// How many tasks the queues hold.
    queued: usize,
    jobs: HashMap<JobId, Job>,
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
    /// What keeps the artifacts of replaced versions, while processes of older setups live.
    retired: Vec<Box<dyn std::any::Any + Send>>,
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
    // the dispatcher only files the contexts they need. A pool of plugins may gain a plugin
    // that makes them.
    let contexts = Arc::new(Contexts::default());
    let route = (config.setup.wants_calls() || config.plugins)
        .then(|| CallRoute::new(config.host, Arc::clone(&contexts)));
    let modules = config
        .setup
        .modules
        .iter()
        .map(|module| ModuleQueue {
            queue: Queue::default(),
            policy: ChunkPolicy::new(config.chunksize),
            waiting_since: None,
            version: 0,
            removed: module.is_none(),
            name: module.as_ref().map(|m| m.name.clone()).unwrap_or_default(),
            keep: None,
        })
        .collect::<Vec<_>>();
    let mut dispatcher = Dispatcher {
        inbox,
        task_nanos: Arc::clone(&config.task_nanos),
        reports: Reports::to_dispatcher(inbox_tx, route),
        transport,
        versions: Arc::new(vec![0; modules.len()]),
        setup: Arc::new(config.setup),
        plugins: config.plugins,
        retries: config.retries,
        max_tasks: config.max_tasks_per_worker,
        slots: Vec::new(),
        modules,
        queued: 0,
        jobs: HashMap::new(),
        next_batch: 0,
        start_failures: 0,
        killed_starts: 0,
        broken: None,
        warned_confinement: false,
        contexts,
        jobs_with_context: 0,
        cancellable_jobs: 0,
        retired: Vec::new(),
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
        let worker = Worker::new(
            link,
            0,
            Arc::clone(&dispatcher.setup),
            Arc::clone(&dispatcher.versions),
        );
        dispatcher.slots.push(Slot {
            generation: 0,
            worker: Some(worker),
            old: Vec::new(),
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
                Some(Inbox::Control(control)) => self.on_control(control),
                None => self.stop_silent_workers(),
            }
            self.schedule();
        }
    }

    /// The worker process of `slot` that started as `generation`: the slot's own, or one of an
    /// older setup finishing what it holds.
    fn worker_mut(&mut self, slot: WorkerId, generation: u64) -> Option<&mut Worker> {
        let s = self.slots.get_mut(slot.0 as usize)?;
        if s.generation == generation {
            return s.worker.as_mut();
        }
        s.old.iter_mut().find(|w| w.generation == generation)
    }

    /// Every worker process, the slots' own and the old ones.
    fn all_workers(&self) -> impl Iterator<Item = &Worker> {
        self.slots
            .iter()
            .flat_map(|s| s.worker.iter().chain(s.old.iter()))
    }

    /// The timeout a task of `module` runs under, from `setup`: its call's own, or the
    /// module's.
    fn timeout_of(setup: &Setup, module: u32, task: &WireTask) -> Option<Duration> {
        task.limits()
            .and_then(|l| l.timeout)
            .or_else(|| setup.module(module)?.limits.timeout)
    }

    /// How long a worker may take over a batch at the head of its queue before the host
    /// gives up on it: every task its full timeout (its call's own, or the module's) plus the
    /// worker's own watchdog grace, and two seconds of slack. Only when every task has a
    /// timeout; without one a task may run forever.
    fn batch_budget(setup: &Setup, module: u32, tasks: &Held) -> Option<Duration> {
        let each = |timeout: Duration| timeout.saturating_add(crate::worker::stuck_grace(timeout));
        let tasks_time = match tasks {
            Held::List(tasks) => tasks.iter().try_fold(Duration::ZERO, |sum, q| {
                let timeout = Dispatcher::timeout_of(setup, module, &q.task)?;
                Some(sum.saturating_add(each(timeout)))
            })?,
            // A run's tasks run under the module's limits.
            Held::Run(run) => {
                let timeout = setup.module(module)?.limits.timeout?;
                each(timeout).saturating_mul(run.range.count)
            }
        };
        Some(Duration::from_secs(2).saturating_add(tasks_time))
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.all_workers()
            .filter_map(|w| w.head_since?.checked_add(w.in_flight.front()?.budget?))
            .min()
    }

    /// The host-side watchdog: a worker that did not answer its head batch within the budget
    /// (stopped, wedged so badly that its own watchdog cannot report) is killed; its exit
    /// retries or reports its tasks.
    fn stop_silent_workers(&mut self) {
        let now = Instant::now();
        for slot in &mut self.slots {
            for worker in slot.worker.iter_mut().chain(slot.old.iter_mut()) {
                let budget = worker.in_flight.front().and_then(|head| head.budget);
                let (Some(budget), Some(since)) = (budget, worker.head_since) else {
                    continue;
                };
                if since.checked_add(budget).is_some_and(|due| now >= due) {
                    worker.head_since = None;
                    worker.fail(
                        format!(
                            "it did not answer within {} (--timeout per task plus grace) and \
                             was killed",
                            format_duration(budget)
                        ),
                        true,
                    );
                }
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
                target,
                queue,
            } => self.open(job, results, scope, cancellable, target, queue),
            Request::Cancel { job, index } => self.cancel(job, index),
            Request::Take { job } => {
                let tasks = match self.jobs.get(&job).and_then(|j| j.queue.as_ref()) {
                    Some(queue) => queue.take(),
                    None => return,
                };
                self.on_request(Request::Submit { job, tasks });
            }
            Request::Submit { job, tasks } => {
                let Some(module) = self.jobs.get(&job).map(|j| j.module) else {
                    return;
                };
                if let Some(reason) = self.broken.clone() {
                    let outcomes = tasks
                        .into_iter()
                        .map(|t| TaskOutcome::failed(t.index, ErrorKind::WorkerLost, &reason))
                        .collect();
                    self.deliver(job, outcomes);
                    return;
                }
                let queued = tasks.into_iter().map(|task| Queued::new(job, task));
                self.enqueue(module, queued, false);
            }
            Request::SubmitRange { job, range } => {
                let Some(j) = self.jobs.get(&job) else {
                    return;
                };
                // A run stays one entry only where none of its tasks needs state of its own
                // before it runs: no plugin versions, no cancel, no context to file.
                let plain = !self.plugins && !j.cancellable && j.scope.is_plain();
                let module = j.module;
                match self.modules.get_mut(module as usize) {
                    Some(m) if plain && !m.removed && self.broken.is_none() => {
                        let before = m.queue.len();
                        m.queue.push_run(Run { job, range });
                        self.queued += m.queue.len() - before;
                    }
                    _ => {
                        let tasks = range.tasks().collect();
                        self.on_request(Request::Submit { job, tasks });
                    }
                }
            }
            Request::Close { job } => {
                if let Some(j) = self.jobs.remove(&job) {
                    self.forgot(&j);
                    if let Some(m) = self.modules.get_mut(j.module as usize) {
                        self.queued -= m.queue.remove_job(job);
                    }
                }
            }
            Request::Shutdown => {}
        }
    }

    /// Queues `tasks` for `module`: at the back (new ones), or at the front in their order
    /// (tasks put back). A removed plugin's tasks fail instead.
    fn enqueue(&mut self, module: u32, tasks: impl IntoIterator<Item = Queued>, front: bool) {
        let Some(m) = self.modules.get_mut(module as usize).filter(|m| !m.removed) else {
            let name = self.modules.get(module as usize).map(|m| m.name.clone());
            for q in tasks {
                if !q.answered {
                    let outcome = removed_before_start(q.task.index, name.as_deref());
                    self.deliver(q.job, vec![outcome]);
                }
            }
            return;
        };
        let before = m.queue.len();
        if front {
            m.queue.push_front(tasks.into_iter().collect());
        } else {
            for q in tasks {
                m.queue.push_back(q);
            }
        }
        self.queued += m.queue.len() - before;
        if before == 0 && !m.queue.is_empty() && self.plugins {
            m.waiting_since = Some(Instant::now());
        }
    }

    /// A change of the pool's plugins: a new setup for new workers, and the old ones stopped
    /// once they hold nothing.
    fn on_control(&mut self, control: Control) {
        match control {
            Control::Replace {
                plugin,
                module,
                keep,
                done,
            } => {
                let Some(queue) = self.modules.get_mut(plugin as usize) else {
                    return;
                };
                queue.version += 1;
                queue.removed = false;
                let version = queue.version;
                if let Some(old) = queue.keep.replace(keep) {
                    self.retired.push(old);
                }
                let mut setup = (*self.setup).clone();
                setup.modules[plugin as usize] = Some(*module);
                let mut versions = (*self.versions).clone();
                versions[plugin as usize] = version;
                self.change_setup(setup, versions);
                let _ = done.send(version);
            }
            Control::Remove { plugin, done } => {
                let Some(queue) = self.modules.get_mut(plugin as usize) else {
                    return;
                };
                queue.removed = true;
                if let Some(old) = queue.keep.take() {
                    self.retired.push(old);
                }
                let waiting: Vec<Queued> = queue.queue.drain();
                let name = queue.name.clone();
                self.queued -= waiting.len();
                for q in waiting {
                    let outcome = removed_before_start(q.task.index, Some(&name));
                    self.deliver(q.job, vec![outcome]);
                }
                let mut setup = (*self.setup).clone();
                setup.modules[plugin as usize] = None;
                let versions = Arc::clone(&self.versions);
                self.change_setup(setup, (*versions).clone());
                let _ = done.send(());
            }
        }
    }

    /// New workers load `setup` from now on: every slot gets one at once, and its old process
    /// finishes what it holds (stopped at once if it holds nothing).
    fn change_setup(&mut self, setup: Setup, versions: Vec<u32>) {
        self.setup = Arc::new(setup);
        self.versions = Arc::new(versions);
        for i in 0..self.slots.len() {
            if let Some(mut worker) = self.slots[i].worker.take() {
                if worker.in_flight.is_empty() {
                    worker.retire();
                }
                self.slots[i].old.push(worker);
            }
            if self.broken.is_none() {
                self.restart(WorkerId(i as u32));
            }
        }
    }

    /// A job cancels its task `index`: a queued one never runs; one a worker holds is skipped
    /// or stopped there (a worker that cannot stop it ends itself, and its exit answers the
    /// call `cancelled`); a finished one is left.
    fn cancel(&mut self, job: JobId, index: TaskIndex) {
        let module = self.jobs.get(&job).map_or(0, |j| j.module);
        // Not yet taken from its job's queue: it never will be.
        if let Some(queue) = self.jobs.get(&job).and_then(|j| j.queue.as_ref())
            && queue.remove(index)
        {
            self.deliver(job, vec![cancelled_before_start(index)]);
            return;
        }
        if let Some(m) = self.modules.get_mut(module as usize)
            && m.queue.remove(job, index)
        {
            self.queued -= 1;
            self.deliver(job, vec![cancelled_before_start(index)]);
            return;
        }
        for slot in &mut self.slots {
            for worker in slot.worker.iter_mut().chain(slot.old.iter_mut()) {
                for batch in &mut worker.in_flight {
                    if !batch.tasks.contains(job, index) {
                        continue;
                    }
                    let tasks = batch.tasks.list();
                    let Some(position) = tasks
                        .iter()
                        .position(|q| q.job == job && q.task.index == index)
                    else {
                        continue;
                    };
                    if tasks[position].cancelled {
                        return;
                    }
                    tasks[position].cancelled = true;
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
    }

    fn on_worker(&mut self, slot: WorkerId, generation: u64, event: WorkerEvent) {
        let Some(worker) = self.worker_mut(slot, generation) else {
            return; // a late event from a process already gone
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
                    Phase::Failing { pid: known, .. } | Phase::Retiring { pid: known } => {
                        *known = Some(pid)
                    }
                    Phase::Ready { .. } => {}
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
            WorkerEvent::Message(FromWorker::Done(done)) => self.on_done(slot, generation, done),
            WorkerEvent::Message(FromWorker::Stuck { id, done, index }) => {
                self.on_stuck(slot, generation, id, done, index);
            }
            WorkerEvent::Message(FromWorker::NotStarted { batch, position }) => {
                let task = worker
                    .in_flight
                    .iter_mut()
                    .find(|b| b.id == batch)
                    .and_then(|b| match &mut b.tasks {
                        // A run's tasks are never cancelled: made one by one first.
                        Held::Run(_) => None,
                        Held::List(tasks) => tasks.get_mut(position as usize),
                    })
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
            } => self.on_exit(slot, generation, status, killed, stderr),
        }
    }

    fn on_done(&mut self, slot: WorkerId, generation: u64, done: BatchDone) {
        let current = self.slots[slot.0 as usize].generation == generation;
        let max_tasks = self.max_tasks;
        let plugins = self.plugins;
        let Some(worker) = self.worker_mut(slot, generation) else {
            return;
        };
        let matches = worker
            .in_flight
            .front()
            .is_some_and(|b| b.id == done.id && b.tasks.len() == done.answers.len())
            && done.answers.add_up();
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
        worker.head_since = (!worker.in_flight.is_empty()).then(Instant::now);

        let pid = worker.pid();
        if worker.in_flight.is_empty() {
            let its_share = max_tasks.is_some_and(|max| worker.sent >= max);
            if matches!(worker.phase, Phase::Ready { .. }) && (its_share || !current) {
                // It ran its share (--max-tasks-per-worker), or it finished what it held
                // under an older setup: replace it.
                worker.retire();
            }
        }
        let version = plugins
            .then(|| worker.versions.get(batch.module as usize).copied())
            .flatten();
        self.contexts.forget(batch.id);
        if let Some(m) = self.modules.get_mut(batch.module as usize) {
            m.policy
                .observe(batch.tasks.len(), Duration::from_nanos(done.busy_nanos));
            if let (0, Some(nanos)) = (batch.module, m.policy.nanos_per_task()) {
                self.task_nanos
                    .store((nanos as u64).max(1), Ordering::Relaxed);
            }
        }
        // The batch's tasks by position: (job, index, answered already).
        let tasks = batch.tasks;
        let task_at = |k: usize| match &tasks {
            Held::List(list) => list.get(k).map(|q| (q.job, q.task.index, q.answered)),
            Held::Run(run) => (k < run.range.count as usize)
                .then(|| (run.job, TaskIndex(run.range.index.0 + k as u64), false)),
        };
        let mut run: Vec<TaskOutcome> = Vec::with_capacity(tasks.len());
        let mut run_job = None;
        let mut answer = |this: &mut Self, job: JobId, outcome: TaskOutcome| {
            if run_job.is_some_and(|j| j != job) {
                let job = run_job.take().unwrap_or_default();
                this.deliver(job, std::mem::take(&mut run));
            }
            run_job = Some(job);
            run.push(outcome);
        };
        match done.answers {
            Answers::Outcomes(outcomes) => {
                for (k, outcome) in outcomes.into_iter().enumerate() {
                    let Some((job, index, answered)) = task_at(k) else {
                        break;
                    };
                    if answered {
                        continue;
                    }
                    let outcome = TaskOutcome {
                        index,
                        worker_pid: pid,
                        result: outcome.result.map_err(|f| {
                            TaskError::new(index, f.kind, f.message).with_value(f.value)
                        }),
                        output: outcome.output,
                        nanos: outcome.nanos,
                        plugin_version: version,
                    };
                    answer(self, job, outcome);
                }
            }
            Answers::Results(block) => {
                for (k, json) in block.results().enumerate() {
                    let Some((job, index, answered)) = task_at(k) else {
                        break;
                    };
                    if answered {
                        continue;
                    }
                    let result = match json {
                        Some(json) => Ok(CompactString::from(json)),
                        // Checked above (`add_up`): cannot happen.
                        None => Err(TaskError::new(
                            index,
                            ErrorKind::Trap,
                            "the worker's answer for this task did not add up (its result \
                             lies outside the batch's results)",
                        )),
                    };
                    let outcome = TaskOutcome {
                        index,
                        worker_pid: pid,
                        result,
                        output: CapturedOutput::default(),
                        nanos: 0,
                        plugin_version: version,
                    };
                    answer(self, job, outcome);
                }
            }
        }
        if let Some(job) = run_job {
            self.deliver(job, run);
        }
    }

    /// A task is blocked past its timeout where epochs cannot reach it: keep what the batch
    /// finished, report the task as `timeout`, put the rest back (they did not run), and kill
    /// the worker; its exit starts a replacement.
    fn on_stuck(
        &mut self,
        slot: WorkerId,
        generation: u64,
        id: BatchId,
        done: Vec<WireOutcome>,
        index: TaskIndex,
    ) {
        let plugins = self.plugins;
        let Some(worker) = self.worker_mut(slot, generation) else {
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
        let setup = Arc::clone(&worker.setup);
        let versions = Arc::clone(&worker.versions);
        let mut batches: Vec<InFlight> = worker.in_flight.drain(..).collect();
        for b in &batches {
            self.contexts.forget(b.id);
        }
        let first = batches.remove(0);
        let module = first.module;
        let version = plugins
            .then(|| versions.get(module as usize).copied())
            .flatten();
        let mut tasks = first.tasks.into_vec().into_iter();
        let finished: Vec<Queued> = tasks.by_ref().take(done.len()).collect();
        let stuck = tasks.next();
        let rest: Vec<Queued> = tasks.filter(|q| !q.answered).collect();
        self.enqueue(module, rest, true);
        for b in batches.into_iter().rev() {
            let back: Vec<Queued> = b
                .tasks
                .into_vec()
                .into_iter()
                .filter(|q| !q.answered)
                .collect();
            self.enqueue(b.module, back, true);
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
                    plugin_version: version,
                }],
            );
        }
        if let Some(q) = stuck {
            let limit = Dispatcher::timeout_of(&setup, module, &q.task)
                .map_or_else(String::new, |t| {
                    format!(" of {} (--timeout)", format_duration(t))
                });
            let message = format!(
                "the task ran past its limit{limit} blocked inside a host call, where it cannot \
                 be interrupted; its worker process was stopped and replaced"
            );
            let mut outcome = TaskOutcome::failed(q.task.index, ErrorKind::Timeout, message);
            outcome.worker_pid = pid;
            outcome.plugin_version = version;
            self.deliver(q.job, vec![outcome]);
        }
    }

    fn on_exit(
        &mut self,
        slot: WorkerId,
        generation: u64,
        status: String,
        killed: bool,
        stderr: String,
    ) {
        let s = &mut self.slots[slot.0 as usize];
        let current = s.generation == generation;
        let taken = if current {
            s.worker.take()
        } else {
            s.old
                .iter()
                .position(|w| w.generation == generation)
                .map(|at| s.old.swap_remove(at))
        };
        let Some(mut worker) = taken else {
            return;
        };
        if !self.slots.iter().any(|s| !s.old.is_empty()) {
            // No process of an older setup is left to load a replaced version's artifact.
            self.retired.clear();
        }
        for b in &worker.in_flight {
            self.contexts.forget(b.id);
        }
        let held: Vec<(u32, Queued)> = worker
            .in_flight
            .drain(..)
            .flat_map(|b| {
                let module = b.module;
                b.tasks.into_vec().into_iter().map(move |q| (module, q))
            })
            .filter(|(_, q)| !q.answered)
            .collect();
        let what = match (&worker.phase, stderr.is_empty()) {
            (Phase::Failing { trouble, .. }, _) => format!("{status}: {trouble}"),
            (_, false) => format!("{status}; its stderr ends with: {stderr}"),
            (_, true) => status,
        };
        let ran = worker.pid();
        let pid = ran.map_or_else(String::new, |p| format!(" (pid {p})"));
        if let Phase::Retiring { .. } = worker.phase {
            self.put_back(held);
        } else if ran.is_none() {
            // It never started: the tasks did not run, so put them back untouched.
            let from_outside = killed && matches!(worker.phase, Phase::Starting);
            if from_outside {
                self.killed_starts += 1;
            } else {
                self.start_failures += 1;
            }
            self.put_back(held);
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
            for (module, mut q) in held {
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
                    again.push((module, q));
                } else {
                    lost.push(q);
                }
            }
            self.put_back(again);
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
        if current {
            self.restart(slot);
        }
    }

    /// Puts tasks a worker held back at the front of their modules' queues, in their order.
    fn put_back(&mut self, held: Vec<(u32, Queued)>) {
        let mut runs: Vec<(u32, Vec<Queued>)> = Vec::new();
        for (module, q) in held {
            match runs.last_mut() {
                Some((m, run)) if *m == module => run.push(q),
                _ => runs.push((module, vec![q])),
            }
        }
        // Later batches first, so each module's queue ends in the order they were held.
        for (module, run) in runs.into_iter().rev() {
            self.enqueue(module, run, true);
        }
    }

    fn restart(&mut self, slot: WorkerId) {
        let s = &mut self.slots[slot.0 as usize];
        s.generation += 1;
        let generation = s.generation;
        match self
            .transport
            .start(slot, generation, &self.setup, self.reports.clone())
        {
            Ok(link) => {
                let worker = Worker::new(
                    link,
                    generation,
                    Arc::clone(&self.setup),
                    Arc::clone(&self.versions),
                );
                self.slots[slot.0 as usize].worker = Some(worker);
            }
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
        let queued: Vec<Queued> = self
            .modules
            .iter_mut()
            .flat_map(|m| m.queue.drain())
            .collect();
        self.queued = 0;
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
    fn open(
        &mut self,
        job: JobId,
        results: JobSender,
        scope: Arc<JobScope>,
        cancellable: bool,
        target: Option<Arc<PluginTarget>>,
        queue: Option<Arc<TaskQueue>>,
    ) {
        self.jobs_with_context += usize::from(!scope.is_plain());
        self.cancellable_jobs += usize::from(cancellable);
        let job_entry = Job {
            results,
            scope,
            cancellable,
            module: target.as_ref().map_or(0, |t| t.plugin),
            target,
            renumbered: None,
            queue,
        };
        self.jobs.insert(job, job_entry);
    }

    /// Job `j` was removed: it no longer counts.
    fn forgot(&mut self, j: &Job) {
        self.jobs_with_context -= usize::from(!j.scope.is_plain());
        self.cancellable_jobs -= usize::from(j.cancellable);
    }

    fn schedule(&mut self) {
        if self.queued == 0 {
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
        // With several plugins, a worker first leaves a plugin it holds no instance of to a
        // better placed one (see `elsewhere`); a round in which that left everything waiting
        // is made again without.
        let mut placing = self.plugins && self.modules.len() > 1;
        // One batch per worker per round, so a short queue spreads over all workers.
        loop {
            let mut sent_any = false;
            let mut left = false;
            for i in 0..self.slots.len() {
                if self.queued == 0 {
                    return;
                }
                let Some(worker) = self.slots[i].worker.as_ref() else {
                    continue;
                };
                if !worker.takes_batches() {
                    continue;
                }
                let Some(module) = pick_module(&self.modules, &worker.recent) else {
                    continue;
                };
                let m = &self.modules[module as usize];
                let chunk = m.policy.chunk(m.queue.len(), live);
                let depth = m.policy.depth(chunk);
                if worker.in_flight.len() >= depth {
                    continue;
                }
                if placing && self.elsewhere(i, module, depth) {
                    left = true;
                    continue;
                }
                let share = self.max_tasks.map_or(usize::MAX, |max| {
                    usize::try_from(max.saturating_sub(worker.sent)).unwrap_or(usize::MAX)
                });
                if share == 0 {
                    continue;
                }
                let take = chunk.min(m.queue.len()).min(share);
                let take = fitting(m.queue.input_lengths(), take);
                if self.send_batch(i, module, take) {
                    sent_any = true;
                }
            }
            if !sent_any {
                if left && placing {
                    placing = false;
                    continue;
                }
                return;
            }
        }
    }

    /// Whether `module`'s next batch should go to another worker than slot `i`'s, which holds
    /// no instance of it: one with room for a batch (fewer than `depth`) that holds one, or,
    /// when none does, one that holds fewer batches, or as many and fewer instances (so new
    /// plugins spread over the workers). Never once the module waited past
    /// [`WARM_PATIENCE`].
    fn elsewhere(&self, i: usize, module: u32, depth: usize) -> bool {
        let Some(here) = self.slots[i].worker.as_ref() else {
            return false;
        };
        if here.recent.contains(&module) {
            return false;
        }
        let m = &self.modules[module as usize];
        if m.waiting_since.is_none_or(|s| s.elapsed() > WARM_PATIENCE) {
            return false;
        }
        let load = |w: &Worker| (w.in_flight.len(), w.recent.len());
        self.slots
            .iter()
            .enumerate()
            .filter(|&(j, _)| j != i)
            .filter_map(|(_, s)| s.worker.as_ref())
            .filter(|o| o.takes_batches() && o.in_flight.len() < depth)
            .any(|o| o.recent.contains(&module) || load(o) < load(here))
    }

    /// Sends the first `take` tasks of `module`'s queue to slot `i`'s worker as one batch;
    /// false when none went (they failed here instead).
    fn send_batch(&mut self, i: usize, module: u32, take: usize) -> bool {
        let m = &mut self.modules[module as usize];
        let tasks = match m.queue.take_front(take) {
            // A run goes as where it starts and how long it is (`Run`s are only of plain
            // jobs: nothing to renumber, cancel or file).
            Held::Run(run) => return self.send_run(i, module, run),
            Held::List(tasks) => tasks,
        };
        m.waiting_since = (!m.queue.is_empty() && self.plugins).then(Instant::now);
        self.queued -= tasks.len();
        let id = BatchId(self.next_batch);
        self.next_batch += 1;
        // (Tasks of one job come in runs: look each job up once.)
        let mut last = None;
        let cancellable = self.cancellable_jobs > 0
            && tasks.iter().any(|q| {
                let seen = last.replace(q.job) == Some(q.job);
                !seen && self.jobs.get(&q.job).is_some_and(|j| j.cancellable)
            });
        // In a pool of plugins, a job whose export was numbered in another version of the
        // plugin than the one this batch runs finds it by name; a version without it fails
        // the task.
        let (tasks, calls) = if self.plugins {
            self.renumber(module, tasks)
        } else {
            (tasks, Vec::new())
        };
        if tasks.is_empty() {
            return false;
        }
        // Filed before the batch is sent: its first host call may come at once.
        if self.jobs_with_context > 0 {
            for (position, q) in tasks.iter().enumerate() {
                if let Some(j) = self.jobs.get(&q.job).filter(|j| !j.scope.is_plain()) {
                    self.contexts
                        .file(id, position as u32, Arc::clone(&j.scope));
                }
            }
        }
        // A map over a range goes as where it starts and how long it is (a pool of plugins
        // may change a task's call, so its batches always go task by task).
        let range = if self.plugins {
            None
        } else {
            TaskRange::of(
                tasks
                    .iter()
                    .map(|q| (q.task.index, q.task.input.as_str(), q.task.call.is_none())),
            )
        };
        let tasks_ref = match range {
            Some(range) => TasksRef::Range(range),
            None => TasksRef::List(
                tasks
                    .iter()
                    .map(|q| WireTaskRef {
                        index: q.task.index,
                        input: &q.task.input,
                        call: match calls.iter().find(|(job, _)| *job == q.job) {
                            Some((_, call)) => call.as_ref(),
                            None => q.task.call.as_deref(),
                        },
                    })
                    .collect(),
            ),
        };
        let frame = encode_frame(&ToWorkerRef::Run(BatchRef {
            id,
            cancellable,
            tasks: tasks_ref,
            module,
        }));
        let Some(worker) = self.slots[i].worker.as_mut() else {
            return false;
        };
        match frame {
            Ok(frame) => worker.link.send(frame),
            Err(e) => {
                // Only an input over the frame limit by itself gets here (`fitting` sends it
                // alone): fail it.
                self.contexts.forget(id);
                let bytes: usize = tasks.iter().map(|q| q.task.input.len()).sum();
                let message = match e {
                    FrameError::TooLarge(_) => format!(
                        "the input is {bytes} bytes, more than the {} MiB a worker takes in one \
                         message: pass data this large in a file (--dir) and its path as the \
                         input",
                        MAX_FRAME >> 20
                    ),
                    e => format!("the input cannot be sent to a worker: {e}"),
                };
                for q in tasks {
                    let outcome = TaskOutcome::failed(q.task.index, ErrorKind::BadInput, &message);
                    self.deliver(q.job, vec![outcome]);
                }
                return false;
            }
        }
        let tasks = Held::List(tasks);
        let budget = Dispatcher::batch_budget(&worker.setup, module, &tasks);
        worker.hold(id, module, tasks, budget);
        true
    }

    /// Sends `run`, taken from `module`'s queue, to slot `i`'s worker as one batch.
    fn send_run(&mut self, i: usize, module: u32, run: Run) -> bool {
        let m = &mut self.modules[module as usize];
        m.waiting_since = (!m.queue.is_empty() && self.plugins).then(Instant::now);
        self.queued -= run.range.count as usize;
        let id = BatchId(self.next_batch);
        self.next_batch += 1;
        let frame = encode_frame(&ToWorkerRef::Run(BatchRef {
            id,
            cancellable: false,
            tasks: TasksRef::Range(run.range),
            module,
        }));
        let Some(worker) = self.slots[i].worker.as_mut() else {
            return false;
        };
        match frame {
            Ok(frame) => worker.link.send(frame),
            Err(_) => {
                // A range is a few bytes: this cannot happen; if it did, the tasks go task
                // by task.
                let tasks = Held::Run(run).into_vec();
                self.modules[module as usize].queue.push_front(tasks);
                self.queued += run.range.count as usize;
                return false;
            }
        }
        let tasks = Held::Run(run);
        let budget = Dispatcher::batch_budget(&worker.setup, module, &tasks);
        worker.hold(id, module, tasks, budget);
        true
    }

    /// The calls of `tasks` for the current version of plugin `module`: for each job whose
    /// export was numbered in another version, its number there (by name), or, when that
    /// version lacks it, the job's tasks fail `bad-input`. Returns the tasks that go, and the
    /// calls that replace their own, by job.
    #[allow(clippy::type_complexity)]
    fn renumber(
        &mut self,
        module: u32,
        tasks: Vec<Queued>,
    ) -> (Vec<Queued>, Vec<(JobId, Option<TaskCall>)>) {
        let version = self.modules[module as usize].version;
        let mut calls: Vec<(JobId, Option<TaskCall>)> = Vec::new();
        let mut refused: Vec<(JobId, String)> = Vec::new();
        for q in &tasks {
            if calls.iter().any(|(j, _)| *j == q.job) || refused.iter().any(|(j, _)| *j == q.job) {
                continue;
            }
            let Some(job) = self.jobs.get_mut(&q.job) else {
                continue;
            };
            let Some(target) = job.target.as_ref().filter(|t| t.version != version) else {
                continue;
            };
            let Some(function) = target.function.clone() else {
                continue; // the plugin's own function: number 0 in every version
            };
            let number = match &job.renumbered {
                Some((v, number)) if *v == version => number.clone(),
                _ => {
                    let functions = match self.setup.module(module).map(|m| &m.entry) {
                        Some(Entry::Functions { functions, .. }) => functions.as_slice(),
                        _ => &[],
                    };
                    let number = functions
                        .iter()
                        .position(|f| *f == function)
                        .map(|n| n as u32)
                        .ok_or_else(|| {
                            format!(
                                "version {version} of the plugin has no export `{function}` \
                                 (the call was made to version {}, which had it)",
                                target.version
                            )
                        });
                    job.renumbered = Some((version, number.clone()));
                    number
                }
            };
            match number {
                Ok(export) => {
                    let limits = q.task.limits().copied();
                    let call =
                        (export != 0 || limits.is_some()).then_some(TaskCall { export, limits });
                    calls.push((q.job, call));
                }
                Err(message) => refused.push((q.job, message)),
            }
        }
        if refused.is_empty() {
            return (tasks, calls);
        }
        let mut going = Vec::with_capacity(tasks.len());
        for q in tasks {
            match refused.iter().find(|(j, _)| *j == q.job) {
                Some((_, message)) => {
                    let outcome = TaskOutcome::failed(q.task.index, ErrorKind::BadInput, message);
                    self.deliver(q.job, vec![outcome]);
                }
                None => going.push(q),
            }
        }
        (going, calls)
    }

    fn shutdown(&mut self) {
        let mut running: Vec<(WorkerId, u64)> = Vec::new();
        let mut left: Vec<Queued> = Vec::new();
        for (i, slot) in self.slots.iter_mut().enumerate() {
            // Dropping the worker closes its link too.
            let workers = slot.worker.take().into_iter().chain(slot.old.drain(..));
            for mut worker in workers {
                worker.link.kill();
                running.push((WorkerId(i as u32), worker.generation));
                left.extend(
                    worker
                        .in_flight
                        .into_iter()
                        .flat_map(|b| b.tasks.into_vec())
                        .filter(|q| !q.answered),
                );
            }
        }
        for m in &mut self.modules {
            left.extend(m.queue.drain());
        }
        self.queued = 0;
        // Tasks still waiting in jobs' own queues (lanes) never started either.
        let waiting: Vec<(JobId, Vec<WireTask>)> = self
            .jobs
            .iter()
            .filter_map(|(id, j)| Some((*id, j.queue.as_ref()?.take())))
            .collect();
        for (job, tasks) in waiting {
            self.deliver(job, TaskOutcome::never_started(tasks));
        }
        for q in left {
            let outcome = TaskOutcome::cancelled(q.task.index, Cancelled::BeforeFinish);
            self.deliver(q.job, vec![outcome]);
        }
        // Wait (briefly) until every killed worker is reaped, so none outlives the pool; answer
        // what still arrives meanwhile.
        let deadline = Instant::now() + Duration::from_secs(2);
        while !running.is_empty() {
            let Ok(inbox) = self.inbox.recv_deadline(deadline) else {
                break;
            };
            match inbox {
                Inbox::Report(WorkerReport {
                    slot,
                    generation,
                    event: WorkerEvent::Exited { .. },
                }) => running.retain(|&w| w != (slot, generation)),
                Inbox::Request(Request::Submit { job, tasks }) => {
                    self.deliver(job, TaskOutcome::never_started(tasks));
                }
                Inbox::Request(Request::SubmitRange { job, range }) => {
                    self.deliver(job, TaskOutcome::never_started(range.tasks().collect()));
                }
                Inbox::Request(Request::Open {
                    job,
                    results,
                    scope,
                    cancellable,
                    target,
                    queue,
                }) => self.open(job, results, scope, cancellable, target, queue),
                Inbox::Request(Request::Take { job }) => {
                    if let Some(queue) = self.jobs.get(&job).and_then(|j| j.queue.as_ref()) {
                        let tasks = queue.take();
                        self.deliver(job, TaskOutcome::never_started(tasks));
                    }
                }
                Inbox::Report(_) | Inbox::Request(_) | Inbox::Control(_) => {}
            }
        }
    }
}

/// The module whose tasks go next to a worker that ran `recent` last: with one module, it;
/// with several, the one that waited longest past [`WARM_PATIENCE`], else one the worker ran
/// last (its instance is warm), else the one that waited longest.
fn pick_module(modules: &[ModuleQueue], recent: &VecDeque<u32>) -> Option<u32> {
    if modules.len() == 1 {
        return (!modules[0].queue.is_empty()).then_some(0);
    }
    let mut oldest: Option<(u32, Option<Instant>)> = None;
    let mut warm: Option<(u32, Option<Instant>)> = None;
    for (n, m) in modules.iter().enumerate() {
        if m.queue.is_empty() {
            continue;
        }
        let (n, since) = (n as u32, m.waiting_since);
        if oldest.is_none_or(|(_, o)| since < o) {
            oldest = Some((n, since));
        }
        if recent.contains(&n) && warm.is_none_or(|(_, w)| since < w) {
            warm = Some((n, since));
        }
    }
    let (longest, since) = oldest?;
    let overdue = since.is_none_or(|s| s.elapsed() > WARM_PATIENCE);
    if overdue {
        return Some(longest);
    }
    Some(warm.map_or(longest, |(n, _)| n))
}

/// The outcome of a call cancelled before it started.
fn cancelled_before_start(index: TaskIndex) -> TaskOutcome {
    TaskOutcome::failed(
        index,
        ErrorKind::Cancelled,
        "the call was cancelled before it started",
    )
}

/// The outcome of a call whose plugin was removed before it started.
fn removed_before_start(index: TaskIndex, plugin: Option<&str>) -> TaskOutcome {
    let plugin = plugin.map_or_else(|| "its plugin".to_string(), |p| format!("plugin `{p}`"));
    TaskOutcome::failed(
        index,
        ErrorKind::PluginRemoved,
        format!("{plugin} was removed from the pool before this call started"),
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
    use crate::pool::inbox::Requests;
    use crate::pool::job;
    use crate::pool::request::JobCall;
    use crate::sync::lock;
    use crate::vocab::{Entry, FunctionPath, Grants, ModuleKind, ModuleSetup};

    /// A module named `name` with these functions, at an artifact that is not there (the fakes
    /// load nothing; one with a name answers `NAME#EXPORT:INPUT`).
    fn fake_module(name: &str, functions: &[&str]) -> ModuleSetup {
        ModuleSetup {
            name: name.into(),
            artifact: PathBuf::from("/nonexistent.cwasm"),
            kind: ModuleKind::Component,
            entry: Entry::Functions {
                functions: functions.iter().map(|f| FunctionPath::parse(f)).collect(),
                init: None,
            },
            limits: Limits::for_processes(2),
            fresh: false,
            timed: false,
            host_imports: Vec::new(),
        }
    }

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
            setup: Setup::one(
                fake_module("", &["f"]),
                crate::sandbox::engine::MemoryInit::CopyOnWrite,
                Grants::default(),
                crate::sandbox::engine::EngineSettings { fuel: false },
            ),
            plugins: false,
            chunksize,
            retries,
            max_tasks_per_worker,
            host: HostImports::default(),
            task_nanos: Arc::default(),
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

    /// A pool of plugins named `names` (each exporting `f` and `g`) over `processes` normal
    /// fake workers, chunks of 2.
    fn plugin_dispatcher(
        names: &[&str],
        processes: usize,
    ) -> (Requests, std::thread::JoinHandle<()>, Arc<Mutex<Record>>) {
        let (transport, record) = FakeTransport::new(script(|_, _| Act::Normal));
        let mut setup = Setup::one(
            fake_module(names[0], &["f", "g"]),
            crate::sandbox::engine::MemoryInit::CopyOnWrite,
            Grants::default(),
            crate::sandbox::engine::EngineSettings { fuel: false },
        );
        setup.modules = names
            .iter()
            .map(|n| Some(fake_module(n, &["f", "g"])))
            .collect();
        setup.kept_instances = 4;
        let config = DispatcherConfig {
            processes,
            setup,
            plugins: true,
            chunksize: Some(2),
            retries: 1,
            max_tasks_per_worker: None,
            host: HostImports::default(),
            task_nanos: Arc::default(),
        };
        let (requests, handle) = start(config, Box::new(transport)).expect("starts");
        (requests, handle, record)
    }

    /// Opens job `job` calling plugin `plugin` (its export `function`, numbered `export` in
    /// `version`; `None`: its own function).
    fn plugin_job(
        requests: &Requests,
        job: JobId,
        plugin: u32,
        version: u32,
        function: Option<(&str, u32)>,
    ) -> (job::Submitter, job::Outcomes) {
        let call = JobCall {
            export: function.map_or(0, |(_, n)| n),
            target: Some(Arc::new(PluginTarget {
                plugin,
                version,
                function: function.map(|(f, _)| FunctionPath::parse(f)),
            })),
            ..JobCall::default()
        };
        job::open(requests, job, 1 << 16, false, call)
    }

    /// Every outcome of `outcomes`, by index, each exactly once, within 30 s.
    fn all_of(outcomes: job::Outcomes) -> BTreeMap<u64, TaskOutcome> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        std::thread::spawn(move || {
            let _ = tx.send(outcomes.collect::<Vec<TaskOutcome>>());
        });
        let outcomes = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("every task gets an outcome: the job does not hang");
        let mut by_index = BTreeMap::new();
        for outcome in outcomes {
            let index = outcome.index().0;
            assert!(
                by_index.insert(index, outcome).is_none(),
                "task {index} got two outcomes"
            );
        }
        by_index
    }

    fn replace(requests: &Requests, plugin: u32, module: ModuleSetup) -> u32 {
        let (done, answer) = crossbeam_channel::bounded(1);
        assert!(requests.control(Control::Replace {
            plugin,
            module: Box::new(module),
            keep: Box::new(()),
            done,
        }));
        answer.recv().expect("the dispatcher answers")
    }

    fn remove(requests: &Requests, plugin: u32) {
        let (done, answer) = crossbeam_channel::bounded(1);
        assert!(requests.control(Control::Remove { plugin, done }));
        answer.recv().expect("the dispatcher answers");
    }

    fn stop(requests: &Requests, handle: std::thread::JoinHandle<()>) {
        requests.send(Request::Shutdown);
        let _ = handle.join();
    }

    #[test]
    fn after_a_replace_every_call_runs_on_the_new_version_and_none_is_lost() {
        let (requests, handle, record) = plugin_dispatcher(&["a@0", "b@0"], 2);
        let (mut submitter, outcomes) = plugin_job(&requests, 1, 0, 0, None);
        for i in 0..3000 {
            submitter.push(i.to_string());
        }
        submitter.flush();
        assert_eq!(replace(&requests, 0, fake_module("a@1", &["f", "g"])), 1);
        for i in 3000..6000 {
            submitter.push(i.to_string());
        }
        submitter.finish();
        let outcomes = all_of(outcomes);
        assert_eq!(outcomes.len(), 6000);
        let mut old = 0;
        for (index, outcome) in &outcomes {
            let version = outcome.plugin_version().expect("a plugin's version");
            let want = format!("a@{version}#0:{index}");
            assert_eq!(outcome.json(), Ok(want.as_str()), "task {index}");
            if *index >= 3000 {
                assert_eq!(version, 1, "task {index} came after the replace returned");
            }
            old += usize::from(version == 0);
        }
        assert!(
            old > 0,
            "calls submitted before the replace ran on version 0"
        );
        // The other plugin is untouched, on the new processes too.
        let (mut submitter, outcomes) = plugin_job(&requests, 2, 1, 0, None);
        submitter.push("7");
        submitter.finish();
        let outcome = &all_of(outcomes)[&0];
        assert_eq!(outcome.json(), Ok("b@0#0:7"));
        assert_eq!(outcome.plugin_version(), Some(0));
        let record = std::mem::take(&mut *lock(&record));
        assert_eq!(
            record.strays, 0,
            "no batch went to a process without its module"
        );
        assert_eq!(
            record.started.len(),
            4,
            "each slot got a new process for the new version: {record:?}"
        );
        stop(&requests, handle);
    }

    #[test]
    fn a_call_by_export_name_finds_it_in_a_new_version_or_says_it_is_gone() {
        let (requests, handle, _) = plugin_dispatcher(&["a@0"], 1);
        // `g` is export 1 in version 0 and export 2 in version 1.
        let v1 = fake_module("a@1", &["f", "h", "g"]);
        assert_eq!(replace(&requests, 0, v1), 1);
        let (mut submitter, outcomes) = plugin_job(&requests, 1, 0, 0, Some(("g", 1)));
        submitter.push("5");
        submitter.finish();
        assert_eq!(all_of(outcomes)[&0].json(), Ok("a@1#2:5"));
        // Version 2 has no `g`.
        assert_eq!(replace(&requests, 0, fake_module("a@2", &["f"])), 2);
        let (mut submitter, outcomes) = plugin_job(&requests, 2, 0, 0, Some(("g", 1)));
        submitter.push("5");
        submitter.finish();
        let error = all_of(outcomes)[&0].json().expect_err("g is gone").clone();
        assert_eq!(error.kind(), ErrorKind::BadInput);
        assert!(
            error
                .message()
                .contains("version 2 of the plugin has no export `g`"),
            "{}",
            error.message()
        );
        // Its own function is number 0 in every version.
        let (mut submitter, outcomes) = plugin_job(&requests, 3, 0, 0, None);
        submitter.push("5");
        submitter.finish();
        assert_eq!(all_of(outcomes)[&0].json(), Ok("a@2#0:5"));
        stop(&requests, handle);
    }

    #[test]
    fn a_removed_plugins_waiting_calls_fail_and_so_does_every_later_one() {
        let (requests, handle, record) = plugin_dispatcher(&["a@0", "b@0"], 1);
        let (mut submitter, outcomes) = plugin_job(&requests, 1, 0, 0, None);
        for i in 0..5000 {
            submitter.push(i.to_string());
        }
        submitter.flush();
        remove(&requests, 0);
        submitter.finish();
        let mut removed = 0;
        for (index, outcome) in all_of(outcomes) {
            match outcome.json() {
                Ok(json) => assert_eq!(json, format!("a@0#0:{index}")),
                Err(e) => {
                    assert_eq!(e.kind(), ErrorKind::PluginRemoved, "{e}");
                    assert!(
                        e.message()
                            .contains("plugin `a@0` was removed from the pool before this call"),
                        "{e}"
                    );
                    removed += 1;
                }
            }
        }
        assert!(removed > 0, "calls still waiting when it was removed fail");
        let (mut submitter, outcomes) = plugin_job(&requests, 2, 0, 0, None);
        submitter.push("1");
        submitter.finish();
        let later = all_of(outcomes);
        let kind = later[&0].json().expect_err("removed").kind();
        assert_eq!(kind, ErrorKind::PluginRemoved);
        let (mut submitter, outcomes) = plugin_job(&requests, 3, 1, 0, None);
        submitter.push("1");
        submitter.finish();
        assert_eq!(all_of(outcomes)[&0].json(), Ok("b@0#0:1"));
        assert_eq!(lock(&record).strays, 0);
        stop(&requests, handle);
    }

    #[test]
    fn a_worker_dying_after_a_replace_has_its_calls_run_again_on_the_new_version() {
        // Slot 0's first process dies on its second batch, after the replace: its calls go
        // to the new process, version 1.
        let (transport, record) = FakeTransport::new(script(|slot, generation| {
            if slot.0 == 0 && generation == 0 {
                Act::DieOnBatch(1)
            } else {
                Act::Normal
            }
        }));
        let mut setup = Setup::one(
            fake_module("a@0", &["f"]),
            crate::sandbox::engine::MemoryInit::CopyOnWrite,
            Grants::default(),
            crate::sandbox::engine::EngineSettings { fuel: false },
        );
        setup.kept_instances = 4;
        let config = DispatcherConfig {
            processes: 1,
            setup,
            plugins: true,
            chunksize: Some(1),
            retries: 1,
            max_tasks_per_worker: None,
            host: HostImports::default(),
            task_nanos: Arc::default(),
        };
        let (requests, handle) = start(config, Box::new(transport)).expect("starts");
        let (mut submitter, outcomes) = plugin_job(&requests, 1, 0, 0, None);
        for i in 0..200 {
            submitter.push(i.to_string());
        }
        submitter.flush();
        replace(&requests, 0, fake_module("a@1", &["f"]));
        submitter.finish();
        let outcomes = all_of(outcomes);
        assert_eq!(outcomes.len(), 200);
        for (index, outcome) in &outcomes {
            let version = outcome.plugin_version().expect("a version");
            assert_eq!(
                outcome.json(),
                Ok(format!("a@{version}#0:{index}").as_str())
            );
        }
        assert_eq!(lock(&record).strays, 0);
        stop(&requests, handle);
    }

    fn waiting(tasks: usize, since: Option<Instant>) -> ModuleQueue {
        let mut queue = Queue::default();
        for i in 0..tasks {
            let task = WireTask {
                index: TaskIndex(i as u64),
                input: "0".into(),
                call: None,
            };
            queue.push_back(Queued::new(0, task));
        }
        ModuleQueue {
            queue,
            policy: ChunkPolicy::new(None),
            waiting_since: since,
            version: 0,
            removed: false,
            name: String::new(),
            keep: None,
        }
    }

    #[test]
    fn a_worker_gets_the_plugin_it_holds_warm_unless_another_waited_too_long() {
        let now = Instant::now();
        let recent = |m: &[u32]| m.iter().copied().collect::<VecDeque<u32>>();
        // 0 waited a little longer, but the worker holds 1 warm.
        let modules = [
            waiting(3, Some(now)),
            waiting(3, Some(now + Duration::from_millis(1))),
        ];
        assert_eq!(pick_module(&modules, &recent(&[1])), Some(1));
        assert_eq!(pick_module(&modules, &recent(&[])), Some(0), "the oldest");
        assert_eq!(pick_module(&modules, &recent(&[2])), Some(0));
        // Past the patience, the one that waited longest goes first, warm or not.
        let long_ago = now - WARM_PATIENCE * 3;
        let modules = [waiting(3, Some(long_ago)), waiting(3, Some(now))];
        assert_eq!(pick_module(&modules, &recent(&[1])), Some(0));
        // Empty queues are never picked.
        let modules = [waiting(0, None), waiting(1, Some(now))];
        assert_eq!(pick_module(&modules, &recent(&[0])), Some(1));
        let modules = [waiting(0, None), waiting(0, None)];
        assert_eq!(pick_module(&modules, &recent(&[0])), None);
    }

    #[test]
    fn plugins_stay_on_the_workers_that_hold_them_warm() {
        // Six plugins with work all along, two workers keeping four instances each: a batch
        // to a worker for a plugin that is not among the four it ran last makes a new
        // instance there. Once each plugin is warm somewhere, workers keep to those (the
        // fakes answer at once, so a plugin rarely waits past the patience), so few do.
        let names = ["a", "b", "c", "d", "e", "f"];
        let (requests, handle, record) = plugin_dispatcher(&names, 2);
        let jobs: Vec<_> = (0..names.len() as u32)
            .map(|plugin| {
                let (mut submitter, outcomes) =
                    plugin_job(&requests, plugin.into(), plugin, 0, None);
                for i in 0..2000 {
                    submitter.push(i.to_string());
                }
                submitter.finish();
                outcomes
            })
            .collect();
        for outcomes in jobs {
            assert_eq!(all_of(outcomes).len(), 2000);
        }
        let record = std::mem::take(&mut *lock(&record));
        let batches: usize = record.batches.values().map(Vec::len).sum();
        let mut cold = 0;
        for sent in record.batches.values() {
            let mut warm: VecDeque<u32> = VecDeque::new();
            for &module in sent {
                if !warm.contains(&module) {
                    cold += 1;
                }
                warm.retain(|&m| m != module);
                warm.push_back(module);
                if warm.len() > 4 {
                    warm.pop_front();
                }
            }
        }
        assert!(batches >= 6000, "{batches}");
        assert!(
            cold * 5 < batches,
            "{cold} of {batches} batches went to a worker without a warm instance"
        );
        stop(&requests, handle);
    }
}
