//! `mpwasm test`: runs libtest binaries built for wasm32-wasip2 with every test in its own
//! fresh sandbox, spread over the worker processes, in the style of cargo-nextest. For each
//! binary ([`suite`]): list its tests (its own `--list`, sandboxed), select them as libtest
//! would ([`libtest`]), run each as one task of a pool in program mode, print a line per test
//! as it finishes ([`printer`]), retry failures when asked; then the summary and optionally
//! JUnit XML ([`junit`]).

pub mod junit;
pub mod libtest;
pub mod printer;
pub mod suite;

use std::time::Instant;

use anyhow::{Context, Result};

use crate::cli::ExitCode;
use crate::cli::settings::TestSettings;
use crate::cli::style::{Stream, Style};
use printer::{Printer, Totals};

/// Runs the command.
///
/// # Errors
/// When a binary cannot be loaded or listed, or the JUnit report cannot be written.
pub fn run(settings: TestSettings) -> Result<ExitCode> {
    let started = Instant::now();
    let mut printer = Printer::new(
        settings.nocapture,
        Style::new(settings.color, Stream::Stdout),
    );
    if settings.list {
        return list(&settings);
    }
    let mut suites = Vec::new();
    for binary in &settings.binaries {
        suites.push(suite::run_binary(&settings, binary, &mut printer)?);
    }
    let elapsed = started.elapsed();
    let totals = Totals::count(&suites);
    let _ = printer.summary(&suites, &totals, elapsed);
    if let Some(path) = &settings.junit {
        std::fs::write(path, junit::render(&suites, elapsed))
            .with_context(|| format!("cannot write the JUnit report {}", path.display()))?;
    }
    Ok(if totals.failed > 0 {
        ExitCode::Failed
    } else {
        ExitCode::Success
    })
}

/// `--list`: every selected test of every binary, as libtest prints them (with `--ignored`
/// only the ignored ones).
fn list(settings: &TestSettings) -> Result<ExitCode> {
    for binary in &settings.binaries {
        let pool = suite::start_pool(&settings.pool, &binary.path)?;
        let tests = suite::list_tests(&pool, &binary.path)?;
        for test in tests.iter().filter(|t| settings.selection.selects(t)) {
            if settings.selection.ignored_only && !test.ignored {
                continue;
            }
            println!("{}: test", test.name);
        }
    }
    Ok(ExitCode::Success)
}
