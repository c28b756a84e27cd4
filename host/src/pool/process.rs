//! [`Process`]: one sandboxed call in a worker process of its own, Python's
//! `multiprocessing.Process`: a pool of one, started for the call and stopped with it.

use serde_json::Value;

use super::api::{AsyncResult, Pool};
use super::builder::PoolBuilder;
use super::outcome::TaskOutcome;
use crate::error::Error;
use crate::task::TaskSource;

/// One sandboxed call in its own worker process (Python's `multiprocessing.Process`).
///
/// ```no_run
/// use mpwasm::Process;
/// use serde_json::json;
///
/// let p = Process::spawn("greeter.wasm", vec![json!(3)])?;
/// let outcome = p.join();
/// print!("{}", String::from_utf8_lossy(outcome.output()));
/// # Ok::<(), mpwasm::Error>(())
/// ```
pub struct Process {
    pending: AsyncResult,
    _pool: Pool,
}

impl Process {
    /// Starts the module's only function with `args` in a new worker process.
    ///
    /// # Errors
    /// Any [`Error`] from loading the module or starting the worker.
    pub fn spawn(source: impl Into<TaskSource>, args: Vec<Value>) -> Result<Process, Error> {
        Process::spawn_with(Pool::builder(), source, args)
    }

    /// Like [`spawn`](Self::spawn) with a configured builder (function, limits...); the
    /// builder's process count is ignored.
    ///
    /// # Errors
    /// As [`spawn`](Self::spawn).
    pub fn spawn_with(
        builder: PoolBuilder,
        source: impl Into<TaskSource>,
        args: Vec<Value>,
    ) -> Result<Process, Error> {
        let pool = builder.processes(1).build(source)?;
        let pending = pool.apply_async(args);
        Ok(Process {
            pending,
            _pool: pool,
        })
    }

    /// Waits for the call to end; returns its outcome with the captured output.
    pub fn join(mut self) -> TaskOutcome {
        self.pending.wait_outcome()
    }
}
