//! The library's error types: [`Error`] for a pool or task module that cannot be set up, and
//! [`TaskError`] with its [`ErrorKind`] for one task that failed. Messages say what failed,
//! where, and what to do about it.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::ids::TaskIndex;

/// Why one task failed. Printed in kebab-case (`memory-limit`), as in the CLI's JSON Lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// The task tried to grow its memory (or tables) past the memory limit.
    MemoryLimit,
    /// The task ran past the time limit and was stopped.
    Timeout,
    /// The task used up its instruction budget (fuel).
    FuelExhausted,
    /// The guest trapped: a panic, `unreachable`, division by zero, stack overflow, ...
    Trap,
    /// The input does not fit the function's parameters.
    BadInput,
    /// The instance's `init` function failed, so the task never ran.
    InitFailed,
    /// The worker process running the task died (killed, crashed) before answering.
    WorkerLost,
    /// The pool was shut down before the task finished.
    Cancelled,
    /// A WASI command (program) ran to its end and exited with a non-zero status.
    Exit,
    /// Every worker serving the broker refuses the job (it asks for a capability or limit
    /// their operators do not allow).
    Refused,
    /// The broker was lost and could not be reached again in time.
    BrokerLost,
    /// A function the application answers (a host function) failed, and the WIT function
    /// has no `result` to hand the error to the guest.
    HostError,
    /// The task's result was too large for the worker's answer: the results of one batch
    /// share [`BATCH_RESULT_BUDGET`](crate::worker::BATCH_RESULT_BUDGET) bytes.
    ResultTooLarge,
    /// The call's plugin was removed from its pool ([`PluginPool::remove`]) before the call
    /// started. (Last: outcomes carry kinds by their position.)
    ///
    /// [`PluginPool::remove`]: crate::PluginPool::remove
    PluginRemoved,
}

impl ErrorKind {
    /// The kind's name as printed: `memory-limit`, `timeout`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::MemoryLimit => "memory-limit",
            ErrorKind::Timeout => "timeout",
            ErrorKind::FuelExhausted => "fuel-exhausted",
            ErrorKind::Trap => "trap",
            ErrorKind::BadInput => "bad-input",
            ErrorKind::InitFailed => "init-failed",
            ErrorKind::WorkerLost => "worker-lost",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Exit => "exit",
            ErrorKind::Refused => "refused",
            ErrorKind::BrokerLost => "broker-lost",
            ErrorKind::HostError => "host-error",
            ErrorKind::ResultTooLarge => "result-too-large",
            ErrorKind::PluginRemoved => "plugin-removed",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One task failed: which task, why (its [`ErrorKind`]) and a message that names the cause and
/// the limit involved. Displays as `task 3: memory-limit: ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskError {
    index: TaskIndex,
    kind: ErrorKind,
    /// Boxed: a task's result is `Result<_, TaskError>`, and errors are rare, so they should
    /// not make every result bigger.
    detail: Box<Detail>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Detail {
    message: String,
    value: Option<String>,
}

impl TaskError {
    /// Makes a task error.
    pub fn new(index: TaskIndex, kind: ErrorKind, message: impl Into<String>) -> TaskError {
        TaskError {
            index,
            kind,
            detail: Box::new(Detail {
                message: message.into(),
                value: None,
            }),
        }
    }

    /// Attaches what the task produced despite failing, as JSON text (a program that exited
    /// with a non-zero status still has its `{"exit":..,"stdout":..,"stderr":..}`).
    pub fn with_value(mut self, value: Option<compact_str::CompactString>) -> TaskError {
        self.detail.value = value.map(String::from);
        self
    }

    /// What the task produced despite failing, as JSON text, if anything: for a program that
    /// exited with a non-zero status, `{"exit":C,"stdout":..,"stderr":..}`.
    pub fn value_json(&self) -> Option<&str> {
        self.detail.value.as_deref()
    }

    /// The index of the failed task in its job.
    pub fn index(&self) -> TaskIndex {
        self.index
    }

    /// Why it failed.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message, without the `task N: kind:` prefix.
    pub fn message(&self) -> &str {
        &self.detail.message
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "task {}: {}: {}",
            self.index, self.kind, self.detail.message
        )
    }
}

impl std::error::Error for TaskError {}

/// A task module or pool that cannot be set up. Nothing ran.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The task module file cannot be read.
    #[error("cannot read task module {}: {cause}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        cause: std::io::Error,
    },
    /// The file is not WebAssembly.
    #[error(
        "{} is not a WebAssembly module or component (it does not start with the `\\0asm` magic \
         bytes); build a task with `cargo build --release --target wasm32-wasip2`",
        path.display()
    )]
    NotWasm {
        /// The file.
        path: PathBuf,
    },
    /// wasmtime refused the module.
    #[error("failed to compile {}: {message}", path.display())]
    Compile {
        /// The file.
        path: PathBuf,
        /// wasmtime's explanation.
        message: String,
    },
    /// The module imports something the host does not provide.
    #[error(
        "{} needs an import mpwasm does not provide: {message}\n  (a task may import only WASI \
         0.2 interfaces, or WASI preview 1 for a core module; an application embedding mpwasm \
         answers a component's other imports with `PoolBuilder::host(NAME, handler)`)",
        path.display()
    )]
    UnsupportedImport {
        /// The file.
        path: PathBuf,
        /// wasmtime's explanation, naming the import.
        message: String,
    },
    /// The requested function is not exported.
    #[error("{} has no exported function `{name}`; it exports:\n{available}", path.display())]
    NoSuchFunction {
        /// The file.
        path: PathBuf,
        /// The requested name.
        name: String,
        /// The exported functions with their signatures, one per line.
        available: String,
    },
    /// No function was requested and there is more than one.
    #[error(
        "{} exports several functions; choose one with --func NAME:\n{available}",
        path.display()
    )]
    AmbiguousFunction {
        /// The file.
        path: PathBuf,
        /// The exported functions with their signatures, one per line.
        available: String,
    },
    /// The module exports no function at all.
    #[error("{} exports no functions to call", path.display())]
    NoFunctions {
        /// The file.
        path: PathBuf,
    },
    /// The function's signature uses types that cannot travel as JSON (resources, streams...).
    #[error("cannot call `{function}`: {reason}")]
    UnsupportedSignature {
        /// The function.
        function: String,
        /// Which type and why.
        reason: String,
    },
    /// Program arguments or stdin were given for a module that is not a WASI program.
    #[error(
        "{} is not a WASI program (it exports no `wasi:cli/run`, nor `_start`), so it takes no \
         program arguments or --stdin; call one of its functions instead",
        path.display()
    )]
    NotAProgram {
        /// The file.
        path: PathBuf,
    },
    /// The compiled-artifact cache or a temporary file failed.
    #[error("cannot store the compiled module in {}: {cause}", path.display())]
    Artifact {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        cause: std::io::Error,
    },
    /// A worker process could not be started.
    #[error("cannot start worker process `{}`: {cause}", program.display())]
    Spawn {
        /// The program.
        program: PathBuf,
        /// The I/O error.
        cause: std::io::Error,
    },
    /// Workers start but fail to load the module.
    #[error("worker processes fail to start: {0}")]
    WorkersFailed(String),
    /// A builder setting is out of range.
    #[error("invalid setting: {0}")]
    Config(String),
    /// One plugin of a pool of plugins cannot be set up (or its new version cannot replace
    /// it); the pool is as it was.
    #[error("plugin `{plugin}`: {source}")]
    Plugin {
        /// The plugin's name.
        plugin: String,
        /// What is wrong with it.
        source: Box<Error>,
    },
}
