//! The worker's side: `mpwasm worker --broker URL`. [`serve`] watches the broker's running
//! jobs; for each it fetches the module (checking its hash), lowers the job's settings to the
//! operator's [`WorkerCaps`] (or refuses the job), and starts a local [`Pool`]. It then reads
//! inputs from all jobs' streams at once in the consumer group (so jobs share the worker),
//! holds at most `prefetch` inputs, renews the lease on them, takes over the inputs of workers
//! that stopped renewing (`XAUTOCLAIM`), and turns an input delivered too often into a
//! `worker-lost` result. A writer thread stores results through the one Lua script.
//!
//! Threads: the main loop (jobs, reading, taking over), one per job relaying its pool's
//! outcomes, the writer, and the [`keeper`](super::keeper) (heartbeat and lease renewal); each
//! thread that talks to the broker has its own connection.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, bounded, unbounded};
use redis::Value;

use super::connection::{BrokerUrl, Conn};
use super::error::BrokerError;
use super::keeper::{self, Held, Registry};
use super::keys::{self, EVENTS, GROUP, JOB_TTL, JOBS, JobKeys, WORKERS};
use super::outcome;
use super::record::{JobRecord, RECORD_VERSION, WorkerCaps};
use super::reply::{self, Entry};
use super::scripts::STORE_RESULTS;
use crate::error::ErrorKind;
use crate::pool::{Pool, PoolBuilder, Submitter};
use crate::vocab::JobSpec;

/// How often the set of running jobs is read.
const REFRESH: Duration = Duration::from_millis(250);
/// How long one read of the input streams blocks.
const BLOCK_MS: u64 = 200;
/// The most results stored in one script call.
const WRITE_BATCH: usize = 256;

/// How a worker serves the broker.
pub struct ServeOptions {
    /// Worker processes per job's pool.
    pub processes: usize,
    /// Inputs held at once (running or queued here), over all jobs.
    pub prefetch: usize,
    /// What the operator allows any job.
    pub caps: WorkerCaps,
    /// Where modules fetched from the broker are kept, by hash.
    pub module_dir: PathBuf,
    /// The program local pools run as workers (default: this executable).
    pub worker_program: Option<PathBuf>,
    /// Where the worker says what it does (jobs started, refused, inputs taken over).
    pub log: Arc<dyn Fn(&str) + Send + Sync>,
}

/// Serves the broker at `url` until `stop` is set (then stops its pools: the inputs they held
/// are taken over by other workers after their lease).
///
/// # Errors
/// [`BrokerError::Unreachable`] or [`BrokerError::Auth`] at the start, [`BrokerError::Lost`]
/// when the broker is gone for longer than the reconnecting allows.
pub fn serve(
    url: &Arc<BrokerUrl>,
    options: ServeOptions,
    stop: &AtomicBool,
) -> Result<(), BrokerError> {
    let main = Conn::open(Arc::clone(url))?;
    let writer_con = Conn::open(Arc::clone(url))?;
    let keeper_con = Conn::open(Arc::clone(url))?;
    let name = super::process_name();
    let registry: Registry = Arc::default();
    let keeper_stop = Arc::new(AtomicBool::new(false));
    let (done_tx, done_rx) = unbounded::<Done>();
    let (freed_tx, freed_rx) = bounded::<()>(1);
    let in_flight = Arc::new(AtomicUsize::new(0));
    let suspects = Arc::new(AtomicUsize::new(0));
    let failure = Arc::new(Mutex::new(None));
    {
        let counts = Counts {
            in_flight: Arc::clone(&in_flight),
            suspects: Arc::clone(&suspects),
        };
        let failure = Arc::clone(&failure);
        std::thread::spawn(move || writer(writer_con, &done_rx, &counts, &freed_tx, &failure));
    }
    {
        let (name, registry) = (name.clone(), Arc::clone(&registry));
        let (stop, failure) = (Arc::clone(&keeper_stop), Arc::clone(&failure));
        std::thread::spawn(move || keeper::keep(keeper_con, &name, &registry, &stop, &failure));
    }
    let mut server = Server {
        con: main,
        name,
        registry,
        options,
        jobs: HashMap::new(),
        done: done_tx,
        in_flight,
        suspects,
        claiming: false,
        next_refresh: Instant::now(),
        refreshed_ms: 0,
    };
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    (server.options.log)(&format!(
        "serving {} as {} ({} per job, {} at once)",
        url.shown(),
        server.name,
        plural(server.options.processes, "process", "processes"),
        plural(server.options.prefetch, "input", "inputs")
    ));
    let result = server.run(stop, &freed_rx, &failure);
    keeper_stop.store(true, Ordering::SeqCst);
    let ids: Vec<String> = server.jobs.keys().cloned().collect();
    for id in ids {
        server.retire(&id);
    }
    let name = server.name.clone();
    let _ = server.con.run("ZREM", |c| {
        redis::cmd("ZREM").arg(WORKERS).arg(&name).query::<()>(c)
    });
    result
}

