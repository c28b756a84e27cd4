//! The submitter's side of a broker job: [`submit`] checks the module here (the same errors as
//! a local run), stores it once by its hash, writes the job record, and returns the same
//! [`Submitter`]/[`Outcomes`] pair a local [`crate::Pool::job`] gives. Behind them, two threads
//! serve the job's [`Request`]s as the pool's dispatcher would: one appends inputs to the job's
//! input stream (never more than the job's window ahead of what the consumer took), the other
//! reads the result stream, drops duplicates, renews the job's TTL and relays what workers say
//! of the job.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, unbounded};
use redis::Value;

use super::connection::{BrokerUrl, Conn, broker_time_ms};
use super::error::BrokerError;
use super::keys::{
    self, EVENTS, GROUP, INDEX_FIELD, INPUT_FIELD, JOB_TTL, JOBS, JobKeys, LIVE, RESULT_FIELD,
    WORKERS,
};
use super::outcome;
use super::record::{JobRecord, RECORD_VERSION};
use super::reply;
use super::shared;
use crate::PoolBuilder;
use crate::error::{Error, ErrorKind};
use crate::ids::TaskIndex;
use crate::pool::inbox::Requests;
use crate::pool::outcome::{Cancelled, TaskOutcome};
use crate::pool::request::{JobCall, JobMsg, JobSender, JobShared, Request};
use crate::pool::{Outcomes, Submitter, Terminator, job};
use crate::vocab::{JobSpec, WireTask};

/// How long a stored module outlives the last job that used it.
const MODULE_TTL_SECS: u64 = 24 * 60 * 60;
/// How often the submitter renews the TTLs and reads workers' notes.
const BEAT: Duration = Duration::from_secs(1);
/// How long the result stream is waited on at a time.
const BLOCK_MS: u64 = 250;

/// How a broker job runs.
#[derive(Debug, Clone)]
pub struct SubmitOptions {
    /// Outcomes in input order (`true`) or as they complete.
    pub ordered: bool,
    /// Inputs submitted and not yet consumed, at most (as [`PoolBuilder::window`]).
    pub window: usize,
    /// How long an input may sit with a worker that stopped renewing it before another worker
    /// takes it over.
    pub lease: Duration,
    /// How many inputs the job will have, when known beforehand (a range, a suite's tests):
    /// `mpwasm status` shows its progress against it.
    pub total: Option<u64>,
}

impl Default for SubmitOptions {
    fn default() -> SubmitOptions {
        SubmitOptions {
            ordered: true,
            window: 4096,
            lease: Duration::from_secs(10),
            total: None,
        }
    }
}

/// A job running on a broker's workers. Its [`Submitter`] and [`Outcomes`] come with it from
/// [`submit`]; dropping the outcomes (or [`terminator`](Self::terminator)) ends the job:
/// its keys are deleted and workers stop running its inputs.
pub struct BrokerJob {
    id: String,
    program: bool,
    requests: Requests,
    notes: Receiver<String>,
    /// The thread that deletes the job's keys when it ends; joined on drop.
    feeder: Option<std::thread::JoinHandle<()>>,
}

impl BrokerJob {
    /// The job's id on the broker (its keys are `mpwasm:job:<id>...`).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Whether every task runs the module as a WASI program.
    pub fn is_program(&self) -> bool {
        self.program
    }

    /// What workers say of the job, one line each: a limit a worker lowered, a worker that
    /// refuses the job, no worker serving the broker.
    pub fn notes(&self) -> Receiver<String> {
        self.notes.clone()
    }

    /// A handle that cancels the job from another thread: inputs not yet answered end as
    /// `cancelled`, and workers stop running them.
    pub fn terminator(&self) -> Terminator {
        Terminator::new(self.requests.clone())
    }
}

impl Drop for BrokerJob {
    /// Ends the job (if its outcomes were not all taken, the rest end as `cancelled`) and
    /// waits until its keys are deleted from the broker.
    fn drop(&mut self) {
        self.requests.send(Request::Shutdown);
        if let Some(feeder) = self.feeder.take() {
            let _ = feeder.join();
        }
    }
}

