//! Prints outcomes: results to stdout (values or jsonl), failures and each task's captured
//! guest output to stderr as one block per task, never interleaved with another task's.
//! For a program (command mode), the `values` format prints each run's own stdout as it is
//! and its stderr as the block. Counts failures for the exit status. A closed stdout
//! (`| head`) ends the run quietly.

use std::io::{self, BufWriter, Stderr, Stdout, Write};
use std::sync::Arc;

use mpwasm::{ErrorKind, TaskOutcome};
use serde_json::json;

use super::args::Format;
use super::inputs::LineMap;

/// A program run's value.
#[derive(serde::Deserialize)]
struct ProgramRun {
    stdout: String,
    stderr: String,
}

/// Writes outcomes as they come.
pub struct Reporter {
    format: Format,
    out: BufWriter<Stdout>,
    err: Stderr,
    lines: Option<Arc<LineMap>>,
    program: bool,
    /// How many tasks failed.
    pub failed: u64,
    /// How many tasks succeeded.
    pub succeeded: u64,
}

impl Reporter {
    /// A reporter for `format`; `lines` maps indices to input lines for messages.
    pub fn new(format: Format, lines: Option<Arc<LineMap>>) -> Reporter {
        Reporter {
            format,
            out: BufWriter::with_capacity(64 * 1024, io::stdout()),
            err: io::stderr(),
            lines,
            program: false,
            failed: 0,
            succeeded: 0,
        }
    }

    /// Prints outcomes as a program's runs: in the `values` format each run's stdout as it
    /// is, its stderr as a block.
    pub fn for_program(mut self, program: bool) -> Reporter {
        self.program = program;
        self
    }

    /// Prints one outcome. An error means stdout is closed: stop the run.
    pub fn report(&mut self, outcome: &TaskOutcome) -> io::Result<()> {
        self.write_output_block(outcome);
        let index = outcome.index();
        if self.program && self.format == Format::Values {
            let run = match outcome.json() {
                Ok(value) => Some(value),
                Err(error) => error.value_json(),
            };
            if let Some(run) = run.and_then(|r| serde_json::from_str::<ProgramRun>(r).ok()) {
                self.out.write_all(run.stdout.as_bytes())?;
                self.write_block(run.stderr.as_bytes());
            }
        }
        match outcome.json() {
            Ok(_) if self.program && self.format == Format::Values => {
                self.succeeded += 1;
                Ok(())
            }
            Ok(value) => {
                self.succeeded += 1;
                match self.format {
                    Format::Values => writeln!(self.out, "{value}"),
                    Format::Jsonl => match outcome.worker_pid() {
                        Some(pid) => {
                            writeln!(
                                self.out,
                                "{{\"index\":{index},\"value\":{value},\"worker\":{pid}}}"
                            )
                        }
                        None => writeln!(self.out, "{{\"index\":{index},\"value\":{value}}}"),
                    },
                }
            }
            Err(error) => {
                self.failed += 1;
                let mut message = error.message().to_string();
                if let (ErrorKind::BadInput, Some(lines)) = (error.kind(), &self.lines) {
                    message = format!(
                        "{message} (line {} of {})",
                        lines.line_of(index),
                        lines.name()
                    );
                }
                match self.format {
                    Format::Values => {
                        let _ = writeln!(self.err, "task {index}: {}: {message}", error.kind());
                        Ok(())
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
                        writeln!(self.out, "{line}")
                    }
                }
            }
        }
    }

    fn write_output_block(&mut self, outcome: &TaskOutcome) {
        let output = outcome.output();
        let dropped = outcome.output_dropped();
        if output.is_empty() && dropped == 0 {
            return;
        }
        let mut block = Vec::with_capacity(output.len() + 100);
        block.extend_from_slice(output);
        if !block.is_empty() && !block.ends_with(b"\n") {
            block.push(b'\n');
        }
        if dropped > 0 {
            block.extend_from_slice(
                format!(
                    "[mpwasm: task {}: output cut, {dropped} more bytes dropped (--output-limit)]\n",
                    outcome.index()
                )
                .as_bytes(),
            );
        }
        self.write_block(&block);
    }

    /// Writes a block to stderr in one call, after the results printed so far.
    fn write_block(&mut self, block: &[u8]) {
        if block.is_empty() {
            return;
        }
        // Results printed so far go first, so stdout and stderr read in order on a terminal.
        let _ = self.out.flush();
        // One write call per block: blocks never interleave.
        let mut err = self.err.lock();
        let _ = err.write_all(block);
        if !block.ends_with(b"\n") {
            let _ = err.write_all(b"\n");
        }
        let _ = err.flush();
    }

    /// Flushes stdout (before waiting for more outcomes).
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
