//! `mpwasm run`: one task per input over the pool (or a broker's workers, `--broker`), results
//! streamed in input order (or as completed).
//!
//! Ctrl-C or SIGTERM stops the run: no more work is handed out, the workers are killed, the
//! results already finished are printed with a note of how many tasks did not run, and the exit
//! status is 130 (SIGINT) or 143 (SIGTERM). A second signal exits at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use mpwasm::broker::{BrokerJob, BrokerUrl, SubmitOptions, submit};
use mpwasm::limits::parse_duration;
use mpwasm::pool::{Next, Outcomes, Terminator, Waker};
use mpwasm::{ErrorKind, Pool, TaskOutcome};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

pub mod inputs;
pub mod joblog;
pub mod progress;
pub mod report;

use crate::cli::args::RunArgs;
use crate::cli::settings::{InputSpec, parse_range, pool_builder};
use inputs::{Source, count_inputs};
use joblog::{JobLog, Resume, done_indices};
use progress::BarMode;
use report::{Display, Reporter};

/// How long after a signal finished results are still collected.
const DRAIN: Duration = Duration::from_millis(500);

/// Runs the command; returns the exit status.
pub fn run(args: RunArgs) -> Result<i32> {
    let started = Instant::now();
    let spec = match (&args.map, &args.input, &args.lines, &args.csv) {
        (Some(range), None, None, None) => InputSpec::Range(parse_range(range)?),
        (None, Some(path), None, None) => InputSpec::JsonLines(Some(path.clone())),
        (None, None, Some(path), None) => InputSpec::TextLines(Some(path.clone())),
        (None, None, None, Some(path)) => InputSpec::Csv {
            path: Some(path.clone()),
            header: !args.no_header,
        },
        (None, None, None, None) => bail!(
            "no inputs: give --map RANGE (e.g. --map 0..10), --input PATH (JSON Lines), \
             --lines PATH (one string per line), --csv PATH, or `-` as the PATH to read stdin"
        ),
        _ => bail!("give one of --map, --input, --lines and --csv"),
    };
    if args.chunksize == Some(0) {
        bail!("invalid --chunksize 0: a batch holds at least one task");
    }
    let source = Source::open(&spec)?;
    let resume = match (&args.joblog, args.resume) {
        (Some(path), true) => Some(Arc::new(Resume::new(done_indices(path)?))),
        _ => None,
    };
    let joblog = args.joblog.as_deref().map(JobLog::open).transpose()?;
    let mut builder = pool_builder(&args.common)?.time_tasks(joblog.is_some());
    if let Some(n) = args.chunksize {
        builder = builder.chunksize(n);
    }
    if args.stdin || !args.program_args.is_empty() {
        builder = builder.program_args(args.program_args.clone(), args.stdin);
    }
    let ordered = !args.unordered;
    let (runner, submitter, mut outcomes) = match &args.broker {
        Some(url) => {
            if args.common.processes.is_some() {
                bail!(
                    "-j/--processes sets the size of a local pool; with --broker each worker \
                     chooses its own (mpwasm worker -j N)"
                );
            }
            let lease = parse_duration(&args.lease).map_err(|e| anyhow::anyhow!("--lease: {e}"))?;
            if lease < Duration::from_millis(100) {
                bail!(
                    "invalid --lease `{}`: it must be at least 100ms",
                    args.lease
                );
            }
            let url = Arc::new(BrokerUrl::parse(url)?);
            let options = SubmitOptions {
                ordered,
                lease,
                ..SubmitOptions::default()
            };
            let (job, submitter, outcomes) = submit(&url, &args.task, builder, options)?;
            let notes = job.notes();
            let printer = std::thread::spawn(move || {
                for note in notes {
                    eprintln!("mpwasm: {note}");
                }
            });
            (Runner::Broker(job, printer), submitter, outcomes)
        }
        None => {
            let pool = builder.build(args.task.as_path())?;
            let (submitter, outcomes) = pool.job(ordered);
            (Runner::Local(pool), submitter, outcomes)
        }
    };
    let display = Display {
        bar: if args.quiet {
            BarMode::Off
        } else if args.progress {
            BarMode::Forced
        } else {
            BarMode::Auto
        },
        total: source
            .len()
            .map(|n| n.saturating_sub(resume.as_ref().map_or(0, |r| r.done.len() as u64))),
        color: args.color,
        started,
    };
    let mut reporter = Reporter::new(args.format, source.line_map(), display)
        .for_program(runner.is_program())
        .with_joblog(joblog)
        .with_resume(resume.clone());
    if let Some(setter) = reporter.progress.length_setter() {
        // A file's inputs are counted on the side, so the bar gets its total and an ETA
        // without holding up the run.
        let done = resume.as_ref().map_or(0, |r| r.done.len() as u64);
        let spec = spec.clone();
        std::thread::spawn(move || {
            if let Some(n) = count_inputs(&spec) {
                setter.set(n.saturating_sub(done));
            }
        });
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
            sig, pending, outcomes, reporter, runner, args.quiet,
        ));
    }
    drop(outcomes);
    runner.finish();
    reporter.finish(args.quiet);
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
