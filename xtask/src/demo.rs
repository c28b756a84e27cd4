//! `cargo xtask demo`: builds the `mpwasm` CLI and the demo guests, then runs a short tour of the
//! CLI, printing each command first so it can be copied; it ends with a job run through a Redis
//! broker by two `mpwasm worker`s.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::command::{self, cargo_command};
use crate::guests::{self, COMPONENT_TARGET};
use crate::redis_server::RedisServer;
use crate::setup;

/// The guests the tour runs.
const DEMO_GUESTS: &[&str] = &[
    "square",
    "primes",
    "wordcount",
    "hash",
    "greeter",
    "echo-args",
];

/// Lines fed to the `hash` guest: one JSON argument per line.
const HASH_INPUT: &[&str] = &[r#""hello""#, r#""mpwasm""#, r#""WebAssembly""#];

/// Builds, then runs the tour; the first failing command fails the demo.
pub fn run(root: &Path) -> Result<()> {
    setup::run(root).context("setup")?;
    command::run(
        "building mpwasm",
        &mut cargo_command(root, ["build", "--release", "-p", "mpwasm"]),
    )?;

    let discovered = guests::discover(root).context("cannot list guest-tasks/")?;
    let mut build = cargo_command(root, ["build", "--release", "--target", COMPONENT_TARGET]);
    let mut files = Vec::new();
    for name in DEMO_GUESTS {
        let Some(guest) = discovered
            .iter()
            .find(|guest| guest.name == *name && guest.is_component())
        else {
            bail!("the demo needs the component guest `{name}`, which is not in guest-tasks/");
        };
        build.args(["-p", name]);
        files.push((*name, guest.wasm_file_name()));
    }
    command::run("building the demo guests", &mut build)?;

    let target_dir = target_dir(root);
    let mpwasm = target_dir.join("release").join("mpwasm");
    let built = target_dir.join(COMPONENT_TARGET).join("release");
    let wasm = |name: &str| {
        let file = files
            .iter()
            .find(|(guest, _)| *guest == name)
            .map_or_else(|| format!("{name}.wasm"), |(_, file)| file.clone());
        relative_to(root, &built.join(file))
    };
    let tour = |args: &[&str]| {
        let mut command = Command::new(&mpwasm);
        command.args(args).current_dir(root);
        command
    };

    let square = wasm("square");
    command::run(
        "demo: square",
        &mut tour(&["run", &square, "--map", "0..10"]),
    )?;
    let primes = wasm("primes");
    command::run(
        "demo: primes",
        &mut tour(&["run", &primes, "--map", "0..100000:10000"]),
    )?;
    let greeter = wasm("greeter");
    command::run(
        "demo: greeter",
        &mut tour(&["run", &greeter, "--map", "1..5", "-j", "2"]),
    )?;
    let hash = wasm("hash");
    command::run_with_input(
        "demo: hash",
        &mut tour(&["run", &hash, "--input", "-"]),
        HASH_INPUT,
    )?;
    let wordcount = wasm("wordcount");
    command::run(
        "demo: wordcount",
        &mut tour(&["call", &wordcount, "the cat and the hat"]),
    )?;
    let program = wasm("echo-args");
    command::run(
        "demo: a WASI program per input",
        &mut tour(&["run", &program, "--map", "1..4", "--", "--name={}"]),
    )?;
    let tests = crate::bench::build_test_binary(root, "tiny-tests")?;
    command::run(
        "demo: mpwasm test",
        &mut tour(&[
            "test",
            &relative_to(root, &tests),
            "t00",
            "--timeout",
            "10s",
        ]),
    )?;
    broker(root, &mpwasm, &primes)?;
    println!("demo finished");
    Ok(())
}

/// The tour's last stop: a job through a Redis broker, with two `mpwasm worker`s (on this
/// machine here; on others in real life), a redis-server of the demo's own on a free port.
fn broker(root: &Path, mpwasm: &Path, primes: &str) -> Result<()> {
    let redis = RedisServer::start(&[]).context("cannot start redis-server")?;
    let url = redis.url();
    println!("$ redis-server --port {} --save '' &", redis.port);
    let mut workers = Vec::new();
    for _ in 0..2 {
        println!("$ mpwasm worker --broker {url} -j 1 &");
        workers.push(Guard(
            Command::new(mpwasm)
                .args(["worker", "--broker", &url, "-j", "1"])
                .current_dir(root)
                .stdin(Stdio::null())
                .spawn()
                .context("cannot start mpwasm worker")?,
        ));
    }
    let result = command::run(
        "demo: a job through a Redis broker",
        Command::new(mpwasm)
            .args(["run", primes, "--map", "0..100000:10000", "--broker", &url])
            .current_dir(root),
    );
    drop(workers);
    drop(redis);
    result
}

/// Stops a background process of the demo when dropped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        // SIGTERM first, so a worker says it stopped.
        let _ = Command::new("kill").arg(self.0.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(self.0.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Cargo's target directory: `$CARGO_TARGET_DIR` (relative to the workspace root when relative)
/// or `target/` in the workspace root.
pub fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    }
}

/// `path` relative to `root` when it lies inside it (shorter to print), else as it is.
fn relative_to(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}
