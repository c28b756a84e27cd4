//! The pool: Python's `multiprocessing.Pool` over Wasm sandboxes.
//!
//! The design follows nextest's runner. One *dispatcher* thread ([`dispatcher`]) owns all
//! scheduling state (queue, chunk sizing, which worker holds which tasks, retries) and is the
//! only one that talks to workers, through the narrow [`transport`] seam; everything reaches it
//! as an [`events::Event`] on one channel, so it never blocks on a single worker. Jobs ([`job`])
//! submit inputs under a bounded window and receive outcomes on their own channel; the public
//! API ([`api`], [`builder`]) wraps jobs as `map`, `imap`, `apply_async`, ...

pub mod api;
pub mod builder;
pub mod chunking;
pub mod dispatcher;
pub mod events;
pub mod job;
pub mod transport;

pub use api::{AsyncResult, Imap, ImapUnordered, Pool, Process, Terminator};
pub use builder::PoolBuilder;
pub use events::TaskOutcome;
pub use job::{Next, Outcomes, Submitter, Waker};
