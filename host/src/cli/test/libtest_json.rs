//! `--message-format libtest-json`: the events of a run as libtest's own JSON output
//! (`cargo test -- -Z unstable-options --format json`) writes them, one object per line, so
//! tools that read that stream read mpwasm's. Per binary: `suite started` with the count of
//! selected tests (the ignored ones included, as libtest counts), each test's `started` as it
//! is handed to a worker (in this format tests start one per worker at a time, so that is when
//! it starts) and its final verdict (`ok`, `failed` with its output in `stdout`, `ignored`),
//! then `suite ok|failed` with the counts. As libtest: a test past its time limit is `failed`
//! with `reason: "time limit exceeded"`; mpwasm adds `reason` for a test over the memory limit
//! too, and a retried test that passed is `ok` (its failed attempts are in the human output
//! and JUnit).

use std::time::Duration;

use serde_json::{Value, json};

use super::libtest::{Status, Verdict};

/// `{"type":"suite","event":"started","test_count":N}`.
pub fn suite_started(test_count: usize) -> String {
    line(json!({ "type": "suite", "event": "started", "test_count": test_count }))
}

/// `{"type":"test","event":"started","name":NAME}`.
pub fn test_started(name: &str) -> String {
    line(json!({ "type": "test", "event": "started", "name": name }))
}

/// A test's final verdict: `ok`, `failed` (with its stdout and stderr, and a `reason` past a
/// limit) or `ignored` (with the reason as `message`).
pub fn test_finished(name: &str, verdict: &Verdict) -> String {
    let exec_time = seconds(verdict.duration);
    let event = match &verdict.status {
        Status::Pass => {
            json!({ "type": "test", "name": name, "event": "ok", "exec_time": exec_time })
        }
        Status::Skip(reason) => {
            json!({ "type": "test", "name": name, "event": "ignored", "message": reason })
        }
        failed => {
            let mut event = json!({
                "type": "test",
                "name": name,
                "event": "failed",
                "exec_time": exec_time,
                "stdout": format!("{}{}", verdict.stdout, verdict.stderr),
            });
            let reason = match failed {
                Status::Timeout => Some("time limit exceeded".to_string()),
                Status::Memory => Some(verdict.reason.clone()),
                _ => None,
            };
            if let (Some(reason), Some(object)) = (reason, event.as_object_mut()) {
                object.insert("reason".into(), Value::String(reason));
            }
            event
        }
    };
    line(event)
}

/// The counts closing one binary's events.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SuiteCounts {
    /// Passed.
    pub passed: usize,
    /// Failed, timed out or over the memory limit.
    pub failed: usize,
    /// Skipped (ignored, should_panic).
    pub ignored: usize,
    /// Listed by the binary but not selected (filters, `--skip`, `--partition`).
    pub filtered_out: usize,
}

/// `{"type":"suite","event":"ok"|"failed","passed":..,"failed":..,"ignored":..,
/// "measured":0,"filtered_out":..,"exec_time":..}`.
pub fn suite_finished(counts: SuiteCounts, took: Duration) -> String {
    let event = if counts.failed > 0 { "failed" } else { "ok" };
    line(json!({
        "type": "suite",
        "event": event,
        "passed": counts.passed,
        "failed": counts.failed,
        "ignored": counts.ignored,
        "measured": 0,
        "filtered_out": counts.filtered_out,
        "exec_time": seconds(took),
    }))
}

fn seconds(took: Duration) -> f64 {
    took.as_secs_f64()
}

fn line(value: Value) -> String {
    let mut text = value.to_string();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(status: Status) -> Verdict {
        Verdict {
            status,
            reason: "it grew past 64 MiB".into(),
            stdout: "out\n".into(),
            stderr: "err\n".into(),
            duration: Duration::from_millis(1500),
            worker: None,
        }
    }

    fn parse(text: &str) -> Value {
        assert!(
            text.ends_with('\n') && text.matches('\n').count() == 1,
            "{text:?}"
        );
        serde_json::from_str(text).expect("one JSON object")
    }

    #[test]
    fn events_have_libtest_shapes() {
        assert_eq!(
            parse(&suite_started(3)),
            json!({"type": "suite", "event": "started", "test_count": 3})
        );
        assert_eq!(
            parse(&test_started("tests::a")),
            json!({"type": "test", "event": "started", "name": "tests::a"})
        );
        assert_eq!(
            parse(&test_finished("tests::a", &verdict(Status::Pass))),
            json!({"type": "test", "name": "tests::a", "event": "ok", "exec_time": 1.5})
        );
        assert_eq!(
            parse(&test_finished("tests::a", &verdict(Status::Fail))),
            json!({"type": "test", "name": "tests::a", "event": "failed", "exec_time": 1.5,
                   "stdout": "out\nerr\n"})
        );
        assert_eq!(
            parse(&test_finished("tests::a", &verdict(Status::Timeout)))["reason"],
            "time limit exceeded"
        );
        assert_eq!(
            parse(&test_finished("tests::a", &verdict(Status::Memory)))["reason"],
            "it grew past 64 MiB"
        );
        assert_eq!(
            parse(&test_finished(
                "tests::a",
                &verdict(Status::Skip("ignored".into()))
            )),
            json!({"type": "test", "name": "tests::a", "event": "ignored", "message": "ignored"})
        );
        let counts = SuiteCounts {
            passed: 2,
            failed: 1,
            ignored: 1,
            filtered_out: 4,
        };
        assert_eq!(
            parse(&suite_finished(counts, Duration::from_millis(250))),
            json!({"type": "suite", "event": "failed", "passed": 2, "failed": 1, "ignored": 1,
                   "measured": 0, "filtered_out": 4, "exec_time": 0.25})
        );
        let ok = SuiteCounts {
            failed: 0,
            ..counts
        };
        assert_eq!(parse(&suite_finished(ok, Duration::ZERO))["event"], "ok");
    }
}
