//! What a cluster is doing, read from the broker's own keys: the live workers (what each
//! publishes with its heartbeat) and the running jobs (their record, the counts the workers
//! and the submitter keep, the recent failures and take-overs). `mpwasm status` prints it,
//! and the dashboard serves it as JSON and as Prometheus metrics. Module names, counts and
//! failure messages only: never an input or a result, never the broker's password.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::connection::{BrokerUrl, Conn, broker_time_ms};
use super::error::BrokerError;
use super::keys::{GROUP, JOBS, JobKeys, LIVE, RECENT, WORKERS, valid_job_id, worker_info};
use super::record::JobRecord;
use super::reply;

/// A cluster's state at one moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// The broker, as shown (without its password).
    pub broker: String,
    /// When it was read, by the broker's clock (milliseconds since the Unix epoch).
    pub at_ms: u64,
    /// The live workers (a heartbeat within the last 10 s), by name.
    pub workers: Vec<WorkerStatus>,
    /// The running jobs, oldest first.
    pub jobs: Vec<JobStatus>,
}

/// One live worker (`mpwasm worker`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerStatus {
    /// Its name (`host-pid`).
    pub name: String,
    /// Its machine.
    pub host: String,
    /// Worker processes per job (`-j`).
    pub processes: u64,
    /// Inputs it holds at once at most, now (`--prefetch`, or its adaptive window).
    pub prefetch: u64,
    /// What its operator allows jobs (`--max-memory`, `--allow-dir`, ...), in a line.
    pub caps: String,
    /// The jobs it serves now.
    pub jobs: Vec<String>,
    /// Inputs it holds now (running or queued there).
    pub in_flight: u64,
    /// Jobs it has served since it started.
    pub jobs_served: u64,
    /// Inputs it has answered since it started.
    pub inputs_done: u64,
    /// How long ago its last heartbeat was, in milliseconds.
    pub heartbeat_ms_ago: u64,
    /// How long it has been serving, in seconds.
    pub up_s: f64,
}

/// One running job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobStatus {
    /// Its id.
    pub id: String,
    /// The module's file name.
    pub module_name: String,
    /// The module's SHA-256 (hex).
    pub module_hash: String,
    /// Who submitted it (`host-pid`).
    pub submitter: String,
    /// Inputs answered (failures included).
    pub done: u64,
    /// How many inputs it has, when the submitter knew (a range, a suite of tests).
    pub total: Option<u64>,
    /// Inputs submitted so far.
    pub submitted: u64,
    /// Failed inputs, by kind (`trap`, `timeout`, ...).
    pub failed: BTreeMap<String, u64>,
    /// Inputs workers hold now.
    pub in_flight: u64,
    /// Inputs taken over from workers that stopped answering, to run again.
    pub taken_over: u64,
    /// Inputs whose lease lapsed (their worker stopped renewing it): the ones taken over, and
    /// those delivered too often, which end `worker-lost`.
    pub lease_expiries: u64,
    /// How long it has been running, in seconds.
    pub age_s: f64,
    /// Inputs answered per second, over its life.
    pub inputs_per_s: f64,
    /// When it should end at that rate, in seconds from now (with a known total).
    pub eta_s: Option<f64>,
    /// Its last failures, newest first.
    pub failures: Vec<Failure>,
    /// Its last inputs taken over, newest first.
    pub takeovers: Vec<Takeover>,
}

/// A failed input, as the job's list of recent failures keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    /// The input's index.
    pub index: u64,
    /// The failure's kind.
    pub kind: String,
    /// Its message (the first 300 characters).
    pub message: String,
    /// The worker that reported it.
    pub worker: String,
    /// When, by the worker's clock (milliseconds since the Unix epoch).
    pub at_ms: u64,
}

/// An input taken over from a worker that stopped answering.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Takeover {
    /// The input's index.
    pub index: u64,
    /// The worker that had it, when the broker said.
    pub from: Option<String>,
    /// The worker that took it over.
    pub by: String,
    /// Its delivery (2 for the first take-over).
    pub delivery: u64,
    /// When, by the taking worker's clock (milliseconds since the Unix epoch).
    pub at_ms: u64,
}

