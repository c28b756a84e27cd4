//! The host process under signals and a closed stdout: Ctrl-C/SIGTERM print what finished and
//! exit 130/143, a SIGKILLed host leaves no worker behind, `| head` ends quietly.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mpwasm_test_artifacts::guests;

use crate::common::{self, alive, children, wait_for_children};

fn wait_gone(pids: &[u32]) -> Vec<u32> {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let left: Vec<u32> = pids.iter().copied().filter(|p| alive(*p)).collect();
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Starts `mpwasm run misbehave.wasm --func spin -j 2` on these inputs, and waits until it has
/// printed `ready` result lines and both workers are up.
fn spinning_run(
    inputs: &str,
    ready: usize,
) -> (
    Child,
    BufReader<std::process::ChildStdout>,
    Vec<String>,
    Vec<u32>,
) {
    let mut child = common::spawn(&[
        "run",
        guests::MISBEHAVE,
        "--func",
        "spin",
        "-j",
        "2",
        "--input",
        "-",
    ]);
    let mut stdin = child.stdin.take().expect("piped");
    stdin.write_all(inputs.as_bytes()).expect("write inputs");
    // Keep stdin open: the host must not wait for the end of its input to stop.
    std::mem::forget(stdin);
    let mut out = BufReader::new(child.stdout.take().expect("piped"));
    let mut lines = Vec::new();
    for _ in 0..ready {
        let mut line = String::new();
        out.read_line(&mut line).expect("a result line");
        lines.push(line.trim().to_string());
    }
    let workers = wait_for_children(child.id(), 2);
    assert_eq!(workers.len(), 2, "two workers run");
    (child, out, lines, workers)
}

fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

fn finish(
    mut child: Child,
    mut out: BufReader<std::process::ChildStdout>,
) -> (i32, String, String, Duration) {
    let started = Instant::now();
    let mut rest = String::new();
    out.read_to_string(&mut rest).expect("stdout");
    let err = common::read_stderr(&mut child);
    let status = child.wait().expect("exits");
    (status.code().unwrap_or(-1), rest, err, started.elapsed())
}

#[test]
fn ctrl_c_prints_what_finished_and_exits_130_leaving_no_worker() {
    for (name, code) in [("INT", 130), ("TERM", 143)] {
        let (child, out, lines, workers) = spinning_run("0\n0\n1\n1\n5\n", 2);
        assert_eq!(lines, ["0", "0"]);
        signal(child.id(), name);
        let (status, rest, err, took) = finish(child, out);
        assert_eq!(status, code, "SIG{name}: {err}");
        assert_eq!(rest, "", "nothing more finished");
        assert!(
            err.contains(&format!("interrupted by SIG{name}: 2 results printed")),
            "{err}"
        );
        assert!(took < Duration::from_secs(2), "stopped in {took:?}");
        assert_eq!(
            wait_gone(&workers),
            Vec::<u32>::new(),
            "workers left behind"
        );
    }
}

#[test]
fn a_killed_host_leaves_no_worker_behind() {
    let (child, out, _, workers) = spinning_run("0\n1\n1\n", 1);
    signal(child.id(), "KILL");
    let _ = finish(child, out);
    assert_eq!(
        wait_gone(&workers),
        Vec::<u32>::new(),
        "workers outlived their host"
    );
}

#[test]
fn a_closed_stdout_ends_the_run_quietly() {
    let mut child = Command::new(common::mpwasm_bin())
        .args(["run", guests::SQUARE, "--map", "0..100000000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mpwasm starts");
    let mut out = BufReader::new(child.stdout.take().expect("piped"));
    for want in ["0", "1", "4"] {
        let mut line = String::new();
        out.read_line(&mut line).expect("a line");
        assert_eq!(line.trim(), want);
    }
    let workers = children(child.id());
    drop(out); // as `| head -3` does
    let err = common::read_stderr(&mut child);
    let status = child.wait().expect("exits");
    assert_eq!(status.code(), Some(0), "{err}");
    assert_eq!(err, "", "no panic, no message");
    assert_eq!(wait_gone(&workers), Vec::<u32>::new());
}

/// Starts `mpwasm test` on the untrusted suite with these extra arguments, over two workers.
fn test_run(extra: &[&str]) -> Child {
    let mut args = vec![
        "test",
        guests::UNTRUSTED_TESTS,
        "-j",
        "2",
        "--memory",
        "64MiB",
    ];
    args.extend_from_slice(extra);
    common::spawn(&args)
}

#[test]
fn ctrl_c_stops_a_test_run_printing_what_finished_and_the_summary() {
    for (name, code) in [("INT", 130), ("TERM", 143)] {
        // One test that hangs until its (long) timeout and one quick one, each on a worker of
        // its own (a batch per worker per round).
        let mut child = test_run(&[
            "--timeout",
            "60s",
            "--exact",
            "tests::hangs",
            "tests::passes",
        ]);
        let mut out = BufReader::new(child.stdout.take().expect("piped"));
        let mut line = String::new();
        out.read_line(&mut line).expect("a test line");
        assert!(
            line.trim_start().starts_with("PASS") && line.contains("tests::passes"),
            "{line:?}"
        );
        let workers = wait_for_children(child.id(), 2);
        assert_eq!(workers.len(), 2, "two workers run");
        signal(child.id(), name);
        let (status, rest, err, took) = finish(child, out);
        assert_eq!(status, code, "SIG{name}: {rest}\n{err}");
        assert!(
            took < Duration::from_secs(20),
            "the hanging test was not stopped: {took:?}"
        );
        assert!(!rest.contains("TIMEOUT"), "{rest}");
        assert!(
            rest.contains("1 test run: 1 passed, 0 failed, 0 skipped"),
            "{rest}"
        );
        assert!(
            err.contains(&format!("interrupted by SIG{name}: 1 test did not run")),
            "{err}"
        );
        assert_eq!(
            wait_gone(&workers),
            Vec::<u32>::new(),
            "workers left behind"
        );
    }
}

#[test]
fn a_closed_stdout_ends_a_test_run_quietly() {
    // `hangs` prints its TIMEOUT line seconds after the first lines: by then stdout is closed.
    let mut child = test_run(&["--timeout", "3s"]);
    let mut out = BufReader::new(child.stdout.take().expect("piped"));
    let mut line = String::new();
    out.read_line(&mut line).expect("a test line");
    assert!(!line.is_empty(), "no test line");
    let workers = children(child.id());
    drop(out); // as `| head -1` does
    let started = Instant::now();
    let err = common::read_stderr(&mut child);
    let status = child.wait().expect("exits");
    assert_eq!(status.code(), Some(0), "{err}");
    assert_eq!(err, "", "no panic, no message");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(wait_gone(&workers), Vec::<u32>::new());
}
