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
use crate::broker::keys::{GROUP, JOB_TTL, JobKeys};
use crate::broker::scripts::STORE_RESULTS;

/// The most results stored in one script call.
const WRITE_BATCH: usize = 256;

/// A job's keys and its results to store: (input entry id, encoded result).
type JobResults = (Arc<JobKeys>, Vec<(String, Vec<u8>)>);

/// A result to store.
pub(super) struct Store {
    /// The job's keys.
    pub(super) keys: Arc<JobKeys>,
    /// The input's entry id in the job's input stream.
    pub(super) entry: String,
    /// The encoded outcome ([`crate::broker::outcome`]).
    pub(super) payload: Vec<u8>,
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
                .push((store.entry, store.payload));
        }
        for (job, (keys, results)) in by_job {
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
                // Stored, or answered first by another worker, or the job ended: done here.
                Ok(_) | Err(BrokerError::Gone { .. }) => {
                    let entries = results.into_iter().map(|(entry, _)| entry).collect();
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
