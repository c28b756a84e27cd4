//! What a worker is told before its first task: the compiled module to load, what each task
//! runs (a function or the whole program), the limits and the grants. The host builds it once
//! per pool and sends it as a worker's first message.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::command::CommandSpec;
use super::grants::Grants;
use super::module::{FunctionPath, ModuleKind};
use crate::limits::Limits;
use crate::sandbox::engine::MemoryInit;

/// Everything a worker needs to become a sandbox host for one task module.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Setup {
    /// The precompiled artifact the host wrote (the worker never compiles).
    pub artifact: PathBuf,
    /// Component or core module.
    pub kind: ModuleKind,
    /// What each task runs: a function, or the whole program.
    pub entry: Entry,
    /// Per-task limits.
    pub limits: Limits,
    /// A new instance for every task.
    pub fresh: bool,
    /// How the module's instances get their memory: the host compiled the artifact for it.
    pub memory_init: MemoryInit,
    /// Measure every task's run time (programs are always timed).
    pub timed: bool,
    /// Directories and environment variables granted to every sandbox.
    pub grants: Grants,
    /// Imports the application answers (interfaces, or functions the world imports
    /// directly): the worker links each to a call on its call socket.
    pub host_imports: Vec<String>,
    /// The Unix socket the worker connects to for those calls (the transport names one per
    /// worker process).
    pub host_socket: Option<PathBuf>,
}

/// What a task runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Entry {
    /// Calls an exported function with the input as its arguments.
    Functions {
        /// The exports tasks may call, by [`WireTask::export`](super::WireTask::export): the
        /// pool's own function first, then every other callable export.
        functions: Vec<FunctionPath>,
        /// The export run once in every new instance before its first task.
        init: Option<FunctionPath>,
    },
    /// Runs the module as a WASI program (`wasi:cli/run`, or `_start`), in a new instance
    /// for every task, with arguments and stdin made from the input.
    Program(CommandSpec),
}
