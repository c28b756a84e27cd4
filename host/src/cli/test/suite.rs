//! One test binary's run ([`run_binary`]): its pool, its tests (its own `--list`, sandboxed),
//! and the selected tests run as one job, each printed as it finishes, failures retried when
//! asked. After a signal (the watcher stops the pool), what still finished is printed and the
//! rest is counted as not run.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use mpwasm::pool::{Next, Outcomes, Submitter};
use mpwasm::{ErrorKind, Pool, PoolBuilder, TaskIndex, TaskOutcome};

use super::junit::{Case, Suite};
use super::libtest::{self, Selection, Status, TestCase, Verdict};
use super::partition::{self, Tally};
use super::printer::Printer;
use crate::cli::args::MessageFormat;
use crate::cli::output::stdout::StdoutClosed;
use crate::cli::settings::{TestBinary, TestSettings};
use crate::cli::signals::{Signal, Watcher};

/// How long after a signal finished tests are still collected.
const DRAIN: Duration = Duration::from_millis(500);

/// What one binary's run leaves for the next and for the summary.
#[derive(Debug, Default)]
pub struct Carried {
    /// Selected and partitioned tests, over the binaries so far.
    pub tally: Tally,
    /// Tests failed (after their retries) so far, for `--max-fail`.
    pub failed: usize,
    /// Tests that did not start because `--max-fail` was reached.
    pub not_started: usize,
}

impl Carried {
    /// Whether `--max-fail` was reached: no test may start any more.
    pub fn max_fail_reached(&self, max_fail: Option<usize>) -> bool {
        max_fail.is_some_and(|max| self.failed >= max)
    }
}

/// How one binary's run ended.
pub enum Ended {
    /// Every selected test reached a verdict.
    Ran(Suite),
    /// A signal came: the tests that finished (none when it came while they were being
    /// listed), and how many of the selected ones did not.
    Interrupted {
        /// The tests that finished, when they had been listed.
        suite: Option<Suite>,
        /// The signal.
        signal: Signal,
        /// Selected tests without a verdict.
        not_run: usize,
    },
    /// Stdout is gone: stop, quietly.
    StdoutClosed,
}

/// Runs one binary's selected tests: starts its pool, lists its tests, runs them. The first
/// signal stops the pool from then on (the handlers are installed with the first pool).
///
/// # Errors
/// When the binary cannot be loaded or listed.
pub fn run_binary(
    settings: &TestSettings,
    binary: &TestBinary,
    printer: &mut Printer,
    watcher: &Watcher,
    carried: &mut Carried,
) -> Result<Ended> {
    let pool = start_pool(&settings.pool, &binary.path)?;
    let terminator = pool.terminator();
    watcher.on_first(move || terminator.terminate())?;
    let tests = list_tests(&pool, &binary.path);
    if let Some(signal) = watcher.received() {
        return Ok(Ended::Interrupted {
            suite: None,
            signal,
            not_run: 0,
        });
    }
    let tests = tests?;
    let selected = select(settings, binary, &tests, &mut carried.tally);
    let started = Instant::now();
    // As libtest counts: every selected test, the ignored ones (reported `ignored`) included.
    if printer
        .suite_started(selected.len(), pool.processes())
        .is_err()
    {
        return Ok(Ended::StdoutClosed);
    }
    let (submitter, mut outcomes) = pool.job(false);
    let (terminator, waker) = (pool.terminator(), outcomes.waker());
    watcher.on_first(move || {
        terminator.terminate();
        waker.wake();
    })?;
    let plan = Plan {
        suite: &binary.name,
        selected: &selected,
        selection: &settings.selection,
        retries: settings.retries,
        max_fail: settings.max_fail,
        slow: settings.slow_timeout,
        // Slow tests are timed from their start, and libtest-json's `started` says a test
        // started: one per worker at a time, so each starts as it is handed over. With a
        // failure limit, a few per worker, so that the rest can stay unstarted. Otherwise all
        // at once.
        in_flight: if settings.slow_timeout.is_some()
            || settings.message_format == MessageFormat::LibtestJson
        {
            pool.processes().max(1)
        } else if settings.max_fail.is_some() {
            2 * pool.processes().max(1)
        } else {
            usize::MAX
        },
    };
    let run = run_suite(&plan, (submitter, outcomes), printer, watcher, carried);
    let Ok(SuiteRun { cases, not_run }) = run else {
        return Ok(Ended::StdoutClosed);
    };
    let suite = Suite {
        name: binary.name.clone(),
        cases,
    };
    if watcher.received().is_none()
        && printer
            .suite_finished(&suite, tests.len() - selected.len(), started.elapsed())
            .is_err()
    {
        return Ok(Ended::StdoutClosed);
    }
    Ok(match watcher.received() {
        Some(signal) => Ended::Interrupted {
            suite: Some(suite),
            signal,
            not_run,
        },
        None => Ended::Ran(suite),
    })
}

