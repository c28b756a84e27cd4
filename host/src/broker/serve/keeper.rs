//! The keeper: a thread with its own connection that writes the worker's heartbeat and renews
//! the lease on every input the owner says it holds, on its own clock. Whatever the owner is
//! doing (a slow broker command, a long pause), no lease of a running input lapses, so other
//! workers never take over inputs that are still running here.
//!
//! It keeps its own copy of what is held, from the owner's [`Lease`] messages, on two
//! channels: a job starting or ending here wakes it (its renewals start a third of its lease
//! later); holds and releases, which come with every input, never do (a wake for each cost
//! ~25 µs of CPU per input, measured) and are taken in whenever it wakes, at the latest at the
//! next renewal or heartbeat. An input is so first renewed within a third of its lease. It
//! ends when the owner drops its senders; a lost broker is reported as
//! [`ServeEvent::Failed`].
//!
//! With each heartbeat it publishes what `mpwasm status` and the dashboard show of the worker
//! (its host, processes, caps, jobs, inputs held, jobs served, inputs answered), in a hash that
//! expires with the heartbeat ([`worker_info`]).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use redis::Value;

use super::ServeEvent;
use crate::broker::connection::{Conn, broker_time_ms};
use crate::broker::error::BrokerError;
use crate::broker::keys::{GROUP, LIVE, WORKERS, worker_info};

/// How often the heartbeat is written.
const HEARTBEAT: Duration = Duration::from_millis(250);

/// What the owner tells the keeper: `Job` and `Forget` on the waking channel, `Hold` and
/// `Release` on the other.
pub(super) enum Lease {
    /// Inputs of the job with input stream `input` are renewed every third of `lease`.
    Job {
        /// The job's input stream.
        input: String,
        /// The job's lease.
        lease: Duration,
    },
    /// An input is held from now on.
    Hold {
        /// The job's input stream.
        input: String,
        /// The input's entry id.
        entry: String,
    },
    /// An input is no longer held.
    Release {
        /// The job's input stream.
        input: String,
        /// The input's entry id.
        entry: String,
    },
    /// The job ended here.
    Forget {
        /// The job's input stream.
        input: String,
    },
}

/// One job's renewal.
struct Renewal {
    lease: Duration,
    next: Instant,
    entries: HashSet<String>,
}

/// What the owner counts for the worker's published state.
#[derive(Default)]
pub(super) struct Counters {
    /// Jobs this worker served (ran inputs of).
    pub(super) jobs_served: AtomicU64,
    /// Inputs it answered.
    pub(super) inputs_done: AtomicU64,
    /// Inputs it holds at once at most, now (its prefetch window).
    pub(super) window: AtomicU64,
}

/// What the worker publishes of itself that does not change.
pub(super) struct Shown {
    /// Its name on the broker.
    pub(super) name: String,
    /// Worker processes per job (`-j`).
    pub(super) processes: usize,
    /// What its operator allows jobs, in a line.
    pub(super) caps: String,
    /// The owner's counts.
    pub(super) counters: Arc<Counters>,
}

