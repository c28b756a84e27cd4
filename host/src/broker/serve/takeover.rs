//! Taking over inputs from a worker that was lost. An input idle past its job's lease (its
//! worker stopped renewing it) is taken over with `XAUTOCLAIM`, one at a time, and runs alone
//! here: an innocent input queued behind one that crashed a machine is so charged that crash
//! once, and is not lost with it a second time. An input delivered more often than the job
//! allows ends as `worker-lost` instead of going round forever. The owner decides when (it
//! drains what it holds first); these are the broker commands and the verdicts.

use std::time::Duration;

use redis::Value;

use crate::broker::connection::Conn;
use crate::broker::error::BrokerError;
use crate::broker::keys::{GROUP, JOB_TTL, JobKeys, RECENT};
use crate::broker::outcome;
use crate::broker::reply::{self, Entry};
use crate::error::ErrorKind;

/// Whether stream `input` has entries idle for longer than `lease` (their worker was lost).
///
/// # Errors
/// As [`Conn::run`]; [`BrokerError::Gone`] when the job ended.
pub(super) fn has_idle(con: &mut Conn, input: &str, lease: Duration) -> Result<bool, BrokerError> {
    let reply = con.run("XPENDING", |c| {
        redis::cmd("XPENDING")
            .arg(input)
            .arg(GROUP)
            .arg("IDLE")
            .arg(lease.as_millis() as u64)
            .arg("-")
            .arg("+")
            .arg(1)
            .query::<Value>(c)
    })?;
    Ok(!reply::items(&reply).is_empty())
}

/// An input taken over: the entry, how many times it has now been delivered, and the worker
/// that had it (when the broker said).
pub(super) struct Claimed {
    /// The input's entry.
    pub(super) entry: Entry,
    /// Its deliveries, this one included.
    pub(super) deliveries: u64,
    /// The worker it was taken from.
    pub(super) from: Option<String>,
}

/// Takes over one entry of stream `input` idle for longer than `lease`, as the worker `name`.
/// `None` when there is none (or another worker was quicker).
///
/// # Errors
/// As [`Conn::run`]; [`BrokerError::Gone`] when the job ended.
pub(super) fn claim(
    con: &mut Conn,
    name: &str,
    input: &str,
    lease: Duration,
) -> Result<Option<Claimed>, BrokerError> {
    con.run("XAUTOCLAIM", |c| {
        // The first idle entry and its worker: the one XAUTOCLAIM takes, unless another
        // worker is quicker.
        let idle: Value = redis::cmd("XPENDING")
            .arg(input)
            .arg(GROUP)
            .arg("IDLE")
            .arg(lease.as_millis() as u64)
            .arg("-")
            .arg("+")
            .arg(1)
            .query(c)?;
        let idle = reply::items(&idle).first().map(|p| {
            let fields = reply::items(p);
            let text = |i: usize| fields.get(i).and_then(|v| reply::text(v));
            (text(0), text(1))
        });
        let reply: Value = redis::cmd("XAUTOCLAIM")
            .arg(input)
            .arg(GROUP)
            .arg(name)
            .arg(lease.as_millis() as u64)
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
            .arg(input)
            .arg(GROUP)
            .arg(&entry.id)
            .arg(&entry.id)
            .arg(1)
            .query(c)?;
        let deliveries = reply::items(&pending)
            .first()
            .and_then(|p| reply::items(p).get(3).and_then(|n| reply::int(n)))
            .unwrap_or(1);
        let from = match idle {
            Some((Some(id), from)) if id == entry.id => from,
            _ => None,
        };
        Ok(Some(Claimed {
            entry,
            deliveries: deliveries.max(1) as u64,
            from,
        }))
    })
}

/// Counts an input whose lease lapsed in the job's stats, for `mpwasm status` and the
/// dashboard; when it is run again (`taken_over`: its index, the claim, the worker taking it
/// over), counts the take-over too and puts it on the job's list of recent ones.
///
/// # Errors
/// As [`Conn::run`].
pub(super) fn record(
    con: &mut Conn,
    keys: &JobKeys,
    taken_over: Option<(u64, &Claimed, &str)>,
) -> Result<(), BrokerError> {
    let note = taken_over.map(|(index, claimed, by)| {
        serde_json::json!({
            "index": index,
            "from": claimed.from,
            "by": by,
            "delivery": claimed.deliveries,
            "at_ms": super::writer::now_ms(),
        })
        .to_string()
    });
    let ttl_ms = JOB_TTL.as_millis() as u64;
    con.run("count a lapsed lease", |c| {
        let mut pipe = redis::pipe();
        pipe.cmd("HINCRBY")
            .arg(&keys.stats)
            .arg("expired")
            .arg(1)
            .ignore()
            .cmd("PEXPIRE")
            .arg(&keys.stats)
            .arg(ttl_ms)
            .ignore();
        if let Some(note) = &note {
            pipe.cmd("HINCRBY")
                .arg(&keys.stats)
                .arg("taken_over")
                .arg(1)
                .ignore()
                .cmd("LPUSH")
                .arg(&keys.takeovers)
                .arg(note)
                .ignore()
                .cmd("LTRIM")
                .arg(&keys.takeovers)
                .arg(0)
                .arg(RECENT as i64 - 1)
                .ignore()
                .cmd("PEXPIRE")
                .arg(&keys.takeovers)
                .arg(ttl_ms)
                .ignore();
        }
        pipe.query::<()>(c)
    })
}

/// The result of input `index`, delivered `deliveries` times while the job allows
/// `max_deliveries`: every worker running it was lost. The encoded result, and its message.
pub(super) fn worker_lost(index: u64, deliveries: u64, max_deliveries: u64) -> (Vec<u8>, String) {
    let message = format!(
        "this input was delivered {deliveries} times and every worker running it was lost \
         before answering (the job allows {max_deliveries} deliveries: --retries {})",
        max_deliveries - 1
    );
    (
        outcome::encode_failure(index, ErrorKind::WorkerLost, message.clone()),
        message,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_input_delivered_too_often_says_so() {
        let failed = outcome::decode(&worker_lost(4, 3, 2).0).expect("decodes");
        let error = failed.json().expect_err("a failure");
        assert_eq!(error.kind(), ErrorKind::WorkerLost);
        assert_eq!(error.index().0, 4);
        assert_eq!(
            error.message(),
            "this input was delivered 3 times and every worker running it was lost before \
             answering (the job allows 2 deliveries: --retries 1)"
        );
    }
}
