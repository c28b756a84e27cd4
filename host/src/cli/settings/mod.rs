//! Stage two of argument handling: raw flags become checked settings (a [`PoolBuilder`], an
//! [`InputSpec`]). Every message names the flag and the text it refused.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use mpwasm::PoolBuilder;
use mpwasm::limits::{parse_duration, parse_size};
use mpwasm::sandbox::grants::{DirGrant, HttpGrant};

use super::args::CommonArgs;

mod range;

pub use range::{IntRange, parse_range};

/// Where `run` takes its inputs from.
#[derive(Debug, Clone)]
pub enum InputSpec {
    /// `--map RANGE`.
    Range(IntRange),
    /// `--input PATH` (`None` = stdin).
    JsonLines(Option<PathBuf>),
    /// `--lines PATH` (`None` = stdin): each line a string.
    TextLines(Option<PathBuf>),
    /// `--csv PATH` (`None` = stdin): each row a record, or with `header: false` an array.
    Csv {
        /// The file.
        path: Option<PathBuf>,
        /// The first row names the columns.
        header: bool,
    },
}

/// Builds the pool settings from the shared flags.
pub fn pool_builder(common: &CommonArgs) -> Result<PoolBuilder> {
    let mut builder = PoolBuilder::new();
    if let Some(n) = common.processes {
        if n == 0 {
            bail!("invalid -j/--processes 0: at least one worker process is needed");
        }
        builder = builder.processes(n);
    }
    if let Some(text) = &common.memory {
        let bytes = parse_size(text).map_err(|e| anyhow::anyhow!("--memory: {e}"))?;
        if bytes == 0 {
            bail!("invalid --memory `{text}`: the limit must be above 0");
        }
        builder = builder.memory_limit(bytes);
    }
    if let Some(text) = &common.timeout {
        let limit = parse_duration(text).map_err(|e| anyhow::anyhow!("--timeout: {e}"))?;
        if limit.is_zero() {
            bail!("invalid --timeout `{text}`: the limit must be above 0");
        }
        builder = builder.timeout(limit);
    }
    if let Some(fuel) = common.fuel {
        builder = builder.fuel(fuel);
    }
    if let Some(text) = &common.output_limit {
        let bytes = parse_size(text).map_err(|e| anyhow::anyhow!("--output-limit: {e}"))?;
        builder = builder.output_limit(bytes);
    }
    if let Some(func) = &common.func {
        builder = builder.function(func.clone());
    }
    if let Some(init) = &common.init {
        builder = builder.init(init.clone());
    }
    if let Some(retries) = common.retries {
        builder = builder.retries(retries);
    }
    if let Some(n) = common.max_tasks_per_worker {
        if n == 0 {
            bail!("invalid --max-tasks-per-worker 0: a worker runs at least one task");
        }
        builder = builder.max_tasks_per_worker(n);
    }
    for text in &common.dir {
        builder = builder.dir(DirGrant::parse(text).map_err(anyhow::Error::msg)?);
    }
    for text in &common.allow_http {
        builder = builder.allow_http(HttpGrant::parse(text).map_err(anyhow::Error::msg)?);
    }
    for text in &common.env {
        let (name, value) = match text.split_once('=') {
            Some((name, value)) => (name.to_string(), value.to_string()),
            None => {
                let value = std::env::var(text).with_context(|| {
                    format!("--env {text}: the variable is not set here (write --env {text}=VALUE)")
                })?;
                (text.clone(), value)
            }
        };
        if name.is_empty() {
            bail!("invalid --env `{text}`: expected KEY=VALUE or KEY");
        }
        builder = builder.env(name, value);
    }
    Ok(builder.fresh(common.fresh).cache(!common.no_cache))
}
