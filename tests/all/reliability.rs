//! A worker that stops answering is killed by the host, no batch of large results or chatty
//! tasks can lose its worker, and an input too large to send fails alone. (The kill storm and the endless input are chaos
//! scenarios: `chaos/local.rs`.)

use std::io::Write;
use std::process::Command;
use std::time::Duration;

use mpwasm_test_artifacts::guests;

use crate::common;

#[test]
fn a_worker_that_stops_answering_is_killed_by_the_host() {
    // SIGSTOP freezes the worker whole, its own watchdog included: only the host can notice.
    let mut child = common::spawn(&[
        "run",
        guests::MISBEHAVE,
        "--func",
        "spin",
        "--timeout",
        "1s",
        "-j",
        "1",
        "--format",
        "jsonl",
        "--input",
        "-",
    ]);
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(b"1\n")
        .expect("write");
    let host = child.id();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let frozen = loop {
        // A worker, not a fork still on its way to exec: stopped there, it would hold up the
        // host's spawn itself, which no watchdog can reach.
        if let Some(&pid) = common::workers(host).first() {
            break pid;
        }
        assert!(std::time::Instant::now() < deadline, "no worker started");
        std::thread::sleep(Duration::from_millis(5));
    };
    let stopped = Command::new("kill")
        .args(["-STOP", &frozen.to_string()])
        .status()
        .expect("kill");
    assert!(stopped.success());
    let out = child.wait_with_output().expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
    // The frozen worker was killed; the retry ran on a fresh one and hit the timeout there.
    assert_eq!(line["error"]["kind"], "timeout", "{line}");
    assert_ne!(line["worker"], u64::from(frozen), "{line}");
    assert_eq!(stdout.lines().count(), 1);
}

#[test]
fn a_batch_of_large_results_never_loses_its_worker() {
    // 300 results of 1 MiB each in one batch: 300 MiB would pass the 256 MiB a worker's answer
    // may be. Every task gets its outcome: the results that fit, and for the rest a failure
    // that says why and what to do.
    let input = "1048576\n".repeat(300);
    let run = common::run_jsonl(
        guests::MISBEHAVE,
        "big",
        &["--chunksize", "300", "--retries", "0", "-j", "1"],
        &input,
    );
    let lines = run.json_lines();
    assert_eq!(
        lines.len(),
        300,
        "{}",
        run.stderr.lines().last().unwrap_or("")
    );
    let mut too_large = 0;
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(
            line["index"],
            i,
            "{}",
            &line.to_string()[..200.min(line.to_string().len())]
        );
        match line["value"].as_str() {
            Some(value) => assert_eq!(value.len(), 1_048_576),
            None => {
                assert_eq!(line["error"]["kind"], "result-too-large", "{line}");
                let message = line["error"]["message"].as_str().unwrap_or_default();
                assert!(message.contains("--chunksize 1"), "{message}");
                too_large += 1;
            }
        }
    }
    // How many did not fit depends on how the 300 were batched: at least one batch passed
    // the 128 MiB its results share, and each batch kept its first ~127 whole.
    assert!((1..=173).contains(&too_large), "{too_large} too large");
    assert_eq!(run.code, 1, "{}", run.stderr.lines().last().unwrap_or(""));
    assert!(!run.stderr.contains("worker-lost"), "{}", run.stderr);
}

#[test]
fn a_batch_of_chatty_tasks_never_loses_its_worker() {
    // 300 tasks printing 1 MiB each in one batch: 300 MiB would pass the 256 MiB a worker's
    // answer may be. Every task still gets its outcome; what a batch keeps is capped.
    let input = "1048576\n".repeat(300);
    let run = common::run_jsonl(
        guests::MISBEHAVE,
        "shout",
        &[
            "--chunksize",
            "300",
            "--output-limit",
            "2MiB",
            "--retries",
            "0",
            "-j",
            "1",
        ],
        &input,
    );
    assert_eq!(run.code, 0, "{}", run.stderr.lines().last().unwrap_or(""));
    let lines = run.json_lines();
    assert_eq!(lines.len(), 300);
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line["index"], i, "{line}");
        assert_eq!(line["value"], 1_048_576, "{line}");
    }
    // Each batch kept its first 128 MiB whole and cut the rest, saying so (how many were cut
    // depends on how the 300 were batched: at least one batch passed 128 MiB).
    let cut = run
        .stderr
        .matches("output cut, 1048576 more bytes dropped")
        .count();
    assert!((1..=172).contains(&cut), "{cut} cut");
    assert!(
        run.stderr.len() >= (300 - cut) * 1_048_576,
        "{}",
        run.stderr.len()
    );
    assert!(run.stderr.contains("a batch of tasks keeps 128 MiB in all"));
}

#[test]
fn an_input_too_large_for_a_worker_fails_alone() {
    // A 300 MiB string cannot cross to a worker in one message (256 MiB): it fails alone as
    // bad-input saying so, and the inputs around it run.
    let dir = common::temp_dir("huge-input");
    let input = dir.join("in.jsonl");
    let mut text = String::with_capacity(300 << 20);
    text.push_str("\"a\"\n\"");
    text.extend(std::iter::repeat_n('x', 300 << 20));
    text.push_str("\"\n\"b\"\n");
    std::fs::write(&input, text).expect("input");
    let run = common::mpwasm(&[
        "run",
        guests::KITCHEN,
        "--func",
        "mpwasm:tasks/types#echo-string",
        "--input",
        input.to_str().expect("utf-8"),
        "--format",
        "jsonl",
        "-j",
        "1",
    ]);
    let _ = std::fs::remove_dir_all(&dir);
    let lines = run.json_lines();
    assert_eq!(lines.len(), 3, "{}", run.stderr);
    assert_eq!(lines[0]["value"], "a");
    assert_eq!(lines[1]["error"]["kind"], "bad-input", "{}", lines[1]);
    let message = lines[1]["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("314572802 bytes, more than the 256 MiB"),
        "{message}"
    );
    assert_eq!(lines[2]["value"], "b");
    assert_eq!(run.code, 1);
}
