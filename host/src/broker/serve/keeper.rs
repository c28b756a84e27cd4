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

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use redis::Value;

use super::ServeEvent;
use crate::broker::connection::{Conn, broker_time_ms};
use crate::broker::error::BrokerError;
use crate::broker::keys::{GROUP, LIVE, WORKERS};

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

/// Runs the keeper for the worker `name` (see the module docs).
pub(super) fn keep(
    mut con: Conn,
    name: &str,
    leases: &Receiver<Lease>,
    holdings: &Receiver<Lease>,
    events: &Sender<ServeEvent>,
) {
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
            result = heartbeat(&mut con, name);
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

/// Marks this worker live, by the broker's clock, and forgets workers silent for long.
fn heartbeat(con: &mut Conn, name: &str) -> Result<(), BrokerError> {
    con.run("heartbeat", |c| {
        let now_ms = broker_time_ms(c)?;
        redis::pipe()
            .cmd("ZADD")
            .arg(WORKERS)
            .arg(now_ms)
            .arg(name)
            .ignore()
            .cmd("ZREMRANGEBYSCORE")
            .arg(WORKERS)
            .arg("-inf")
            .arg(now_ms.saturating_sub(60 * LIVE.as_millis() as u64))
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
