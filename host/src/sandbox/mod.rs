//! The sandbox: wasmtime wiring. The engine configuration host and workers share
//! ([`engine`]), what a sandbox links ([`linker`]), a compiled module mapped into an engine
//! ([`module`]) and its exports ([`exports`]); then, inside a worker process, one [`Sandbox`]
//! running one task module under the pool's [`Limits`](crate::limits::Limits): a fresh or
//! kept instance per task, a memory limiter, epoch deadlines for time, fuel when asked, WASI
//! with no capabilities, and guest output captured per task (its stdout and stderr served on a
//! short path, [`stdio`]). Imports the application answers
//! are linked to calls over the worker's call socket ([`host_calls`]).

pub mod cancel;
pub mod classify;
pub mod engine;
pub mod exports;
pub mod host_calls;
pub mod http;
pub mod limiter;
pub mod linker;
pub(crate) mod module;
pub mod output;
pub mod program;
pub mod runner;
pub mod state;
pub mod stdio;
pub mod typed;

pub use runner::Sandbox;
