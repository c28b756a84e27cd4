//! The worker's side: `mpwasm worker --broker URL`. A [`Server`] watches the broker's running
//! jobs, adopts each (its module, its settings lowered to the operator's [`WorkerCaps`], a local
//! [`Pool`](crate::Pool)), reads inputs from all jobs' streams at once in the consumer group (so
//! jobs share the worker), holds at most a window of them ([`Prefetch`]: fixed, or learned
//! from what an input costs), takes over the inputs of workers
//! that stopped renewing their lease, and answers through the broker.
//!
//! # Design
//! One owner loop ([`Server::run`]) holds all scheduling state: the jobs, what is held
//! ([`held::Held`]: handed to a local pool or answered here, and not yet stored), whether
//! inputs of a lost worker wait to be taken over. It waits on one channel of [`ServeEvent`]s,
//! with the next refresh or lease check as its deadline, and never on the broker for long.
//! Threads that only do I/O feed it, each with a connection of its own:
//! - the reader ([`reader`]): one blocking read at a time, as the owner asks: new inputs of
//!   the served jobs, or (no job to serve) the stream announcing jobs → `Read`;
//! - the adopter ([`adopt`]): a new job's record, module and pool → `Adopted`;
//! - one relay per job (started by the adopter): the job's pool's outcomes → `Finished`;
//! - the writer ([`writer`]): results stored through the Lua script → `Stored`;
//! - the keeper ([`keeper`]): the heartbeat, and the lease renewal of what the owner told it
//!   is held, on its own clock, so nothing the owner does lets a lease lapse.
//!
//! Any of them that loses the broker sends `Failed`; a [`Stopper`] sends `Stop`. The owner's
//! own connection runs the short commands: the set of running jobs, and looking for and taking
//! over idle inputs ([`takeover`]).
//!
//! Adding a case: a [`ServeEvent`] variant, sent by the thread that learns of it and handled in
//! `Owner::handle`; what is held changes only through [`held::Held`], and the keeper hears of
//! each change (`Lease::Hold` / `Lease::Release`, on its non-waking channel).

mod adopt;
mod held;
mod keeper;
mod reader;
mod takeover;
mod writer;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, unbounded};

use super::connection::{BrokerUrl, Conn, broker_time_ms};
use super::error::BrokerError;
use super::keys::{self, INDEX_FIELD, INPUT_FIELD, JOBS, JobKeys, WORKERS};
use super::outcome;
use super::record::WorkerCaps;
use super::reply::Entry;
use crate::error::ErrorKind;
use crate::ids::TaskIndex;
use crate::pool::TaskOutcome;
use adopt::{Adopter, Adoption, Served};
use held::{Held, Item};
use keeper::Lease;
use reader::{Read, ReadResult};
use writer::Store;

/// How often the set of running jobs is read.
const REFRESH: Duration = Duration::from_millis(250);

/// Where the worker says what it does (jobs started, refused, inputs taken over).
pub type Log = Arc<dyn Fn(&str) + Send + Sync>;

/// How many inputs a worker holds at once (running or queued here), over all jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prefetch {
    /// Exactly this many (`--prefetch N`).
    Fixed(usize),
    /// Learned as the jobs run (`--prefetch auto`): enough for about [`ADAPTIVE_WORK`] of work
    /// per process, as the local pools measure an input's cost (the slowest job served
    /// decides, so a job of slow inputs is not hoarded by one machine), between
    /// [`ADAPTIVE_MIN`] and [`ADAPTIVE_MAX`] inputs per process. Tiny inputs then come many per
    /// read and the broker's round trip is paid once for all of them; each input keeps its own
    /// lease and is taken over alone. Not the default: a small job's inputs may all go to the
    /// first worker that reads, and a worker cut off from the broker holds more inputs whose
    /// leases lapse.
    Adaptive,
}

