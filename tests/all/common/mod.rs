//! Helpers shared by the integration tests: the `mpwasm` binary cargo built for this package,
//! running it, its worker processes, scratch directories, and the broker tests' harness.

pub mod broker;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The `mpwasm` binary of this very build: cargo builds it before this test binary and names it
/// in `CARGO_BIN_EXE_mpwasm`, so a test never runs a stale one.
pub fn mpwasm_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_mpwasm"))
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

/// Whether `pid` is still a live process (a zombie waiting for a reaper counts as gone).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X")
    })
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

/// The children of `pid` that are worker processes already: forked and running the worker
/// program (a child between fork and exec is still a copy of its parent, and one stopped
/// there holds up its parent's spawn).
pub fn workers(pid: u32) -> Vec<u32> {
    children(pid)
        .into_iter()
        .filter(|child| {
            std::fs::read(format!("/proc/{child}/cmdline")).is_ok_and(|line| {
                line.split(|b| *b == 0)
                    .any(|arg| arg == mpwasm::worker::WORKER_SUBCOMMAND.as_bytes())
            })
        })
        .collect()
}

/// Waits (up to 5 s) until process `pid` has `n` children, and returns them.
pub fn wait_for_children(pid: u32, n: usize) -> Vec<u32> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut found = children(pid);
    while found.len() < n && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
        found = children(pid);
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

/// Runs `body` in a process of its own: this test binary started again with only the test
/// `name` (its full path, `module::test`) selected, so that `body` sees no other test's worker
/// processes among its children. Fails unless that run passed its one test.
pub fn alone(name: &str, body: impl FnOnce()) {
    alone_with(name, &[], body);
}

/// [`alone`], with `env` set in the process of its own (for what a process reads from its
/// environment, such as `MPWASM_CACHE_DIR`).
pub fn alone_with(name: &str, env: &[(&str, &Path)], body: impl FnOnce()) {
    const ALONE: &str = "MPWASM_TEST_ALONE";
    if std::env::var_os(ALONE).is_some_and(|selected| selected == name) {
        body();
        return;
    }
    let exe = std::env::current_exe().expect("the test binary has a path");
    let out = Command::new(exe)
        .args([name, "--exact"])
        .env(ALONE, name)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("the test binary runs again");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let passed = out.status.success() && stdout.contains("test result: ok. 1 passed");
    // Each line quoted behind `| `, so that the nested run's `test result:` line is not
    // counted as one of this run's by whatever reads its output (`cargo xtask test`).
    let quote = |text: &str| -> String { text.lines().map(|l| format!("\n| {l}")).collect() };
    assert!(
        passed,
        "{name} alone: {}{}{}",
        out.status,
        quote(&stdout),
        quote(&String::from_utf8_lossy(&out.stderr))
    );
}

/// Kills one of process `host`'s workers every period (with SIGKILL, as a crash would) until
/// stopped; [`KillStorm::stop`] says how many it killed.
pub struct KillStorm {
    done: std::sync::Arc<std::sync::atomic::AtomicBool>,
    killer: std::thread::JoinHandle<u32>,
}

impl KillStorm {
    /// Starts killing a worker of `host` every `every`.
    pub fn start(host: u32, every: std::time::Duration) -> KillStorm {
        use std::sync::atomic::Ordering;
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop = std::sync::Arc::clone(&done);
        let killer = std::thread::spawn(move || {
            let (mut turn, mut kills) = (0usize, 0u32);
            while !stop.load(Ordering::SeqCst) {
                std::thread::sleep(every);
                let workers = children(host);
                if workers.is_empty() {
                    continue;
                }
                turn = turn.wrapping_mul(31).wrapping_add(7);
                let victim = workers[turn % workers.len()];
                let killed = Command::new("kill")
                    .args(["-9", &victim.to_string()])
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success());
                kills += u32::from(killed);
            }
            kills
        });
        KillStorm { done, killer }
    }

    /// Stops the storm; the number of workers it killed.
    pub fn stop(self) -> u32 {
        self.done.store(true, std::sync::atomic::Ordering::SeqCst);
        self.killer.join().expect("the killer thread")
    }
}

/// A small deterministic generator (xorshift64*): a random case is named by its seed, which
/// repeats it.
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number below `n` (0 for 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// `len` random bytes.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}
