//! Prints outcomes: results to stdout (values or jsonl), failures and each task's captured
//! guest output to stderr as one block per task, never interleaved with another task's.
//! For a program (command mode), the `values` format prints each run's own stdout as it is
//! and its stderr as the block. Counts outcomes for the exit status and the summary, keeps the
//! progress bar out of the way of everything printed, writes the joblog after the results it
//! describes, and maps a resumed job's indices back to the input's. A closed stdout
//! (`| head`) ends the run quietly ([`Stop::StdoutClosed`]); a joblog that cannot be written
//! ends it with an error ([`Stop::Failed`]), since going on would print results a resumed run
//! could not know about.

use std::io::{self, IsTerminal};
use std::sync::Arc;
use std::time::Instant;

use mpwasm::{ErrorKind, TaskIndex, TaskOutcome};
use serde_json::json;

use super::inputs::LineMap;
use super::joblog::{JobLog, Resume};
use super::progress::Progress;
use crate::cli::args::Format;
use crate::cli::output::block;
use crate::cli::output::stdout::{Stdout, StdoutClosed};
use crate::cli::settings::BarMode;
use crate::cli::style::{ColorChoice, Stream, Style};

/// Results are written to stdout in chunks of about this size.
const OUT_CHUNK: usize = 64 * 1024;

/// How a reporter shows a run, besides the format.
pub struct Display {
    /// The progress bar.
    pub bar: BarMode,
    /// The number of tasks, when known (for the bar's length and ETA).
    pub total: Option<u64>,
    /// Colour for stderr.
    pub color: ColorChoice,
    /// When the run started, for the summary.
    pub started: Instant,
}

impl Default for Display {
    fn default() -> Display {
        Display {
            bar: BarMode::Off,
            total: None,
            color: ColorChoice::Auto,
            started: Instant::now(),
        }
    }
}

/// Why the reporter cannot go on.
#[derive(Debug)]
pub enum Stop {
    /// Stdout is closed: end the run quietly, with status 0.
    StdoutClosed,
    /// The joblog cannot be written: end the run with this error.
    Failed(anyhow::Error),
}

impl From<StdoutClosed> for Stop {
    fn from(_: StdoutClosed) -> Stop {
        Stop::StdoutClosed
    }
}

/// Writes outcomes as they come.
pub struct Reporter {
    format: Format,
    /// Stdout, holding the results not yet written.
    out: Stdout,
    /// Write every result at once: the bar is up and stdout is the same terminal.
    eager: bool,
    lines: Option<Arc<LineMap>>,
    program: bool,
    style: Style,
    joblog: Option<JobLog>,
    resume: Option<Arc<Resume>>,
    /// A failure of the whole broker (`refused`, `broker-lost`) ends every input the same
    /// way: printed once, then counted here, and the count printed once.
    repeated: Option<Repeated>,
    /// The counts and the bar.
    pub progress: Progress,
}

/// A broker-wide failure printed once, and how many more tasks ended with it since.
struct Repeated {
    kind: ErrorKind,
    message: String,
    more: u64,
}

impl Reporter {
    /// A reporter for `format`; `lines` maps indices to input lines for messages.
    pub fn new(format: Format, lines: Option<Arc<LineMap>>, display: Display) -> Reporter {
        let progress = Progress::new(display.bar, display.total, display.started);
        let eager = progress.visible() && io::stdout().is_terminal();
        Reporter {
            format,
            out: Stdout::with_capacity(OUT_CHUNK + 1024),
            eager,
            lines,
            program: false,
            style: Style::new(display.color, Stream::Stderr),
            joblog: None,
            resume: None,
            repeated: None,
            progress,
        }
    }

    /// Prints outcomes as a program's runs: in the `values` format each run's stdout as it
    /// is, its stderr as a block.
    pub fn for_program(mut self, program: bool) -> Reporter {
        self.program = program;
        self
    }

    /// Writes a joblog line for every task printed.
    pub fn with_joblog(mut self, joblog: Option<JobLog>) -> Reporter {
        self.joblog = joblog;
        self
    }

    /// Maps task indices of a resumed job back to input indices.
    pub fn with_resume(mut self, resume: Option<Arc<Resume>>) -> Reporter {
        self.resume = resume;
        self
    }

    /// How many tasks failed.
    pub fn failed(&self) -> u64 {
        self.progress.tally.failures()
    }

    /// How many tasks succeeded.
    pub fn succeeded(&self) -> u64 {
        self.progress.tally.ok
    }

    fn input_index(&self, index: TaskIndex) -> TaskIndex {
        match &self.resume {
            Some(resume) => TaskIndex(resume.input_index(index.0)),
            None => index,
        }
    }

