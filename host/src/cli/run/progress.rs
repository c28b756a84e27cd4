//! What a long `run` shows on stderr: a progress bar while it runs (on a terminal, or forced
//! with `--progress`; never with `--quiet`), and the final summary line
//! `1000 tasks: 998 ok, 2 failed (1 timeout, 1 memory-limit) in 3.2 s`.
//!
//! The bar is drawn by indicatif; everything else written to the terminal while it is up goes
//! through [`Progress::suspend`], which lifts the bar, writes, and draws it again, so results
//! and guest output never mix with it.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use mpwasm::ErrorKind;

use crate::cli::output::duration;
use crate::cli::output::summary::{SummaryLine, count};
use crate::cli::settings::BarMode;
use crate::cli::style::Style;

/// The counts of a run so far.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// Tasks that succeeded.
    pub ok: u64,
    /// Tasks that failed, by kind.
    pub failed: BTreeMap<&'static str, u64>,
}

impl Tally {
    /// Counts one outcome.
    pub fn add(&mut self, failure: Option<ErrorKind>) {
        match failure {
            None => self.ok += 1,
            Some(kind) => *self.failed.entry(kind.as_str()).or_default() += 1,
        }
    }

    /// How many failed.
    pub fn failures(&self) -> u64 {
        self.failed.values().sum()
    }

    /// `1000 tasks: 998 ok, 2 failed (1 timeout, 1 memory-limit) in 3.2 s`.
    pub fn summary(&self, elapsed: Duration, style: Style) -> String {
        let failed = self.failures();
        let ok = format!("{} ok", self.ok);
        let ok = if failed == 0 { style.green(&ok) } else { ok };
        let mut line = SummaryLine::new(count(self.ok + failed, "task", "tasks")).part(&ok, &[]);
        if failed > 0 {
            let kinds: Vec<String> = self
                .failed
                .iter()
                .map(|(k, n)| format!("{n} {k}"))
                .collect();
            line = line.part(&style.red(&format!("{failed} failed")), &kinds);
        }
        line.end(&format!(" in {}", duration::human(elapsed)))
    }
}

/// The bar's look: with a length (bar, done/total, ETA) or without (a count and the rate).
fn bar_style(with_length: bool) -> ProgressStyle {
    let template = if with_length {
        "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} {rate} ETA {eta} {msg}"
    } else {
        "{spinner} [{elapsed_precise}] {pos} done, {rate} {msg}"
    };
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .with_key(
            "rate",
            |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{:.0}/s", state.per_sec());
            },
        )
        .progress_chars("=> ")
}

/// Gives a bar its length once it is known (counted on another thread).
pub struct LengthSetter(ProgressBar, Arc<AtomicU64>);

impl LengthSetter {
    /// Sets the total (the inputs read, plus those tasks added so far) and switches to the
    /// bar with an ETA.
    pub fn set(&self, total: u64) {
        self.0
            .set_length(total.saturating_add(self.1.load(Ordering::Acquire)));
        self.0.set_style(bar_style(true));
    }
}

/// The bar and the tally of a run.
pub struct Progress {
    bar: Option<ProgressBar>,
    /// Inputs the job's tasks added (`work#submit`), counted into the length.
    added: Arc<AtomicU64>,
    /// The counts so far.
    pub tally: Tally,
    started: Instant,
}

impl Progress {
    /// Starts counting from `started`; shows a bar per `mode`, with `total` tasks when known.
    pub fn new(mode: BarMode, total: Option<u64>, started: Instant) -> Progress {
        let show = match mode {
            BarMode::Off => false,
            BarMode::Forced => true,
            BarMode::Auto => std::io::stderr().is_terminal(),
        };
        let bar = show.then(|| {
            let target = if mode == BarMode::Forced {
                // Drawn even when stderr is not a terminal.
                ProgressDrawTarget::term_like(Box::new(console::Term::stderr()))
            } else {
                ProgressDrawTarget::stderr()
            };
            let style = bar_style(total.is_some());
            let bar = ProgressBar::with_draw_target(total, target).with_style(style);
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Progress {
            bar,
            added: Arc::default(),
            tally: Tally::default(),
            started,
        }
    }

    /// A handle to set the bar's length later, when the bar is up without one.
    pub fn length_setter(&self) -> Option<LengthSetter> {
        self.bar
            .as_ref()
            .filter(|bar| bar.length().is_none())
            .map(|bar| LengthSetter(bar.clone(), Arc::clone(&self.added)))
    }

    /// The job's tasks have added `added` inputs so far: the total grows with them.
    pub fn added(&self, added: u64) {
        let before = self.added.swap(added, Ordering::AcqRel);
        if let Some(bar) = &self.bar
            && added > before
            && bar.length().is_some()
        {
            bar.inc_length(added - before);
        }
    }

    /// Whether the bar is up.
    pub fn visible(&self) -> bool {
        self.bar.is_some()
    }

    /// Counts one finished task.
    pub fn done(&mut self, failure: Option<ErrorKind>) {
        self.tally.add(failure);
        if let Some(bar) = &self.bar {
            bar.inc(1);
            if failure.is_some() {
                bar.set_message(format!("{} failed", self.tally.failures()));
            }
        }
    }

    /// Runs `write` with the bar lifted.
    pub fn suspend<R>(&self, write: impl FnOnce() -> R) -> R {
        match &self.bar {
            Some(bar) => bar.suspend(write),
            None => write(),
        }
    }

    /// Takes the bar down.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    /// Time since the run started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::style::{ColorChoice, Stream};

    #[test]
    fn summaries() {
        let plain = Style::new(ColorChoice::Never, Stream::Stderr);
        let mut tally = Tally::default();
        for _ in 0..998 {
            tally.add(None);
        }
        tally.add(Some(ErrorKind::Timeout));
        tally.add(Some(ErrorKind::MemoryLimit));
        assert_eq!(
            tally.summary(Duration::from_millis(3200), plain),
            "1000 tasks: 998 ok, 2 failed (1 memory-limit, 1 timeout) in 3.2 s"
        );
        let mut one = Tally::default();
        one.add(None);
        assert_eq!(
            one.summary(Duration::from_millis(12), plain),
            "1 task: 1 ok in 0.012 s"
        );
    }
}