/// The work an adaptive window holds per process.
pub const ADAPTIVE_WORK: Duration = Duration::from_millis(2);
/// An adaptive window's inputs per process, at least: the next is here when one finishes.
pub const ADAPTIVE_MIN: usize = 2;
/// An adaptive window's inputs per process, at most: what a lost machine leaves to others.
pub const ADAPTIVE_MAX: usize = 256;

impl Prefetch {
    /// The inputs to hold for `processes` processes per job when the slowest job's input
    /// costs `cost` in a worker (`None`: not measured yet).
    pub fn window(self, processes: usize, cost: Option<Duration>) -> usize {
        match self {
            Prefetch::Fixed(n) => n.max(1),
            Prefetch::Adaptive => {
                let per_process = cost.map_or(ADAPTIVE_MIN, |cost| {
                    let fits = ADAPTIVE_WORK.as_nanos() / cost.as_nanos().max(1);
                    usize::try_from(fits)
                        .unwrap_or(ADAPTIVE_MAX)
                        .clamp(ADAPTIVE_MIN, ADAPTIVE_MAX)
                });
                processes.max(1).saturating_mul(per_process)
            }
        }
    }
}

/// How a worker serves the broker.
pub struct ServeOptions {
    /// Worker processes per job's pool.
    pub processes: usize,
    /// Inputs held at once (running or queued here), over all jobs.
    pub prefetch: Prefetch,
    /// What the operator allows any job.
    pub caps: WorkerCaps,
    /// Where modules fetched from the broker are kept, by hash.
    pub module_dir: PathBuf,
    /// The program local pools run as workers (default: this executable).
    pub worker_program: Option<PathBuf>,
    /// Where the worker says what it does.
    pub log: Log,
}

/// What reaches the owner loop (see the module docs).
enum ServeEvent {
    /// Stop serving ([`Stopper::stop`]).
    Stop,
    /// A thread lost the broker (or it refused a command): the worker stops with this.
    Failed(BrokerError),
    /// The reader's answer.
    Read(ReadResult),
    /// The adopter took up job `id`.
    Adopted {
        /// The job.
        id: String,
        /// What became of it.
        adoption: Adoption,
    },
    /// Job `job`'s pool finished a task.
    Finished {
        /// The job.
        job: String,
        /// The task's outcome (its index is the task's in the pool's job).
        outcome: TaskOutcome,
    },
    /// The writer stored the results of these inputs of `job` (or found them answered).
    Stored {
        /// The job.
        job: String,
        /// The inputs' entry ids.
        entries: Vec<String>,
    },
}

/// Stops a [`Server`] from another thread (a signal handler): it lets go of its jobs (what it
/// held is taken over by other workers after their lease) and [`Server::run`] returns.
#[derive(Clone)]
pub struct Stopper(Sender<ServeEvent>);

impl Stopper {
    /// Asks the server to stop.
    pub fn stop(&self) {
        let _ = self.0.send(ServeEvent::Stop);
    }
}

/// A worker serving a broker: connected by [`Server::connect`], run by [`Server::run`].
pub struct Server {
    owner: Owner,
    /// The writer thread, joined at the end so the results it was given are stored.
    writer: std::thread::JoinHandle<()>,
}

/// What a job is to this worker.
enum Job {
    /// The adopter is taking it up.
    Adopting,
    /// It runs here.
    Served(Box<Served>),
    /// Refused, or impossible to run here: its inputs are left to other workers.
    Refused,
}

