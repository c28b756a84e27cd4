//! One test binary's run ([`run_binary`]): its pool, its tests (its own `--list`, sandboxed),
//! and the selected tests run as one job, each printed as it finishes, failures retried when
//! asked. After a signal (the watcher stops the pool), what still finished is printed and the
//! rest is counted as not run.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use anyhow::Result;
use mpwasm::pool::{Next, Outcomes, Submitter, TryPush};
use mpwasm::{ErrorKind, TaskIndex, TaskOutcome};

use super::config::TestLimits;
use super::junit::{Case, Suite};
use super::libtest::{self, Selection, Status, TestCase, Verdict};
use super::partition::{self, Tally};
use super::place::Place;
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
    let place = Place::open(settings, binary)?;
    if let Some(terminator) = place.terminator() {
        watcher.on_first(move || terminator.terminate())?;
    }
    let tests = place.list(settings, binary, watcher);
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
        .suite_started(selected.len(), place.processes())
        .is_err()
    {
        return Ok(Ended::StdoutClosed);
    }
    // Tests whose overrides change their pool's limits or grants run in a pool (or broker
    // job) of their own, one group after another, in the order their first test comes in the
    // binary.
    let limits: Vec<TestLimits> = selected
        .iter()
        .map(|t| settings.limits.for_test(&binary.name, &t.name))
        .collect();
    let base = settings.limits.base();
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (i, test) in limits.iter().enumerate() {
        match groups
            .iter_mut()
            .find(|g| limits[g[0]].pool_key() == test.pool_key())
        {
            Some(group) => group.push(i),
            None => groups.push(vec![i]),
        }
    }
    let mut cases = Vec::new();
    let mut not_run = 0;
    for group in &groups {
        if watcher.received().is_some() {
            not_run += group.len();
            continue;
        }
        if carried.max_fail_reached(settings.max_fail) {
            carried.not_started += group.len();
            continue;
        }
        let first = &limits[group[0]];
        let (job, submitter, mut outcomes) = place.job(
            settings,
            binary,
            first,
            first.pool_key() == base.pool_key(),
            group.len(),
        )?;
        let (terminator, waker) = (job.terminator.clone(), outcomes.waker());
        watcher.on_first(move || {
            terminator.terminate();
            waker.wake();
        })?;
        let plan = Plan {
            suite: &binary.name,
            selected: group.iter().map(|&i| selected[i]).collect(),
            limits: group.iter().map(|&i| &limits[i]).collect(),
            selection: &settings.selection,
            max_fail: settings.max_fail,
            slow: settings.limits.slow.map(|(period, _)| period),
            // Slow tests are timed from their start, and libtest-json's `started` says a test
            // started: one per worker at a time, so each starts as it is handed over. With a
            // failure limit, a few per worker, so that the rest can stay unstarted. Otherwise
            // all at once.
            in_flight: if settings.limits.slow.is_some()
                || settings.message_format == MessageFormat::LibtestJson
            {
                job.workers.max(1)
            } else if settings.max_fail.is_some() {
                2 * job.workers.max(1)
            } else {
                usize::MAX
            },
        };
        let run = run_suite(&plan, (submitter, outcomes), printer, watcher, carried);
        job.finish();
        let Ok(run) = run else {
            return Ok(Ended::StdoutClosed);
        };
        cases.extend(run.cases);
        not_run += run.not_run;
    }
    cases.sort_by(|a, b| a.name.cmp(&b.name));
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

/// What one pool of a binary runs: the tests that share their limits.
struct Plan<'a> {
    /// The crate's name, for the lines.
    pub suite: &'a str,
    /// The tests, of those the filters select.
    pub selected: Vec<&'a TestCase>,
    /// What each of them gets (its retries, and whether its time limit is
    /// `terminate-after`'s).
    pub limits: Vec<&'a TestLimits>,
    /// Which of them run (the others are skipped as ignored).
    pub selection: &'a Selection,
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
/// its `retries` times, until all have a verdict or `watcher` records a signal.
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
    // Retries waiting for room in the job's window: (test, attempt).
    let mut again: VecDeque<(usize, u32)> = VecDeque::new();
    let mut pending = None;
    loop {
        // This thread also takes the outcomes: it must never wait for room only it can make,
        // so tests start while the window has room now (the credits of the outcomes taken
        // so far given back first), retries before new tests.
        outcomes.return_credits();
        while let Some(&(i, attempt)) = again.front() {
            let test = plan.selected[i];
            match submitter.try_push(libtest::run_input(test).into()) {
                TryPush::Pushed(index) => {
                    again.pop_front();
                    tracker.running.insert(index, (i, attempt));
                    tracker.clocks.insert(index, (Instant::now(), 0));
                }
                TryPush::Full(_) => break,
                TryPush::Closed => {
                    again.pop_front();
                }
            }
        }
        // Start tests while there is room and --max-fail allows (ignored ones are skipped
        // at once, taking no room).
        while again.is_empty()
            && next < plan.selected.len()
            && tracker.running.len() < plan.in_flight
            && !carried.max_fail_reached(plan.max_fail)
        {
            let (i, test) = (next, plan.selected[next]);
            if plan.selection.runs(test) {
                match submitter.try_push(libtest::run_input(test).into()) {
                    TryPush::Pushed(index) => {
                        tracker.running.insert(index, (i, 0));
                        tracker.clocks.insert(index, (Instant::now(), 0));
                        printer.test_started(&test.name)?;
                    }
                    // No room now: it starts once outcomes make some.
                    TryPush::Full(_) => break,
                    TryPush::Closed => {}
                }
                next += 1;
            } else {
                next += 1;
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
        let verdict = explain_limit(verdict, plan.limits[i], plan.slow);
        let retries = plan.limits[i].retries;
        if failed && attempt < retries && !carried.max_fail_reached(plan.max_fail) {
            printer.retrying(plan.suite, &test.name, &verdict, attempt + 1, retries)?;
            tracker.failed_attempts.entry(i).or_default().push(verdict);
            again.push_back((i, attempt + 1));
            continue;
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
    let not_run =
        tracker.stopped + tracker.running.len() + again.len() + (plan.selected.len() - next);
    Ok(SuiteRun {
        cases: tracker.cases,
        not_run,
    })
}

/// A verdict's reason naming where its limit came from: a timeout that `terminate-after`
/// set says so (the test was stopped as slow), and a limit from the config file is not
/// called the flag's.
fn explain_limit(mut verdict: Verdict, limits: &TestLimits, slow: Option<Duration>) -> Verdict {
    let from_config = " in the config file; --show-config says which line";
    match verdict.status {
        Status::Timeout if limits.terminated_as_slow => {
            let periods = slow.map_or(0, |p| limits.timeout.as_nanos() / p.as_nanos().max(1));
            verdict.reason = format!(
                "{} (terminate-after: stopped after {periods} slow-timeout periods)",
                verdict.reason.replace(" (--timeout)", "")
            );
        }
        Status::Timeout if limits.configured.timeout => {
            verdict.reason = verdict
                .reason
                .replace("(--timeout)", &format!("(`timeout`{from_config})"));
        }
        Status::Memory if limits.configured.memory => {
            verdict.reason = verdict
                .reason
                .replace("(--memory)", &format!("(`memory`{from_config})"));
        }
        _ => {}
    }
    verdict
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
        let verdict = explain_limit(verdict, tracker.plan.limits[i], tracker.plan.slow);
        tracker.finish(i, verdict, printer)?;
    }
    Ok(())
}
