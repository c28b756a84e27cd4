//! What `mpwasm test` prints on stdout, cargo-nextest style: a line per test as it finishes
//! (`        PASS [   0.001s] crate tests::name`), the output of every failure after its
//! line, `RETRY` lines, and the summary with the list of failures. Every write goes through
//! the shared stdout, so a closed stdout stops the run quietly.

use std::time::Duration;

use super::junit::Suite;
use super::libtest::{Status, Verdict};
use super::libtest_json::{self, SuiteCounts};
use super::partition::{Partition, Tally};
use super::progress::TestBar;
use crate::cli::args::{MessageFormat, StatusLevel};
use crate::cli::output::block::lacks_final_newline;
use crate::cli::output::duration;
use crate::cli::output::stdout::{Stdout, StdoutClosed};
use crate::cli::output::summary::{SummaryLine, count};
use crate::cli::style::Style;

/// The counts of the summary.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Totals {
    /// Passed, flaky ones included.
    pub passed: usize,
    /// Passed after failing first.
    pub flaky: usize,
    /// Failed, timed out or over the memory limit.
    pub failed: usize,
    /// Of the failed: timed out.
    pub timed_out: usize,
    /// Of the failed: over the memory limit.
    pub memory: usize,
    /// Skipped (ignored, should_panic).
    pub skipped: usize,
}

impl Totals {
    /// The counts over every suite's final verdicts.
    pub fn count(suites: &[Suite]) -> Totals {
        let mut totals = Totals::default();
        for case in suites.iter().flat_map(|s| &s.cases) {
            match &case.verdict.status {
                Status::Pass => {
                    totals.passed += 1;
                    if case.is_flaky() {
                        totals.flaky += 1;
                    }
                }
                Status::Skip(_) => totals.skipped += 1,
                status => {
                    match status {
                        Status::Timeout => totals.timed_out += 1,
                        Status::Memory => totals.memory += 1,
                        _ => {}
                    }
                    totals.failed += 1;
                }
            }
        }
        totals
    }
}

/// What the summary says besides the counts.
#[derive(Debug, Default)]
pub struct Extras {
    /// The `--partition` share that ran, with how many of the selected tests it held.
    pub share: Option<(Partition, Tally)>,
    /// `--max-fail N` stopped the run: N, the tests and the binaries that did not start.
    pub max_fail: Option<(usize, usize, usize)>,
}

/// Prints the per-test lines and the summary.
pub struct Printer {
    nocapture: bool,
    style: Style,
    out: Stdout,
    /// `libtest-json`: events instead of lines, and no summary.
    json: bool,
    /// Which tests get a line as they finish.
    status_level: StatusLevel,
    /// Which tests are listed after the summary.
    final_status_level: StatusLevel,
    /// The progress bar on a terminal.
    bar: TestBar,
}

impl Printer {
    /// A printer in `format`, showing passing tests' output too when `nocapture`.
    pub fn new(nocapture: bool, style: Style, format: MessageFormat) -> Printer {
        Printer {
            nocapture,
            style,
            out: Stdout::with_capacity(0),
            json: format == MessageFormat::LibtestJson,
            status_level: StatusLevel::Skip,
            final_status_level: StatusLevel::Fail,
            bar: TestBar::new(format == MessageFormat::Human),
        }
    }

    /// Writes to stdout with the bar lifted.
    fn write(&mut self, bytes: &[u8]) -> Result<(), StdoutClosed> {
        let Printer { bar, out, .. } = self;
        bar.suspend(|| out.write_now(bytes))
    }

    /// Shows the tests of `status` as they finish and lists those of `final_status` after
    /// the summary.
    pub fn levels(mut self, status: StatusLevel, final_status: StatusLevel) -> Printer {
        self.status_level = status;
        self.final_status_level = final_status;
        self
    }

    /// The level at which a final verdict is shown.
    fn level_of(verdict: &Verdict, failed_before: usize) -> StatusLevel {
        match &verdict.status {
            Status::Pass if failed_before > 0 => StatusLevel::Retry,
            Status::Pass => StatusLevel::Pass,
            Status::Skip(_) => StatusLevel::Skip,
            Status::Fail | Status::Timeout | Status::Memory => StatusLevel::Fail,
        }
    }

    /// A binary's tests are about to start on `workers` processes: `count` of them are
    /// selected (an event in `libtest-json`; the bar's length on a terminal).
    pub fn suite_started(&mut self, count: usize, workers: usize) -> Result<(), StdoutClosed> {
        self.bar.listed(count, workers);
        if !self.json {
            return Ok(());
        }
        self.write(libtest_json::suite_started(count).as_bytes())
    }

    /// A test was handed to a worker (`libtest-json` only; a retry is not announced again).
    pub fn test_started(&mut self, name: &str) -> Result<(), StdoutClosed> {
        self.bar.started();
        if !self.json {
            return Ok(());
        }
        self.write(libtest_json::test_started(name).as_bytes())
    }

