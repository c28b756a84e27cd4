//! `mpwasm test`: runs libtest binaries built for wasm32-wasip2 with every test in its own
//! fresh sandbox, spread over the worker processes, in the style of cargo-nextest. For each
//! binary ([`suite`]): list its tests (its own `--list`, sandboxed), select them as libtest
//! would ([`libtest`]), run each as one task of a pool in program mode, print a line per test
//! as it finishes ([`printer`]), retry failures when asked; then the summary and optionally
//! JUnit XML ([`junit`]).
//!
//! A closed stdout stops the run quietly (exit 0). Ctrl-C or SIGTERM stops the pool (running
//! tests are killed), prints what finished and the summary, says how many tests did not run,
//! and exits 130 (SIGINT) or 143 (SIGTERM); a second signal exits at once.

pub mod config;
pub mod junit;
pub mod libtest;
pub mod libtest_json;
pub mod partition;
pub mod place;
pub mod printer;
pub mod progress;
pub mod suite;

use std::time::Instant;

use anyhow::{Context, Result};

use crate::cli::ExitCode;
use crate::cli::args::NoTests;
use crate::cli::output::summary::count;
use crate::cli::settings::TestSettings;
use crate::cli::signals::{Signal, Watcher};
use crate::cli::style::{Stream, Style};
use partition::Tally;
use printer::{Extras, Printer, Totals};
use suite::{Carried, Ended};

/// Why the binaries' loop stopped early.
struct Interrupted {
    signal: Signal,
    /// Tests of the binary running then that did not reach a verdict.
    not_run: usize,
    /// Binaries whose tests were not even listed.
    binaries_left: usize,
}

impl Interrupted {
    /// `mpwasm: interrupted by SIGINT: 3 tests did not run; 1 test binary not started`.
    fn note(&self) -> String {
        let mut note = format!(
            "mpwasm: interrupted by {}: {} did not run",
            self.signal.name(),
            count(self.not_run as u64, "test", "tests")
        );
        if self.binaries_left > 0 {
            note.push_str(&format!(
                "; {} not started",
                count(self.binaries_left as u64, "test binary", "test binaries")
            ));
        }
        note
    }
}

/// Runs the command.
///
/// # Errors
/// When a binary cannot be loaded or listed, or the JUnit report cannot be written.
pub fn run(settings: TestSettings) -> Result<ExitCode> {
    let started = Instant::now();
    let mut printer = Printer::new(
        settings.nocapture,
        Style::new(settings.color, Stream::Stdout),
        settings.message_format,
    )
    .levels(settings.status_level, settings.final_status_level);
    if settings.list {
        return list(&settings, &mut printer);
    }
    if settings.show_config {
        return show_config(&settings);
    }
    let watcher = Watcher::new("mpwasm");
    let mut suites = Vec::new();
    let mut interrupted = None;
    let mut carried = Carried::default();
    let mut binaries_not_started = 0;
    for (i, binary) in settings.binaries.iter().enumerate() {
        if carried.max_fail_reached(settings.max_fail) {
            binaries_not_started = settings.binaries.len() - i;
            break;
        }
        match suite::run_binary(&settings, binary, &mut printer, &watcher, &mut carried)? {
            Ended::Ran(suite) => suites.push(suite),
            Ended::Interrupted {
                suite,
                signal,
                not_run,
            } => {
                let listed = usize::from(suite.is_some());
                suites.extend(suite);
                interrupted = Some(Interrupted {
                    signal,
                    not_run,
                    binaries_left: settings.binaries.len() - i - listed,
                });
                break;
            }
            Ended::StdoutClosed => return Ok(ExitCode::Success),
        }
    }
    let elapsed = started.elapsed();
    let totals = Totals::count(&suites);
    let tally = carried.tally;
    let extras = Extras {
        share: settings.partition.map(|p| (p, tally)),
        max_fail: settings
            .max_fail
            .filter(|_| carried.not_started > 0 || binaries_not_started > 0)
            .map(|max| (max, carried.not_started, binaries_not_started)),
    };
    if printer.summary(&suites, &totals, elapsed, &extras).is_err() {
        return Ok(ExitCode::Success);
    }
    if let Some(path) = &settings.junit {
        // A profile's path is often under target/, which may not be there yet.
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {} for the JUnit report", dir.display()))?;
        }
        std::fs::write(path, junit::render(&suites, elapsed))
            .with_context(|| format!("cannot write the JUnit report {}", path.display()))?;
    }
    if let Some(stop) = interrupted {
        eprintln!("{}", stop.note());
        return Ok(ExitCode::Interrupted(stop.signal));
    }
    if totals.passed + totals.failed == 0 {
        let why = no_tests_reason(&settings, &tally, totals.skipped);
        match settings.no_tests {
            NoTests::Fail => {
                eprintln!(
                    "mpwasm: error: no tests to run: {why} (--no-tests fail, the default; \
                     --no-tests warn or pass accepts an empty run)"
                );
                return Ok(ExitCode::NoTests);
            }
            NoTests::Warn => eprintln!("mpwasm: warning: no tests to run: {why}"),
            NoTests::Pass => {}
        }
    }
    Ok(if totals.failed > 0 {
        ExitCode::Failed
    } else {
        ExitCode::Success
    })
}

