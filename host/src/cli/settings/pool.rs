//! The flags every pool is made of (processes, limits, grants, the function), checked one by
//! one and turned into a [`PoolBuilder`]. `run` and `call` take them all from [`CommonArgs`];
//! `test` and `worker` use the same checks for the flags they have. Every message names the
//! flag and the text it refused.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use mpwasm::PoolBuilder;
use mpwasm::limits::{parse_duration, parse_size};
use mpwasm::{DirGrant, HttpGrant};

use crate::cli::args::CommonArgs;
use crate::cli::output::compiling;

/// Builds the pool settings from the flags shared by `run` and `call`.
pub fn pool_builder(common: &CommonArgs) -> Result<PoolBuilder> {
    let mut builder = PoolBuilder::new().on_compile(compiling::starting);
    if let Some(n) = common.processes {
        builder = builder.processes(processes(n)?);
    }
    if let Some(text) = &common.memory {
        builder = builder.memory_limit(limit_size("--memory", text)?);
    }
    if let Some(text) = &common.timeout {
        builder = builder.timeout(limit_duration("--timeout", text)?);
    }
    if let Some(fuel) = common.fuel {
        builder = builder.fuel(fuel);
    }
    if let Some(text) = &common.output_limit {
        builder = builder.output_limit(size("--output-limit", text)?);
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
    builder = grant_dirs(builder, &common.dir)?;
    for text in &common.allow_http {
        builder = builder.allow_http(HttpGrant::parse(text).map_err(anyhow::Error::msg)?);
    }
    builder = grant_env(builder, &common.env)?;
    Ok(builder.fresh(common.fresh).cache(!common.no_cache))
}

/// `-j/--processes N`: at least one.
pub fn processes(n: usize) -> Result<usize> {
    if n == 0 {
        bail!("invalid -j/--processes 0: at least one worker process is needed");
    }
    Ok(n)
}

/// A size flag (`64MiB`, `2G`).
pub fn size(flag: &str, text: &str) -> Result<u64> {
    parse_size(text).map_err(|e| anyhow::anyhow!("{flag}: {e}"))
}

/// A size flag that is a limit, so above 0 (`--memory`, `--max-memory`).
pub fn limit_size(flag: &str, text: &str) -> Result<u64> {
    let bytes = size(flag, text)?;
    if bytes == 0 {
        bail!("invalid {flag} `{text}`: the limit must be above 0");
    }
    Ok(bytes)
}

/// A duration flag (`500ms`, `2s`, `1m`).
pub fn duration(flag: &str, text: &str) -> Result<Duration> {
    parse_duration(text).map_err(|e| anyhow::anyhow!("{flag}: {e}"))
}

/// A duration flag that is a limit, so above 0 (`--timeout`, `--max-timeout`).
pub fn limit_duration(flag: &str, text: &str) -> Result<Duration> {
    let limit = duration(flag, text)?;
    if limit.is_zero() {
        bail!("invalid {flag} `{text}`: the limit must be above 0");
    }
    Ok(limit)
}

/// Adds every `--dir HOST[::GUEST][:ro]` grant.
pub fn grant_dirs(mut builder: PoolBuilder, dirs: &[String]) -> Result<PoolBuilder> {
    for text in dirs {
        builder = builder.dir(DirGrant::parse(text).map_err(anyhow::Error::msg)?);
    }
    Ok(builder)
}

/// Adds every `--env KEY=VALUE` (or `KEY`, the host's value) grant.
pub fn grant_env(mut builder: PoolBuilder, env: &[String]) -> Result<PoolBuilder> {
    for text in env {
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
    Ok(builder)
}
