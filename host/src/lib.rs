//! mpwasm: Python's `multiprocessing.Pool`, rebuilt around WebAssembly sandboxes.
//!
//! A [`Pool`] keeps worker processes (one per core by default), each running wasmtime with a
//! task module compiled once by the host. Tasks are JSON values mapped onto the function's WIT
//! signature; every task runs under a memory limit, an optional time limit and no
//! capabilities, and every input gets exactly one outcome.
//!
//! ```no_run
//! use mpwasm::Pool;
//! use serde_json::json;
//!
//! let pool = Pool::builder().processes(4).build("square.wasm")?;
//! for result in pool.imap((0..10).map(|i| json!(i))) {
//!     println!("{}", result?);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Worker processes are the `mpwasm` binary run as `mpwasm __worker`; see
//! [`PoolBuilder::worker_program`] for how it is found.
//!
//! Where to look: scheduling in [`pool`], running across machines in [`broker`], the worker
//! process in [`worker`], the wire protocol in [`wire`], the sandbox in [`sandbox`], the JSON ↔
//! WIT mapping in [`values`], loading modules in [`task`], and the plain data all of them
//! exchange (setup, tasks, outcomes, grants) in [`vocab`]; the application's answers to its
//! plugins' imports in [`imports`].

pub mod bindings;
pub mod broker;
pub mod error;
mod files;
pub mod ids;
pub mod imports;
pub mod limits;
pub mod pool;
pub mod sandbox;
pub mod shared;
mod sync;
pub mod task;
pub mod values;
pub mod vocab;
pub mod wire;
pub mod worker;

/// Typed Rust bindings for a plugin's WIT world: types, a client with a blocking and an async
/// method per export, and a trait per imported interface. See [`bindings`] for the options,
/// what is generated, and an example.
pub use mpwasm_macros::bindgen;

pub use error::{Error, ErrorKind, TaskError};
pub use ids::TaskIndex;
pub use imports::{HostCallInfo, HostError, HostHandler};
pub use limits::Limits;
pub use pool::{
    AsyncResult, CallOptions, Canceller, Export, ExportSource, Plugin, PluginOptions, PluginPool,
    Pool, PoolBuilder, Process, TaskOutcome, Typed,
};
pub use shared::SharedStore;
pub use task::{ExportedFunction, Task};
pub use vocab::{DirGrant, FunctionPath, HttpGrant, ModuleKind};

/// How many cases a property test runs: `$PROPTEST_CASES` when set (to fuzz longer than CI
/// does, e.g. `PROPTEST_CASES=200000 cargo test --release -p mpwasm --lib`), else
/// `default`.
#[cfg(test)]
pub(crate) fn fuzz_cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}
