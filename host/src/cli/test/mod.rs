//! `mpwasm test`: runs libtest binaries built for wasm32-wasip2 with every test in its own
//! fresh sandbox, spread over the worker processes, in the style of cargo-nextest. For each
//! binary: list its tests (its own `--list`, sandboxed), select them as libtest would
//! ([`libtest`]), run each as one task of a pool in program mode, print a line per test as
//! it finishes, retry failures when asked, then the failures' output, a summary and
//! optionally JUnit XML ([`junit`]).

mod junit;
pub mod libtest;

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use mpwasm::pool::Next;
use mpwasm::{Pool, PoolBuilder, TaskIndex};

use super::ExitCode;
use super::settings::TestSettings;
use super::style::{Stream, Style};
use junit::{Case, Suite};
use libtest::{Selection, Status, TestCase, Verdict};

/// Runs the command; returns the exit status.
pub fn run(settings: TestSettings) -> Result<ExitCode> {
    let started = Instant::now();
    let mut suites = Vec::new();
    let mut printer = Printer::new(
        settings.nocapture,
        Style::new(settings.color, Stream::Stdout),
    );
    for binary in &settings.binaries {
        let pool = start_pool(&settings.pool, &binary.path)?;
        let tests = list_tests(&pool, &binary.path)?;
        let selected: Vec<&TestCase> = tests
            .iter()
            .filter(|t| settings.selection.selects(t))
            .collect();
        if settings.list {
            // As libtest: every selected test, or with --ignored only the ignored ones.
            for test in selected
                .iter()
                .filter(|t| !settings.selection.ignored_only || t.ignored)
            {
                println!("{}: test", test.name);
            }
            continue;
        }
        let cases = run_suite(
            &pool,
            &binary.name,
            &selected,
            &settings.selection,
            settings.retries,
            &mut printer,
        );
        suites.push(Suite {
            name: binary.name.clone(),
            cases,
        });
    }
    if settings.list {
        return Ok(ExitCode::Success);
    }
    let elapsed = started.elapsed();
    let totals = printer.summary(&suites, elapsed);
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

/// A pool for one test binary, in program mode.
fn start_pool(settings: &PoolBuilder, path: &Path) -> Result<Pool> {
    settings.clone().build(path).map_err(|e| match e {
        mpwasm::Error::NotAProgram { path } => anyhow::anyhow!(
            "{} is not a test binary (it is not a WASI program); build tests with `cargo \
             test --target wasm32-wasip2 --no-run`",
            path.display()
        ),
        other => other.into(),
    })
}

/// The binary's tests, from `--list` and `--list --ignored` run in sandboxes.
fn list_tests(pool: &Pool, path: &Path) -> Result<Vec<TestCase>> {
    let list = |ignored: bool| -> Result<Vec<String>> {
        let outcome = pool
            .apply_async(vec![libtest::list_input(ignored)])
            .wait_outcome();
        let run = outcome.program_run();
        match (outcome.json(), run) {
            (Ok(_), Some(run)) => Ok(libtest::parse_list(&run.stdout)),
            (Err(error), run) => bail!(
                "cannot list the tests of {}: {}: {}\n{}",
                path.display(),
                error.kind(),
                error.message(),
                run.map_or_else(
                    || String::from_utf8_lossy(outcome.output()).into_owned(),
                    |r| r.stderr
                )
            ),
            (Ok(value), None) => bail!(
                "cannot list the tests of {}: unreadable result {value}",
                path.display()
            ),
        }
    };
    let ignored = list(true)?;
    Ok(list(false)?
        .into_iter()
        .map(|name| TestCase {
            ignored: ignored.contains(&name),
            name,
        })
        .collect())
}

/// Runs the selected tests of one binary; returns one case per selected test, by name.
fn run_suite(
    pool: &Pool,
    suite: &str,
    selected: &[&TestCase],
    selection: &Selection,
    retries: u32,
    printer: &mut Printer,
) -> Vec<Case> {
    let mut cases: Vec<Case> = Vec::new();
    let (mut submitter, mut outcomes) = pool.job(false);
    // Task index → (test, attempt number from 0).
    let mut running: HashMap<TaskIndex, (usize, u32)> = HashMap::new();
    let mut failed_attempts: HashMap<usize, u32> = HashMap::new();
    for (i, test) in selected.iter().enumerate() {
        if selection.runs(test) {
            if let Some(index) = submitter.push(libtest::run_input(test)) {
                running.insert(index, (i, 0));
            }
        } else {
            let verdict = Verdict {
                status: Status::Skip("ignored".into()),
                reason: "ignored".into(),
                stdout: String::new(),
                stderr: String::new(),
                duration: Duration::ZERO,
                worker: None,
            };
            printer.finished(suite, &test.name, &verdict, 0);
            cases.push(Case {
                name: test.name.clone(),
                verdict,
                failed_attempts: 0,
            });
        }
    }
    submitter.flush();
    while !running.is_empty() {
        let outcome = match outcomes.wait_next() {
            Next::Outcome(outcome) => outcome,
            Next::Done | Next::Woken => break,
        };
        let Some((i, attempt)) = running.remove(&outcome.index()) else {
            continue;
        };
        let test = selected[i];
        let verdict = libtest::judge(test, &outcome);
        let failed = matches!(
            verdict.status,
            Status::Fail | Status::Timeout | Status::Memory
        );
        if failed && attempt < retries {
            printer.retrying(suite, &test.name, &verdict, attempt + 1, retries);
            *failed_attempts.entry(i).or_default() += 1;
            if let Some(index) = submitter.push(libtest::run_input(test)) {
                submitter.flush();
                running.insert(index, (i, attempt + 1));
                continue;
            }
        }
        let failed_before = failed_attempts.get(&i).copied().unwrap_or(0);
        printer.finished(suite, &test.name, &verdict, failed_before);
        cases.push(Case {
            name: test.name.clone(),
            verdict,
            failed_attempts: failed_before,
        });
    }
    submitter.finish();
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    cases
}

/// The counts of the summary.
#[derive(Debug, Default)]
struct Totals {
    passed: usize,
    flaky: usize,
    failed: usize,
    timed_out: usize,
    memory: usize,
    skipped: usize,
}

/// Prints the per-test lines and the summary, cargo-nextest style.
struct Printer {
    nocapture: bool,
    style: Style,
}

impl Printer {
    fn new(nocapture: bool, style: Style) -> Printer {
        Printer { nocapture, style }
    }

    /// `label` right-aligned and coloured by what it says.
    fn paint(&self, label: &str) -> String {
        let padded = format!("{label:>12}");
        match label.split(' ').next().unwrap_or("") {
            "PASS" => self.style.green(&padded),
            "FAIL" | "TIMEOUT" | "MEMORY" => self.style.red(&padded),
            _ => self.style.yellow(&padded),
        }
    }

    fn label(verdict: &Verdict, failed_before: u32) -> &'static str {
        match &verdict.status {
            Status::Pass if failed_before > 0 => "FLAKY",
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Timeout => "TIMEOUT",
            Status::Memory => "MEMORY",
            Status::Skip(_) => "SKIP",
        }
    }

    fn line(&self, label: &str, duration: Duration, suite: &str, name: &str) -> String {
        format!(
            "{} [{:>8.3}s] {suite} {name}",
            self.paint(label),
            duration.as_secs_f64()
        )
    }

    /// One test reached its final verdict.
    fn finished(&mut self, suite: &str, name: &str, verdict: &Verdict, failed_before: u32) {
        let label = Printer::label(verdict, failed_before);
        let mut text = self.line(label, verdict.duration, suite, name);
        if let Status::Skip(reason) = &verdict.status {
            text.push_str(&format!(" ({reason})"));
        }
        text.push('\n');
        let failed = matches!(
            verdict.status,
            Status::Fail | Status::Timeout | Status::Memory
        );
        if failed || (self.nocapture && verdict.status == Status::Pass) {
            text.push_str(&output_block(suite, name, verdict));
        }
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }

    /// A test failed and runs again.
    fn retrying(&mut self, suite: &str, name: &str, verdict: &Verdict, attempt: u32, of: u32) {
        let label = format!("{} {attempt}/{of}", "RETRY");
        let mut text = self.line(&label, verdict.duration, suite, name);
        text.push_str(&format!(" ({})\n", verdict.reason));
        let _ = std::io::stdout().lock().write_all(text.as_bytes());
    }

    /// The summary line and the list of failures; returns the counts.
    fn summary(&mut self, suites: &[Suite], elapsed: Duration) -> Totals {
        let mut totals = Totals::default();
        let mut failures = Vec::new();
        for suite in suites {
            for case in &suite.cases {
                match &case.verdict.status {
                    Status::Pass if case.failed_attempts > 0 => {
                        totals.passed += 1;
                        totals.flaky += 1;
                    }
                    Status::Pass => totals.passed += 1,
                    Status::Skip(_) => totals.skipped += 1,
                    status => {
                        match status {
                            Status::Timeout => totals.timed_out += 1,
                            Status::Memory => totals.memory += 1,
                            _ => {}
                        }
                        totals.failed += 1;
                        failures.push(self.line(
                            Printer::label(&case.verdict, 0),
                            case.verdict.duration,
                            &suite.name,
                            &case.name,
                        ));
                    }
                }
            }
        }
        let run = totals.passed + totals.failed;
        let mut line = format!(
            "{} [{:>8.3}s] {run} {} run: {} passed",
            self.style.bold(&format!("{:>12}", "Summary")),
            elapsed.as_secs_f64(),
            if run == 1 { "test" } else { "tests" },
            totals.passed
        );
        if totals.flaky > 0 {
            line.push_str(&format!(" ({} flaky)", totals.flaky));
        }
        line.push_str(&format!(", {} failed", totals.failed));
        let mut why = Vec::new();
        if totals.timed_out > 0 {
            why.push(format!("{} timed out", totals.timed_out));
        }
        if totals.memory > 0 {
            why.push(format!("{} over the memory limit", totals.memory));
        }
        if !why.is_empty() {
            line.push_str(&format!(" ({})", why.join(", ")));
        }
        line.push_str(&format!(", {} skipped", totals.skipped));
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "────────────\n{line}");
        for failure in failures {
            let _ = writeln!(out, "{failure}");
        }
        let _ = out.flush();
        totals
    }
}

/// A test's output after its line: why it failed, then its stdout and stderr.
fn output_block(suite: &str, name: &str, verdict: &Verdict) -> String {
    let mut block = String::new();
    if !verdict.reason.is_empty() {
        block.push_str(&format!("  reason: {}\n", verdict.reason));
    }
    for (what, text) in [("STDOUT", &verdict.stdout), ("STDERR", &verdict.stderr)] {
        if text.trim().is_empty() {
            continue;
        }
        block.push_str(&format!("\n--- {what}: {suite} {name} ---\n{text}"));
        if !text.ends_with('\n') {
            block.push('\n');
        }
    }
    block.push('\n');
    block
}