/// The owner loop's state (see the module docs).
struct Owner {
    /// What the worker has done, for its published state (the keeper writes it).
    counters: Arc<keeper::Counters>,
    con: Conn,
    name: String,
    url: String,
    prefetch: Prefetch,
    processes: usize,
    log: Log,
    events: Receiver<ServeEvent>,
    /// A sender to its own inbox, for [`Stopper`]s (so the inbox never disconnects).
    inbox: Sender<ServeEvent>,
    jobs: HashMap<String, Job>,
    held: Held,
    reads: Sender<Read>,
    /// A read is out with the reader.
    reading: bool,
    adopts: Sender<String>,
    stores: Sender<Store>,
    /// The keeper's waking channel: a job starts or ends here.
    leases: Sender<Lease>,
    /// The keeper's other channel: an input is held, or no longer.
    holdings: Sender<Lease>,
    /// Inputs of a lost worker wait to be taken over: read no new ones meanwhile.
    claiming: bool,
    next_refresh: Instant,
    /// The broker's clock at the last refresh, in milliseconds: jobs announced after it are
    /// new.
    refreshed_ms: u64,
}

impl Server {
    /// Connects to the broker at `url` (one connection per thread) and starts the threads
    /// that feed the owner loop; the worker shows as live from now on.
    ///
    /// # Errors
    /// [`BrokerError::Unreachable`], [`BrokerError::Auth`] or [`BrokerError::Tls`].
    pub fn connect(url: &Arc<BrokerUrl>, options: ServeOptions) -> Result<Server, BrokerError> {
        let con = Conn::open(Arc::clone(url))?;
        let reader_con = Conn::open(Arc::clone(url))?;
        let writer_con = Conn::open(Arc::clone(url))?;
        let keeper_con = Conn::open(Arc::clone(url))?;
        let adopter_con = Conn::open(Arc::clone(url))?;
        let name = super::process_name();
        let (events_tx, events) = unbounded();
        let (reads, reads_rx) = unbounded();
        let (stores, stores_rx) = unbounded();
        let (leases, leases_rx) = unbounded();
        let (holdings, holdings_rx) = unbounded();
        let (adopts, adopts_rx) = unbounded();
        {
            let (name, events) = (name.clone(), events_tx.clone());
            std::thread::spawn(move || reader::read(reader_con, &name, &reads_rx, &events));
        }
        let writer = {
            let events = events_tx.clone();
            std::thread::spawn(move || writer::write(writer_con, &stores_rx, &events))
        };
        let counters = Arc::new(keeper::Counters::default());
        counters.window.store(
            options.prefetch.window(options.processes, None) as u64,
            Ordering::Relaxed,
        );
        {
            let (name, events) = (name.clone(), events_tx.clone());
            let shown = keeper::Shown {
                name: name.clone(),
                processes: options.processes,
                caps: options.caps.summary(),
                counters: Arc::clone(&counters),
            };
            std::thread::spawn(move || {
                keeper::keep(keeper_con, &shown, &leases_rx, &holdings_rx, &events);
            });
        }
        let adopter = Adopter {
            url: Arc::clone(url),
            name: name.clone(),
            processes: options.processes,
            caps: options.caps,
            module_dir: options.module_dir,
            worker_program: options.worker_program,
            log: Arc::clone(&options.log),
        };
        {
            let events = events_tx.clone();
            std::thread::spawn(move || adopter.run(adopter_con, &adopts_rx, &events));
        }
        let owner = Owner {
            con,
            name,
            counters,
            url: url.shown().to_string(),
            prefetch: options.prefetch,
            processes: options.processes,
            log: options.log,
            events,
            inbox: events_tx,
            jobs: HashMap::new(),
            held: Held::default(),
            reads,
            reading: false,
            adopts,
            stores,
            leases,
            holdings,
            claiming: false,
            next_refresh: Instant::now(),
            refreshed_ms: 0,
        };
        Ok(Server { owner, writer })
    }

    /// A handle that stops [`run`](Self::run) from another thread.
    pub fn stopper(&self) -> Stopper {
        Stopper(self.owner.inbox.clone())
    }

