//! Every input gets exactly one outcome under a storm of worker kills, and an endless input runs
//! in bounded memory. CI runs scaled-down sizes; `MPWASM_FULL_TESTS=1` runs the full
//! sizes (100 000 items under kills is the same; 10 M endless items instead of 3 M).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use mpwasm_test_artifacts::guests;

use crate::common::{self, KillStorm};

fn full() -> bool {
    std::env::var_os("MPWASM_FULL_TESTS").is_some_and(|v| v == "1")
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[test]
fn kill_storm_every_index_gets_exactly_one_line() {
    const ITEMS: usize = 100_000;
    let input = std::env::temp_dir().join(format!("mpwasm-storm-{}.jsonl", std::process::id()));
    std::fs::write(&input, "3000\n".repeat(ITEMS)).expect("write input");
    let mut child = Command::new(common::mpwasm_bin())
        .args([
            "run",
            guests::PRIMES,
            "-j",
            "2",
            "--format",
            "jsonl",
            "--input",
        ])
        .arg(&input)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("mpwasm starts");
    let storm = KillStorm::start(child.id(), Duration::from_millis(100));
    let out = BufReader::new(child.stdout.take().expect("piped"));
    let mut seen: HashMap<u64, serde_json::Value> = HashMap::new();
    let mut kinds: HashMap<String, usize> = HashMap::new();
    for line in out.lines() {
        let line: serde_json::Value = serde_json::from_str(&line.expect("utf-8")).expect("JSON");
        let index = line["index"].as_u64().expect("an index");
        match line["error"]["kind"].as_str() {
            Some(kind) => *kinds.entry(kind.to_string()).or_default() += 1,
            None => assert_eq!(line["value"], 430, "{line}"),
        }
        assert!(seen.insert(index, line).is_none(), "index {index} twice");
    }
    let status = child.wait().expect("exits");
    let kills = storm.stop();
    let _ = std::fs::remove_file(&input);
    assert_eq!(seen.len(), ITEMS, "no gap");
    assert!(seen.keys().all(|i| *i < ITEMS as u64));
    assert!(
        kinds.keys().all(|k| k == "worker-lost"),
        "only kills fail tasks: {kinds:?}"
    );
    assert!(kills >= 3, "the storm killed {kills} workers");
    assert_eq!(status.code(), Some(if kinds.is_empty() { 0 } else { 1 }));
    eprintln!("kill storm: {ITEMS} items, {kills} kills, failures {kinds:?}");
}

#[test]
fn an_endless_input_runs_in_bounded_memory() {
    let items: u64 = if full() { 10_000_000 } else { 3_000_000 };
    let mut child = Command::new(common::mpwasm_bin())
        .args(["run", guests::SQUARE, "--input", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("mpwasm starts");
    let host = child.id();
    let mut stdin = BufWriter::new(child.stdin.take().expect("piped"));
    // `yes 3`: an input that never ends.
    let feeder = std::thread::spawn(
        move || {
            while stdin.write_all(b"3\n3\n3\n3\n3\n3\n3\n3\n").is_ok() {}
        },
    );
    let mut out = BufReader::new(child.stdout.take().expect("piped"));
    let mut line = String::new();
    let mut early = 0;
    for n in 1..=items {
        line.clear();
        out.read_line(&mut line).expect("a line");
        assert_eq!(line, "9\n");
        if n == 100_000 {
            early = rss_kib(host);
        }
    }
    let late = rss_kib(host);
    let _ = child.kill();
    let _ = child.wait();
    drop(out);
    let _ = feeder.join();
    eprintln!("endless input: RSS {early} KiB after 100k items, {late} KiB after {items}");
    assert!(early > 0 && late > 0);
    assert!(late < 2 * early, "RSS grew from {early} KiB to {late} KiB");
    assert!(late < 200 * 1024, "RSS {late} KiB");
}

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
