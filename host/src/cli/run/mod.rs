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
#[cfg(test)]
mod inputs_fuzz;
pub mod joblog;
pub mod print_loop;
pub mod progress;
pub mod report;
pub mod target;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use mpwasm::Task;

use crate::cli::ExitCode;
use crate::cli::settings::{InputSpec, OutputSettings, RunSettings};
use crate::cli::signals::Watcher;
use inputs::{Fed, Source};
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
        shared_out,
    } = settings;
    let source = Source::open(&inputs)?;
    let (joblog, resume) = joblog::open(output.joblog.as_ref())?;
    // Checked once the module is loaded, before anything starts.
    let check = |task_module: &Task| -> Result<()> {
        let imports = task_module.imports();
        if shared_out.is_some() && !imports.iter().any(|i| mpwasm::shared::is_shared(i)) {
            bail!(
                "--shared-out: {} imports no shared interface (mpwasm:shared/kv, queue or \
                 work), so its job has no shared store to write",
                task.display()
            );
        }
        if resume.is_some() && mpwasm::shared::adds_inputs(imports) {
            bail!(
                "--resume: the tasks of {} add inputs to the job (mpwasm:shared/work), so an \
                 input's index depends on the run and a joblog cannot say which inputs are \
                 done; run the job again from the start",
                task.display()
            );
        }
        Ok(())
    };
    // Declared before the job so that it is dropped after it: on an early error the store
    // is still written, once the workers are gone.
    let mut shared: Option<SharedOut> = None;
    let (running, submitter, mut outcomes) =
        Running::start(&target, &task, pool, ordered, source.len(), &check)?;
    if let (Some(path), Some(store)) = (&shared_out, outcomes.shared_store()) {
        shared = Some(SharedOut {
            path: path.clone(),
            store,
            written: false,
        });
    }
    let mut reporter = start_reporter(
        &output, &inputs, &source, &running, joblog, &resume, started,
    );
    let watcher = Watcher::new("mpwasm");
    let (terminator, waker) = (running.terminator(), outcomes.waker());
    watcher.on_first(move || {
        terminator.terminate();
        waker.wake();
    })?;
    let source_len = source.len();
    let feeder = source.feed(submitter, resume);
    let interrupted = match print_loop::print_all(&mut outcomes, &mut reporter, &watcher) {
        Ok(Printed::All) => None,
        Ok(Printed::Interrupted(signal, pending)) => Some((
            signal,
            print_loop::drain(pending, &mut outcomes, &mut reporter)?,
        )),
        // stdout is gone (`| head`): a clean exit, as for any filter.
        Err(Stop::StdoutClosed) => {
            drop(outcomes);
            running.finish();
            if let Some(shared) = &mut shared {
                shared.write(Some("the run stopped when stdout closed"))?;
            }
            return Ok(ExitCode::Success);
        }
        Err(Stop::Failed(error)) => return Err(error),
    };
    drop(outcomes);
    running.finish();
    reporter.finish(output.quiet)?;
    let total = source_len;
    let fed = match interrupted {
        Some(_) => Fed::default(),
        None => feeder.join().unwrap_or_default(),
    };
    let unread = fed.error;
    if let Some(shared) = &mut shared {
        let why = match (&interrupted, &unread, reporter.failed()) {
            (Some((signal, _)), _, _) => Some(format!(
                "the run was interrupted by {}: it holds every write made until then, those \
                 of the tasks stopped mid-way included",
                signal.name()
            )),
            (None, Some(_), _) => Some(
                "the input could not be read to the end: it holds the writes of the inputs \
                 read before that"
                    .to_string(),
            ),
            (None, None, 0) => None,
            (None, None, failed) => Some(format!(
                "{failed} {} failed: it holds the writes made before that",
                if failed == 1 { "task" } else { "tasks" }
            )),
        };
        shared.write(why.as_deref())?;
    }
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
    if let Some(message) = unread {
        eprintln!("mpwasm: {message}");
        return Ok(ExitCode::Failed);
    }
    // Only a failure no input can escape (the broker lost the job, every worker refuses it)
    // closes the job's input without a signal: say what was left unread.
    if fed.stopped {
        match total {
            Some(total) => eprintln!(
                "mpwasm: {} of {total} inputs were not run: once no input could be answered \
                 any more, the rest were not read (the error above says why)",
                total.saturating_sub(fed.read)
            ),
            None => eprintln!(
                "mpwasm: the input after its first {} was not read: no input could be \
                 answered any more (the error above says why)",
                fed.read
            ),
        }
        return Ok(ExitCode::Failed);
    }
    Ok(if reporter.failed() > 0 {
        ExitCode::Failed
    } else {
        ExitCode::Success
    })
}

/// `--shared-out`: the job's store and where it goes. Dropped unwritten (the run ended on an
/// error), it writes the store and says so.
struct SharedOut {
    path: PathBuf,
    store: mpwasm::SharedStore,
    written: bool,
}

impl SharedOut {
    /// Writes the store (to a temporary file renamed over `path`, so a reader never sees
    /// half of it); with `why`, says on stderr what is in it.
    fn write(&mut self, why: Option<&str>) -> Result<()> {
        self.written = true;
        let json = self.store.to_json();
        let mut text = serde_json::to_string_pretty(&json).context("--shared-out")?;
        text.push('\n');
        let mut temporary = self.path.clone().into_os_string();
        temporary.push(".partial");
        let temporary = PathBuf::from(temporary);
        let written =
            std::fs::write(&temporary, text).and_then(|()| std::fs::rename(&temporary, &self.path));
        if written.is_err() {
            // A full disk leaves nothing half-written behind, and the older file whole.
            let _ = std::fs::remove_file(&temporary);
        }
        written.with_context(|| format!("--shared-out: cannot write {}", self.path.display()))?;
        if let Some(why) = why {
            let (keys, queued) = self.store.counts();
            let plural = |n: usize, one: &str, many: &str| {
                format!("{n} {}", if n == 1 { one } else { many })
            };
            eprintln!(
                "mpwasm: wrote the shared store ({}, {}) to {}; {why}",
                plural(keys, "key", "keys"),
                plural(queued, "queued item", "queued items"),
                self.path.display()
            );
        }
        Ok(())
    }
}

impl Drop for SharedOut {
    fn drop(&mut self) {
        if !self.written
            && let Err(e) = self.write(Some(
                "the run stopped on an error: it holds every write made until then",
            ))
        {
            eprintln!("mpwasm: {e:#}");
        }
    }
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
    // Inputs that tasks add take indices between the lines read: no line to name then.
    let lines = source.line_map().filter(|_| !running.grows());
    let reporter = Reporter::new(output.format, lines, display)
        .for_program(running.is_program())
        .with_joblog(joblog)
        .with_resume(resume.clone());
    if let Some(setter) = reporter.progress.length_setter() {
        inputs::count_in_background(inputs, done, move |n| setter.set(n));
    }
    reporter
}