    /// Serves the broker until stopped (then lets go of its pools: the inputs they held are
    /// taken over by other workers after their lease).
    ///
    /// # Errors
    /// [`BrokerError::Lost`] when the broker is gone for longer than reconnecting allows,
    /// [`BrokerError::Auth`] if it stops accepting the credentials, and
    /// [`BrokerError::Protocol`] when it refuses a command mpwasm relies on.
    pub fn run(self) -> Result<(), BrokerError> {
        let Server { mut owner, writer } = self;
        let plural =
            |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        let window = match owner.prefetch {
            Prefetch::Fixed(n) => plural(n, "input", "inputs"),
            Prefetch::Adaptive => format!(
                "{}–{} inputs, as they cost",
                owner.processes * ADAPTIVE_MIN,
                owner.processes * ADAPTIVE_MAX
            ),
        };
        (owner.log)(&format!(
            "serving {} as {} ({} per job, {window} at once)",
            owner.url,
            owner.name,
            plural(owner.processes, "process", "processes"),
        ));
        let result = owner.serve();
        let ids: Vec<String> = owner.jobs.keys().cloned().collect();
        for id in ids {
            owner.retire(&id);
        }
        if result.is_err() {
            // The broker is lost already: one try, no waiting.
            owner.con.set_patience(Duration::ZERO);
        }
        let name = owner.name.clone();
        let _ = owner.con.run("ZREM", |c| {
            redis::cmd("ZREM").arg(WORKERS).arg(&name).query::<()>(c)
        });
        // The reader, keeper and adopter end with their channels; the writer stores what it
        // was given first.
        drop(owner);
        let _ = writer.join();
        result
    }
}

impl Owner {
    /// The loop: one event (or deadline) at a time, then whatever is due (see the module docs).
    fn serve(&mut self) -> Result<(), BrokerError> {
        loop {
            match self.events.recv_deadline(self.next_deadline()) {
                Ok(ServeEvent::Stop) => return Ok(()),
                Ok(ServeEvent::Failed(e)) => return Err(e),
                Ok(event) => self.handle(event),
                Err(RecvTimeoutError::Timeout) => {}
                // The owner holds a sender itself: the inbox never disconnects.
                Err(RecvTimeoutError::Disconnected) => return Ok(()),
            }
            let now = Instant::now();
            if now >= self.next_refresh {
                self.refresh()?;
                self.next_refresh = now + REFRESH;
            }
            self.check_leases(now)?;
            if self.claiming && self.held.is_empty() {
                self.claim_one()?;
            }
            self.ask_to_read();
        }
    }

    /// The next refresh, or the next lease check of a served job, whichever comes first.
    fn next_deadline(&self) -> Instant {
        self.jobs
            .values()
            .filter_map(|job| match job {
                Job::Served(served) => Some(served.next_claim),
                Job::Adopting | Job::Refused => None,
            })
            .fold(self.next_refresh, Instant::min)
    }

    fn handle(&mut self, event: ServeEvent) {
        match event {
            ServeEvent::Stop | ServeEvent::Failed(_) => {}
            ServeEvent::Read(result) => {
                self.reading = false;
                match result {
                    ReadResult::Inputs(streams) => {
                        for (stream, entries) in streams {
                            if let Some(id) = self.job_of_stream(&stream) {
                                self.dispatch(&id, entries, false);
                            }
                        }
                    }
                    // A job ended between the refresh and the read.
                    ReadResult::StreamGone => self.next_refresh = Instant::now(),
                    ReadResult::Announced(true) => self.next_refresh = Instant::now(),
                    ReadResult::Announced(false) => {}
                }
            }
            ServeEvent::Adopted { id, adoption } => self.adopted(id, adoption),
            ServeEvent::Finished { job, outcome } => self.finished(&job, &outcome),
            ServeEvent::Stored { job, entries } => {
                for entry in entries {
                    if let Some(item) = self.held.stored(&job, &entry) {
                        self.release(&job, item);
                    }
                }
            }
        }
    }

