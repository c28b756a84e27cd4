//! Feeds `run`'s inputs into a job from a thread of its own, so a slow input (a pipe) never
//! holds back printing. Inputs stream: a range is generated lazily, a JSON Lines, text or CSV
//! file is read line by line (row by row), and the job's window stops reading while too much is
//! in flight. Blank JSON Lines are skipped but remembered, so errors can name the real line
//! number; in a text file every line is an input, blank ones too. A resumed run (`--resume`)
//! reads every input but submits only those not done, remembering how job indices map back.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use compact_str::ToCompactString;
use std::sync::Arc;
use std::thread::JoinHandle;

use anyhow::{Context, Result};
use mpwasm::TaskIndex;
use mpwasm::pool::Submitter;
use serde_json::Value as Json;

use super::index_shift::IndexShift;
use super::joblog::Resume;
use crate::cli::settings::{InputSpec, IntRange};

/// Maps input indices back to line numbers of a JSON Lines or CSV input.
#[derive(Debug, Default)]
pub struct LineMap {
    /// Lines that are not inputs (blank lines, a header, rows spanning lines) before each.
    skips: IndexShift,
    /// The input's name for messages (`input.jsonl`, `stdin`).
    name: String,
}

impl LineMap {
    fn new(name: String) -> LineMap {
        LineMap {
            skips: IndexShift::default(),
            name,
        }
    }

    /// The 1-based line of input `index`.
    pub fn line_of(&self, index: TaskIndex) -> u64 {
        self.skips.apply(index.0) + 1
    }

    /// The input's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn record(&self, next_index: u64, skipped_total: u64) {
        self.skips.record(next_index, skipped_total);
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
    /// Rows of a CSV file.
    Csv {
        /// The reader.
        reader: Box<dyn Read + Send>,
        /// Line numbers for messages.
        lines: Arc<LineMap>,
        /// The first row names the columns.
        header: bool,
    },
}

/// Pushes inputs into the job, leaving out those a resumed run already did.
struct Feeder {
    submitter: Submitter,
    resume: Option<Arc<Resume>>,
    /// The index of the next input read.
    next_input: u64,
    skipped: u64,
    /// The job stopped taking inputs before the source ended.
    stopped: bool,
}

/// How feeding the job ended.
#[derive(Debug, Default)]
pub struct Fed {
    /// Why the input could not be read to its end, if it could not.
    pub error: Option<String>,
    /// The job stopped taking inputs (no input could be answered any more, or a signal)
    /// before the source ended.
    pub stopped: bool,
    /// How many inputs were read from the source (skipped ones included).
    pub read: u64,
}

/// Where a reader puts the inputs it reads: a job's submitter ([`Feeder`]), or a test's list.
pub(super) trait Sink {
    /// The index the next input offered gets.
    fn next_index(&self) -> u64;
    /// Takes the next input; `None` when no more are wanted (the consumer is gone).
    fn offer(&mut self, input: compact_str::CompactString) -> Option<()>;
    /// The reader may block next: whatever is held should go now.
    fn flush(&mut self);
}

impl Sink for Feeder {
    fn next_index(&self) -> u64 {
        self.next_input
    }

    fn offer(&mut self, input: compact_str::CompactString) -> Option<()> {
        Feeder::offer(self, input)
    }

    fn flush(&mut self) {
        self.submitter.flush();
    }
}

impl Feeder {
    /// Submits the next input (or skips it, when done); `None` when the consumer is gone.
    fn offer(&mut self, input: impl Into<compact_str::CompactString>) -> Option<()> {
        let index = self.next_input;
        self.next_input += 1;
        if let Some(resume) = &self.resume
            && resume.done.contains(&index)
        {
            self.skipped += 1;
            resume.record(self.submitter.submitted(), self.skipped);
            return Some(());
        }
        let pushed = self.submitter.push(input).map(|_| ());
        self.stopped |= pushed.is_none();
        pushed
    }
}

impl Source {
    /// Opens the input named by `spec`.
    ///
    /// # Errors
    /// When the file cannot be opened.
    pub fn open(spec: &InputSpec) -> Result<Source> {
        Ok(match spec {
            InputSpec::Range(range) => Source::Range(*range),
            InputSpec::Csv { path, header } => {
                let (reader, name) = open_reader(path.as_deref(), "--csv")?;
                Source::Csv {
                    reader,
                    lines: Arc::new(LineMap::new(name)),
                    header: *header,
                }
            }
            InputSpec::JsonLines(path) | InputSpec::TextLines(path) => {
                let text = matches!(spec, InputSpec::TextLines(_));
                let flag = if text { "--lines" } else { "--input" };
                let (reader, name) = open_reader(path.as_deref(), flag)?;
                Source::Lines {
                    reader,
                    lines: Arc::new(LineMap::new(name)),
                    text,
                }
            }
        })
    }

