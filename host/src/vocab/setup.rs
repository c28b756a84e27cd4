//! What a worker is told before its first task: the compiled modules it may run (one for a
//! pool of one module, one per plugin for a pool of plugins), what each task of a module runs
//! (a function or the whole program), their limits, and what the whole process shares: the
//! engine's settings, the grants (the OS confinement is per process) and how many instances
//! it keeps alive. The host builds it once per pool, or per change of a pool's plugins, and
//! sends it as a worker's first message.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::command::CommandSpec;
use super::grants::Grants;
use super::module::{FunctionPath, ModuleKind};
use crate::limits::Limits;
use crate::sandbox::engine::{EngineSettings, MemoryInit};

/// Everything a worker process needs to become a sandbox host for its modules.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Setup {
    /// The modules, by their number (a batch names one): a pool of one module has one; a pool
    /// of plugins has one per plugin, `None` where a plugin was removed, so numbers never
    /// shift.
    pub modules: Vec<Option<ModuleSetup>>,
    /// What changes compiled code (fuel metering): the same for every module of the process,
    /// which has one engine.
    pub engine: EngineSettings,
    /// How instances get their memory: the host compiled every module for it.
    pub memory_init: MemoryInit,
    /// Directories, environment variables and HTTP hosts granted to every sandbox of the
    /// process (the OS confinement applies to the whole process).
    pub grants: Grants,
    /// The most instances (of different modules) the worker keeps alive at once; the least
    /// recently used goes first. 1 for a pool of one module.
    pub kept_instances: u32,
    /// The Unix socket the worker connects to for host calls (the transport names one per
    /// worker process).
    pub host_socket: Option<PathBuf>,
}

/// One module a worker may run: where its compiled code is, what its tasks run, their limits.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModuleSetup {
    /// Its name in messages: a plugin's name, or the module's file name.
    pub name: String,
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
    /// Measure every task's run time (programs are always timed).
    pub timed: bool,
    /// Imports the application answers (interfaces, or functions the world imports
    /// directly): the worker links each to a call on its call socket.
    pub host_imports: Vec<String>,
}

impl Setup {
    /// The setup of a pool of one module.
    pub fn one(
        module: ModuleSetup,
        memory_init: MemoryInit,
        grants: Grants,
        engine: EngineSettings,
    ) -> Setup {
        Setup {
            modules: vec![Some(module)],
            engine,
            memory_init,
            grants,
            kept_instances: 1,
            host_socket: None,
        }
    }

    /// The modules that are there, with their numbers.
    pub fn present(&self) -> impl Iterator<Item = (u32, &ModuleSetup)> {
        self.modules
            .iter()
            .enumerate()
            .filter_map(|(n, m)| Some((n as u32, m.as_ref()?)))
    }

    /// Module `number`, if it is there.
    pub fn module(&self, number: u32) -> Option<&ModuleSetup> {
        self.modules.get(number as usize)?.as_ref()
    }

    /// Whether a module imports something the application answers (then the worker needs a
    /// call socket).
    pub fn wants_calls(&self) -> bool {
        self.present().any(|(_, m)| !m.host_imports.is_empty())
    }

    /// The shortest per-task timeout of its modules, which sets the worker's epoch tick.
    pub fn shortest_timeout(&self) -> Option<Duration> {
        self.present().filter_map(|(_, m)| m.limits.timeout).min()
    }
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
