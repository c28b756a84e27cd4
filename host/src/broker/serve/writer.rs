//! The writer: a thread with its own connection that stores results on the broker through the
//! one Lua script ([`STORE_RESULTS`]), up to [`WRITE_BATCH`] at a time, grouped by job, and
//! tells the owner which inputs are done ([`ServeEvent::Stored`]). It ends when the owner drops
//! its sender, after storing what was already sent; a lost broker is reported as
//! [`ServeEvent::Failed`].

use std::collections::HashMap;
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};

use super::ServeEvent;
use crate::broker::connection::Conn;
use crate::broker::error::BrokerError;
use crate::broker::keys::{GROUP, JOB_TTL, JobKeys, RECENT};
use crate::broker::scripts::STORE_RESULTS;
use crate::error::ErrorKind;

/// The most results stored in one script call.
const WRITE_BATCH: usize = 256;

/// A job's keys and its results to store.
type JobResults = (Arc<JobKeys>, Vec<Store>);

/// A result to store.
pub(super) struct Store {
    /// The job's keys.
    pub(super) keys: Arc<JobKeys>,
    /// The input's entry id in the job's input stream.
    pub(super) entry: String,
    /// The encoded outcome ([`crate::broker::outcome`]).
    pub(super) payload: Vec<u8>,
    /// `ok`, or the failure's kind (counted in the job's stats).
    pub(super) kind: &'static str,
    /// The failure for the job's list of recent ones (JSON), or empty.
    pub(super) failure: String,
}

impl Store {
    /// Input `index` (entry `entry` of `keys`' job) answered `payload`, whose result is `ok`
    /// or a failure of `kind` saying `message`, by worker `worker`.
    pub(super) fn new(
        keys: &Arc<JobKeys>,
        entry: String,
        index: u64,
        payload: Vec<u8>,
        failed: Option<(ErrorKind, &str)>,
        worker: &str,
    ) -> Store {
        let (kind, failure) = match failed {
            None => ("ok", String::new()),
            Some((kind, message)) => {
                // A message is the dashboard's line, not a log: the first 300 characters.
                let message: String = message.chars().take(300).collect();
                let note = serde_json::json!({
                    "index": index,
                    "kind": kind.as_str(),
                    "message": message,
                    "worker": worker,
                    "at_ms": now_ms(),
                });
                (kind.as_str(), note.to_string())
            }
        };
        Store {
            keys: Arc::clone(keys),
            entry,
            payload,
            kind,
            failure,
        }
    }
}

/// This machine's clock in milliseconds since the Unix epoch (for the times the dashboard
/// shows).
pub(super) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Runs the writer (see the module docs).
pub(super) fn write(mut con: Conn, stores: &Receiver<Store>, events: &Sender<ServeEvent>) {
    let script = redis::Script::new(STORE_RESULTS);
    let ttl_ms = JOB_TTL.as_millis() as u64;
    while let Ok(first) = stores.recv() {
        let mut by_job: HashMap<String, JobResults> = HashMap::new();
        let more = std::iter::from_fn(|| stores.try_recv().ok()).take(WRITE_BATCH - 1);
        for store in std::iter::once(first).chain(more) {
            by_job
                .entry(store.keys.id.clone())
                .or_insert_with(|| (Arc::clone(&store.keys), Vec::new()))
                .1
                .push(store);
        }
        for (job, (keys, results)) in by_job {
            let stored = con.run("store results", |c| {
                let mut call = script.prepare_invoke();
                call.key(&keys.input)
                    .key(&keys.output)
                    .key(&keys.stats)
                    .key(&keys.failures)
                    .arg(GROUP)
                    .arg(ttl_ms)
                    .arg(RECENT);
                for store in &results {
                    call.arg(&store.entry)
                        .arg(&store.payload[..])
                        .arg(store.kind)
                        .arg(&store.failure);
                }
                call.invoke::<i64>(c)
            });
            match stored {
                // Stored, or answered first by another worker, or the job ended: done here.
                Ok(_) | Err(BrokerError::Gone { .. }) => {
                    let entries = results.into_iter().map(|store| store.entry).collect();
                    let _ = events.send(ServeEvent::Stored { job, entries });
                }
                Err(e) => {
                    let _ = events.send(ServeEvent::Failed(e));
                    return;
                }
            }
        }
    }
}
