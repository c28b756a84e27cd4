//! `mpwasm worker`: serves a Redis broker (see [`mpwasm::broker::serve`]) until Ctrl-C or
//! SIGTERM, saying on stderr what it does.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};
use mpwasm::broker::{BrokerError, ServeOptions, serve};
use mpwasm::task::artifact::cache_dir;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use super::settings::WorkerSettings;

/// Runs the command; returns the exit status.
pub fn run(settings: WorkerSettings) -> Result<i32> {
    let module_dir = cache_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("broker-modules");
    let quiet = settings.quiet;
    let options = ServeOptions {
        processes: settings.processes,
        prefetch: settings.prefetch,
        caps: settings.caps,
        module_dir,
        worker_program: None,
        log: Arc::new(move |line: &str| {
            if !quiet {
                eprintln!("mpwasm worker: {line}");
            }
        }),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let mut signals = Signals::new([SIGINT, SIGTERM]).context("cannot install signal handlers")?;
    {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            for sig in signals.forever() {
                if stop.swap(true, Ordering::SeqCst) {
                    eprintln!("mpwasm worker: second signal: exiting now");
                    std::process::exit(128 + sig);
                }
            }
        });
    }
    match serve(&settings.url, options, &stop) {
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