/// Puts a job on the broker at `url`: module `module`, run with `settings` (each worker lowers
/// them to its caps).
///
/// # Errors
/// [`Error::Config`] for settings with host functions (their handlers live in this process,
/// so such a pool runs only locally); the errors of a local [`PoolBuilder::build`] for the
/// module and function, then [`BrokerError::Unreachable`], [`BrokerError::Auth`] or
/// [`BrokerError::Protocol`].
pub fn submit(
    url: &Arc<BrokerUrl>,
    module: &Path,
    settings: PoolBuilder,
    options: SubmitOptions,
) -> Result<(BrokerJob, Submitter, Outcomes), BrokerError> {
    settings.no_plugins()?;
    if !settings.host_imports().is_empty() {
        let names: Vec<&str> = settings.host_imports().names().collect();
        return Err(Error::Config(format!(
            "the pool answers imports with host functions ({}), whose handlers run in this \
             process: it runs only locally, not through a broker (drop the broker, or the \
             handlers)",
            names.join(", ")
        ))
        .into());
    }
    let bytes = std::fs::read(module).map_err(|cause| Error::Read {
        path: module.to_path_buf(),
        cause,
    })?;
    let task = settings.load(module)?;
    let shared_imports = task.imports().iter().any(|i| crate::shared::is_shared(i));
    // Checked as a local pool checks it, before anything is on the broker.
    let pool_shared = if shared_imports {
        Some(settings.pool_shared()?)
    } else {
        None
    };
    let program = settings.check(&task)?;
    let mut feed = Conn::open(Arc::clone(url))?;
    let collect = Conn::open(Arc::clone(url))?;

    let hash = keys::module_hash(&bytes);
    let module_key = keys::module(&hash);
    let stored: bool = feed.run("EXPIRE", |c| {
        redis::cmd("EXPIRE")
            .arg(&module_key)
            .arg(MODULE_TTL_SECS)
            .query(c)
    })?;
    if !stored {
        feed.run("SET", |c| {
            redis::cmd("SET")
                .arg(&module_key)
                .arg(&bytes[..])
                .arg("EX")
                .arg(MODULE_TTL_SECS)
                .query::<()>(c)
        })?;
    }
    let id = new_job_id();
    let keys = JobKeys::new(&id);
    let record = JobRecord {
        version: RECORD_VERSION,
        module: hash,
        module_name: module
            .file_name()
            .map_or_else(|| "task.wasm".into(), |n| n.to_string_lossy().into_owned()),
        spec_version: JobSpec::VERSION,
        settings: settings.spec().clone(),
        lease_ms: options.lease.as_millis().clamp(100, u128::from(u32::MAX)) as u64,
        submitter: super::process_name(),
    };
    let json = serde_json::to_string(&record).map_err(|e| Error::Config(e.to_string()))?;
    let ttl_ms = JOB_TTL.as_millis() as u64;
    let started_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    feed.run("create the job", |c| {
        redis::pipe()
            .atomic()
            .cmd("SET")
            .arg(&keys.record)
            .arg(&json)
            .arg("PX")
            .arg(ttl_ms)
            .ignore()
            .cmd("XGROUP")
            .arg("CREATE")
            .arg(&keys.input)
            .arg(GROUP)
            .arg("0")
            .arg("MKSTREAM")
            .ignore()
            .cmd("PEXPIRE")
            .arg(&keys.input)
            .arg(ttl_ms)
            .ignore()
            .cmd("HSET")
            .arg(&keys.stats)
            .arg("started_ms")
            .arg(started_ms)
            .arg("total")
            .arg(options.total.map_or_else(String::new, |t| t.to_string()))
            .ignore()
            .cmd("PEXPIRE")
            .arg(&keys.stats)
            .arg(ttl_ms)
            .ignore()
            .cmd("SADD")
            .arg(JOBS)
            .arg(&id)
            .ignore()
            .cmd("XADD")
            .arg(EVENTS)
            .arg("MAXLEN")
            .arg("~")
            .arg(1000)
            .arg("*")
            .arg("job")
            .arg(&id)
            .ignore()
            .query::<()>(c)
    })?;

    // Before any input is on the broker, so no task can run before it.
    if let Some(pool_shared) = &pool_shared {
        shared::seed(
            &mut feed,
            &keys,
            pool_shared.seed.as_ref(),
            pool_shared.limits.bytes,
            ttl_ms,
        )?;
    }
    let (requests_tx, requests_rx) = Requests::channel();
    let call = JobCall {
        shared: pool_shared.map(|pool_shared| JobShared {
            store: crate::shared::SharedStore::new(),
            limits: pool_shared.limits,
            growable: true,
            remote: None,
        }),
        ..JobCall::default()
    };
    let (submitter, outcomes) = job::open(&requests_tx, 0, options.window, options.ordered, call);
    let (notes_tx, notes_rx) = unbounded();
    let shared = Arc::new(Shared {
        keys,
        module_key,
        state: Mutex::new(State::default()),
        store: outcomes.shared_store(),
        spawner: outcomes.spawner(),
    });
    let collector = {
        let shared = Arc::clone(&shared);
        std::thread::spawn(move || collector(collect, &shared, &notes_tx))
    };
    let feeder = {
        let shared = Arc::clone(&shared);
        std::thread::spawn(move || feeder(feed, &shared, &requests_rx, collector))
    };
    Ok((
        BrokerJob {
            id,
            program,
            requests: requests_tx,
            notes: notes_rx,
            feeder: Some(feeder),
        },
        submitter,
        outcomes,
    ))
}

