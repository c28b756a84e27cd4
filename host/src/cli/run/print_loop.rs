//! `run`'s printing loop: takes outcomes as they come and hands them to the reporter, writing
//! stdout before every wait; after a signal, prints what still finished within a short drain
//! and counts what did not.

use std::time::{Duration, Instant};

use mpwasm::pool::{Next, Outcomes};
use mpwasm::{ErrorKind, TaskOutcome};

use super::report::{Reporter, Stop};
use crate::cli::signals::{Signal, Watcher};

/// How long after a signal finished results are still collected.
const DRAIN: Duration = Duration::from_millis(500);

/// How the printing loop ended.
pub enum Printed {
    /// Every outcome was printed.
    All,
    /// A signal came; the outcome taken when it was noticed is not printed yet.
    Interrupted(Signal, Option<TaskOutcome>),
}

/// Prints every outcome until the job ends or `watcher` records a signal.
///
/// # Errors
/// [`Stop`]: stdout is closed, or the joblog cannot be written.
pub fn print_all(
    outcomes: &mut Outcomes,
    reporter: &mut Reporter,
    watcher: &Watcher,
) -> Result<Printed, Stop> {
    loop {
        let outcome = match outcomes.try_next() {
            Some(o) => o,
            None => {
                reporter.flush()?;
                match outcomes.wait_next() {
                    Next::Outcome(o) => o,
                    Next::Done | Next::Woken => break,
                }
            }
        };
        if let Some(signal) = watcher.received() {
            return Ok(Printed::Interrupted(signal, Some(outcome)));
        }
        if let Err(e) = outcome.json()
            && matches!(e.kind(), ErrorKind::Refused | ErrorKind::BrokerLost)
        {
            // No input can be answered any more: stop reading inputs; those already sent end
            // with the same error.
            outcomes.close_input();
        }
        reporter.report(&outcome)?;
        if reporter.progress.visible() {
            reporter.progress.added(outcomes.added());
        }
    }
    Ok(match watcher.received() {
        Some(signal) => Printed::Interrupted(signal, None),
        None => Printed::All,
    })
}

/// After a signal: prints `pending` and the outcomes that still arrive within the drain, and
/// returns how many tasks were stopped before finishing. A closed stdout ends the drain.
///
/// # Errors
/// When the joblog cannot be written.
pub fn drain(
    mut pending: Option<TaskOutcome>,
    outcomes: &mut Outcomes,
    reporter: &mut Reporter,
) -> anyhow::Result<u64> {
    outcomes.close_input();
    let deadline = Instant::now() + DRAIN;
    let mut not_run = 0u64;
    loop {
        let outcome = match pending.take() {
            Some(o) => o,
            None if outcomes.all_taken() => break,
            None => match outcomes.next_until(deadline) {
                Some(o) => o,
                None => break,
            },
        };
        match outcome.json() {
            Err(e) if e.kind() == ErrorKind::Cancelled => not_run += 1,
            _ => match reporter.report(&outcome) {
                Ok(()) => {}
                Err(Stop::StdoutClosed) => break,
                Err(Stop::Failed(error)) => return Err(error),
            },
        }
    }
    Ok(not_run)
}
