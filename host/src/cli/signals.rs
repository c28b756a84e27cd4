//! The one signal watcher of `run`, `test` and `worker`. The first SIGINT or SIGTERM is recorded
//! (so the command can say it was interrupted) and calls the command back (stop the pool, wake
//! the printing loop, stop serving); a second one exits at once, with the status of a run
//! interrupted by that signal.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use super::ExitCode;

/// A signal that stops a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT: Ctrl-C.
    Int,
    /// SIGTERM.
    Term,
}

impl Signal {
    /// The signal's number.
    pub fn number(self) -> i32 {
        match self {
            Signal::Int => SIGINT,
            Signal::Term => SIGTERM,
        }
    }

    /// `SIGINT` or `SIGTERM`.
    pub fn name(self) -> &'static str {
        match self {
            Signal::Int => "SIGINT",
            Signal::Term => "SIGTERM",
        }
    }

    fn from_number(number: i32) -> Option<Signal> {
        match number {
            SIGINT => Some(Signal::Int),
            SIGTERM => Some(Signal::Term),
            _ => None,
        }
    }
}

/// What the first signal does: the command's callback, set (and replaced) with
/// [`Watcher::on_first`].
type Callback = Box<dyn FnMut() + Send>;

/// What the watching thread and the command share.
struct Shared {
    /// The first signal's number, 0 until one came. Read on every outcome, so an atomic.
    first: AtomicI32,
    /// The callback, and whether the handlers are installed. Held while the first signal is
    /// recorded and the callback runs, so a callback set at that moment runs exactly once.
    callback: Mutex<Slot>,
}

/// The callback's slot.
struct Slot {
    callback: Option<Callback>,
    installed: bool,
}

/// Watches SIGINT and SIGTERM from a thread of its own. Nothing is watched until the command
/// has something to stop ([`Watcher::on_first`]); until then a signal ends the process as it
/// would any program.
pub struct Watcher {
    who: &'static str,
    shared: Arc<Shared>,
}

impl Watcher {
    /// A watcher for the command `who`, which starts the line a second signal prints
    /// (`mpwasm`, `mpwasm worker`).
    pub fn new(who: &'static str) -> Watcher {
        Watcher {
            who,
            shared: Arc::new(Shared {
                first: AtomicI32::new(0),
                callback: Mutex::new(Slot {
                    callback: None,
                    installed: false,
                }),
            }),
        }
    }

    /// What the first signal does from now on, replacing what it did before; called at once
    /// if the first signal already came. It runs on the watching thread: it must not block.
    /// The first call installs the handlers.
    ///
    /// # Errors
    /// When the handlers cannot be installed.
    pub fn on_first(&self, callback: impl FnMut() + Send + 'static) -> Result<()> {
        let mut slot = self
            .shared
            .callback
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if !slot.installed {
            self.install()?;
            slot.installed = true;
        }
        let mut callback: Callback = Box::new(callback);
        if self.received().is_some() {
            callback();
        }
        slot.callback = Some(callback);
        Ok(())
    }

    /// The first signal, once one came.
    #[inline]
    pub fn received(&self) -> Option<Signal> {
        // Read once per outcome: a relaxed load that is almost always 0 (the signal thread's
        // store is seen soon enough; the callback has stopped the pool already).
        match self.shared.first.load(Ordering::Relaxed) {
            0 => None,
            number => Signal::from_number(number),
        }
    }

    /// Installs the handlers and starts the watching thread.
    fn install(&self) -> Result<()> {
        let mut signals =
            Signals::new([SIGINT, SIGTERM]).context("cannot install signal handlers")?;
        let shared = Arc::clone(&self.shared);
        let who = self.who;
        std::thread::spawn(move || {
            for signal in signals.forever().filter_map(Signal::from_number) {
                let mut slot = shared.callback.lock().unwrap_or_else(|p| p.into_inner());
                if shared.first.swap(signal.number(), Ordering::SeqCst) != 0 {
                    eprintln!("{who}: second signal: exiting now");
                    std::process::exit(i32::from(ExitCode::Interrupted(signal).code()));
                }
                if let Some(callback) = slot.callback.as_mut() {
                    callback();
                }
            }
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_first_signal_is_recorded_and_calls_back_even_a_late_callback() {
        let watcher = Watcher::new("mpwasm");
        assert_eq!(watcher.received(), None);
        let (tx, rx) = crossbeam_channel::unbounded();
        let first = tx.clone();
        watcher
            .on_first(move || {
                let _ = first.send("first");
            })
            .expect("handlers installed");
        signal_hook::low_level::raise(SIGTERM).expect("raised");
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok("first"));
        assert_eq!(watcher.received(), Some(Signal::Term));
        // A callback set after the signal runs at once.
        watcher
            .on_first(move || {
                let _ = tx.send("late");
            })
            .expect("still installed");
        assert_eq!(rx.try_recv(), Ok("late"));
    }
}
