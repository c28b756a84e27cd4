//! The shared vocabulary: plain data that crosses pipes and machines, and that the rooms which
//! send it ([`crate::pool`], [`crate::broker`]), carry it ([`crate::wire`]) and act on it
//! ([`crate::sandbox`], [`crate::worker`], [`crate::task`]) all speak. Nothing here knows about
//! wasmtime, processes or Redis; every other room may depend on it, and it on none of them
//! (only on the leaf modules [`crate::ids`], [`crate::limits`] and [`crate::error`]'s kinds).
//!
//! - [`setup`]: what a worker is told before its first task ([`Setup`], [`ModuleSetup`],
//!   [`Entry`]).
//! - [`task`]: one task and its outcome in transit ([`WireTask`], [`WireOutcome`],
//!   [`WireFailure`], [`CapturedOutput`]).
//! - [`grants`]: capabilities granted to sandboxes ([`Grants`], [`DirGrant`], [`HttpGrant`]).
//! - [`command`]: how an input becomes a program run ([`CommandSpec`]) and what a run gives
//!   ([`ProgramRun`]).
//! - [`module`]: what a module is and where its functions are ([`ModuleKind`],
//!   [`FunctionPath`]).
//! - [`host_call`]: a guest's call into the application and its answer ([`HostCall`],
//!   [`HostReply`], [`HostFault`]).
//! - [`job`]: what a job asks of every sandbox, wherever it runs ([`JobSpec`]), with a pinned,
//!   versioned encoding (a broker's job record carries it between machines).

pub mod command;
pub mod grants;
pub mod host_call;
pub mod job;
pub mod module;
pub mod setup;
pub mod task;

pub use crate::limits::Limits;
pub use command::{CommandSpec, Invocation, ProgramRun};
pub use grants::{DirGrant, Grants, HttpGrant};
pub use host_call::{HostCall, HostFault, HostReply};
pub use job::JobSpec;
pub use module::{FunctionPath, ModuleKind};
pub use setup::{Entry, ModuleSetup, Setup};
pub use task::{CallLimits, CapturedOutput, TaskCall, WireFailure, WireOutcome, WireTask};
