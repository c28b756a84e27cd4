//! The progress bar of `mpwasm test` on a terminal (stderr, never with `libtest-json`): tests
//! done of those listed so far, how many run now (the unfinished ones, at most one per
//! worker: the rest wait in the queue) and how many failed, drawn by indicatif.
//! The per-test lines go to stdout, often the same terminal, so every write goes through
//! [`TestBar::suspend`], which lifts the bar, writes, and draws it again.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressFinish, ProgressStyle};

/// The bar, when stderr is a terminal and the output is human; drawn from the first tests
/// listed (so never for `--list` or a run that fails before), and cleared when dropped.
#[derive(Default)]
pub struct TestBar {
    /// Whether to draw one at all.
    wanted: bool,
    bar: Option<ProgressBar>,
    /// Started and unfinished (running or queued).
    unfinished: u64,
    /// The current binary's worker processes.
    workers: u64,
    failed: u64,
}

impl TestBar {
    /// A bar that shows when `human` and stderr is a terminal, once tests are listed.
    pub fn new(human: bool) -> TestBar {
        TestBar {
            wanted: human && std::io::stderr().is_terminal(),
            bar: None,
            unfinished: 0,
            workers: 1,
            failed: 0,
        }
    }

    fn draw() -> ProgressBar {
        let style = ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} tests {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr())
            .with_style(style)
            .with_finish(ProgressFinish::AndClear);
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    }

    fn redraw(&self) {
        if let Some(bar) = &self.bar {
            let running = self.unfinished.min(self.workers);
            bar.set_message(format!("({running} running, {} failed)", self.failed));
        }
    }

    /// A binary's `n` selected tests were listed; they run on `workers` processes.
    pub fn listed(&mut self, n: usize, workers: usize) {
        self.workers = workers.max(1) as u64;
        if self.wanted && self.bar.is_none() {
            self.bar = Some(TestBar::draw());
        }
        if let Some(bar) = &self.bar {
            bar.inc_length(n as u64);
        }
    }

    /// A test was handed to a worker.
    pub fn started(&mut self) {
        self.unfinished += 1;
        self.redraw();
    }

    /// A started test reached its final verdict.
    pub fn finished(&mut self, failed: bool) {
        self.unfinished = self.unfinished.saturating_sub(1);
        self.failed += u64::from(failed);
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
        self.redraw();
    }

    /// Runs `write` with the bar lifted off the terminal.
    pub fn suspend<R>(&self, write: impl FnOnce() -> R) -> R {
        match &self.bar {
            Some(bar) => bar.suspend(write),
            None => write(),
        }
    }

    /// Takes the bar off for good (before the summary).
    pub fn clear(&mut self) {
        self.wanted = false;
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
