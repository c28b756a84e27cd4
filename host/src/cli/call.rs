//! `mpwasm call`: one call in one sandboxed worker process (Python's `apply`), or one run of a
//! WASI program with this process's stdin, stdout, stderr and exit status passed through (a
//! sandboxed `wasmtime run` with mpwasm's limits).

use std::io::{IsTerminal, Read, Write};

use anyhow::{Context, Result};
use mpwasm::TaskOutcome;
use serde_json::Value;

use super::ExitCode;
use super::args::Format;
use super::output::compiling;
use super::run::report::{Display, Reporter};
use super::settings::CallSettings;

/// Runs the command.
///
/// # Errors
/// When the module cannot be loaded or started, or stdin cannot be read for a program.
pub fn run(settings: CallSettings) -> Result<ExitCode> {
    let task = settings.pool.load(settings.task.as_path());
    compiling::done();
    let task = task?;
    if task.program_export().is_some() && !settings.function_named {
        let pool = settings
            .pool
            .program_args(settings.words, true)
            .build_task(&task)?;
        let stdin = read_stdin()?;
        let outcome = pool.apply_async(vec![Value::String(stdin)]).wait_outcome();
        return Ok(pass_through(&outcome));
    }
    let pool = settings.pool.build_task(&task)?;
    let outcome = pool.apply_async(settings.values).wait_outcome();
    let mut reporter = Reporter::new(Format::Values, None, Display::default());
    // One result: a closed stdout leaves nothing more to stop, and there is no joblog.
    let _ = reporter.report(&outcome);
    let _ = reporter.flush();
    Ok(if reporter.failed() > 0 {
        ExitCode::Failed
    } else {
        ExitCode::Success
    })
}

/// This process's stdin, read to its end, unless it is a terminal (then the program gets an
/// empty stdin rather than a wait for input nobody knows is expected).
fn read_stdin() -> Result<String> {
    let mut stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Ok(String::new());
    }
    let mut bytes = Vec::new();
    stdin
        .read_to_end(&mut bytes)
        .context("cannot read stdin for the program")?;
    Ok(String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into()))
}

/// Prints a program run's stdout and stderr as they are and returns its exit status; a run
/// stopped before its end (timeout, memory limit, trap) prints why and fails.
fn pass_through(outcome: &TaskOutcome) -> ExitCode {
    if let Some(run) = outcome.program_run() {
        let _ = std::io::stdout().write_all(run.stdout.as_bytes());
        let _ = std::io::stdout().flush();
        let _ = std::io::stderr().write_all(run.stderr.as_bytes());
        if let Some(code) = run.exit {
            return ExitCode::Program(u8::try_from(code.clamp(0, 255)).unwrap_or(u8::MAX));
        }
    }
    if let Err(error) = outcome.json() {
        eprintln!(
            "mpwasm: the program did not finish: {}: {}",
            error.kind(),
            error.message()
        );
    }
    ExitCode::Failed
}
