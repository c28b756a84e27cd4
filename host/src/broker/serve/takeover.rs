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
use crate::broker::keys::GROUP;
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

/// Takes over one entry of stream `input` idle for longer than `lease`, as the worker `name`:
/// the entry and how many times it has now been delivered. `None` when there is none (or
/// another worker was quicker).
///
/// # Errors
/// As [`Conn::run`]; [`BrokerError::Gone`] when the job ended.
pub(super) fn claim(
    con: &mut Conn,
    name: &str,
    input: &str,
    lease: Duration,
) -> Result<Option<(Entry, u64)>, BrokerError> {
    con.run("XAUTOCLAIM", |c| {
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
        Ok(Some((entry, deliveries.max(1) as u64)))
    })
}

/// The result of input `index`, delivered `deliveries` times while the job allows
/// `max_deliveries`: every worker running it was lost.
pub(super) fn worker_lost(index: u64, deliveries: u64, max_deliveries: u64) -> Vec<u8> {
    outcome::encode_failure(
        index,
        ErrorKind::WorkerLost,
        format!(
            "this input was delivered {deliveries} times and every worker running it was lost \
             before answering (the job allows {max_deliveries} deliveries: --retries {})",
            max_deliveries - 1
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_input_delivered_too_often_says_so() {
        let failed = outcome::decode(&worker_lost(4, 3, 2)).expect("decodes");
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