/// A random job id: 16 hex digits.
fn new_job_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    hasher.write_u128(now.as_nanos());
    format!("{:016x}", hasher.finish())
}

/// What the two threads share.
struct Shared {
    keys: JobKeys,
    module_key: String,
    state: Mutex<State>,
    /// The job's shared store here, filled from the broker's when the job ends (for a module
    /// importing `mpwasm:shared`).
    store: Option<crate::shared::SharedStore>,
    /// Where inputs that workers' tasks add go.
    spawner: Option<Arc<dyn crate::shared::Spawn>>,
}

#[derive(Default)]
struct State {
    /// Where outcomes go (known once the job opened).
    results: Option<JobSender>,
    /// Inputs sent and not yet answered.
    outstanding: HashSet<u64>,
    /// The job ended (finished or cancelled): the collector stops.
    ended: bool,
    /// Why no input can be answered any more.
    fatal: Option<(ErrorKind, String)>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        crate::sync::lock(&self.state)
    }

    /// Ends every outstanding input with `kind`, and every later one too when `fatal`.
    fn fail_all(&self, kind: ErrorKind, message: &str, fatal: bool) {
        let mut state = self.lock();
        if fatal && state.fatal.is_none() {
            state.fatal = Some((kind, message.to_string()));
        }
        let mut indices: Vec<u64> = state.outstanding.drain().collect();
        indices.sort_unstable();
        let outcomes = indices
            .into_iter()
            .map(|i| TaskOutcome::failed(TaskIndex(i), kind, message))
            .collect();
        if let Some(results) = &state.results {
            let _ = results.send(JobMsg::Outcomes(outcomes));
        }
    }
}

