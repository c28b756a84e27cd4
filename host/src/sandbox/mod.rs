//! The sandbox: wasmtime wiring inside a worker process. One [`Sandbox`] runs one task module
//! under the pool's [`Limits`](crate::limits::Limits): a fresh or kept instance per task, a
//! memory limiter, epoch deadlines for time, fuel when asked, WASI with no capabilities, and
//! guest output captured per task.

pub mod classify;
pub mod engine;
pub mod grants;
pub mod http;
pub mod limiter;
pub mod linker;
pub mod output;
pub mod program;
pub mod runner;
pub mod state;
pub mod typed;

pub use runner::Sandbox;
