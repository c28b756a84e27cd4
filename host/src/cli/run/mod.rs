//! `mpwasm run`: one task per input over the pool (or a broker's workers, `--broker`), results
//! streamed in input order (or as completed).
//!
//! Ctrl-C or SIGTERM stops the run: no more work is handed out, the workers are killed, the
//! results already finished are printed with a note of how many tasks did not run, and the exit
//! status is 130 (SIGINT) or 143 (SIGTERM). A second signal exits at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use mpwasm::broker::{BrokerJob, SubmitOptions, submit};
use mpwasm::pool::{Next, Outcomes, Terminator, Waker};
use mpwasm::{ErrorKind, Pool, TaskOutcome};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

pub mod inputs;
pub mod joblog;
pub mod progress;
pub mod report;

use crate::cli::settings::{JobLogSettings, RunSettings, Target};
use inputs::Source;
use joblog::{JobLog, Resume, done_indices};
use report::{Display, Reporter};

/// How long after a signal finished results are still collected.
const DRAIN: Duration = Duration::from_millis(500);

/// Runs the command; returns the exit status.
pub fn run(settings: RunSettings) -> Result<i32> {
    let started = Instant::now();
    let RunSettings {
        task,
        inputs,
        target,
        pool,
        ordered,
        output,
    } = settings;
    let source = Source::open(&inputs)?;
    let resume = match &output.joblog {
        Some(JobLogSettings { path, resume: true }) => {
            Some(Arc::new(Resume::new(done_indices(path)?)))
        }
        _ => None,
    };
    let joblog = output
        .joblog
        .as_ref()
        .map(|settings| JobLog::open(&settings.path))
        .transpose()?;
    let (runner, submitter, mut outcomes) = match &target {
        Target::Broker { url, lease } => {
            let options = SubmitOptions {
                ordered,
                lease: *lease,
                ..SubmitOptions::default()
            };
            let (job, submitter, outcomes) = submit(url, &task, pool, options)?;
            let notes = job.notes();
            let printer = std::thread::spawn(move || {
                for note in notes {
                    eprintln!("mpwasm: {note}");
                }
            });
            (Runner::Broker(job, printer), submitter, outcomes)
        }
        Target::Local => {
            let pool = pool.build(task.as_path())?;
            let (submitter, outcomes) = pool.job(ordered);
            (Runner::Local(pool), submitter, outcomes)
        }
    };
    let done = resume.as_ref().map_or(0, |r| r.done.len() as u64);
    let display = Display {
        bar: output.bar,
        total: source.len().map(|n| n.saturating_sub(done)),
        color: output.color,
        started,
    };
    let mut reporter = Reporter::new(output.format, source.line_map(), display)
        .for_program(runner.is_program())
        .with_joblog(joblog)
        .with_resume(resume.clone());
    if let Some(setter) = reporter.progress.length_setter() {
        inputs::count_in_background(&inputs, done, move |n| setter.set(n));
    }
    let signal = Arc::new(AtomicI32::new(0));
    watch_signals(Arc::clone(&signal), runner.terminator(), outcomes.waker())?;
    let feeder = source.feed(submitter, resume);
    let mut pending = None;
    loop {
        let outcome = match outcomes.try_next() {
            Some(o) => o,
            None => {
                if reporter.flush().is_err() {
                    return Ok(0); // stdout is gone (`| head`): a clean exit, as for any filter
                }
                match outcomes.wait_next() {
                    Next::Outcome(o) => o,
                    Next::Done | Next::Woken => break,
                }
            }
        };
        if signal.load(Ordering::SeqCst) != 0 {
            pending = Some(outcome);
            break;
        }
        if let Err(e) = outcome.json()
            && matches!(e.kind(), ErrorKind::Refused | ErrorKind::BrokerLost)
        {
            // No input can be answered any more: stop reading inputs; those already sent end
            // with the same error.
            outcomes.close_input();
        }
        if reporter.report(&outcome).is_err() {
            return Ok(0);
        }
    }
    let sig = signal.load(Ordering::SeqCst);
    if sig != 0 {
        return Ok(interrupted(
            sig,
            pending,
            outcomes,
            reporter,
            runner,
            output.quiet,
        ));
    }
    drop(outcomes);
    runner.finish();
    reporter.finish(output.quiet);
    let read_error = feeder.join().unwrap_or(None);
    if let Some(message) = read_error {
        eprintln!("mpwasm: {message}");
        return Ok(1);
    }
    Ok(if reporter.failed() > 0 { 1 } else { 0 })
}

/// What runs the job: a local pool, or a broker's workers.
enum Runner {
    Local(Pool),
    /// The job, and the thread printing what workers say of it.
    Broker(BrokerJob, std::thread::JoinHandle<()>),
}

impl Runner {
    fn is_program(&self) -> bool {
        match self {
            Runner::Local(pool) => pool.is_program(),
            Runner::Broker(job, _) => job.is_program(),
        }
    }

    fn terminator(&self) -> Terminator {
        match self {
            Runner::Local(pool) => pool.terminator(),
            Runner::Broker(job, _) => job.terminator(),
        }
    }

    /// Ends the job: a broker job's keys are deleted and the workers' last notes printed.
    fn finish(self) {
        match self {
            Runner::Local(pool) => drop(pool),
            Runner::Broker(job, printer) => {
                drop(job);
                let _ = printer.join();
            }
        }
    }
}

/// After a signal: print what finished, count what did not run, return 128 + the signal.
fn interrupted(
    sig: i32,
    mut pending: Option<TaskOutcome>,
    mut outcomes: Outcomes,
    mut reporter: Reporter,
    runner: Runner,
    quiet: bool,
) -> i32 {
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
            _ => {
                if reporter.report(&outcome).is_err() {
                    break;
                }
            }
        }
    }
    drop(outcomes);
    runner.finish();
    reporter.finish(quiet);
    let name = if sig == SIGINT { "SIGINT" } else { "SIGTERM" };
    eprintln!(
        "mpwasm: interrupted by {name}: {} results printed, {} failed, {not_run} tasks stopped \
         before finishing",
        reporter.succeeded(),
        reporter.failed()
    );
    128 + sig
}

/// The first SIGINT/SIGTERM stops the pool and wakes the printing loop; a second exits now.
fn watch_signals(signal: Arc<AtomicI32>, terminator: Terminator, waker: Waker) -> Result<()> {
    let mut signals = Signals::new([SIGINT, SIGTERM]).context("cannot install signal handlers")?;
    std::thread::spawn(move || {
        for sig in signals.forever() {
            if signal.swap(sig, Ordering::SeqCst) != 0 {
                eprintln!("mpwasm: second signal: exiting now");
                std::process::exit(128 + sig);
            }
            terminator.terminate();
            waker.wake();
        }
    });
    Ok(())
}
