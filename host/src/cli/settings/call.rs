//! `mpwasm call`'s checked settings: the module, its arguments (as a function's JSON values and
//! as a program's words; which one applies is known once the module is loaded), and a pool of
//! one worker process.

use std::path::PathBuf;

use anyhow::Result;
use mpwasm::PoolBuilder;
use mpwasm::sandbox::engine::EngineSettings;
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
    /// The pool: one worker process.
    pub pool: PoolBuilder,
    /// How the module is compiled for that pool.
    pub engine: EngineSettings,
    /// Take the compiled module from the compile cache (and fill it).
    pub cache: bool,
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
        let engine = EngineSettings::for_pool(&pool.limits(), args.common.fresh);
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
            engine,
            cache: !args.common.no_cache,
            function_named: args.common.func.is_some(),
        })
    }
}