/// Why no test ran: what left none, in the words of the flags that did it.
fn no_tests_reason(settings: &TestSettings, tally: &Tally, skipped: usize) -> String {
    let binaries = match settings.binaries.len() {
        1 => "the test binary".to_string(),
        n => format!("the {n} test binaries"),
    };
    if tally.selected == 0 {
        if settings.selection.filters.is_empty() && settings.selection.skip.is_empty() {
            format!("{binaries} hold no tests")
        } else {
            format!("the filters select none of the tests of {binaries}")
        }
    } else if tally.taken == 0 {
        let partition = settings
            .partition
            .map_or_else(String::new, |p| p.to_string());
        format!(
            "partition {partition} holds none of the {} selected",
            count(tally.selected as u64, "test", "tests")
        )
    } else {
        format!(
            "every selected test was skipped ({skipped} ignored or should_panic; \
             --include-ignored runs the ignored ones)"
        )
    }
}

/// `--list`: every selected test of every binary, as libtest prints them (with `--ignored`
/// only the ignored ones). A closed stdout ends the listing quietly.
fn list(settings: &TestSettings, printer: &mut Printer) -> Result<ExitCode> {
    let mut tally = Tally::default();
    let watcher = Watcher::new("mpwasm");
    for binary in &settings.binaries {
        let place = place::Place::open(settings, binary)?;
        let tests = place.list(settings, binary, &watcher)?;
        for test in suite::select(settings, binary, &tests, &mut tally) {
            if settings.selection.ignored_only && !test.ignored {
                continue;
            }
            if printer.listed(&test.name).is_err() {
                return Ok(ExitCode::Success);
            }
        }
    }
    Ok(ExitCode::Success)
}

/// `--show-config`: where the settings come from, what holds for the whole run, then each
/// selected test's limits and the overrides that gave them. A closed stdout ends it quietly.
fn show_config(settings: &TestSettings) -> Result<ExitCode> {
    use std::io::Write as _;
    let mut text = match &settings.config {
        Some((path, profile)) => format!("profile {profile} of {}\n", path.display()),
        None => format!(
            "no config file ({} here or above; --config PATH names one): the flags and the \
             built-in defaults\n",
            config::FILE
        ),
    };
    let limits = &settings.limits;
    text.push_str(&format!(
        "run: slow-timeout {}, max-fail {}, junit {}\n",
        limits.slow.map_or_else(
            || "none".to_string(),
            |(period, k)| {
                let period = mpwasm::limits::format_duration(period);
                k.map_or(period.clone(), |k| {
                    format!("{period} (terminate-after {k})")
                })
            }
        ),
        settings
            .max_fail
            .map_or_else(|| "none".to_string(), |n| n.to_string()),
        settings
            .junit
            .as_ref()
            .map_or_else(|| "none".to_string(), |p| p.display().to_string()),
    ));
    let mut tally = Tally::default();
    let watcher = Watcher::new("mpwasm");
    for binary in &settings.binaries {
        let place = place::Place::open(settings, binary)?;
        let tests = place.list(settings, binary, &watcher)?;
        text.push_str(&format!("{}:\n", binary.name));
        for test in suite::select(settings, binary, &tests, &mut tally) {
            let got = limits.for_test(&binary.name, &test.name);
            text.push_str(&format!("  {}: {got}", test.name));
            if !got.overrides.is_empty() {
                text.push_str(&format!(" (override {})", got.overrides.join("; ")));
            }
            text.push('\n');
        }
    }
    let mut out = std::io::stdout().lock();
    // A closed stdout (`| head`) is no error: what was asked for was read.
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    Ok(ExitCode::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interrupted_run_says_what_did_not_run() {
        let cases = [
            (
                Signal::Int,
                1,
                0,
                "mpwasm: interrupted by SIGINT: 1 test did not run",
            ),
            (
                Signal::Term,
                3,
                2,
                "mpwasm: interrupted by SIGTERM: 3 tests did not run; 2 test binaries not started",
            ),
            (
                Signal::Int,
                0,
                1,
                "mpwasm: interrupted by SIGINT: 0 tests did not run; 1 test binary not started",
            ),
        ];
        for (signal, not_run, binaries_left, want) in cases {
            let stop = Interrupted {
                signal,
                not_run,
                binaries_left,
            };
            assert_eq!(stop.note(), want);
        }
    }
}
