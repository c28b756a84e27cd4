//! `--joblog PATH` and `--resume`, after GNU parallel: one tab-separated line per task as its
//! result is printed (`index worker start seconds outcome kind`), and a resumed run that skips
//! the inputs a joblog records as `ok`.
//!
//! A line is written only after the task's result reached stdout, so an interrupted run's
//! output followed by the resumed run's output holds every result exactly once: a task that
//! finished but whose result was still waiting for earlier ones (ordered output) is not in the
//! log, and runs again.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use std::sync::Arc;

use anyhow::{Context, Result, bail};

use super::index_shift::IndexShift;
use crate::cli::settings::JobLogSettings;

/// The first line of a joblog.
pub const HEADER: &str = "index\tworker\tstart\tseconds\toutcome\tkind";

/// An open joblog: lines are collected, then written after the results they describe.
pub struct JobLog {
    path: PathBuf,
    file: File,
    pending: String,
}

impl JobLog {
    /// Opens `path` for appending (writing the header into a new or empty file).
    ///
    /// # Errors
    /// When the file cannot be opened or written.
    pub fn open(path: &Path) -> Result<JobLog> {
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open the joblog {}", path.display()))?;
        let empty = file.metadata().map(|m| m.len() == 0).unwrap_or(true);
        if empty {
            writeln!(file, "{HEADER}")
                .with_context(|| format!("cannot write the joblog {}", path.display()))?;
        } else if !ends_with_newline(path) {
            // A line cut by a crash or a full disk: end it, so that it stays a line of its
            // own (read back as not done) instead of running into the first new one.
            writeln!(file)
                .with_context(|| format!("cannot write the joblog {}", path.display()))?;
        }
        Ok(JobLog {
            path: path.to_path_buf(),
            file,
            pending: String::new(),
        })
    }

    /// Records a task whose result is about to be printed.
    pub fn record(
        &mut self,
        index: u64,
        worker: Option<u32>,
        duration: Option<Duration>,
        failure: Option<&str>,
    ) {
        let now = SystemTime::now();
        let ran = duration.unwrap_or_default();
        let start = now
            .checked_sub(ran)
            .unwrap_or(now)
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let worker = worker.map_or_else(|| "-".to_string(), |p| p.to_string());
        let seconds =
            duration.map_or_else(|| "-".to_string(), |d| format!("{:.6}", d.as_secs_f64()));
        let (outcome, kind) = match failure {
            None => ("ok", "-"),
            Some(kind) => ("failed", kind),
        };
        self.pending.push_str(&format!(
            "{index}\t{worker}\t{:.3}\t{seconds}\t{outcome}\t{kind}\n",
            start.as_secs_f64()
        ));
    }

    /// Writes the recorded lines (call right after the results reached stdout).
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn flush(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let bytes = self.pending.as_bytes();
        let mut written = 0;
        while written < bytes.len() {
            let error = match self.file.write(&bytes[written..]) {
                Ok(0) => std::io::Error::from(std::io::ErrorKind::WriteZero),
                Ok(n) => {
                    written += n;
                    continue;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => e,
            };
            // A line the disk cut is not read back as done: only whole lines count.
            let whole = bytes[..written].iter().filter(|&&b| b == b'\n').count();
            let unrecorded = self.pending.lines().count() - whole;
            return Err(error).with_context(|| {
                format!(
                    "cannot write the joblog {} (the last {unrecorded} results printed are not \
                     recorded in it, so a --resume runs them again)",
                    self.path.display(),
                )
            });
        }
        self.pending.clear();
        Ok(())
    }
}

/// Whether the file at `path` ends with a newline (or cannot be read back, which the next
/// write will report).
fn ends_with_newline(path: &Path) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut file) = File::open(path) else {
        return true;
    };
    let mut last = [0u8; 1];
    match file.seek(SeekFrom::End(-1)) {
        Ok(_) => file.read_exact(&mut last).is_err() || last[0] == b'\n',
        Err(_) => true,
    }
}

/// Opens `--joblog PATH` for appending and, with `--resume`, reads which inputs it records as
/// done (first, before anything is appended).
///
/// # Errors
/// When the joblog cannot be read, is not a joblog, or cannot be opened for writing.
pub fn open(settings: Option<&JobLogSettings>) -> Result<(Option<JobLog>, Option<Arc<Resume>>)> {
    let Some(settings) = settings else {
        return Ok((None, None));
    };
    let resume = match settings.resume {
        true => Some(Arc::new(Resume::new(done_indices(&settings.path)?))),
        false => None,
    };
    Ok((Some(JobLog::open(&settings.path)?), resume))
}

