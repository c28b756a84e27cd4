//! `mpwasm call`'s checked settings: the module, its arguments (as a function's JSON values and
//! as a program's words; which one applies is known once the module is loaded), and a pool of
//! one worker process.

use std::path::PathBuf;

use anyhow::Result;
use mpwasm::PoolBuilder;
use serde_json::Value;

use super::pool::pool_builder;
use crate::cli::args::CallArgs;

/// What `mpwasm call` does.
#[derive(Debug)]
pub struct CallSettings {
    /// The task module.
    pub task: PathBuf,
    /// The arguments as a function takes them: each a JSON value, or a string when it is not
    /// valid JSON.
    pub values: Vec<Value>,
    /// The arguments as a program takes them: as they were written.
    pub words: Vec<String>,
    /// The pool: one worker process (its settings also say how the module is compiled, and
    /// whether through the compile cache).
    pub pool: PoolBuilder,
    /// `--func` names the export, so a program's function is called instead of its `main`.
    pub function_named: bool,
}

impl CallSettings {
    /// Checks `mpwasm call`'s flags.
    ///
    /// # Errors
    /// A message naming the flag and the text it refused.
    pub fn new(args: CallArgs) -> Result<CallSettings> {
        let pool = pool_builder(&args.common)?.processes(1);
        let values = args
            .args
            .iter()
            .map(|a| serde_json::from_str(a).unwrap_or_else(|_| Value::String(a.clone())))
            .collect();
        Ok(CallSettings {
            task: args.task,
            values,
            words: args.args,
            pool,
            function_named: args.common.func.is_some(),
        })
    }
}