/// Appends submitted inputs to the input stream; on the job's end, waits for the collector
/// (which reads the workers' last notes) and deletes the job's keys.
fn feeder(
    mut con: Conn,
    shared: &Shared,
    requests: &Receiver<Request>,
    collector: std::thread::JoinHandle<()>,
) {
    let keys = &shared.keys;
    loop {
        // A range is the tasks it stands for here: each goes on the stream as an input.
        match requests.recv().map(Request::expanded) {
            Ok(Request::Open { results, .. }) => shared.lock().results = Some(results),
            Ok(Request::Submit { tasks, .. }) => {
                let fatal = {
                    let mut state = shared.lock();
                    match state.fatal.clone() {
                        Some(fatal) => Some(fatal),
                        None => {
                            state.outstanding.extend(tasks.iter().map(|t| t.index.0));
                            None
                        }
                    }
                };
                if let Some((kind, message)) = fatal {
                    let outcomes = tasks
                        .iter()
                        .map(|t| TaskOutcome::failed(t.index, kind, &message))
                        .collect();
                    if let Some(results) = &shared.lock().results {
                        let _ = results.send(JobMsg::Outcomes(outcomes));
                    }
                    continue;
                }
                if let Err(e) = con.run("XADD", |c| append(c, keys, &tasks)) {
                    shared.fail_all(ErrorKind::BrokerLost, &e.to_string(), true);
                }
            }
            // A broker's input cannot be stopped once a worker took it; it finishes. (No job
            // of a broker has a queue to take from: its submitter sends `Submit`s.)
            Ok(Request::Cancel { .. } | Request::Take { .. } | Request::SubmitRange { .. }) => {}
            Ok(Request::Close { .. } | Request::Shutdown) | Err(_) => break,
        }
    }
    shared.lock().ended = true;
    // Wake the collector from its blocking read at once.
    let _ = con.run("XADD", |c| {
        redis::pipe()
            .cmd("XADD")
            .arg(&keys.output)
            .arg("*")
            .arg("end")
            .arg(1)
            .ignore()
            .cmd("PEXPIRE")
            .arg(&keys.output)
            .arg(JOB_TTL.as_millis() as u64)
            .ignore()
            .query::<()>(c)
    });
    shared.fail_all(ErrorKind::Cancelled, Cancelled::Job.message(), false);
    let _ = collector.join();
    // The store is read back with the usual patience: if it cannot be, the keys are left for
    // their TTL (a minute to look at them) rather than deleted unread.
    if let Some(store) = &shared.store {
        match shared::read_back(&mut con, keys) {
            Ok(json) => {
                let _ = store.replace(&json);
            }
            Err(_) => return,
        }
    }
    // The job is over: one try, no waiting for a lost broker (the keys' TTL cleans up then).
    con.set_patience(Duration::ZERO);
    // Gone from the set first, so no worker adopts the job again; a worker running its
    // inputs notices within a fraction of a second and stops them.
    let id = keys.id.clone();
    let _ = con.run("delete the job", |c| {
        let queues = shared::queue_keys(c, keys)?;
        let mut pipe = redis::pipe();
        pipe.cmd("SREM").arg(JOBS).arg(&id).ignore();
        for key in keys.all().iter().chain(&keys.shared()) {
            pipe.cmd("DEL").arg(*key).ignore();
        }
        for key in &queues {
            pipe.cmd("DEL").arg(key).ignore();
        }
        pipe.query::<()>(c)
    });
}

fn append(c: &mut redis::Connection, keys: &JobKeys, tasks: &[WireTask]) -> redis::RedisResult<()> {
    let mut pipe = redis::pipe();
    pipe.cmd("HINCRBY")
        .arg(&keys.stats)
        .arg("submitted")
        .arg(tasks.len())
        .ignore();
    for task in tasks {
        pipe.cmd("XADD")
            .arg(&keys.input)
            .arg("*")
            .arg(INDEX_FIELD)
            .arg(task.index.0)
            .arg(INPUT_FIELD)
            .arg(task.input.as_str())
            .ignore();
    }
    pipe.query(c)
}