/// The indices a joblog records as `ok`.
///
/// # Errors
/// When the file cannot be read, or a line is not a joblog line.
pub fn done_indices(path: &Path) -> Result<BTreeSet<u64>> {
    let file = match File::open(path) {
        Ok(file) => file,
        // Nothing ran yet: resume runs everything.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeSet::new()),
        Err(e) => {
            return Err(e).with_context(|| format!("cannot read the joblog {}", path.display()));
        }
    };
    let mut done = BTreeSet::new();
    for (number, line) in BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("cannot read the joblog {}", path.display()))?;
        if line == HEADER || line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        let index = fields.first().and_then(|f| f.parse::<u64>().ok());
        match (index, fields.get(4)) {
            // Only a whole line counts: one cut after its `ok` did not.
            (Some(index), Some(&"ok")) if fields.len() == 6 => {
                done.insert(index);
            }
            (Some(_), Some(_)) => {}
            // A line cut by a crash mid-write is the last one: it did not count.
            _ if number > 0 => {}
            _ => bail!(
                "{} is not an mpwasm joblog (line {}: {line:?})",
                path.display(),
                number + 1
            ),
        }
    }
    Ok(done)
}

/// Maps a resumed job's task indices back to the input's indices: the job only holds the
/// inputs that were not done.
#[derive(Debug, Default)]
pub struct Resume {
    /// The inputs to skip.
    pub done: BTreeSet<u64>,
    /// Inputs skipped before each job index.
    shifts: IndexShift,
}

impl Resume {
    /// Skips the inputs in `done`.
    pub fn new(done: BTreeSet<u64>) -> Resume {
        Resume {
            done,
            shifts: IndexShift::default(),
        }
    }

    /// Notes that `skipped_total` inputs were skipped before job index `next_job_index`.
    pub fn record(&self, next_job_index: u64, skipped_total: u64) {
        self.shifts.record(next_job_index, skipped_total);
    }

    /// The input index of job index `job_index`.
    pub fn input_index(&self, job_index: u64) -> u64 {
        self.shifts.apply(job_index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resume_maps_job_indices_to_input_indices() {
        // Inputs 0..8, done: 1, 2, 5. Job indices: 0→0, 1→3, 2→4, 3→6, 4→7.
        let resume = Resume::new([1, 2, 5].into_iter().collect());
        resume.record(1, 2);
        resume.record(3, 3);
        let mapped: Vec<u64> = (0..5).map(|j| resume.input_index(j)).collect();
        assert_eq!(mapped, [0, 3, 4, 6, 7]);
    }

    #[test]
    fn done_indices_are_read_back() {
        let path = std::env::temp_dir().join(format!("mpwasm-joblog-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let mut log = JobLog::open(&path).expect("opens");
        log.record(0, Some(7), Some(Duration::from_millis(2)), None);
        log.record(1, Some(7), None, Some("timeout"));
        log.record(3, None, None, None);
        log.flush().expect("writes");
        drop(log);
        // A second open appends without a second header.
        JobLog::open(&path).expect("reopens");
        let done = done_indices(&path).expect("reads");
        assert_eq!(done.into_iter().collect::<Vec<_>>(), [0, 3]);
        let text = std::fs::read_to_string(&path).expect("readable");
        assert_eq!(text.matches(HEADER).count(), 1);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn a_cut_last_line_stays_a_line_of_its_own() {
        let path = std::env::temp_dir().join(format!("mpwasm-joblog-cut-{}", std::process::id()));
        // A full disk cut the line of input 12 after its `ok`.
        std::fs::write(
            &path,
            format!("{HEADER}\n4\t7\t1.0\t0.1\tok\t-\n12\t7\t1.0\t0.1\tok"),
        )
        .expect("writes");
        let mut log = JobLog::open(&path).expect("reopens");
        log.record(9, Some(7), None, None);
        log.flush().expect("writes");
        drop(log);
        let done = done_indices(&path).expect("reads");
        assert_eq!(done.into_iter().collect::<Vec<_>>(), [4, 9]);
        let text = std::fs::read_to_string(&path).expect("readable");
        assert!(text.contains("\tok\n9\t7\t"), "{text}");
        let _ = std::fs::remove_file(&path);
    }
}