impl Status {
    /// The failed inputs of every job together.
    pub fn failed_total(&self) -> u64 {
        self.jobs.iter().flat_map(|j| j.failed.values()).sum()
    }
}

/// Reads a cluster's [`Status`] from its broker, on a connection of its own.
pub struct StatusReader {
    con: Conn,
}

impl StatusReader {
    /// Connects to the broker at `url`.
    ///
    /// # Errors
    /// [`BrokerError::Unreachable`], [`BrokerError::Auth`] or [`BrokerError::Tls`].
    pub fn connect(url: &Arc<BrokerUrl>) -> Result<StatusReader, BrokerError> {
        let mut con = Conn::open(Arc::clone(url))?;
        // A status is read again in a second: never wait long for one.
        con.set_patience(Duration::from_secs(2));
        Ok(StatusReader { con })
    }

    /// How long one command takes to reach the broker and come back (`PING`).
    ///
    /// # Errors
    /// As [`read`](Self::read).
    pub fn round_trip(&mut self) -> Result<Duration, BrokerError> {
        let started = Instant::now();
        self.con
            .run("PING", |c| redis::cmd("PING").query::<String>(c))?;
        Ok(started.elapsed())
    }

    /// The cluster's state now.
    ///
    /// # Errors
    /// [`BrokerError::Lost`] when the broker cannot be reached, [`BrokerError::Protocol`]
    /// when it refuses a command.
    pub fn read(&mut self) -> Result<Status, BrokerError> {
        let broker = self.con.url().shown().to_string();
        let (at_ms, scored, ids) = self.con.run("read the workers and jobs", |c| {
            let at_ms = broker_time_ms(c)?;
            let scored: Vec<(String, u64)> = redis::cmd("ZRANGE")
                .arg(WORKERS)
                .arg(0)
                .arg(-1)
                .arg("WITHSCORES")
                .query(c)?;
            let ids: Vec<String> = redis::cmd("SMEMBERS").arg(JOBS).query(c)?;
            Ok((at_ms, scored, ids))
        })?;
        let now_ms = local_ms();
        let live: Vec<(String, u64)> = scored
            .into_iter()
            .filter(|(_, beat)| at_ms.saturating_sub(*beat) <= LIVE.as_millis() as u64)
            .collect();
        let mut workers = Vec::with_capacity(live.len());
        for (name, beat) in live {
            let info: HashMap<String, String> = self.con.run("read a worker", |c| {
                redis::cmd("HGETALL").arg(worker_info(&name)).query(c)
            })?;
            workers.push(worker_status(
                name,
                &info,
                at_ms.saturating_sub(beat),
                now_ms,
            ));
        }
        workers.sort_by(|a, b| a.name.cmp(&b.name));
        let mut jobs = Vec::new();
        for id in ids.into_iter().filter(|id| valid_job_id(id)) {
            let keys = JobKeys::new(&id);
            let read = self.con.run("read a job", |c| read_job(c, &keys));
            match read {
                Ok(Some(job)) => jobs.push(job_status(id, job, now_ms)),
                // Gone since the set was read: it ended.
                Ok(None) | Err(BrokerError::Gone { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        jobs.sort_by(|a, b| b.age_s.total_cmp(&a.age_s).then(a.id.cmp(&b.id)));
        Ok(Status {
            broker,
            at_ms,
            workers,
            jobs,
        })
    }
}

/// What the broker holds of one job.
struct RawJob {
    record: JobRecord,
    stats: HashMap<String, String>,
    failures: Vec<String>,
    takeovers: Vec<String>,
    pending: u64,
}

fn read_job(c: &mut redis::Connection, keys: &JobKeys) -> redis::RedisResult<Option<RawJob>> {
    let last = RECENT as i64 - 1;
    let (record, stats, failures, takeovers): (
        Option<String>,
        HashMap<String, String>,
        Vec<String>,
        Vec<String>,
    ) = redis::pipe()
        .cmd("GET")
        .arg(&keys.record)
        .cmd("HGETALL")
        .arg(&keys.stats)
        .cmd("LRANGE")
        .arg(&keys.failures)
        .arg(0)
        .arg(last)
        .cmd("LRANGE")
        .arg(&keys.takeovers)
        .arg(0)
        .arg(last)
        .query(c)?;
    let Some(record) = record.and_then(|r| serde_json::from_str::<JobRecord>(&r).ok()) else {
        return Ok(None);
    };
    // The summary form: [count, first, last, [[consumer, count], ...]].
    let pending: redis::Value = redis::cmd("XPENDING")
        .arg(&keys.input)
        .arg(GROUP)
        .query(c)
        .unwrap_or(redis::Value::Nil);
    let pending = reply::items(&pending)
        .first()
        .and_then(|n| reply::int(n))
        .unwrap_or(0)
        .max(0) as u64;
    Ok(Some(RawJob {
        record,
        stats,
        failures,
        takeovers,
        pending,
    }))
}

fn number(map: &HashMap<String, String>, field: &str) -> u64 {
    map.get(field).and_then(|v| v.parse().ok()).unwrap_or(0)
}

fn worker_status(
    name: String,
    info: &HashMap<String, String>,
    heartbeat_ms_ago: u64,
    now_ms: u64,
) -> WorkerStatus {
    let started = number(info, "started_ms");
    WorkerStatus {
        host: info.get("host").cloned().unwrap_or_default(),
        processes: number(info, "processes"),
        prefetch: number(info, "prefetch"),
        caps: info.get("caps").cloned().unwrap_or_default(),
        jobs: info
            .get("jobs")
            .map(|j| j.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default(),
        in_flight: number(info, "in_flight"),
        jobs_served: number(info, "jobs_served"),
        inputs_done: number(info, "inputs_done"),
        heartbeat_ms_ago,
        up_s: if started == 0 {
            0.0
        } else {
            now_ms.saturating_sub(started) as f64 / 1000.0
        },
        name,
    }
}

fn job_status(id: String, raw: RawJob, now_ms: u64) -> JobStatus {
    let done = number(&raw.stats, "done");
    let started = number(&raw.stats, "started_ms");
    let total = raw.stats.get("total").and_then(|t| t.parse::<u64>().ok());
    let age_s = if started == 0 {
        0.0
    } else {
        now_ms.saturating_sub(started) as f64 / 1000.0
    };
    let inputs_per_s = if age_s > 0.0 {
        done as f64 / age_s
    } else {
        0.0
    };
    let eta_s = match total {
        Some(total) if inputs_per_s > 0.0 => Some(total.saturating_sub(done) as f64 / inputs_per_s),
        _ => None,
    };
    let failed = raw
        .stats
        .iter()
        .filter_map(|(field, count)| Some((field.strip_prefix("f:")?.to_string(), count)))
        .filter_map(|(kind, count)| Some((kind, count.parse().ok()?)))
        .collect();
    JobStatus {
        module_name: raw.record.safe_module_name(),
        module_hash: raw.record.module.clone(),
        submitter: raw.record.submitter.clone(),
        done,
        total,
        submitted: number(&raw.stats, "submitted"),
        failed,
        in_flight: raw.pending,
        taken_over: number(&raw.stats, "taken_over"),
        lease_expiries: number(&raw.stats, "expired"),
        age_s,
        inputs_per_s,
        eta_s,
        failures: raw
            .failures
            .iter()
            .filter_map(|f| serde_json::from_str(f).ok())
            .collect(),
        takeovers: raw
            .takeovers
            .iter()
            .filter_map(|t| serde_json::from_str(t).ok())
            .collect(),
        id,
    }
}

/// This machine's clock, in milliseconds since the Unix epoch.
fn local_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