/// An input handed to a local pool.
pub(crate) struct Item {
    /// Its entry id in the input stream.
    pub(crate) entry: String,
    /// Its index in the submitter's job.
    index: u64,
    /// Taken over from a worker that was lost: it runs alone here.
    suspect: bool,
}

/// A finished input, for the writer.
struct Done {
    keys: Arc<JobKeys>,
    entry: String,
    /// The encoded result; `None` when the local pool gave up on it (the job ended here, the
    /// worker stops): it stays pending for another worker.
    payload: Option<Vec<u8>>,
    /// It was a taken-over input running alone.
    suspect: bool,
}

enum Known {
    Served(Box<Served>),
    /// Refused, or impossible to run here: its inputs are left to other workers.
    Refused,
}

struct Served {
    keys: Arc<JobKeys>,
    pool: Pool,
    submitter: Submitter,
    /// Local task index → the input it is.
    items: Arc<Mutex<HashMap<u64, Item>>>,
    /// Inputs this worker ran to an outcome for the job (stored first or not).
    answered: Arc<AtomicU64>,
    lease: Duration,
    max_deliveries: u64,
    next_claim: Instant,
}

fn lock(items: &Mutex<HashMap<u64, Item>>) -> MutexGuard<'_, HashMap<u64, Item>> {
    items.lock().unwrap_or_else(|p| p.into_inner())
}

struct Server {
    con: Conn,
    name: String,
    /// What the keeper renews.
    registry: Registry,
    options: ServeOptions,
    jobs: HashMap<String, Known>,
    done: Sender<Done>,
    in_flight: Arc<AtomicUsize>,
    /// Taken-over inputs running here (each alone).
    suspects: Arc<AtomicUsize>,
    /// Inputs of a lost worker wait to be taken over: read no new ones meanwhile.
    claiming: bool,
    next_refresh: Instant,
    /// The broker's clock at the last refresh, in milliseconds: jobs announced after it are
    /// new.
    refreshed_ms: u64,
}

impl Server {
    fn log(&self, line: &str) {
        (self.options.log)(line);
    }

    fn run(
        &mut self,
        stop: &AtomicBool,
        freed: &Receiver<()>,
        failure: &Mutex<Option<BrokerError>>,
    ) -> Result<(), BrokerError> {
        while !stop.load(Ordering::SeqCst) {
            if let Some(e) = failure.lock().unwrap_or_else(|p| p.into_inner()).take() {
                return Err(e);
            }
            let now = Instant::now();
            if now >= self.next_refresh {
                self.refresh()?;
                self.next_refresh = now + REFRESH;
            }
            self.leases(now)?;
            let in_flight = self.in_flight.load(Ordering::SeqCst);
            let suspects = self.suspects.load(Ordering::SeqCst);
            if self.claiming && in_flight == 0 {
                self.claim_one()?;
            }
            // A taken-over input runs alone, and inputs waiting to be taken over come first.
            let free = if self.claiming || suspects > 0 {
                0
            } else {
                self.options.prefetch.saturating_sub(in_flight)
            };
            let streams: Vec<String> = self
                .jobs
                .values()
                .filter_map(|k| match k {
                    Known::Served(s) => Some(s.keys.input.clone()),
                    Known::Refused => None,
                })
                .collect();
            if streams.is_empty() {
                self.wait_for_jobs()?;
                continue;
            }
            if free == 0 {
                let _ = freed.recv_timeout(Duration::from_millis(100));
                continue;
            }
            let per_stream = free.div_ceil(streams.len());
            let name = self.name.clone();
            let read = self.con.run("XREADGROUP", |c| {
                let mut cmd = redis::cmd("XREADGROUP");
                cmd.arg("GROUP")
                    .arg(GROUP)
                    .arg(&name)
                    .arg("COUNT")
                    .arg(per_stream)
                    .arg("BLOCK")
                    .arg(BLOCK_MS)
                    .arg("STREAMS")
                    .arg(&streams);
                for _ in &streams {
                    cmd.arg(">");
                }
                cmd.query::<Value>(c)
            });
            let reply = match read {
                Ok(reply) => reply,
                // A job ended between the refresh and the read (its stream is gone).
                Err(BrokerError::Protocol { .. } | BrokerError::Gone { .. }) => {
                    self.next_refresh = Instant::now();
                    continue;
                }
                Err(e) => return Err(e),
            };
            for (stream, entries) in reply::streams(&reply) {
                let id = self.jobs.iter().find_map(|(id, k)| match k {
                    Known::Served(s) if s.keys.input == stream => Some(id.clone()),
                    _ => None,
                });
                if let Some(id) = id {
                    self.dispatch(&id, entries, false);
                }
            }
        }
        Ok(())
    }

