//! Running one job on many machines through Redis Streams: the submitter ([`submit`]) puts a
//! job's module, settings and inputs on the broker; `mpwasm worker` processes ([`serve`]) on any
//! machine take the inputs in consumer groups, run them in their local [`crate::Pool`], and
//! answer through the broker. Nothing here is a protocol of our own: only Redis's streams,
//! consumer groups, keys with a TTL and Lua scripts.
//!
//! # Keys ([`keys`])
//! - `mpwasm:module:<sha256>`: a module's bytes, stored once, content-addressed (1 day TTL,
//!   refreshed by every job that uses it). Workers check the hash and keep their own copy and
//!   compiled artifact.
//! - `mpwasm:jobs`: the set of running job ids; `mpwasm:workers`: live workers, scored by
//!   their last heartbeat (the broker's clock); `mpwasm:events`: a short stream announcing new
//!   jobs, which idle workers wait on.
//! - `mpwasm:job:<id>`: the job record ([`record`]): module hash, settings, lease.
//! - `mpwasm:job:<id>:in`: the input stream (`i` index, `v` input JSON), read by the consumer
//!   group `workers`; `mpwasm:job:<id>:out`: the result stream (`r`, an encoded outcome,
//!   [`outcome`]); `mpwasm:job:<id>:notes` / `:refused`: what workers say of the job.
//! - For a module importing `mpwasm:shared`: `:kv`, `:kvint`, `:shared`, `:journal`,
//!   `:queues`, `:q:<name>` (the job's shared store and each input's journal), `:added` and
//!   `:added-replies` (inputs tasks add, numbered by the submitter); see `shared.rs`.
//!
//! Every job key has a TTL the submitter renews while it runs, so an abandoned job goes away.
//!
//! # Who does what
//! The submitter's side ([`submit`]) serves a job's [`crate::pool::request::Request`]s, as the
//! local dispatcher would, with a feeder and a collector thread. The worker's side ([`serve`])
//! is one owner loop fed by threads that only do I/O (see its design note).
//!
//! # Guarantees
//! An input is executed at least once and has exactly one result: a worker acknowledges an
//! input and announces its result in one Lua script ([`scripts`]) that does both only if the
//! input is still unacknowledged, so a second run of it (after its worker was presumed lost)
//! is dropped. A worker renews the lease on what it holds; another worker takes over inputs
//! idle for longer than the lease (`XAUTOCLAIM`); an input delivered more than `retries + 1`
//! times gets a `worker-lost` result instead of going round forever.

pub mod connection;
pub mod error;
pub mod keys;
pub mod outcome;
pub mod record;
pub mod reply;
pub mod scripts;
pub mod serve;
mod shared;
pub mod status;
pub mod submit;

pub use connection::BrokerUrl;
pub use error::BrokerError;
pub use record::WorkerCaps;
pub use serve::{Prefetch, ServeOptions, Server, Stopper};
pub use status::{Failure, JobStatus, Status, StatusReader, Takeover, WorkerStatus};
pub use submit::{BrokerJob, SubmitOptions, submit};

/// This process's name on the broker: `HOST-PID`.
pub(crate) fn process_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".into());
    format!("{host}-{}", std::process::id())
}