    /// A binary's tests all ended (`libtest-json` only).
    pub fn suite_finished(
        &mut self,
        suite: &Suite,
        filtered_out: usize,
        took: Duration,
    ) -> Result<(), StdoutClosed> {
        if !self.json {
            return Ok(());
        }
        let totals = Totals::count(std::slice::from_ref(suite));
        let counts = SuiteCounts {
            passed: totals.passed,
            failed: totals.failed,
            ignored: totals.skipped,
            filtered_out,
        };
        self.write(libtest_json::suite_finished(counts, took).as_bytes())
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

    fn line(&self, label: &str, took: Duration, suite: &str, name: &str) -> String {
        format!(
            "{} [{}] {suite} {name}",
            self.paint(label),
            duration::column(took)
        )
    }

    /// `NAME: test`, as libtest's `--list` prints it.
    pub fn listed(&mut self, name: &str) -> Result<(), StdoutClosed> {
        self.write(format!("{name}: test\n").as_bytes())
    }

    /// One test reached its final verdict.
    pub fn finished(
        &mut self,
        suite: &str,
        name: &str,
        verdict: &Verdict,
        failed_before: u32,
    ) -> Result<(), StdoutClosed> {
        let failed = matches!(
            verdict.status,
            Status::Fail | Status::Timeout | Status::Memory
        );
        self.bar.finished(failed);
        if self.json {
            return self.write(libtest_json::test_finished(name, verdict).as_bytes());
        }
        if Printer::level_of(verdict, failed_before as usize) > self.status_level {
            return Ok(());
        }
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
        self.write(text.as_bytes())
    }

    /// A test is still running after `after` (`--slow-timeout`; shown from the `slow` level).
    pub fn slow(&mut self, suite: &str, name: &str, after: Duration) -> Result<(), StdoutClosed> {
        if self.json || StatusLevel::Slow > self.status_level {
            return Ok(());
        }
        let text = format!(
            "{} [>{}] {suite} {name}\n",
            self.paint("SLOW"),
            duration::column(after).trim_start()
        );
        self.write(text.as_bytes())
    }

    /// A test failed and runs again.
    pub fn retrying(
        &mut self,
        suite: &str,
        name: &str,
        verdict: &Verdict,
        attempt: u32,
        of: u32,
    ) -> Result<(), StdoutClosed> {
        if self.json || StatusLevel::Retry > self.status_level {
            return Ok(());
        }
        let label = format!("{} {attempt}/{of}", "RETRY");
        let mut text = self.line(&label, verdict.duration, suite, name);
        text.push_str(&format!(" ({})\n", verdict.reason));
        self.write(text.as_bytes())
    }

    /// The summary line for `totals` (saying which share ran, with `--partition`, and what
    /// `--max-fail` left unstarted), then a line per test of the final status level (by
    /// default the failures).
    pub fn summary(
        &mut self,
        suites: &[Suite],
        totals: &Totals,
        elapsed: Duration,
        extras: &Extras,
    ) -> Result<(), StdoutClosed> {
        self.bar.clear();
        if self.json {
            return Ok(());
        }
        let mut failures = Vec::new();
        for suite in suites {
            for case in &suite.cases {
                let earlier = case.earlier.len();
                if Printer::level_of(&case.verdict, earlier) <= self.final_status_level {
                    failures.push(self.line(
                        Printer::label(&case.verdict, earlier as u32),
                        case.verdict.duration,
                        &suite.name,
                        &case.name,
                    ));
                }
            }
        }
        let run = totals.passed + totals.failed;
        let mut head = format!(
            "{} [{}] {} run",
            self.style.bold(&format!("{:>12}", "Summary")),
            duration::column(elapsed),
            count(run as u64, "test", "tests"),
        );
        if let Some((partition, tally)) = extras.share {
            head.push_str(&format!(
                " (partition {partition}: {} of {} selected)",
                tally.taken, tally.selected
            ));
        }
        let mut flaky = Vec::new();
        if totals.flaky > 0 {
            flaky.push(format!("{} flaky", totals.flaky));
        }
        let mut why = Vec::new();
        if totals.timed_out > 0 {
            why.push(format!("{} timed out", totals.timed_out));
        }
        if totals.memory > 0 {
            why.push(format!("{} over the memory limit", totals.memory));
        }
        let line = SummaryLine::new(head)
            .part(&format!("{} passed", totals.passed), &flaky)
            .part(&format!("{} failed", totals.failed), &why)
            .part(&format!("{} skipped", totals.skipped), &[]);
        let line = match extras.max_fail {
            Some((max, tests, binaries)) => {
                let mut why = vec![format!("--max-fail {max} reached")];
                if binaries > 0 {
                    why.push(format!(
                        "{} not started",
                        count(binaries as u64, "test binary", "test binaries")
                    ));
                }
                line.part(&format!("{tests} not run"), &why)
            }
            None => line,
        }
        .end("");
        let mut text = format!("────────────\n{line}\n");
        for failure in failures {
            text.push_str(&failure);
            text.push('\n');
        }
        self.write(text.as_bytes())
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
        if lacks_final_newline(text.as_bytes()) {
            block.push('\n');
        }
    }
    block.push('\n');
    block
}