    /// Prints one outcome.
    ///
    /// # Errors
    /// [`Stop`]: stdout is closed, or the joblog cannot be written.
    pub fn report(&mut self, outcome: &TaskOutcome) -> Result<(), Stop> {
        let index = self.input_index(outcome.index());
        // Most tasks print nothing: keep that case a comparison, not a call.
        if (!outcome.output().is_empty() || outcome.output_dropped() > 0)
            && let Some(output) =
                block::guest_output(index, outcome.output(), outcome.output_dropped())
        {
            self.write_block(&output)?;
        }
        if self.program
            && self.format == Format::Values
            && let Some(run) = outcome.program_run()
        {
            self.out.pending().extend_from_slice(run.stdout.as_bytes());
            self.write_block(run.stderr.as_bytes())?;
        }
        let failure = outcome.json().err().map(|e| e.kind());
        match outcome.json() {
            Ok(_) if self.program && self.format == Format::Values => {}
            Ok(value) => match self.format {
                Format::Values => {
                    let out = self.out.pending();
                    out.extend_from_slice(value.as_bytes());
                    out.push(b'\n');
                }
                Format::Jsonl => {
                    let line = match outcome.worker_pid() {
                        Some(pid) => {
                            format!("{{\"index\":{index},\"value\":{value},\"worker\":{pid}}}\n")
                        }
                        None => format!("{{\"index\":{index},\"value\":{value}}}\n"),
                    };
                    self.out.pending().extend_from_slice(line.as_bytes());
                }
            },
            Err(error) => {
                let mut message = error.message().to_string();
                if let (ErrorKind::BadInput, Some(lines)) = (error.kind(), &self.lines) {
                    message = format!(
                        "{message} (line {} of {})",
                        lines.line_of(index),
                        lines.name()
                    );
                }
                let format = self.format;
                match format {
                    Format::Values if self.repeats(error.kind(), &message)? => {}
                    Format::Values => {
                        let line = format!(
                            "{} {}: {message}\n",
                            self.style.bold(&format!("task {index}:")),
                            self.style.red(error.kind().as_str()),
                        );
                        self.write_block(line.as_bytes())?;
                    }
                    Format::Jsonl => {
                        let mut line = json!({
                            "index": index.0,
                            "error": {"kind": error.kind().as_str(), "message": message},
                        });
                        if let Some(value) = error
                            .value_json()
                            .and_then(|v| serde_json::from_str::<serde_json::Value>(v).ok())
                        {
                            line["value"] = value;
                        }
                        if let Some(pid) = outcome.worker_pid() {
                            line["worker"] = json!(pid);
                        }
                        self.out
                            .pending()
                            .extend_from_slice(format!("{line}\n").as_bytes());
                    }
                }
            }
        }
        if let Some(joblog) = &mut self.joblog {
            joblog.record(
                index.0,
                outcome.worker_pid(),
                outcome.duration(),
                failure.map(ErrorKind::as_str),
            );
        }
        self.progress.done(failure);
        if self.eager || self.out.pending_len() >= OUT_CHUNK {
            self.flush()?;
        }
        Ok(())
    }

    /// Whether this failure repeats the broker-wide one printed last (then it is only
    /// counted); otherwise remembers it, if it is one, after printing the count of the last.
    fn repeats(&mut self, kind: ErrorKind, message: &str) -> Result<bool, Stop> {
        if let Some(last) = &mut self.repeated
            && last.kind == kind
            && last.message == message
        {
            last.more += 1;
            return Ok(true);
        }
        self.print_repeats()?;
        if matches!(kind, ErrorKind::Refused | ErrorKind::BrokerLost) {
            self.repeated = Some(Repeated {
                kind,
                message: message.to_string(),
                more: 0,
            });
        }
        Ok(false)
    }

    /// Prints how many more tasks ended with the broker-wide failure printed last.
    fn print_repeats(&mut self) -> Result<(), Stop> {
        if let Some(last) = self.repeated.take()
            && last.more > 0
        {
            let line = format!(
                "mpwasm: {} more task{} failed with the same {} error\n",
                last.more,
                if last.more == 1 { "" } else { "s" },
                self.style.red(last.kind.as_str())
            );
            self.write_block(line.as_bytes())?;
        }
        Ok(())
    }

    /// Writes a block to stderr in one call, after the results printed so far (so stdout and
    /// stderr read in order on a terminal). A closed stdout does not stop the block.
    fn write_block(&mut self, block: &[u8]) -> Result<(), Stop> {
        if block.is_empty() {
            return Ok(());
        }
        if let Err(Stop::Failed(error)) = self.flush() {
            return Err(Stop::Failed(error));
        }
        self.progress.suspend(|| block::write_stderr(block));
        Ok(())
    }

    /// Writes the results so far to stdout, then their joblog lines (before waiting for more
    /// outcomes, and when the buffer is full).
    ///
    /// # Errors
    /// [`Stop`]: stdout is closed, or the joblog cannot be written.
    pub fn flush(&mut self) -> Result<(), Stop> {
        if self.out.pending_len() > 0 {
            let out = &mut self.out;
            self.progress.suspend(|| out.write_pending())?;
        }
        if let Some(joblog) = &mut self.joblog {
            joblog.flush().map_err(Stop::Failed)?;
        }
        Ok(())
    }

    /// Takes the bar down and prints the summary line (unless `quiet`).
    ///
    /// # Errors
    /// When the joblog cannot be written (a closed stdout is no error here).
    pub fn finish(&mut self, quiet: bool) -> anyhow::Result<()> {
        let flushed = self.print_repeats().and_then(|()| self.flush());
        if let Err(Stop::Failed(error)) = flushed {
            return Err(error);
        }
        self.progress.finish();
        if !quiet {
            let line = self
                .progress
                .tally
                .summary(self.progress.elapsed(), self.style);
            eprintln!("{line}");
        }
        Ok(())
    }
}
