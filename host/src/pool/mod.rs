//! The pool: Python's `multiprocessing.Pool` over Wasm sandboxes.
//!
//! The design follows nextest's runner. One *dispatcher* thread ([`dispatcher`]) owns all
//! scheduling state (queue, chunk sizing, which worker holds which tasks, retries) and is the
//! only one that talks to workers, through the narrow [`transport`] seam. It waits on one
//! inbox ([`inbox`]) and nothing else: jobs' [`request::Request`]s and worker links'
//! [`events::WorkerReport`]s, so it never blocks on a single worker. Jobs ([`job`]) submit
//! inputs under a bounded window and receive [`outcome::TaskOutcome`]s on their own channel;
//! a job speaks only `Request`s, so a broker's submitter can serve the same job type. The
//! public API ([`api`], [`builder`]) wraps jobs as `map`, `imap`, `apply_async`, ... A worker's
//! call into the application (a host function) goes over the worker's call socket to threads
//! that serve it (`handlers`), never through the dispatcher. A pool of several plugins
//! ([`plugins`]) runs a dispatcher per group of plugins that may share processes.

pub mod api;
pub mod builder;
pub mod chunking;
pub mod dispatcher;
pub mod events;
#[cfg(test)]
mod fake_transport;
pub(crate) mod handlers;
pub mod inbox;
pub mod job;
pub(crate) mod lane;
pub mod outcome;
pub mod plugins;
pub mod process;
mod queue;
pub mod request;
pub mod trace;
pub mod transport;

pub use api::{
    AsyncResult, CallOptions, Canceller, Export, ExportSource, Imap, ImapUnordered, Pool,
    Terminator, Typed,
};
pub use builder::PoolBuilder;
pub use job::{Next, Outcomes, Submitter, TryPush, Waker};
pub use outcome::TaskOutcome;
pub use plugins::{KEPT_INSTANCES, Plugin, PluginOptions, PluginPool};
pub use process::Process;
