//! A worker's keeper: a thread with its own connection that writes the worker's heartbeat and
//! renews the lease on every input the worker holds, so that a long pause of the main loop
//! (downloading or compiling a large module for a new job) never lets them lapse and never
//! makes other workers take over inputs that are still running here.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use redis::Value;

use super::connection::Conn;
use super::error::BrokerError;
use super::keys::{GROUP, JobKeys, LIVE, WORKERS};
use super::serve::Item;

/// How often the heartbeat is written.
const HEARTBEAT: Duration = Duration::from_millis(250);
/// How often the keeper looks at what is due.
const TICK: Duration = Duration::from_millis(50);

/// The inputs one job has on this worker, and its lease.
pub(crate) struct Held {
    /// The job's keys.
    pub(crate) keys: Arc<JobKeys>,
    /// Local task index → the input it is (shared with the job's relay thread).
    pub(crate) items: Arc<Mutex<HashMap<u64, Item>>>,
    /// The job's lease.
    pub(crate) lease: Duration,
}

/// Every served job's held inputs, by job id.
pub(crate) type Registry = Arc<Mutex<HashMap<String, Held>>>;

/// Locks the registry (a poisoned lock still holds valid data).
pub(crate) fn lock(registry: &Registry) -> MutexGuard<'_, HashMap<String, Held>> {
    registry.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs the keeper for the worker `name` until `stop` is set; a lost broker is put in
/// `failure` for the main loop to report.
pub(crate) fn keep(
    mut con: Conn,
    name: &str,
    registry: &Registry,
    stop: &AtomicBool,
    failure: &Mutex<Option<BrokerError>>,
) {
    let mut next_beat = Instant::now();
    let mut next_renew: HashMap<String, Instant> = HashMap::new();
    while !stop.load(Ordering::SeqCst) {
        let now = Instant::now();
        let mut result = Ok(());
        if now >= next_beat {
            next_beat = now + HEARTBEAT;
            result = heartbeat(&mut con, name);
        }
        if result.is_ok() {
            result = renew_due(&mut con, name, registry, &mut next_renew, now);
        }
        match result {
            Ok(()) | Err(BrokerError::Protocol { .. } | BrokerError::Gone { .. }) => {}
            Err(e) => {
                *failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                return;
            }
        }
        std::thread::sleep(TICK);
    }
}

/// Marks this worker live, by the broker's clock, and forgets workers silent for long.
fn heartbeat(con: &mut Conn, name: &str) -> Result<(), BrokerError> {
    con.run("heartbeat", |c| {
        let (secs, micros): (u64, u64) = redis::cmd("TIME").query(c)?;
        let now_ms = secs * 1000 + micros / 1000;
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

/// Renews the lease of the jobs whose renewal (every third of their lease) is due: claiming
/// one's own inputs again with JUSTID resets their idle time without counting a delivery.
fn renew_due(
    con: &mut Conn,
    name: &str,
    registry: &Registry,
    next_renew: &mut HashMap<String, Instant>,
    now: Instant,
) -> Result<(), BrokerError> {
    let due: Vec<(String, Vec<String>)> = {
        let held = lock(registry);
        next_renew.retain(|id, _| held.contains_key(id));
        held.iter()
            .filter_map(|(id, job)| {
                let next = next_renew.entry(id.clone()).or_insert(now + job.lease / 3);
                if now < *next {
                    return None;
                }
                *next = now + job.lease / 3;
                let entries: Vec<String> = job
                    .items
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .values()
                    .map(|i| i.entry.clone())
                    .collect();
                (!entries.is_empty()).then(|| (job.keys.input.clone(), entries))
            })
            .collect()
    };
    for (input, entries) in due {
        let renewed = con.run("XCLAIM", |c| {
            redis::cmd("XCLAIM")
                .arg(&input)
                .arg(GROUP)
                .arg(name)
                .arg(0)
                .arg(&entries)
                .arg("JUSTID")
                .query::<Value>(c)
        });
        match renewed {
            // The job ended meanwhile (its stream is gone).
            Ok(_) | Err(BrokerError::Protocol { .. } | BrokerError::Gone { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