/// The tests of `binary` this run takes, in its order: those its filters select, then this
/// run's `--partition` share of them (counted in `tally`).
pub fn select<'a>(
    settings: &TestSettings,
    binary: &TestBinary,
    tests: &'a [TestCase],
    tally: &mut Tally,
) -> Vec<&'a TestCase> {
    let selected = tests
        .iter()
        .filter(|t| settings.selection.selects(t))
        .collect();
    partition::take(settings.partition.as_ref(), &binary.name, selected, tally)
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
    /// How many failed tests stop the run from starting more (`--max-fail`).
    pub max_fail: Option<usize>,
    /// How many tests may be submitted and unfinished at once.
    pub in_flight: usize,
    /// After how long (and each further period) a running test is reported slow.
    pub slow: Option<Duration>,
}

/// One binary's tests as they ended.
struct SuiteRun {
    /// One case per selected test that reached a verdict, by name.
    cases: Vec<Case>,
    /// Selected tests that did not reach one: a signal stopped them, or they never started.
    not_run: usize,
}

/// What the suite's loop tracks.
struct Tracker<'a> {
    plan: &'a Plan<'a>,
    /// Task index → (test, attempt number from 0).
    running: HashMap<TaskIndex, (usize, u32)>,
    /// Failed runs so far, per test.
    failed_attempts: HashMap<usize, Vec<Verdict>>,
    /// Tests stopped by a signal.
    stopped: usize,
    cases: Vec<Case>,
    /// Task index → when it was handed to a worker, and how many SLOW lines it had.
    clocks: HashMap<TaskIndex, (Instant, u32)>,
}

impl Tracker<'_> {
    /// When the next SLOW line is due, with `--slow-timeout`.
    fn next_slow(&self) -> Option<Instant> {
        let slow = self.plan.slow?;
        self.clocks
            .values()
            .filter_map(|(start, lines)| start.checked_add(slow.checked_mul(lines + 1)?))
            .min()
    }

    /// Prints a SLOW line for every running test past its next period.
    fn report_slow(&mut self, printer: &mut Printer) -> Result<(), StdoutClosed> {
        let Some(slow) = self.plan.slow else {
            return Ok(());
        };
        let now = Instant::now();
        for (index, (start, lines)) in &mut self.clocks {
            let due = slow
                .checked_mul(*lines + 1)
                .and_then(|period| start.checked_add(period));
            if due.is_some_and(|due| due <= now) {
                *lines += 1;
                if let Some((i, _)) = self.running.get(index) {
                    let name = &self.plan.selected[*i].name;
                    printer.slow(self.plan.suite, name, slow * *lines)?;
                }
            }
        }
        Ok(())
    }

    /// Records `verdict` as test `i`'s final one and prints it.
    fn finish(
        &mut self,
        i: usize,
        verdict: Verdict,
        printer: &mut Printer,
    ) -> Result<(), StdoutClosed> {
        let test = self.plan.selected[i];
        let earlier = self.failed_attempts.remove(&i).unwrap_or_default();
        let failed_before = earlier.len() as u32;
        printer.finished(self.plan.suite, &test.name, &verdict, failed_before)?;
        self.cases.push(Case {
            name: test.name.clone(),
            verdict,
            earlier,
        });
        Ok(())
    }
}

