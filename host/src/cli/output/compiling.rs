//! The note that a large module is being compiled (CPython in a Python task takes seconds):
//! one plain line, or on a terminal a spinner with the time so far, replaced by one line saying
//! how long it took once the module is ready.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Modules at least this large take seconds to compile (CPython in a Python task: ~17 MiB,
/// 3–9 s on two cores), so their first run says so instead of looking stuck.
const SAY_COMPILING: u64 = 4 << 20;

/// The spinner of the compile under way, with what it compiles and since when.
static SPINNER: Mutex<Option<(ProgressBar, String, Instant)>> = Mutex::new(None);

/// Says on stderr that a module is about to be compiled, if it is large
/// ([`mpwasm::PoolBuilder::on_compile`]); [`done`] ends a spinner started here.
pub fn starting(path: &Path, bytes: u64) {
    if bytes < SAY_COMPILING {
        return;
    }
    let name = path
        .file_name()
        .unwrap_or(path.as_os_str())
        .to_string_lossy();
    let size = mpwasm::limits::format_size(bytes);
    if !std::io::stderr().is_terminal() {
        eprintln!(
            "mpwasm: compiling {name} ({size}) for this machine; only its first run does this \
             (the result is cached)"
        );
        return;
    }
    let style = ProgressStyle::with_template("{spinner} mpwasm: {msg} [{elapsed}]")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    let spinner = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
        .with_style(style)
        .with_message(format!("compiling {name} ({size}), first run only"));
    spinner.enable_steady_tick(Duration::from_millis(120));
    if let Ok(mut slot) = SPINNER.lock() {
        *slot = Some((spinner, name.into_owned(), Instant::now()));
    }
}

/// Ends the spinner, if one runs, with one line saying how long compiling took (call it when
/// the module is loaded, or failed to load).
pub fn done() {
    let Some((spinner, name, since)) = SPINNER.lock().ok().and_then(|mut slot| slot.take()) else {
        return;
    };
    spinner.finish_and_clear();
    eprintln!(
        "mpwasm: compiled {name} in {:.1} s (cached for the next runs)",
        since.elapsed().as_secs_f64()
    );
}