/// Reads results until the job ends; renews the job's TTL and relays workers' notes.
fn collector(mut con: Conn, shared: &Shared, notes: &Sender<String>) {
    let keys = &shared.keys;
    let mut last = "0-0".to_string();
    let mut last_added = "0-0".to_string();
    // Requests numbered already (a request is answered once, whoever asks again).
    let mut numbered: HashSet<String> = HashSet::new();
    let mut beat = Beat {
        next: Instant::now(),
        started: Instant::now(),
        said: HashSet::new(),
        warned_idle: false,
        answered: false,
        relayed: false,
    };
    while !shared.lock().ended {
        // The first results mean workers adopted the job: relay their notes now.
        let first_answers = beat.answered && !beat.relayed;
        if Instant::now() >= beat.next || first_answers {
            beat.relayed |= beat.answered;
            if let Err(e) = heartbeat(&mut con, shared, &mut beat, notes) {
                shared.fail_all(ErrorKind::BrokerLost, &e.to_string(), true);
                return;
            }
        }
        let reply: Value = match con.run("XREAD", |c| {
            let mut read = redis::cmd("XREAD");
            read.arg("COUNT")
                .arg(1024)
                .arg("BLOCK")
                .arg(BLOCK_MS)
                .arg("STREAMS");
            if shared.spawner.is_some() {
                read.arg(&keys.added)
                    .arg(&keys.output)
                    .arg(&last_added)
                    .arg(&last);
            } else {
                read.arg(&keys.output).arg(&last);
            }
            read.query(c)
        }) {
            Ok(reply) => reply,
            Err(e) => {
                shared.fail_all(ErrorKind::BrokerLost, &e.to_string(), true);
                return;
            }
        };
        let mut entries: Vec<reply::Entry> = Vec::new();
        for (stream, found) in reply::streams(&reply) {
            if stream == keys.added {
                if let Some(newest) = found.last() {
                    last_added = newest.id.clone();
                }
                if let Err(e) = number_added(&mut con, shared, &found, &mut numbered) {
                    shared.fail_all(ErrorKind::BrokerLost, &e.to_string(), true);
                    return;
                }
            } else {
                entries.extend(found);
            }
        }
        let Some(newest) = entries.last() else {
            continue;
        };
        last = newest.id.clone();
        beat.answered = true;
        let ids: Vec<&str> = entries.iter().map(|e| e.id.as_str()).collect();
        let _ = con.run("XDEL", |c| {
            redis::cmd("XDEL")
                .arg(&keys.output)
                .arg(&ids)
                .query::<()>(c)
        });
        let mut state = shared.lock();
        let mut batch = Vec::with_capacity(entries.len());
        for entry in &entries {
            // Anything unreadable was not written by a worker: skip it.
            let Some(Ok(outcome)) = entry.field(RESULT_FIELD).map(outcome::decode) else {
                continue;
            };
            if state.outstanding.remove(&outcome.index.0) {
                batch.push(outcome);
            }
        }
        let settled: Vec<u64> = batch.iter().map(|o| o.index.0).collect();
        if let Some(results) = &state.results {
            let _ = results.send(JobMsg::Outcomes(batch));
        }
        drop(state);
        if shared.store.is_some() {
            let _ = shared::settle(&mut con, keys, &settled);
        }
    }
    // What workers said of a job shorter than a heartbeat.
    con.set_patience(Duration::ZERO);
    if let Ok((said, refused)) = con.run("HGETALL", |c| read_notes(c, keys)) {
        relay(&said, &refused, &mut beat, notes);
    }
}

/// Numbers the inputs workers' tasks added (`work#submit`) as this job's next inputs, and
/// answers each request with its index (or why not) for the task waiting for it.
fn number_added(
    con: &mut Conn,
    shared: &Shared,
    entries: &[reply::Entry],
    numbered: &mut HashSet<String>,
) -> Result<(), BrokerError> {
    let Some(spawner) = &shared.spawner else {
        return Ok(());
    };
    let keys = &shared.keys;
    let mut replies: Vec<(String, String)> = Vec::new();
    for entry in entries {
        let field = |name: &str| {
            entry
                .field(name)
                .and_then(|v| std::str::from_utf8(v).ok())
                .map(str::to_string)
        };
        let (Some(parent), Some(request), Some(input)) =
            (entry.u64_field("p"), field("q"), field("v"))
        else {
            continue; // not written by a worker
        };
        if !numbered.insert(request.clone()) {
            continue;
        }
        let reply = match spawner.submit(TaskIndex(parent), input.into()) {
            Ok(index) => format!("o{}", index.0),
            Err(why) => format!("e{why}"),
        };
        replies.push((request, reply));
    }
    let ids: Vec<&str> = entries.iter().map(|e| e.id.as_str()).collect();
    con.run("answer added inputs", |c| {
        let mut pipe = redis::pipe();
        for (request, reply) in &replies {
            pipe.cmd("HSET")
                .arg(&keys.added_replies)
                .arg(request)
                .arg(reply)
                .ignore();
        }
        if !ids.is_empty() {
            pipe.cmd("XDEL").arg(&keys.added).arg(&ids).ignore();
        }
        pipe.cmd("PEXPIRE")
            .arg(&keys.added_replies)
            .arg(JOB_TTL.as_millis() as u64)
            .ignore();
        pipe.query::<()>(c)
    })
}