    /// The id of the served job whose input stream is `stream`.
    fn job_of_stream(&self, stream: &str) -> Option<String> {
        self.jobs.iter().find_map(|(id, job)| match job {
            Job::Served(served) if served.keys.input == stream => Some(id.clone()),
            _ => None,
        })
    }

    /// Reads the running jobs: asks the adopter to take up new ones, retires ended ones.
    fn refresh(&mut self) -> Result<(), BrokerError> {
        let known: Vec<String> = self.jobs.keys().cloned().collect();
        let (ids, exists, now_ms): (Vec<String>, Vec<bool>, u64) =
            self.con.run("read the jobs", |c| {
                let now_ms = broker_time_ms(c)?;
                let ids: Vec<String> = redis::cmd("SMEMBERS").arg(JOBS).query(c)?;
                let mut exists = Vec::with_capacity(known.len());
                for id in &known {
                    exists.push(
                        redis::cmd("EXISTS")
                            .arg(&JobKeys::new(id).record)
                            .query(c)?,
                    );
                }
                Ok((ids, exists, now_ms))
            })?;
        self.refreshed_ms = now_ms;
        let running: HashSet<&str> = ids.iter().map(String::as_str).collect();
        for (id, exists) in known.iter().zip(exists) {
            if !exists || !running.contains(id.as_str()) {
                self.retire(id);
            }
        }
        for id in ids.iter().filter(|id| keys::valid_job_id(id)) {
            if !self.jobs.contains_key(id) && self.adopts.send(id.clone()).is_ok() {
                self.jobs.insert(id.clone(), Job::Adopting);
            }
        }
        Ok(())
    }

    /// The adopter took up job `id`. A job retired meanwhile is let go at once.
    fn adopted(&mut self, id: String, adoption: Adoption) {
        if !matches!(self.jobs.get(&id), Some(Job::Adopting)) {
            return; // dropping a served job's pool stops it
        }
        match adoption {
            Adoption::Served(served) => {
                self.counters.jobs_served.fetch_add(1, Ordering::Relaxed);
                let _ = self.leases.send(Lease::Job {
                    input: served.keys.input.clone(),
                    lease: served.lease,
                });
                self.jobs.insert(id, Job::Served(served));
            }
            Adoption::Refused => {
                self.jobs.insert(id, Job::Refused);
            }
            Adoption::Expired => {
                self.jobs.remove(&id);
            }
        }
    }

    /// Stops serving job `id`: its pool stops at once; what it held here is let go (it stays
    /// pending on the broker, and goes with the job's keys).
    fn retire(&mut self, id: &str) {
        self.held.drop_job(id);
        if let Some(Job::Served(served)) = self.jobs.remove(id) {
            let _ = self.leases.send(Lease::Forget {
                input: served.keys.input.clone(),
            });
            let Served {
                pool,
                submitter,
                answered,
                ..
            } = *served;
            drop(submitter);
            pool.terminate();
            drop(pool);
            (self.log)(&format!(
                "job {id}: ended ({answered} input{} answered here)",
                if answered == 1 { "" } else { "s" }
            ));
        }
    }

    /// Hands entries read from job `id`'s stream to its pool (`suspect`: taken over from a
    /// lost worker).
    fn dispatch(&mut self, id: &str, entries: Vec<Entry>, suspect: bool) {
        let Some(Job::Served(served)) = self.jobs.get_mut(id) else {
            return;
        };
        for entry in entries {
            // Not an input mpwasm wrote (or one deleted meanwhile): nothing to answer.
            let Some(index) = entry.u64_field(INDEX_FIELD) else {
                continue;
            };
            let item = Item {
                entry: entry.id.clone(),
                index,
                suspect,
            };
            let input = entry.field(INPUT_FIELD).map(std::str::from_utf8);
            match input {
                Some(Ok(input)) => {
                    // Known before the task can run: its shared calls name the job's index.
                    served
                        .indices
                        .insert(TaskIndex(served.submitter.submitted()), index);
                    if let Some(local) = served.submitter.push(input)
                        && self.held.hold(id, item, Some(local))
                    {
                        let _ = self.holdings.send(Lease::Hold {
                            input: served.keys.input.clone(),
                            entry: entry.id,
                        });
                    }
                }
                _ => {
                    let message = "the input on the broker is not UTF-8 JSON text";
                    let payload =
                        outcome::encode_failure(index, ErrorKind::BadInput, message.into());
                    if self.held.hold(id, item, None) {
                        let _ = self.stores.send(Store::new(
                            &served.keys,
                            entry.id,
                            index,
                            payload,
                            Some((ErrorKind::BadInput, message)),
                            &self.name,
                        ));
                    }
                }
            }
        }
        served.submitter.flush();
    }

