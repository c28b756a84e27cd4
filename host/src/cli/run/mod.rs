//! `mpwasm run`: one task per input over the pool (or a broker's workers, `--broker`), results
//! streamed in input order (or as completed). [`run`] opens the inputs ([`inputs`]) and the
//! joblog ([`joblog`]), starts the job ([`target`]), and prints ([`print_loop`], [`report`],
//! [`progress`]).
//!
//! Ctrl-C or SIGTERM stops the run: no more work is handed out, the workers are killed, the
//! results already finished are printed with a note of how many tasks did not run, and the exit
//! status is 130 (SIGINT) or 143 (SIGTERM). A second signal exits at once.

pub mod index_shift;
pub mod inputs;
pub mod joblog;
pub mod print_loop;
pub mod progress;
pub mod report;
pub mod target;

use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;

use crate::cli::ExitCode;
use crate::cli::settings::{InputSpec, OutputSettings, RunSettings};
use crate::cli::signals::Watcher;
use inputs::Source;
use joblog::{JobLog, Resume};
use print_loop::Printed;
use report::{Display, Reporter, Stop};
use target::Running;

/// Runs the command.
///
/// # Errors
/// When the run cannot start (an input or the joblog cannot be opened, the module cannot be
/// loaded, the broker refuses it) or cannot go on (the joblog cannot be written).
pub fn run(settings: RunSettings) -> Result<ExitCode> {
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
    let (joblog, resume) = joblog::open(output.joblog.as_ref())?;
    let (running, submitter, mut outcomes) = Running::start(&target, &task, pool, ordered)?;
    let mut reporter = start_reporter(
        &output, &inputs, &source, &running, joblog, &resume, started,
    );
    let watcher = Watcher::new("mpwasm");
    let (terminator, waker) = (running.terminator(), outcomes.waker());
    watcher.on_first(move || {
        terminator.terminate();
        waker.wake();
    })?;
    let feeder = source.feed(submitter, resume);
    let interrupted = match print_loop::print_all(&mut outcomes, &mut reporter, &watcher) {
        Ok(Printed::All) => None,
        Ok(Printed::Interrupted(signal, pending)) => Some((
            signal,
            print_loop::drain(pending, &mut outcomes, &mut reporter)?,
        )),
        // stdout is gone (`| head`): a clean exit, as for any filter.
        Err(Stop::StdoutClosed) => return Ok(ExitCode::Success),
        Err(Stop::Failed(error)) => return Err(error),
    };
    drop(outcomes);
    running.finish();
    reporter.finish(output.quiet)?;
    if let Some((signal, not_run)) = interrupted {
        eprintln!(
            "mpwasm: interrupted by {}: {} results printed, {} failed, {not_run} tasks stopped \
             before finishing",
            signal.name(),
            reporter.succeeded(),
            reporter.failed()
        );
        return Ok(ExitCode::Interrupted(signal));
    }
    if let Some(message) = feeder.join().unwrap_or(None) {
        eprintln!("mpwasm: {message}");
        return Ok(ExitCode::Failed);
    }
    Ok(if reporter.failed() > 0 {
        ExitCode::Failed
    } else {
        ExitCode::Success
    })
}

/// The reporter for this run, its bar up (when shown) with the number of inputs left: a
/// range's at once, a file's once counted on the side.
fn start_reporter(
    output: &OutputSettings,
    inputs: &InputSpec,
    source: &Source,
    running: &Running,
    joblog: Option<JobLog>,
    resume: &Option<Arc<Resume>>,
    started: Instant,
) -> Reporter {
    let done = resume.as_ref().map_or(0, |r| r.done.len() as u64);
    let display = Display {
        bar: output.bar,
        total: source.len().map(|n| n.saturating_sub(done)),
        color: output.color,
        started,
    };
    let reporter = Reporter::new(output.format, source.line_map(), display)
        .for_program(running.is_program())
        .with_joblog(joblog)
        .with_resume(resume.clone());
    if let Some(setter) = reporter.progress.length_setter() {
        inputs::count_in_background(inputs, done, move |n| setter.set(n));
    }
    reporter
}