struct Beat {
    next: Instant,
    started: Instant,
    said: HashSet<String>,
    warned_idle: bool,
    answered: bool,
    relayed: bool,
}

type Notes = HashMap<String, String>;

/// The workers' notes and refusals of the job.
fn read_notes(c: &mut redis::Connection, keys: &JobKeys) -> redis::RedisResult<(Notes, Notes)> {
    redis::pipe()
        .cmd("HGETALL")
        .arg(&keys.notes)
        .cmd("HGETALL")
        .arg(&keys.refused)
        .query(c)
}

/// Sends the notes not sent yet.
fn relay(said: &Notes, refused: &Notes, beat: &mut Beat, notes: &Sender<String>) {
    let lines = said
        .iter()
        .map(|(worker, note)| format!("worker {worker}: {note}"))
        .chain(
            refused
                .iter()
                .map(|(worker, why)| format!("worker {worker} refuses this job: {why}")),
        );
    for line in lines {
        if beat.said.insert(line.clone()) {
            let _ = notes.send(line);
        }
    }
}

/// Renews the job's TTLs, relays new notes, and fails the job if every live worker refuses it.
fn heartbeat(
    con: &mut Conn,
    shared: &Shared,
    beat: &mut Beat,
    notes: &Sender<String>,
) -> Result<(), BrokerError> {
    beat.next = Instant::now() + BEAT;
    let keys = &shared.keys;
    let ttl_ms = JOB_TTL.as_millis() as u64;
    let (record, said, refused, live) = con.run("renew the job", |c| {
        let mut pipe = redis::pipe();
        pipe.cmd("PEXPIRE").arg(&keys.record).arg(ttl_ms);
        for key in keys.all()[1..].iter().chain(&keys.shared()) {
            pipe.cmd("PEXPIRE").arg(*key).arg(ttl_ms).ignore();
        }
        for key in shared::queue_keys(c, keys)? {
            pipe.cmd("PEXPIRE").arg(key).arg(ttl_ms).ignore();
        }
        pipe.cmd("EXPIRE")
            .arg(&shared.module_key)
            .arg(MODULE_TTL_SECS)
            .ignore();
        let (record,): (bool,) = pipe.query(c)?;
        let (said, refused) = read_notes(c, keys)?;
        Ok((record, said, refused, live_workers(c)?))
    })?;
    if !record {
        shared.fail_all(
            ErrorKind::BrokerLost,
            &format!(
                "the job vanished from the broker at {} (was it restarted without persistence, \
                 or flushed?): its inputs are lost",
                con.url().shown()
            ),
            true,
        );
        return Ok(());
    }
    relay(&said, &refused, beat, notes);
    if !live.is_empty() && live.iter().all(|w| refused.contains_key(w)) {
        let mut reasons: Vec<String> = refused.iter().map(|(w, r)| format!("{w}: {r}")).collect();
        reasons.sort();
        shared.fail_all(
            ErrorKind::Refused,
            &format!(
                "every worker serving {} refuses this job: {}",
                con.url().shown(),
                reasons.join("; ")
            ),
            true,
        );
    } else if live.is_empty()
        && !beat.answered
        && !beat.warned_idle
        && beat.started.elapsed() >= Duration::from_secs(3)
    {
        beat.warned_idle = true;
        let _ = notes.send(format!(
            "no worker is serving {url}; the job waits for one (start one with: mpwasm worker \
             --broker {url})",
            url = con.url().shown()
        ));
    }
    Ok(())
}

/// The names of the workers whose heartbeat is recent, by the broker's clock.
fn live_workers(c: &mut redis::Connection) -> redis::RedisResult<Vec<String>> {
    let since = broker_time_ms(c)?.saturating_sub(LIVE.as_millis() as u64);
    redis::cmd("ZRANGEBYSCORE")
        .arg(WORKERS)
        .arg(since)
        .arg("+inf")
        .query(c)
}