/// Runs the keeper for the worker `shown.name` (see the module docs).
pub(super) fn keep(
    mut con: Conn,
    shown: &Shown,
    leases: &Receiver<Lease>,
    holdings: &Receiver<Lease>,
    events: &Sender<ServeEvent>,
) {
    let name = shown.name.as_str();
    let started_ms = super::writer::now_ms();
    let mut jobs: HashMap<String, Renewal> = HashMap::new();
    let mut next_beat = Instant::now();
    loop {
        let due = jobs.values().map(|r| r.next).fold(next_beat, Instant::min);
        match leases.recv_deadline(due) {
            Ok(message) => apply(&mut jobs, message),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        // Jobs first: a hold always follows its job's start.
        for message in leases.try_iter().chain(holdings.try_iter()) {
            apply(&mut jobs, message);
        }
        let now = Instant::now();
        let mut result = Ok(());
        if now >= next_beat {
            next_beat = now + HEARTBEAT;
            result = heartbeat(&mut con, shown, started_ms, &jobs);
        }
        for (input, renewal) in &mut jobs {
            if result.is_err() || now < renewal.next {
                continue;
            }
            renewal.next = now + renewal.lease / 3;
            if !renewal.entries.is_empty() {
                result = renew(&mut con, name, input, &renewal.entries);
            }
        }
        match result {
            // The job ended meanwhile (its stream is gone).
            Ok(()) | Err(BrokerError::Gone { .. }) => {}
            Err(e) => {
                let _ = events.send(ServeEvent::Failed(e));
                return;
            }
        }
    }
}

fn apply(jobs: &mut HashMap<String, Renewal>, message: Lease) {
    match message {
        Lease::Job { input, lease } => {
            jobs.insert(
                input,
                Renewal {
                    lease,
                    next: Instant::now() + lease / 3,
                    entries: HashSet::new(),
                },
            );
        }
        Lease::Hold { input, entry } => {
            if let Some(renewal) = jobs.get_mut(&input) {
                renewal.entries.insert(entry);
            }
        }
        Lease::Release { input, entry } => {
            if let Some(renewal) = jobs.get_mut(&input) {
                renewal.entries.remove(&entry);
            }
        }
        Lease::Forget { input } => {
            jobs.remove(&input);
        }
    }
}

/// Marks this worker live, by the broker's clock, forgets workers silent for long, and
/// publishes what the worker is doing (gone [`LIVE`] after the last heartbeat).
fn heartbeat(
    con: &mut Conn,
    shown: &Shown,
    started_ms: u64,
    jobs: &HashMap<String, Renewal>,
) -> Result<(), BrokerError> {
    let held: usize = jobs.values().map(|r| r.entries.len()).sum();
    // Input streams are `mpwasm:job:ID:in`: the ids, for the reader.
    let ids: Vec<&str> = jobs
        .keys()
        .filter_map(|input| input.strip_prefix("mpwasm:job:")?.strip_suffix(":in"))
        .collect();
    let host = shown
        .name
        .rsplit_once('-')
        .map_or(shown.name.as_str(), |(host, _)| host);
    let info = worker_info(&shown.name);
    con.run("heartbeat", |c| {
        let now_ms = broker_time_ms(c)?;
        redis::pipe()
            .cmd("ZADD")
            .arg(WORKERS)
            .arg(now_ms)
            .arg(&shown.name)
            .ignore()
            .cmd("ZREMRANGEBYSCORE")
            .arg(WORKERS)
            .arg("-inf")
            .arg(now_ms.saturating_sub(60 * LIVE.as_millis() as u64))
            .ignore()
            .cmd("HSET")
            .arg(&info)
            .arg("host")
            .arg(host)
            .arg("processes")
            .arg(shown.processes)
            .arg("prefetch")
            .arg(shown.counters.window.load(Ordering::Relaxed))
            .arg("caps")
            .arg(&shown.caps)
            .arg("started_ms")
            .arg(started_ms)
            .arg("jobs")
            .arg(ids.join(" "))
            .arg("in_flight")
            .arg(held)
            .arg("jobs_served")
            .arg(shown.counters.jobs_served.load(Ordering::Relaxed))
            .arg("inputs_done")
            .arg(shown.counters.inputs_done.load(Ordering::Relaxed))
            .ignore()
            .cmd("PEXPIRE")
            .arg(&info)
            .arg(LIVE.as_millis() as u64)
            .ignore()
            .query::<()>(c)
    })
}

/// Renews the lease on `entries` of stream `input`: claiming one's own inputs again with
/// JUSTID resets their idle time without counting a delivery.
fn renew(
    con: &mut Conn,
    name: &str,
    input: &str,
    entries: &HashSet<String>,
) -> Result<(), BrokerError> {
    con.run("XCLAIM", |c| {
        redis::cmd("XCLAIM")
            .arg(input)
            .arg(GROUP)
            .arg(name)
            .arg(0)
            .arg(entries.iter().collect::<Vec<_>>())
            .arg("JUSTID")
            .query::<Value>(c)
    })
    .map(|_| ())
}
