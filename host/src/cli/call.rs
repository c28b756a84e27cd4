//! `mpwasm call`: one call in one sandboxed worker process (Python's `apply`).

use anyhow::Result;
use serde_json::Value;

use super::args::{CallArgs, Format};
use super::report::Reporter;
use super::settings::pool_builder;

/// Runs the command; returns the exit status.
pub fn run(args: CallArgs) -> Result<i32> {
    let pool = pool_builder(&args.common)?
        .processes(1)
        .build(args.task.as_path())?;
    let values: Vec<Value> = args
        .args
        .iter()
        .map(|a| serde_json::from_str(a).unwrap_or_else(|_| Value::String(a.clone())))
        .collect();
    let outcome = pool.apply_async(values).wait_outcome();
    let mut reporter = Reporter::new(Format::Values, None);
    let _ = reporter.report(&outcome);
    let _ = reporter.flush();
    Ok(if reporter.failed > 0 { 1 } else { 0 })
}