    /// Line numbers, for a file source.
    pub fn line_map(&self) -> Option<Arc<LineMap>> {
        match self {
            Source::Lines { lines, .. } | Source::Csv { lines, .. } => Some(Arc::clone(lines)),
            Source::Range(_) => None,
        }
    }

    /// How many inputs there are, when known without reading them (a range).
    pub fn len(&self) -> Option<u64> {
        match self {
            Source::Range(range) => Some(range.len()),
            _ => None,
        }
    }

    /// Starts feeding `submitter` on a new thread, leaving out what `resume` says is done; the
    /// thread says how it ended.
    pub fn feed(self, submitter: Submitter, resume: Option<Arc<Resume>>) -> JoinHandle<Fed> {
        let mut feeder = Feeder {
            submitter,
            resume,
            next_input: 0,
            skipped: 0,
            stopped: false,
        };
        std::thread::spawn(move || {
            let error = match self {
                // Steps of one, nothing to skip: the integers go as ranges.
                Source::Range(range) if range.step == 1 && feeder.resume.is_none() => {
                    let count = range.len();
                    let added = feeder.submitter.push_range(range.start, count);
                    feeder.stopped = added < count;
                    // As one by one: the input that found the job closed counts as read
                    // (`Fed::read` takes it off again).
                    feeder.next_input += added + u64::from(feeder.stopped);
                    None
                }
                Source::Range(range) => {
                    for value in range.values() {
                        if feeder.offer(value.to_compact_string()).is_none() {
                            break;
                        }
                    }
                    None
                }
                Source::Lines {
                    reader,
                    lines,
                    text,
                } => feed_lines(reader, &lines, text, &mut feeder),
                Source::Csv {
                    reader,
                    lines,
                    header,
                } => feed_csv(reader, &lines, header, &mut feeder),
            };
            feeder.submitter.finish();
            Fed {
                error,
                // The pushed input that found the job closed was not taken.
                read: feeder.next_input - u64::from(feeder.stopped),
                stopped: feeder.stopped,
            }
        })
    }
}

/// How many inputs a file source holds, counted by reading the file once more (for the
/// progress bar's total, on a thread of its own); `None` for stdin, a range or a read error.
/// CSV rows are counted as lines, so a quoted line break counts twice.
pub fn count_inputs(spec: &InputSpec) -> Option<u64> {
    let (path, blank_counts, header) = match spec {
        InputSpec::JsonLines(Some(p)) => (p, false, false),
        InputSpec::TextLines(Some(p)) => (p, true, false),
        InputSpec::Csv {
            path: Some(p),
            header,
        } => (p, false, *header),
        _ => return None,
    };
    if path == Path::new("-") || !path.is_file() {
        return None;
    }
    let mut file = File::open(path).ok()?;
    let mut buf = vec![0u8; 256 * 1024];
    let (mut count, mut in_line, mut content) = (0u64, false, false);
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return None,
        };
        for &b in &buf[..n] {
            if b == b'\n' {
                if blank_counts || content {
                    count += 1;
                }
                (in_line, content) = (false, false);
            } else {
                in_line = true;
                content |= !b.is_ascii_whitespace();
            }
        }
    }
    if in_line && (blank_counts || content) {
        count += 1;
    }
    Some(count.saturating_sub(u64::from(header)))
}

/// Counts a file source's inputs on a thread of its own and hands `set` the count less the
/// `done` ones a resumed run skips, so the progress bar gets its total and an ETA without
/// holding up the run. Nothing happens for stdin or a read error.
pub fn count_in_background(spec: &InputSpec, done: u64, set: impl FnOnce(u64) + Send + 'static) {
    let spec = spec.clone();
    std::thread::spawn(move || {
        if let Some(n) = count_inputs(&spec) {
            set(n.saturating_sub(done));
        }
    });
}

/// Opens a file, or stdin for `-` or no path.
fn open_reader(path: Option<&Path>, flag: &str) -> Result<(Box<dyn Read + Send>, String)> {
    Ok(match path {
        Some(p) if p != Path::new("-") => (
            Box::new(File::open(p).with_context(|| format!("cannot open {flag} {}", p.display()))?),
            p.display().to_string(),
        ),
        _ => (Box::new(io::stdin()), "stdin".to_string()),
    })
}