/// Runs the plan's tests on `job`, a job of the binary's pool, at most `plan.in_flight` at once
/// and none once `--max-fail` is reached (counted in `carried`), retrying a failed test up to
/// `plan.retries` times, until all have a verdict or `watcher` records a signal.
///
/// # Errors
/// [`StdoutClosed`]: stdout is gone, so the run stops.
fn run_suite(
    plan: &Plan<'_>,
    job: (Submitter, Outcomes),
    printer: &mut Printer,
    watcher: &Watcher,
    carried: &mut Carried,
) -> Result<SuiteRun, StdoutClosed> {
    let (mut submitter, mut outcomes) = job;
    let mut tracker = Tracker {
        plan,
        running: HashMap::new(),
        failed_attempts: HashMap::new(),
        stopped: 0,
        cases: Vec::new(),
        clocks: HashMap::new(),
    };
    // The next test to start, in the binary's order.
    let mut next = 0;
    let mut pending = None;
    loop {
        // Start tests while there is room and --max-fail allows (ignored ones are skipped
        // at once, taking no room).
        while next < plan.selected.len()
            && tracker.running.len() < plan.in_flight
            && !carried.max_fail_reached(plan.max_fail)
        {
            let (i, test) = (next, plan.selected[next]);
            next += 1;
            if plan.selection.runs(test) {
                if let Some(index) = submitter.push(libtest::run_input(test)) {
                    tracker.running.insert(index, (i, 0));
                    tracker.clocks.insert(index, (Instant::now(), 0));
                    printer.test_started(&test.name)?;
                }
            } else {
                printer.test_started(&test.name)?;
                let verdict = Verdict {
                    status: Status::Skip("ignored".into()),
                    reason: "ignored".into(),
                    stdout: String::new(),
                    stderr: String::new(),
                    duration: Duration::ZERO,
                    worker: None,
                };
                tracker.finish(i, verdict, printer)?;
            }
        }
        submitter.flush();
        if tracker.running.is_empty() {
            break;
        }
        let outcome = match outcomes.wait_next_until(tracker.next_slow()) {
            Some(Next::Outcome(outcome)) => outcome,
            Some(Next::Done | Next::Woken) => break,
            None => {
                tracker.report_slow(printer)?;
                continue;
            }
        };
        if watcher.received().is_some() {
            pending = Some(outcome);
            break;
        }
        tracker.clocks.remove(&outcome.index());
        let Some((i, attempt)) = tracker.running.remove(&outcome.index()) else {
            continue;
        };
        let test = plan.selected[i];
        let verdict = libtest::judge(test, &outcome);
        let failed = matches!(
            verdict.status,
            Status::Fail | Status::Timeout | Status::Memory
        );
        // A retry is a new start: none once --max-fail is reached.
        if failed && attempt < plan.retries && !carried.max_fail_reached(plan.max_fail) {
            printer.retrying(plan.suite, &test.name, &verdict, attempt + 1, plan.retries)?;
            if let Some(index) = submitter.push(libtest::run_input(test)) {
                submitter.flush();
                tracker.failed_attempts.entry(i).or_default().push(verdict);
                tracker.running.insert(index, (i, attempt + 1));
                tracker.clocks.insert(index, (Instant::now(), 0));
                continue;
            }
        }
        if failed {
            carried.failed += 1;
        }
        tracker.finish(i, verdict, printer)?;
    }
    if watcher.received().is_some() {
        drain(pending, &mut outcomes, &mut tracker, printer)?;
    } else {
        // Only --max-fail leaves tests unstarted without a signal.
        carried.not_started += plan.selected.len() - next;
    }
    submitter.finish();
    let not_run = tracker.stopped + tracker.running.len() + (plan.selected.len() - next);
    let mut cases = tracker.cases;
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(SuiteRun { cases, not_run })
}

/// After a signal: prints the tests that still finished within the drain; the pool is
/// stopped, so the others end as `cancelled`, counted as stopped.
fn drain(
    mut pending: Option<TaskOutcome>,
    outcomes: &mut Outcomes,
    tracker: &mut Tracker<'_>,
    printer: &mut Printer,
) -> Result<(), StdoutClosed> {
    let deadline = Instant::now() + DRAIN;
    while !tracker.running.is_empty() {
        let outcome = match pending.take() {
            Some(o) => o,
            None => match outcomes.next_until(deadline) {
                Some(o) => o,
                None => break,
            },
        };
        let Some((i, _)) = tracker.running.remove(&outcome.index()) else {
            continue;
        };
        if matches!(outcome.json(), Err(e) if e.kind() == ErrorKind::Cancelled) {
            tracker.stopped += 1;
            continue;
        }
        let verdict = libtest::judge(tracker.plan.selected[i], &outcome);
        tracker.finish(i, verdict, printer)?;
    }
    Ok(())
}