    /// Job `job`'s pool finished a task: its result goes to the writer; a task the pool
    /// cancelled (it is stopping) is let go, for another worker to run.
    fn finished(&mut self, job: &str, outcome: &TaskOutcome) {
        let Some(Job::Served(served)) = self.jobs.get_mut(job) else {
            return;
        };
        served.indices.remove(outcome.index());
        if let Err(e) = outcome.json()
            && e.kind() == ErrorKind::Cancelled
        {
            if let Some(item) = self.held.give_up(job, outcome.index()) {
                self.release(job, item);
            }
            return;
        }
        let Some(item) = self.held.finished(job, outcome.index()) else {
            return;
        };
        served.answered += 1;
        self.counters.inputs_done.fetch_add(1, Ordering::Relaxed);
        let failed = outcome.json().err().map(|e| (e.kind(), e.message()));
        let _ = self.stores.send(Store::new(
            &served.keys,
            item.entry.clone(),
            item.index,
            outcome::encode(outcome, item.index),
            failed,
            &self.name,
        ));
    }

    /// Tells the keeper that `item` of `job` is no longer held.
    fn release(&self, job: &str, item: Item) {
        let _ = self.holdings.send(Lease::Release {
            input: JobKeys::new(job).input,
            entry: item.entry,
        });
    }

    /// Asks the reader for the next read, unless one is out: new inputs while there is room
    /// (none while a taken-over input runs alone, or inputs wait to be taken over), or with no
    /// job to serve, the announcement of the next job.
    fn ask_to_read(&mut self) {
        if self.reading {
            return;
        }
        let streams: Vec<String> = self
            .jobs
            .values()
            .filter_map(|job| match job {
                Job::Served(served) => Some(served.keys.input.clone()),
                Job::Adopting | Job::Refused => None,
            })
            .collect();
        let read = if streams.is_empty() {
            if self.jobs.values().any(|job| matches!(job, Job::Adopting)) {
                return; // the adopter's answer comes first
            }
            Read::Announcements {
                // Jobs announced in the millisecond of the refresh, or after it.
                since: format!("{}-0", self.refreshed_ms.saturating_sub(1)),
                wait: self.next_refresh.saturating_duration_since(Instant::now()),
            }
        } else {
            // Room is for inputs to run: one whose result is being written no longer takes a
            // place, so the next input is read while the writer stores (off the critical
            // path); a slow writer still stops the reading at twice the prefetch.
            let free = if self.claiming || self.held.suspects() > 0 {
                0
            } else {
                let window = self.window();
                let running = window.saturating_sub(self.held.running());
                running.min((2 * window).saturating_sub(self.held.count()))
            };
            if free == 0 {
                return; // a finished or stored input makes room, and wakes the owner
            }
            Read::Inputs {
                count: free.div_ceil(streams.len()),
                streams,
            }
        };
        self.reading = self.reads.send(read).is_ok();
    }

    /// The inputs to hold now (see [`Prefetch`]); published for `mpwasm status` when it
    /// changes.
    fn window(&self) -> usize {
        let slowest = self
            .jobs
            .values()
            .filter_map(|job| match job {
                Job::Served(served) => served.pool.task_cost(),
                Job::Adopting | Job::Refused => None,
            })
            .max();
        let window = self.prefetch.window(self.processes, slowest);
        self.counters.window.store(window as u64, Ordering::Relaxed);
        window
    }

