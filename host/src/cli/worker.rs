//! `mpwasm worker`: serves a Redis broker (see [`mpwasm::broker::Server`]) until Ctrl-C or
//! SIGTERM, saying on stderr what it does.

use std::sync::Arc;

use anyhow::Result;
use mpwasm::broker::{BrokerError, ServeOptions, Server};
use mpwasm::task::artifact::cache_dir;

use super::ExitCode;
use super::settings::WorkerSettings;
use super::signals::Watcher;

/// Runs the command: 0 when a signal stopped it, 1 when the broker was lost.
///
/// # Errors
/// When it cannot start: the broker is unreachable or refuses the password.
pub fn run(settings: WorkerSettings) -> Result<ExitCode> {
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
    let server = Server::connect(&settings.url, options)?;
    let stopper = server.stopper();
    let watcher = Watcher::new("mpwasm worker");
    watcher.on_first(move || stopper.stop())?;
    match server.run() {
        Ok(()) => {
            if !quiet {
                eprintln!("mpwasm worker: stopped");
            }
            Ok(ExitCode::Success)
        }
        Err(e @ BrokerError::Lost { .. }) => {
            eprintln!("mpwasm worker: error: {e}");
            Ok(ExitCode::Failed)
        }
        Err(e) => Err(e.into()),
    }
}
