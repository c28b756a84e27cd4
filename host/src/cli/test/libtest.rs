//! What mpwasm needs to know about libtest, Rust's test harness: the arguments that list tests
//! and run one, how to read `--list`, which tests a filter selects, and how one run's outcome
//! becomes a test status.

use std::time::Duration;

use mpwasm::{ErrorKind, TaskOutcome};
use serde_json::{Value, json};

/// Why a `#[should_panic]` test is skipped: libtest skips them itself on every wasm target but
/// Emscripten (a compile-time `cfg!(target_family = "wasm")` in its `run_test`), whatever the
/// panic strategy the binary was built with.
pub const SHOULD_PANIC_REASON: &str = "#[should_panic] tests cannot run on wasm: libtest skips \
     them on every wasm target but Emscripten, whatever the panic strategy";

/// One test of a binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestCase {
    /// Its full name, `tests::adds`.
    pub name: String,
    /// Marked `#[ignore]`.
    pub ignored: bool,
}

/// The input that lists a binary's tests (all, or only the ignored ones).
pub fn list_input(ignored: bool) -> Value {
    if ignored {
        json!(["--list", "--ignored"])
    } else {
        json!(["--list"])
    }
}

/// The input that runs exactly one test, in this thread, with its output on stdout and stderr
/// (a panic aborts the instance, so libtest's own capture would lose the message).
pub fn run_input(test: &TestCase) -> String {
    let mut args = vec![
        json!("--exact"),
        json!(test.name),
        json!("--nocapture"),
        json!("--test-threads=1"),
    ];
    if test.ignored {
        args.push(json!("--include-ignored"));
    }
    Value::Array(args).to_string()
}

/// The test names in `--list` output (`NAME: test` lines; benchmarks are left out).
pub fn parse_list(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter_map(|line| line.strip_suffix(": test"))
        .map(str::to_string)
        .collect()
}

/// Which tests to run, as libtest's own arguments select them.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Name filters: a test matches if its name contains one (equals one with `exact`).
    pub filters: Vec<String>,
    /// Tests whose name contains one of these (equals, with `exact`) are left out.
    pub skip: Vec<String>,
    /// Filters and skips match whole names.
    pub exact: bool,
    /// Run only the ignored tests.
    pub ignored_only: bool,
    /// Run the ignored tests too.
    pub include_ignored: bool,
}

impl Selection {
    fn matches(&self, pattern: &str, name: &str) -> bool {
        if self.exact {
            name == pattern
        } else {
            name.contains(pattern)
        }
    }

    /// Whether the filters select `test` at all (ignored or not).
    pub fn selects(&self, test: &TestCase) -> bool {
        (self.filters.is_empty() || self.filters.iter().any(|f| self.matches(f, &test.name)))
            && !self.skip.iter().any(|s| self.matches(s, &test.name))
    }

    /// Whether a selected test runs, or is skipped as ignored.
    pub fn runs(&self, test: &TestCase) -> bool {
        if self.ignored_only {
            test.ignored
        } else {
            self.include_ignored || !test.ignored
        }
    }
}

/// How a test ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// It passed.
    Pass,
    /// It failed: an assertion, a panic, an `Err` returned, a trap.
    Fail,
    /// It ran past `--timeout`.
    Timeout,
    /// It tried to grow past `--memory`.
    Memory,
    /// It did not run, for this reason.
    Skip(String),
}

/// A test run's verdict with what it printed.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// How it ended.
    pub status: Status,
    /// Why it failed, in mpwasm's words (empty when it passed).
    pub reason: String,
    /// Its stdout, or for a run stopped before its end everything it printed.
    pub stdout: String,
    /// Its stderr.
    pub stderr: String,
    /// How long it ran.
    pub duration: Duration,
    /// The process id of the worker that ran it.
    pub worker: Option<u32>,
}