    /// Looks, for each served job whose check is due, for inputs idle past its lease (their
    /// worker stopped renewing them; the keeper renews ours): then this worker reads no new
    /// inputs until it holds none, and takes them over one at a time.
    fn check_leases(&mut self, now: Instant) -> Result<(), BrokerError> {
        let due: Vec<(String, Duration)> = self
            .jobs
            .values_mut()
            .filter_map(|job| match job {
                Job::Served(served) if now >= served.next_claim => {
                    served.next_claim = now + (served.lease / 2).min(Duration::from_secs(1));
                    Some((served.keys.input.clone(), served.lease))
                }
                _ => None,
            })
            .collect();
        for (input, lease) in due {
            if self.claiming {
                break;
            }
            match takeover::has_idle(&mut self.con, &input, lease) {
                Ok(idle) => self.claiming = idle,
                Err(BrokerError::Gone { .. }) => self.next_refresh = now,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Takes over one input idle past its lease, from any served job, and runs it alone; one
    /// delivered too often ends as `worker-lost` instead. When there is none left (or another
    /// worker was quicker), goes back to reading new inputs.
    fn claim_one(&mut self) -> Result<(), BrokerError> {
        let served: Vec<(String, String, Duration, u64)> = self
            .jobs
            .iter()
            .filter_map(|(id, job)| match job {
                Job::Served(s) => {
                    Some((id.clone(), s.keys.input.clone(), s.lease, s.max_deliveries))
                }
                Job::Adopting | Job::Refused => None,
            })
            .collect();
        for (id, input, lease, max_deliveries) in served {
            let claimed = match takeover::claim(&mut self.con, &self.name, &input, lease) {
                Ok(Some(claimed)) => claimed,
                Ok(None) => continue,
                Err(BrokerError::Gone { .. }) => {
                    self.next_refresh = Instant::now();
                    continue;
                }
                Err(e) => return Err(e),
            };
            let deliveries = claimed.deliveries;
            match claimed.entry.u64_field(INDEX_FIELD) {
                Some(index) if deliveries > max_deliveries => {
                    (self.log)(&format!(
                        "job {id}: input {index} was delivered {deliveries} times, its workers \
                         lost each time: it ends as worker-lost"
                    ));
                    let item = Item {
                        entry: claimed.entry.id.clone(),
                        index,
                        suspect: false,
                    };
                    if let Some(Job::Served(served)) = self.jobs.get(&id)
                        && self.held.hold(&id, item, None)
                    {
                        // For the dashboard only (see the take-over below).
                        let _ = takeover::record(&mut self.con, &served.keys, None);
                        let (payload, message) =
                            takeover::worker_lost(index, deliveries, max_deliveries);
                        let _ = self.stores.send(Store::new(
                            &served.keys,
                            claimed.entry.id,
                            index,
                            payload,
                            Some((ErrorKind::WorkerLost, &message)),
                            &self.name,
                        ));
                    }
                }
                index => {
                    (self.log)(&format!(
                        "job {id}: took over an input from a worker that stopped answering \
                         (delivery {deliveries})"
                    ));
                    if let (Some(index), Some(Job::Served(served))) = (index, self.jobs.get(&id)) {
                        // For the dashboard only: a broker that fails here fails the next
                        // command that matters, so this one's failure changes nothing.
                        let keys = Arc::clone(&served.keys);
                        let taken = Some((index, &claimed, self.name.as_str()));
                        let _ = takeover::record(&mut self.con, &keys, taken);
                    }
                    self.dispatch(&id, vec![claimed.entry], true);
                }
            }
            return Ok(());
        }
        self.claiming = false;
        Ok(())
    }
}