/// A CSV field as JSON: a number or `true`/`false` when it reads as one, else a string.
pub(super) fn csv_field(field: &str) -> Json {
    let trimmed = field.trim();
    if let Ok(number) = trimmed.parse::<serde_json::Number>() {
        return Json::Number(number);
    }
    match trimmed {
        "true" => Json::Bool(true),
        "false" => Json::Bool(false),
        _ => Json::String(field.to_string()),
    }
}

/// Reads CSV rows from `reader` into `feeder`, each a JSON array (or an object when `header`
/// names the columns); returns why reading stopped early, if it did.
pub(super) fn feed_csv(
    reader: Box<dyn Read + Send>,
    lines: &LineMap,
    header: bool,
    feeder: &mut impl Sink,
) -> Option<String> {
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(header)
        .from_reader(BufReader::with_capacity(64 * 1024, reader));
    let names: Vec<String> = if header {
        match csv.headers() {
            Ok(names) => names.iter().map(str::to_string).collect(),
            Err(e) => {
                return Some(format!(
                    "cannot read the CSV header of {}: {e}",
                    lines.name()
                ));
            }
        }
    } else {
        Vec::new()
    };
    let mut record = csv::StringRecord::new();
    let mut shift = 0u64;
    loop {
        feeder.flush();
        match csv.read_record(&mut record) {
            Ok(false) => return None,
            Ok(true) => {}
            Err(e) => return Some(format!("error reading CSV {}: {e}", lines.name())),
        }
        let index = feeder.next_index();
        // The row's line, for messages: rows may span lines (quoted line breaks).
        if let Some(line) = record.position().map(|p| p.line())
            && line.saturating_sub(1 + index) != shift
        {
            shift = line.saturating_sub(1 + index);
            lines.record(index, shift);
        }
        let value = if header {
            Json::Object(
                names
                    .iter()
                    .cloned()
                    .zip(record.iter().map(csv_field))
                    .collect(),
            )
        } else {
            Json::Array(record.iter().map(csv_field).collect())
        };
        feeder.offer(value.to_string().into())?;
    }
}

/// Reads lines from `reader` into `feeder`: each non-blank one as JSON text, or each one as a
/// JSON string when `text_lines`; returns why reading stopped early, if it did.
pub(super) fn feed_lines(
    reader: Box<dyn Read + Send>,
    lines: &LineMap,
    text_lines: bool,
    feeder: &mut impl Sink,
) -> Option<String> {
    let mut reader = BufReader::with_capacity(64 * 1024, reader);
    let mut line = Vec::new();
    let mut skipped = 0u64;
    let mut number = 0u64;
    loop {
        if reader.buffer().is_empty() {
            // The next read may block (a pipe): let what we have run meanwhile.
            feeder.flush();
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
            feeder.offer(input.into())?;
            continue;
        }
        let text = match std::str::from_utf8(&line) {
            Ok(t) => t.trim().to_string(),
            // Not UTF-8, so not JSON: send it as text the worker rejects as invalid JSON.
            Err(_) => format!("invalid UTF-8 in line {number}"),
        };
        if text.is_empty() {
            skipped += 1;
            lines.record(feeder.next_index(), skipped);
            continue;
        }
        // `None`: the consumer is gone, so stop reading; there is no read error to report.
        feeder.offer(text.into())?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_are_counted_as_they_are_read() {
        let path = std::env::temp_dir().join(format!("mpwasm-count-{}", std::process::id()));
        std::fs::write(&path, "1\n\n  \n2\n3").expect("written");
        let json = InputSpec::JsonLines(Some(path.clone()));
        assert_eq!(count_inputs(&json), Some(3));
        let text = InputSpec::TextLines(Some(path.clone()));
        assert_eq!(count_inputs(&text), Some(5));
        let csv = InputSpec::Csv {
            path: Some(path.clone()),
            header: true,
        };
        assert_eq!(count_inputs(&csv), Some(2));
        assert_eq!(count_inputs(&InputSpec::JsonLines(None)), None);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn csv_fields_become_numbers_booleans_or_strings() {
        assert_eq!(csv_field("42"), serde_json::json!(42));
        assert_eq!(csv_field(" -1.5 "), serde_json::json!(-1.5));
        assert_eq!(csv_field("true"), serde_json::json!(true));
        assert_eq!(csv_field("Ada"), serde_json::json!("Ada"));
        assert_eq!(csv_field("12abc"), serde_json::json!("12abc"));
    }

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
