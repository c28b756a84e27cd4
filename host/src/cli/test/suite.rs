//! One test binary's run ([`run_binary`]): its pool, its tests (its own `--list`, sandboxed),
//! and the selected tests run as one job, each printed as it finishes, failures retried when
//! asked.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{Result, bail};
use mpwasm::pool::{Next, Outcomes, Submitter};
use mpwasm::{Pool, PoolBuilder, TaskIndex};

use super::junit::{Case, Suite};
use super::libtest::{self, Selection, Status, TestCase, Verdict};
use super::printer::Printer;
use crate::cli::settings::{TestBinary, TestSettings};

/// Runs one binary's selected tests: starts its pool, lists its tests, runs them.
///
/// # Errors
/// When the binary cannot be loaded or listed.
pub fn run_binary(
    settings: &TestSettings,
    binary: &TestBinary,
    printer: &mut Printer,
) -> Result<Suite> {
    let pool = start_pool(&settings.pool, &binary.path)?;
    let tests = list_tests(&pool, &binary.path)?;
    let selected: Vec<&TestCase> = tests
        .iter()
        .filter(|t| settings.selection.selects(t))
        .collect();
    let plan = Plan {
        suite: &binary.name,
        selected: &selected,
        selection: &settings.selection,
        retries: settings.retries,
    };
    let cases = run_suite(&plan, pool.job(false), printer);
    Ok(Suite {
        name: binary.name.clone(),
        cases,
    })
}

/// Starts the pool for one test binary.
///
/// # Errors
/// When the binary cannot be loaded, or is not a WASI program (so not a test binary).
pub fn start_pool(settings: &PoolBuilder, path: &Path) -> Result<Pool> {
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
///
/// # Errors
/// When a listing fails or cannot be read.
pub fn list_tests(pool: &Pool, path: &Path) -> Result<Vec<TestCase>> {
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

/// What one binary runs.
struct Plan<'a> {
    /// The crate's name, for the lines.
    pub suite: &'a str,
    /// The tests the filters select.
    pub selected: &'a [&'a TestCase],
    /// Which of them run (the others are skipped as ignored).
    pub selection: &'a Selection,
    /// How often a failed test runs again.
    pub retries: u32,
}

/// What the suite's loop tracks.
struct Tracker<'a> {
    plan: &'a Plan<'a>,
    /// Task index → (test, attempt number from 0).
    running: HashMap<TaskIndex, (usize, u32)>,
    /// Failed runs so far, per test.
    failed_attempts: HashMap<usize, u32>,
    cases: Vec<Case>,
}

impl Tracker<'_> {
    /// Records `verdict` as test `i`'s final one and prints it.
    fn finish(&mut self, i: usize, verdict: Verdict, printer: &mut Printer) {
        let test = self.plan.selected[i];
        let failed_before = self.failed_attempts.get(&i).copied().unwrap_or(0);
        let _ = printer.finished(self.plan.suite, &test.name, &verdict, failed_before);
        self.cases.push(Case {
            name: test.name.clone(),
            verdict,
            failed_attempts: failed_before,
        });
    }
}

/// Runs the plan's tests on `job`, a job of the binary's pool, retrying a failed test up to
/// `plan.retries` times; returns one case per selected test, by name.
fn run_suite(plan: &Plan<'_>, job: (Submitter, Outcomes), printer: &mut Printer) -> Vec<Case> {
    let (mut submitter, mut outcomes) = job;
    let mut tracker = Tracker {
        plan,
        running: HashMap::new(),
        failed_attempts: HashMap::new(),
        cases: Vec::new(),
    };
    for (i, test) in plan.selected.iter().enumerate() {
        if plan.selection.runs(test) {
            if let Some(index) = submitter.push(libtest::run_input(test)) {
                tracker.running.insert(index, (i, 0));
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
            tracker.finish(i, verdict, printer);
        }
    }
    submitter.flush();
    while !tracker.running.is_empty() {
        let outcome = match outcomes.wait_next() {
            Next::Outcome(outcome) => outcome,
            Next::Done | Next::Woken => break,
        };
        let Some((i, attempt)) = tracker.running.remove(&outcome.index()) else {
            continue;
        };
        let test = plan.selected[i];
        let verdict = libtest::judge(test, &outcome);
        let failed = matches!(
            verdict.status,
            Status::Fail | Status::Timeout | Status::Memory
        );
        if failed && attempt < plan.retries {
            let _ = printer.retrying(plan.suite, &test.name, &verdict, attempt + 1, plan.retries);
            *tracker.failed_attempts.entry(i).or_default() += 1;
            if let Some(index) = submitter.push(libtest::run_input(test)) {
                submitter.flush();
                tracker.running.insert(index, (i, attempt + 1));
                continue;
            }
        }
        tracker.finish(i, verdict, printer);
    }
    submitter.finish();
    let mut cases = tracker.cases;
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    cases
}
