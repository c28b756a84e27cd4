//! The reader: a thread with its own connection that makes the worker's blocking reads, one at
//! a time, as the owner asks ([`Read`]): new inputs from the served jobs' streams in the
//! consumer group, or, with no job to serve, the stream announcing new jobs. The answer comes
//! back as [`ServeEvent::Read`], so the owner never blocks on the broker while it waits.

use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use redis::Value;

use super::ServeEvent;
use crate::broker::connection::Conn;
use crate::broker::error::BrokerError;
use crate::broker::keys::{EVENTS, GROUP};
use crate::broker::reply::{self, Entry};

/// How long one read of the input streams blocks.
const BLOCK: Duration = Duration::from_millis(200);

/// A read the owner asks for.
pub(super) enum Read {
    /// Up to `count` new inputs from each of `streams`, waiting up to [`BLOCK`] for one.
    Inputs {
        /// The served jobs' input streams.
        streams: Vec<String>,
        /// How many entries per stream at most.
        count: usize,
    },
    /// Whether a job is announced after entry id `since`, waiting up to `wait`.
    Announcements {
        /// The announcement stream's entry id to read after.
        since: String,
        /// How long to wait.
        wait: Duration,
    },
}

/// What a read found.
pub(super) enum ReadResult {
    /// New inputs, by stream.
    Inputs(Vec<(String, Vec<Entry>)>),
    /// One of the streams was deleted meanwhile (its job ended): nothing was read.
    StreamGone,
    /// Whether a new job was announced.
    Announced(bool),
}

/// Runs the reader for the worker `name` (see the module docs); it ends when the owner drops
/// its sender.
pub(super) fn read(mut con: Conn, name: &str, reads: &Receiver<Read>, events: &Sender<ServeEvent>) {
    for request in reads {
        let result = match request {
            Read::Inputs { streams, count } => inputs(&mut con, name, &streams, count),
            Read::Announcements { since, wait } => announced(&mut con, &since, wait),
        };
        let event = match result {
            Ok(result) => ServeEvent::Read(result),
            Err(BrokerError::Gone { .. }) => ServeEvent::Read(ReadResult::StreamGone),
            Err(e) => ServeEvent::Failed(e),
        };
        let failed = matches!(event, ServeEvent::Failed(_));
        if events.send(event).is_err() || failed {
            return;
        }
    }
}

/// `XREADGROUP` of new entries (`>`) of every stream, as this worker.
fn inputs(
    con: &mut Conn,
    name: &str,
    streams: &[String],
    count: usize,
) -> Result<ReadResult, BrokerError> {
    let reply = con.run("XREADGROUP", |c| {
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP")
            .arg(GROUP)
            .arg(name)
            .arg("COUNT")
            .arg(count)
            .arg("BLOCK")
            .arg(BLOCK.as_millis() as u64)
            .arg("STREAMS")
            .arg(streams);
        for _ in streams {
            cmd.arg(">");
        }
        cmd.query::<Value>(c)
    })?;
    Ok(ReadResult::Inputs(reply::streams(&reply)))
}

/// `XREAD` of the announcement stream after `since`.
fn announced(con: &mut Conn, since: &str, wait: Duration) -> Result<ReadResult, BrokerError> {
    let reply: Value = con.run("XREAD", |c| {
        redis::cmd("XREAD")
            .arg("COUNT")
            .arg(1)
            .arg("BLOCK")
            .arg(wait.as_millis().max(1) as u64)
            .arg("STREAMS")
            .arg(EVENTS)
            .arg(since)
            .query(c)
    })?;
    Ok(ReadResult::Announced(!reply::streams(&reply).is_empty()))
}
