//! `mpwasm worker`: serves a Redis broker (see [`mpwasm::broker::serve`]) until Ctrl-C or
//! SIGTERM, saying on stderr what it does.

use std::sync::Arc;

use anyhow::{Context, Result, bail};
use mpwasm::broker::{BrokerError, BrokerUrl, ServeOptions, Server, WorkerCaps};
use mpwasm::limits::{default_processes, parse_duration, parse_size};
use mpwasm::task::artifact::cache_dir;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use super::args::WorkerArgs;

/// Runs the command; returns the exit status.
pub fn run(args: WorkerArgs) -> Result<i32> {
    let processes = args.processes.unwrap_or_else(default_processes);
    if processes == 0 {
        bail!("invalid -j/--processes 0: at least one worker process is needed");
    }
    let prefetch = args.prefetch.unwrap_or(processes * 2);
    if prefetch == 0 {
        bail!("invalid --prefetch 0: a worker holds at least one input");
    }
    let max_memory = match &args.max_memory {
        Some(text) => {
            let bytes = parse_size(text).map_err(|e| anyhow::anyhow!("--max-memory: {e}"))?;
            if bytes == 0 {
                bail!("invalid --max-memory `{text}`: the limit must be above 0");
            }
            Some(bytes)
        }
        None => None,
    };
    let max_timeout = match &args.max_timeout {
        Some(text) => {
            let limit = parse_duration(text).map_err(|e| anyhow::anyhow!("--max-timeout: {e}"))?;
            if limit.is_zero() {
                bail!("invalid --max-timeout `{text}`: the limit must be above 0");
            }
            Some(limit)
        }
        None => None,
    };
    for dir in &args.allow_dir {
        if !dir.is_dir() {
            bail!(
                "invalid --allow-dir {}: it does not exist or is not a directory",
                dir.display()
            );
        }
    }
    let module_dir = cache_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("broker-modules");
    let url = Arc::new(BrokerUrl::parse(&args.broker)?);
    let quiet = args.quiet;
    let options = ServeOptions {
        processes,
        prefetch,
        caps: WorkerCaps {
            max_memory,
            max_timeout,
            allow_dirs: args.allow_dir.clone(),
            allow_http: args.allow_http,
        },
        module_dir,
        worker_program: None,
        log: Arc::new(move |line: &str| {
            if !quiet {
                eprintln!("mpwasm worker: {line}");
            }
        }),
    };
    let server = Server::connect(&url, options)?;
    let stopper = server.stopper();
    let mut signals = Signals::new([SIGINT, SIGTERM]).context("cannot install signal handlers")?;
    std::thread::spawn(move || {
        let mut stopped = false;
        for sig in signals.forever() {
            if std::mem::replace(&mut stopped, true) {
                eprintln!("mpwasm worker: second signal: exiting now");
                std::process::exit(128 + sig);
            }
            stopper.stop();
        }
    });
    match server.run() {
        Ok(()) => {
            if !quiet {
                eprintln!("mpwasm worker: stopped");
            }
            Ok(0)
        }
        Err(e @ BrokerError::Lost { .. }) => {
            eprintln!("mpwasm worker: error: {e}");
            Ok(1)
        }
        Err(e) => Err(e.into()),
    }
}
