//! Feeds `run`'s inputs into a job from a thread of its own, so a slow input (a pipe) never
//! holds back printing. Inputs stream: a range is generated lazily, a JSON Lines or text file
//! is read line by line, and the job's window stops reading while too much is in flight. Blank
//! JSON Lines are skipped but remembered, so errors can name the real line number; in a text
//! file every line is an input, blank ones too.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use compact_str::ToCompactString;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use anyhow::{Context, Result};
use mpwasm::TaskIndex;
use mpwasm::pool::Submitter;
use serde_json::Value as Json;

use super::settings::{InputSpec, IntRange};

/// Maps task indices back to line numbers of a JSON Lines input.
#[derive(Debug, Default)]
pub struct LineMap {
    /// `(first index after a run of skipped lines, lines skipped before it in total)`.
    skips: Mutex<Vec<(u64, u64)>>,
    /// The input's name for messages (`input.jsonl`, `stdin`).
    name: String,
}

impl LineMap {
    /// The 1-based line of task `index`.
    pub fn line_of(&self, index: TaskIndex) -> u64 {
        let skips = self.skips.lock().unwrap_or_else(|p| p.into_inner());
        let at = skips.partition_point(|(i, _)| *i <= index.0);
        let skipped = if at == 0 { 0 } else { skips[at - 1].1 };
        index.0 + 1 + skipped
    }

    /// The input's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn record(&self, next_index: u64, skipped_total: u64) {
        let mut skips = self.skips.lock().unwrap_or_else(|p| p.into_inner());
        match skips.last_mut() {
            Some(last) if last.0 == next_index => last.1 = skipped_total,
            _ => skips.push((next_index, skipped_total)),
        }
    }
}

/// An opened input source, before feeding starts (so a missing file is an error up front).
pub enum Source {
    /// A range of integers.
    Range(IntRange),
    /// Lines from a reader.
    Lines {
        /// The reader.
        reader: Box<dyn Read + Send>,
        /// Line numbers for messages.
        lines: Arc<LineMap>,
        /// Each line is text to pass as a string (`--lines`), not JSON (`--input`).
        text: bool,
    },
}

impl Source {
    /// Opens the input named by `spec`.
    ///
    /// # Errors
    /// When the file cannot be opened.
    pub fn open(spec: &InputSpec) -> Result<Source> {
        Ok(match spec {
            InputSpec::Range(range) => Source::Range(*range),
            InputSpec::JsonLines(path) | InputSpec::TextLines(path) => {
                let text = matches!(spec, InputSpec::TextLines(_));
                let flag = if text { "--lines" } else { "--input" };
                let (reader, name): (Box<dyn Read + Send>, String) = match path {
                    Some(p) if p != Path::new("-") => (
                        Box::new(
                            File::open(p)
                                .with_context(|| format!("cannot open {flag} {}", p.display()))?,
                        ),
                        p.display().to_string(),
                    ),
                    _ => (Box::new(io::stdin()), "stdin".to_string()),
                };
                Source::Lines {
                    reader,
                    lines: Arc::new(LineMap {
                        skips: Mutex::new(Vec::new()),
                        name,
                    }),
                    text,
                }
            }
        })
    }

    /// Line numbers, for a JSON Lines source.
    pub fn line_map(&self) -> Option<Arc<LineMap>> {
        match self {
            Source::Lines { lines, .. } => Some(Arc::clone(lines)),
            Source::Range(_) => None,
        }
    }

    /// Starts feeding `submitter` on a new thread; the thread returns a read error, if any.
    pub fn feed(self, mut submitter: Submitter) -> JoinHandle<Option<String>> {
        std::thread::spawn(move || match self {
            Source::Range(range) => {
                for value in range.values() {
                    if submitter.push(value.to_compact_string()).is_none() {
                        break;
                    }
                }
                submitter.finish();
                None
            }
            Source::Lines {
                reader,
                lines,
                text,
            } => {
                let error = feed_lines(reader, &lines, text, &mut submitter);
                submitter.finish();
                error
            }
        })
    }
}

fn feed_lines(
    reader: Box<dyn Read + Send>,
    lines: &LineMap,
    text_lines: bool,
    submitter: &mut Submitter,
) -> Option<String> {
    let mut reader = BufReader::with_capacity(64 * 1024, reader);
    let mut line = Vec::new();
    let mut skipped = 0u64;
    let mut number = 0u64;
    loop {
        if reader.buffer().is_empty() {
            // The next read may block (a pipe): let what we have run meanwhile.
            submitter.flush();
        }
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) => return None,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Some(format!(
                    "error reading {} after line {number}: {e}",
                    lines.name()
                ));
            }
        }
        number += 1;
        if text_lines {
            let input = match std::str::from_utf8(&line) {
                Ok(t) => {
                    let t = t.strip_suffix('\n').unwrap_or(t);
                    let t = t.strip_suffix('\r').unwrap_or(t);
                    Json::String(t.to_owned()).to_string()
                }
                // Not UTF-8, so no string: send text the worker rejects as invalid input.
                Err(_) => format!("invalid UTF-8 in line {number}"),
            };
            submitter.push(input)?;
            continue;
        }
        let text = match std::str::from_utf8(&line) {
            Ok(t) => t.trim().to_string(),
            // Not UTF-8, so not JSON: send it as text the worker rejects as invalid JSON.
            Err(_) => format!("invalid UTF-8 in line {number}"),
        };
        if text.is_empty() {
            skipped += 1;
            lines.record(submitter.submitted(), skipped);
            continue;
        }
        // `None`: the consumer is gone, so stop reading; there is no read error to report.
        submitter.push(text)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_numbers_skip_blank_lines() {
        let map = LineMap::default();
        // lines: 1 task0, 2 blank, 3 blank, 4 task1, 5 blank, 6 task2
        map.record(1, 2);
        map.record(2, 3);
        assert_eq!(map.line_of(TaskIndex(0)), 1);
        assert_eq!(map.line_of(TaskIndex(1)), 4);
        assert_eq!(map.line_of(TaskIndex(2)), 6);
    }
}