    /// Reads the running jobs: adopts new ones, retires ended ones.
    fn refresh(&mut self) -> Result<(), BrokerError> {
        let known: Vec<String> = self.jobs.keys().cloned().collect();
        let (ids, exists, now_ms): (Vec<String>, Vec<bool>, u64) =
            self.con.run("read the jobs", |c| {
                let (secs, micros): (u64, u64) = redis::cmd("TIME").query(c)?;
                let now_ms = secs * 1000 + micros / 1000;
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
            if !self.jobs.contains_key(id) {
                self.adopt(id)?;
            }
        }
        Ok(())
    }

    /// With no job to serve: waits until a job is announced, or the next refresh is due.
    fn wait_for_jobs(&mut self) -> Result<(), BrokerError> {
        let wait = self
            .next_refresh
            .saturating_duration_since(Instant::now())
            .as_millis()
            .max(1) as u64;
        // Jobs announced in the millisecond of the refresh, or after it.
        let since = format!("{}-0", self.refreshed_ms.saturating_sub(1));
        let announced: Value = self.con.run("XREAD", |c| {
            redis::cmd("XREAD")
                .arg("COUNT")
                .arg(1)
                .arg("BLOCK")
                .arg(wait)
                .arg("STREAMS")
                .arg(EVENTS)
                .arg(&since)
                .query(c)
        })?;
        if !reply::streams(&announced).is_empty() {
            self.next_refresh = Instant::now();
        }
        Ok(())
    }

    /// Starts serving job `id`, or refuses it.
    fn adopt(&mut self, id: &str) -> Result<(), BrokerError> {
        let keys = JobKeys::new(id);
        let record: Option<String> = self
            .con
            .run("GET", |c| redis::cmd("GET").arg(&keys.record).query(c))?;
        let Some(record) = record else {
            // Its submitter is gone and the record expired: forget the job.
            let id = id.to_string();
            self.con.run("SREM", |c| {
                redis::cmd("SREM").arg(JOBS).arg(&id).query::<()>(c)
            })?;
            return Ok(());
        };
        let known = match self.start_job(&keys, &record) {
            Ok((served, notes)) => {
                keeper::lock(&self.registry).insert(
                    id.to_string(),
                    Held {
                        keys: Arc::clone(&served.keys),
                        items: Arc::clone(&served.items),
                        lease: served.lease,
                    },
                );
                if !notes.is_empty() {
                    let note = notes.join("; ");
                    self.log(&format!("job {id}: {note}"));
                    self.tell(&keys.notes, &note)?;
                }
                Known::Served(Box::new(served))
            }
            Err(why) => {
                self.log(&format!("job {id}: refused: {why}"));
                self.tell(&keys.refused, &why)?;
                Known::Refused
            }
        };
        self.jobs.insert(id.to_string(), known);
        Ok(())
    }

    /// Says `what` in the job's hash `key` (its notes, or refusals), under this worker's name.
    fn tell(&mut self, key: &str, what: &str) -> Result<(), BrokerError> {
        let name = self.name.clone();
        self.con.run("HSET", |c| {
            redis::cmd("HSET")
                .arg(key)
                .arg(&name)
                .arg(what)
                .query::<()>(c)
        })
    }

    /// The module, the capped settings and the local pool of a job; or why not.
    fn start_job(&mut self, keys: &JobKeys, record: &str) -> Result<(Served, Vec<String>), String> {
        let record: JobRecord = serde_json::from_str(record)
            .map_err(|e| format!("its record is not one mpwasm writes: {e}"))?;
        if record.version != RECORD_VERSION {
            return Err(format!(
                "its record has version {}, this worker reads version {RECORD_VERSION} (run the \
                 same mpwasm version on both sides)",
                record.version
            ));
        }
        if record.spec_version != JobSpec::VERSION {
            return Err(format!(
                "its settings have version {}, this worker reads version {} (run the same mpwasm \
                 version on both sides)",
                record.spec_version,
                JobSpec::VERSION
            ));
        }
        if !keys::valid_sha256(&record.module) {
            return Err("its record names no module hash".into());
        }
        let path = self.fetch_module(&record)?;
        let mut settings = record.settings.clone();
        let notes = self
            .options
            .caps
            .apply(&mut settings, self.options.processes)?;
        let mut builder = PoolBuilder::from_spec(settings).processes(self.options.processes);
        if let Some(program) = &self.options.worker_program {
            builder = builder.worker_program(program);
        }
        let pool = builder
            .build(path.as_path())
            .map_err(|e| format!("its module cannot run here: {e}"))?;
        let (submitter, outcomes) = pool.job(false);
        let items = Arc::new(Mutex::new(HashMap::new()));
        let answered = Arc::new(AtomicU64::new(0));
        let keys = Arc::new(keys.clone());
        {
            let items = Arc::clone(&items);
            let answered = Arc::clone(&answered);
            let keys = Arc::clone(&keys);
            let done = self.done.clone();
            std::thread::spawn(move || {
                for outcome in outcomes {
                    let Some(item) = lock(&items).remove(&outcome.index().0) else {
                        continue;
                    };
                    let payload = match outcome.json() {
                        Err(e) if e.kind() == ErrorKind::Cancelled => None,
                        _ => {
                            answered.fetch_add(1, Ordering::SeqCst);
                            Some(outcome::encode(&outcome, item.index))
                        }
                    };
                    let _ = done.send(Done {
                        keys: Arc::clone(&keys),
                        entry: item.entry,
                        payload,
                        suspect: item.suspect,
                    });
                }
            });
        }
        self.log(&format!(
            "job {}: {} from {}",
            keys.id,
            record.safe_module_name(),
            record.submitter,
        ));
        let lease = Duration::from_millis(record.lease_ms.max(100));
        let retries = u64::from(record.settings.retries_or_default());
        Ok((
            Served {
                keys,
                pool,
                submitter,
                items,
                answered,
                lease,
                max_deliveries: retries + 1,
                next_claim: Instant::now(),
            },
            notes,
        ))
    }

    /// The module's file here: fetched once, checked against its hash.
    fn fetch_module(&mut self, record: &JobRecord) -> Result<PathBuf, String> {
        let dir = self.options.module_dir.join(&record.module);
        let path = dir.join(record.safe_module_name());
        if let Ok(bytes) = std::fs::read(&path)
            && keys::module_hash(&bytes) == record.module
        {
            return Ok(path);
        }
        let key = keys::module(&record.module);
        let bytes: Option<Vec<u8>> = self
            .con
            .run("GET", |c| redis::cmd("GET").arg(&key).query(c))
            .map_err(|e| e.to_string())?;
        let bytes = bytes.ok_or_else(|| format!("its module is not on the broker ({key})"))?;
        if keys::module_hash(&bytes) != record.module {
            return Err(format!(
                "the module stored under {key} does not have that hash: refusing to run it"
            ));
        }
        write_atomically(&dir, &path, &bytes)
            .map_err(|e| format!("cannot keep its module in {}: {e}", dir.display()))?;
        Ok(path)
    }

    /// Stops serving job `id`: its pool stops at once; what it held ends here.
    fn retire(&mut self, id: &str) {
        keeper::lock(&self.registry).remove(id);
        if let Some(Known::Served(served)) = self.jobs.remove(id) {
            let Served {
                pool,
                submitter,
                answered,
                ..
            } = *served;
            drop(submitter);
            pool.terminate();
            drop(pool);
            let answered = answered.load(Ordering::SeqCst);
            self.log(&format!(
                "job {id}: ended ({answered} input{} answered here)",
                if answered == 1 { "" } else { "s" }
            ));
        }
    }

    /// Hands entries read from a job's stream to its pool (`suspect`: taken over from a lost
    /// worker).
    fn dispatch(&mut self, id: &str, entries: Vec<Entry>, suspect: bool) {
        let Some(Known::Served(served)) = self.jobs.get_mut(id) else {
            return;
        };
        for entry in entries {
            let index = entry
                .field("i")
                .and_then(|i| std::str::from_utf8(i).ok())
                .and_then(|i| i.parse::<u64>().ok());
            let input = entry
                .field("v")
                .map(|v| std::str::from_utf8(v).map(str::to_string));
            self.in_flight.fetch_add(1, Ordering::SeqCst);
            let (index, input) = match (index, input) {
                (Some(index), Some(Ok(input))) => (index, input),
                (Some(index), _) => {
                    let _ = self.done.send(Done {
                        keys: Arc::clone(&served.keys),
                        entry: entry.id,
                        payload: Some(outcome::encode_failure(
                            index,
                            ErrorKind::BadInput,
                            "the input on the broker is not UTF-8 JSON text".into(),
                        )),
                        suspect: false,
                    });
                    continue;
                }
                // Not an input mpwasm wrote (or one deleted meanwhile): nothing to answer.
                (None, _) => {
                    self.in_flight.fetch_sub(1, Ordering::SeqCst);
                    continue;
                }
            };
            let local = served.submitter.submitted();
            lock(&served.items).insert(
                local,
                Item {
                    entry: entry.id,
                    index,
                    suspect,
                },
            );
            if suspect {
                self.suspects.fetch_add(1, Ordering::SeqCst);
            }
            if served.submitter.push(input).is_none() {
                lock(&served.items).remove(&local);
                self.in_flight.fetch_sub(1, Ordering::SeqCst);
                if suspect {
                    self.suspects.fetch_sub(1, Ordering::SeqCst);
                }
            }
        }
        served.submitter.flush();
    }

    /// Looks for inputs whose worker stopped renewing their lease (the keeper renews ours).
    fn leases(&mut self, now: Instant) -> Result<(), BrokerError> {
        let ids: Vec<String> = self.jobs.keys().cloned().collect();
        for id in ids {
            let claim = match self.jobs.get(&id) {
                Some(Known::Served(s)) => now >= s.next_claim,
                _ => continue,
            };
            if claim {
                self.check_idle(&id)?;
            }
        }
        Ok(())
    }

    /// Whether job `id` has inputs idle for longer than its lease (their worker was lost):
    /// then this worker stops reading new inputs until it holds none, and takes them over one
    /// at a time ([`claim_one`](Self::claim_one)).
    fn check_idle(&mut self, id: &str) -> Result<(), BrokerError> {
        let Some(Known::Served(served)) = self.jobs.get_mut(id) else {
            return Ok(());
        };
        served.next_claim = Instant::now() + (served.lease / 2).min(Duration::from_secs(1));
        if self.claiming {
            return Ok(());
        }
        let input = served.keys.input.clone();
        let lease_ms = served.lease.as_millis() as u64;
        let idle = self.con.run("XPENDING", |c| {
            redis::cmd("XPENDING")
                .arg(&input)
                .arg(GROUP)
                .arg("IDLE")
                .arg(lease_ms)
                .arg("-")
                .arg("+")
                .arg(1)
                .query::<Value>(c)
        });
        match idle {
            Ok(reply) => self.claiming = !reply::items(&reply).is_empty(),
            Err(BrokerError::Protocol { .. } | BrokerError::Gone { .. }) => {}
            Err(e) => return Err(e),
        }
        Ok(())
    }

    /// Takes over one input idle for longer than its lease, from any job, and runs it alone (an
    /// input queued behind one that crashed a machine is so not lost with it a second time);
    /// one delivered too often becomes a `worker-lost` result instead. When there is none left
    /// (or another worker was quicker), goes back to reading new inputs.
    fn claim_one(&mut self) -> Result<(), BrokerError> {
        let ids: Vec<String> = self.jobs.keys().cloned().collect();
        for id in ids {
            let Some(Known::Served(served)) = self.jobs.get(&id) else {
                continue;
            };
            let input = served.keys.input.clone();
            let lease_ms = served.lease.as_millis() as u64;
            let max_deliveries = served.max_deliveries;
            let keys = Arc::clone(&served.keys);
            let name = self.name.clone();
            let claimed = self.con.run("XAUTOCLAIM", |c| {
                let reply: Value = redis::cmd("XAUTOCLAIM")
                    .arg(&input)
                    .arg(GROUP)
                    .arg(&name)
                    .arg(lease_ms)
                    .arg("0-0")
                    .arg("COUNT")
                    .arg(1)
                    .query(c)?;
                let parts = reply::items(&reply);
                let Some(entry) = parts
                    .get(1)
                    .and_then(|e| reply::entries(e).into_iter().next())
                else {
                    return Ok(None);
                };
                // XAUTOCLAIM counted this delivery; XPENDING tells how many there were.
                let pending: Value = redis::cmd("XPENDING")
                    .arg(&input)
                    .arg(GROUP)
                    .arg(&entry.id)
                    .arg(&entry.id)
                    .arg(1)
                    .query(c)?;
                let deliveries = reply::items(&pending)
                    .first()
                    .and_then(|p| reply::items(p).get(3).and_then(|n| reply::int(n)))
                    .unwrap_or(1);
                Ok(Some((entry, deliveries.max(1) as u64)))
            });
            let (entry, deliveries) = match claimed {
                Ok(Some(claimed)) => claimed,
                Ok(None) | Err(BrokerError::Protocol { .. } | BrokerError::Gone { .. }) => continue,
                Err(e) => return Err(e),
            };
            let index = entry
                .field("i")
                .and_then(|i| std::str::from_utf8(i).ok())
                .and_then(|i| i.parse::<u64>().ok());
            match index {
                Some(index) if deliveries > max_deliveries => {
                    self.log(&format!(
                        "job {id}: input {index} was delivered {deliveries} times, its workers \
                         lost each time: it ends as worker-lost"
                    ));
                    self.in_flight.fetch_add(1, Ordering::SeqCst);
                    let _ = self.done.send(Done {
                        keys,
                        entry: entry.id,
                        payload: Some(outcome::encode_failure(
                            index,
                            ErrorKind::WorkerLost,
                            format!(
                                "this input was delivered {deliveries} times and every worker \
                                 running it was lost before answering (the job allows {} \
                                 deliveries: --retries {})",
                                max_deliveries,
                                max_deliveries - 1
                            ),
                        )),
                        suspect: false,
                    });
                }
                _ => {
                    self.log(&format!(
                        "job {id}: took over an input from a worker that stopped answering \
                         (delivery {deliveries})"
                    ));
                    self.dispatch(&id, vec![entry], true);
                }
            }
            return Ok(());
        }
        self.claiming = false;
        Ok(())
    }
}

/// A job's keys and its results to store: (input entry id, encoded result).
type JobResults = (Arc<JobKeys>, Vec<(String, Vec<u8>)>);

/// What the writer gives back as results are stored.
struct Counts {
    in_flight: Arc<AtomicUsize>,
    suspects: Arc<AtomicUsize>,
}

/// Stores finished inputs' results, in batches; frees their places.
fn writer(
    mut con: Conn,
    done: &Receiver<Done>,
    counts: &Counts,
    freed: &Sender<()>,
    failure: &Mutex<Option<BrokerError>>,
) {
    let script = redis::Script::new(STORE_RESULTS);
    let ttl_ms = JOB_TTL.as_millis() as u64;
    while let Ok(first) = done.recv() {
        let mut batch = vec![first];
        while batch.len() < WRITE_BATCH {
            match done.try_recv() {
                Ok(more) => batch.push(more),
                Err(_) => break,
            }
        }
        let count = batch.len();
        let suspects = batch.iter().filter(|d| d.suspect).count();
        let mut by_job: HashMap<String, JobResults> = HashMap::new();
        for d in batch {
            if let Some(payload) = d.payload {
                by_job
                    .entry(d.keys.id.clone())
                    .or_insert_with(|| (Arc::clone(&d.keys), Vec::new()))
                    .1
                    .push((d.entry, payload));
            }
        }
        for (keys, results) in by_job.into_values() {
            let stored = con.run("store results", |c| {
                let mut call = script.prepare_invoke();
                call.key(&keys.input)
                    .key(&keys.output)
                    .arg(GROUP)
                    .arg(ttl_ms);
                for (entry, payload) in &results {
                    call.arg(entry).arg(&payload[..]);
                }
                call.invoke::<i64>(c)
            });
            match stored {
                Ok(_) | Err(BrokerError::Protocol { .. } | BrokerError::Gone { .. }) => {}
                Err(e) => {
                    *failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                }
            }
        }
        counts.in_flight.fetch_sub(count, Ordering::SeqCst);
        counts.suspects.fetch_sub(suspects, Ordering::SeqCst);
        let _ = freed.try_send(());
    }
}

/// Writes `bytes` to `path` through a temporary file, so a reader never sees half a module.
fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".tmp-{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}
