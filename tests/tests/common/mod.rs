//! Helpers shared by the integration tests: finding the built `mpwasm` binary and running it.

#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// The `mpwasm` binary cargo built next to this test (target/<profile>/mpwasm). `cargo test`
/// does not build it for this crate: `cargo xtask test` builds it first; by hand, run
/// `cargo build --release -p mpwasm` before `cargo test --release` (or the tests use a stale one).
pub fn mpwasm_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary has a path");
    let name = format!("mpwasm{}", std::env::consts::EXE_SUFFIX);
    exe.ancestors()
        .skip(1)
        .take(2)
        .map(|dir| dir.join(&name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "the mpwasm binary is not built next to {}; build it first with `cargo build \
                 --release -p mpwasm` (`cargo xtask test` does both)",
                exe.display()
            )
        })
}

/// The result of one `mpwasm` run.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// stdout's lines.
    pub fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }

    /// stdout's lines parsed as JSON.
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
            .collect()
    }
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Starts `mpwasm ARGS` with stdin, stdout and stderr all piped.
pub fn spawn(args: &[&str]) -> std::process::Child {
    Command::new(mpwasm_bin())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mpwasm starts")
}

/// Runs `mpwasm ARGS` with `stdin` as its standard input.
pub fn mpwasm_with_stdin(args: &[&str], stdin: &str) -> Run {
    let mut child = spawn(args);
    let mut input = child.stdin.take().expect("stdin is piped");
    let text = stdin.to_string();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(text.as_bytes());
    });
    let out: Output = child.wait_with_output().expect("mpwasm runs");
    writer.join().expect("stdin writer");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `mpwasm ARGS` with empty stdin.
pub fn mpwasm(args: &[&str]) -> Run {
    mpwasm_with_stdin(args, "")
}

/// Runs `mpwasm run TASK --func FUNC EXTRA... --input - --format jsonl` with `stdin` as the
/// JSON Lines input.
pub fn run_jsonl(task: &str, func: &str, extra: &[&str], stdin: &str) -> Run {
    let mut args = vec!["run", task, "--func", func];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--input", "-", "--format", "jsonl"]);
    mpwasm_with_stdin(&args, stdin)
}

/// The child processes (workers) of process `pid`, from /proc.
pub fn children(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for task in tasks.flatten() {
            if let Ok(text) = std::fs::read_to_string(task.path().join("children")) {
                found.extend(
                    text.split_whitespace()
                        .filter_map(|p| p.parse::<u32>().ok()),
                );
            }
        }
    }
    found
}

/// stderr of a finished child, read to the end.
pub fn read_stderr(child: &mut std::process::Child) -> String {
    use std::io::Read;
    let mut err = String::new();
    if let Some(mut stderr) = child.stderr.take() {
        let _ = stderr.read_to_string(&mut err);
    }
    err
}

/// A fresh, empty directory for this test process: `$TMPDIR/mpwasm-NAME-PID`.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mpwasm-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}
