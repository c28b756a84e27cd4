//! `mpwasm worker`'s checked settings: the broker, how many processes and inputs it holds, and
//! the operator's caps on what jobs may have here.

use std::sync::Arc;

use anyhow::{Result, bail};
use mpwasm::broker::{BrokerUrl, Prefetch, WorkerCaps};
use mpwasm::limits::default_processes;

use super::pool::{limit_duration, limit_size, processes};
use crate::cli::args::WorkerArgs;

/// What `mpwasm worker` does.
#[derive(Debug)]
pub struct WorkerSettings {
    /// The broker, checked.
    pub url: Arc<BrokerUrl>,
    /// Worker processes per job's pool.
    pub processes: usize,
    /// Inputs held at once over all jobs: `--prefetch N`, or learned.
    pub prefetch: Prefetch,
    /// What the operator allows any job.
    pub caps: WorkerCaps,
    /// Say nothing on stderr but errors.
    pub quiet: bool,
}

impl WorkerSettings {
    /// Checks `mpwasm worker`'s flags.
    ///
    /// # Errors
    /// A message naming the flag and the text it refused.
    pub fn new(args: WorkerArgs) -> Result<WorkerSettings> {
        let processes = processes(args.processes.unwrap_or_else(default_processes))?;
        let prefetch = match args.prefetch.as_deref().map(str::trim) {
            None => Prefetch::Fixed(processes.saturating_mul(2)),
            Some("auto") => Prefetch::Adaptive,
            Some(text) => match text.parse::<usize>() {
                Ok(0) => bail!("invalid --prefetch 0: a worker holds at least one input"),
                Ok(n) => Prefetch::Fixed(n),
                Err(_) => bail!(
                    "invalid --prefetch `{text}`: expected a number of inputs, or `auto` to \
                     learn it from what an input costs"
                ),
            },
        };
        let max_memory = args
            .max_memory
            .as_deref()
            .map(|text| limit_size("--max-memory", text))
            .transpose()?;
        let max_timeout = args
            .max_timeout
            .as_deref()
            .map(|text| limit_duration("--max-timeout", text))
            .transpose()?;
        for dir in &args.allow_dir {
            if !dir.is_dir() {
                bail!(
                    "invalid --allow-dir {}: it does not exist or is not a directory",
                    dir.display()
                );
            }
        }
        Ok(WorkerSettings {
            url: Arc::new(BrokerUrl::parse(&args.broker)?),
            processes,
            prefetch,
            caps: WorkerCaps {
                max_memory,
                max_timeout,
                allow_dirs: args.allow_dir,
                allow_http: args.allow_http,
            },
            quiet: args.quiet,
        })
    }
}