/// Judges one run of `test` from its outcome.
pub fn judge(test: &TestCase, outcome: &TaskOutcome) -> Verdict {
    let duration = outcome.duration().unwrap_or_default();
    let run = outcome.program_run();
    let verdict = |status, reason: String, stdout, stderr| Verdict {
        status,
        reason,
        stdout,
        stderr,
        duration,
        worker: outcome.worker_pid(),
    };
    match (outcome.json(), run) {
        (Err(error), Some(run)) if run.exit.is_none() => {
            let status = match error.kind() {
                ErrorKind::Timeout => Status::Timeout,
                ErrorKind::MemoryLimit => Status::Memory,
                _ => Status::Fail,
            };
            let message = error.message();
            let reason = match message.strip_prefix("the task panicked: ") {
                Some(panic) => format!("the test panicked: {panic}"),
                None => format!("{}: {message}", error.kind()),
            };
            verdict(status, reason, run.stdout, run.stderr)
        }
        (_, Some(run)) => {
            let summary = summary(&run.stdout);
            let (status, reason) = match (run.exit.unwrap_or(-1), summary) {
                (0, Some(counts)) if counts.passed == 1 => (Status::Pass, String::new()),
                (0, Some(counts)) if counts.ignored == 1 => {
                    let reason = if run
                        .stdout
                        .contains(&format!("test {} - should panic ... ", test.name))
                    {
                        SHOULD_PANIC_REASON.to_string()
                    } else {
                        "ignored".to_string()
                    };
                    (Status::Skip(reason.clone()), reason)
                }
                (0, _) => (
                    Status::Fail,
                    "libtest exited successfully but did not report the test as passed (was it \
                     renamed or removed?)"
                        .to_string(),
                ),
                (code, _) => (
                    Status::Fail,
                    format!("the test failed (the test binary exited with status {code})"),
                ),
            };
            verdict(status, reason, run.stdout, run.stderr)
        }
        (Err(error), None) => {
            let status = match error.kind() {
                ErrorKind::Timeout => Status::Timeout,
                ErrorKind::MemoryLimit => Status::Memory,
                _ => Status::Fail,
            };
            let output = String::from_utf8_lossy(outcome.output()).into_owned();
            verdict(
                status,
                format!("{}: {}", error.kind(), error.message()),
                output,
                String::new(),
            )
        }
        (Ok(value), None) => verdict(
            Status::Fail,
            format!("unreadable result from the test run: {value}"),
            String::new(),
            String::new(),
        ),
    }
}

/// The counts of libtest's closing `test result: ok. 1 passed; 0 failed; 0 ignored; ...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Counts {
    passed: u64,
    ignored: u64,
}

/// Reads libtest's closing line. (Its per-test `test NAME ... ok` line cannot be trusted:
/// with `--nocapture` the test's own output lands between the name and the word.)
fn summary(stdout: &str) -> Option<Counts> {
    let line = stdout
        .lines()
        .rev()
        .find_map(|line| line.strip_prefix("test result: "))?;
    let mut counts = Counts::default();
    for part in line.split(';') {
        let mut words = part.split_whitespace().rev();
        let (Some(what), Some(n)) = (words.next(), words.next()) else {
            continue;
        };
        let Ok(n) = n.parse::<u64>() else { continue };
        match what {
            "passed" => counts.passed = n,
            "ignored" => counts.ignored = n,
            _ => {}
        }
    }
    Some(counts)
}

/// The crate's name from a test binary's file name: `my_crate-0123456789abcdef.wasm` gives
/// `my_crate`.
pub fn crate_name(file_name: &str) -> String {
    let stem = file_name.strip_suffix(".wasm").unwrap_or(file_name);
    match stem.rsplit_once('-') {
        Some((name, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            name.to_string()
        }
        _ => stem.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_names() {
        let list = "a::b: test\nbench_x: benchmark\nc: test\n\n2 tests, 1 benchmark\n";
        assert_eq!(parse_list(list), ["a::b", "c"]);
        assert_eq!(crate_name("my_crate-0123456789abcdef.wasm"), "my_crate");
        assert_eq!(crate_name("plain.wasm"), "plain");
        assert_eq!(crate_name("has-dash-xyz.wasm"), "has-dash-xyz");
    }

    #[test]
    fn selection_follows_libtest() {
        let test = |name: &str, ignored| TestCase {
            name: name.into(),
            ignored,
        };
        let mut s = Selection {
            filters: vec!["add".into()],
            ..Selection::default()
        };
        assert!(s.selects(&test("tests::adds", false)));
        assert!(!s.selects(&test("tests::subs", false)));
        s.exact = true;
        assert!(!s.selects(&test("tests::adds", false)));
        s.filters = vec!["tests::adds".into()];
        assert!(s.selects(&test("tests::adds", false)));
        let s = Selection {
            skip: vec!["slow".into()],
            ..Selection::default()
        };
        assert!(!s.selects(&test("slow_one", false)));
        assert!(s.runs(&test("x", false)) && !s.runs(&test("x", true)));
        let only = Selection {
            ignored_only: true,
            ..Selection::default()
        };
        assert!(!only.runs(&test("x", false)) && only.runs(&test("x", true)));
    }

    #[test]
    fn summaries() {
        let out = "\nrunning 1 test\ntest a::b ... hi\nok\n\ntest result: ok. 1 passed; 0 failed; \
                   0 ignored; 0 measured; 11 filtered out; finished in 0.00s\n";
        assert_eq!(
            summary(out),
            Some(Counts {
                passed: 1,
                ignored: 0
            })
        );
        let ignored = "test result: ok. 0 passed; 0 failed; 1 ignored; 0 measured";
        assert_eq!(summary(ignored).map(|c| c.ignored), Some(1));
        assert_eq!(summary("running 1 test\ntest a ... "), None);
    }
}
