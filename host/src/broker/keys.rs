//! The names of everything mpwasm keeps on the broker (see the [module docs](super)), and how
//! long they live.

use std::time::Duration;

use sha2::{Digest, Sha256};

/// The set of running job ids.
pub const JOBS: &str = "mpwasm:jobs";
/// Live workers, scored by their last heartbeat in milliseconds of the broker's clock.
pub const WORKERS: &str = "mpwasm:workers";
/// A stream announcing new jobs (`job` → id), so idle workers adopt them at once; capped.
pub const EVENTS: &str = "mpwasm:events";
/// The consumer group every worker reads input streams in.
pub const GROUP: &str = "workers";
/// The field of an input stream entry holding the input's index in the submitter's job.
pub const INDEX_FIELD: &str = "i";
/// The field of an input stream entry holding the input, JSON text.
pub const INPUT_FIELD: &str = "v";
/// The field of a result stream entry holding an encoded outcome ([`super::outcome`]).
pub const RESULT_FIELD: &str = "r";

/// How long a job's keys outlive their submitter's last heartbeat (it renews them every second).
pub const JOB_TTL: Duration = Duration::from_secs(30);

/// A worker whose heartbeat is older than this is not counted as live.
pub const LIVE: Duration = Duration::from_secs(10);

/// What a worker publishes of itself for `mpwasm status` and the dashboard (a hash: host,
/// processes, caps, jobs, inputs held, ...), renewed with its heartbeat and gone [`LIVE`]
/// after its last one.
pub fn worker_info(name: &str) -> String {
    format!("mpwasm:worker:{name}")
}

/// How many recent failures and take-overs a job keeps for the dashboard.
pub const RECENT: usize = 20;

/// The SHA-256 of a module's bytes in lowercase hex: its name on the broker.
pub fn module_hash(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Where a module's bytes are stored: by their SHA-256, in hex.
pub fn module(sha256: &str) -> String {
    format!("mpwasm:module:{sha256}")
}

/// The keys of one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobKeys {
    /// The job's id.
    pub id: String,
    /// The job record (JSON).
    pub record: String,
    /// The input stream.
    pub input: String,
    /// The result stream.
    pub output: String,
    /// Workers' notes on the job (a hash: worker → note).
    pub notes: String,
    /// Workers that refuse the job (a hash: worker → why).
    pub refused: String,
    /// The shared store's keys and values (a hash).
    pub kv: String,
    /// The store's keys holding integers made by `incr` (a set).
    pub ints: String,
    /// The shared state's size and limit (a hash: `bytes`, `limit`).
    pub shared_meta: String,
    /// The journal of shared calls per input (a hash).
    pub journal: String,
    /// The names of the queues holding items (a set); each is the list [`JobKeys::queue`].
    pub queues: String,
    /// Inputs tasks add (`work#submit`), for the submitter (a stream: `p` parent, `q`
    /// request, `v` input).
    pub added: String,
    /// The submitter's answers to them (a hash: request → `o` + index, or `e` + why).
    pub added_replies: String,
    /// What the job has done, for `mpwasm status` (a hash: `started`, `submitted`, `ended`,
    /// `done`, `f:KIND` per kind of failure, `taken_over`).
    pub stats: String,
    /// Its last [`RECENT`] failures, newest first (a list of JSON objects: index, kind,
    /// message, worker, time; never inputs or results).
    pub failures: String,
    /// Its last [`RECENT`] inputs taken over from a worker that stopped answering (a list of
    /// JSON objects: index, from, by, delivery, time).
    pub takeovers: String,
}

impl JobKeys {
    /// The keys of job `id`.
    pub fn new(id: &str) -> JobKeys {
        let base = format!("mpwasm:job:{id}");
        JobKeys {
            id: id.to_string(),
            input: format!("{base}:in"),
            output: format!("{base}:out"),
            notes: format!("{base}:notes"),
            refused: format!("{base}:refused"),
            kv: format!("{base}:kv"),
            ints: format!("{base}:kvint"),
            shared_meta: format!("{base}:shared"),
            journal: format!("{base}:journal"),
            queues: format!("{base}:queues"),
            added: format!("{base}:added"),
            added_replies: format!("{base}:added-replies"),
            stats: format!("{base}:stats"),
            failures: format!("{base}:failures"),
            takeovers: format!("{base}:takeovers"),
            record: base,
        }
    }

    /// The list holding shared queue `name`.
    pub fn queue(&self, name: &str) -> String {
        format!("{}:q:{name}", self.record)
    }

    /// The shared state's keys but the queues' lists (named in [`queues`](Self::queues)).
    pub fn shared(&self) -> [&str; 7] {
        [
            &self.kv,
            &self.ints,
            &self.shared_meta,
            &self.journal,
            &self.queues,
            &self.added,
            &self.added_replies,
        ]
    }

    /// Every key of the job (the record first).
    pub fn all(&self) -> [&str; 8] {
        [
            &self.record,
            &self.input,
            &self.output,
            &self.notes,
            &self.refused,
            &self.stats,
            &self.failures,
            &self.takeovers,
        ]
    }
}

/// Whether `id` can be a job id (what a worker accepts from the jobs set): 1 to 64 characters
/// of `[0-9a-z-]`.
pub fn valid_job_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase() || b == b'-')
}

/// Whether `hash` is a SHA-256 in lowercase hex.
pub fn valid_sha256(hash: &str) -> bool {
    hash.len() == 64
        && hash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}
