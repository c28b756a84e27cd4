//! `cargo xtask`: the project's developer tasks, in Rust so they run wherever cargo does.
//!
//! `setup` installs the wasm targets (and redis-server for the broker tests), `demo` builds the CLI and some guests and runs a tour of the
//! CLI, `test` runs every check CI runs (formatting, clippy, tests), `bench` runs the benchmark
//! against Python's Pool, native Rust and the wasmtime CLI and writes BENCHMARKS.md, `chaos`
//! runs the fault scenarios at full size and writes RELIABILITY.md, `screenshot` makes the
//! README's picture of the dashboard. Everything is built with the
//! release profile, the workspace's only profile.

mod bench;
mod chaos;
mod command;
mod demo;
mod guests;
mod redis_server;
mod screenshot;
mod setup;
mod test;

use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <task>

tasks:
  setup   install the wasm32-wasip2 and wasm32-unknown-unknown targets (with rustup) and
          redis-server (with apt-get) when missing
  demo    build mpwasm and the demo guests, then run a tour of the CLI
  test    what CI runs: rustfmt check, clippy (host and guests), cargo test --release
  bench   the side-by-side benchmark (see `cargo xtask bench --help`); writes BENCHMARKS.md
  chaos   the fault scenarios at full size (`--smoke`: CI's sizes); writes RELIABILITY.md
  screenshot  the README's picture of the dashboard (docs/dashboard.png), taken by its test in
          headless Chromium (needs Debian's chromium and chromium-driver)
  help    print this message
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (task, rest) = match args.split_first() {
        Some((task, rest)) if task == "bench" || task == "chaos" || rest.is_empty() => {
            (task.as_str(), rest)
        }
        Some(_) => {
            eprintln!("xtask: expected one task, got {args:?}\n");
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
        None => {
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let root = workspace_root();
    let result = match task {
        "setup" => setup::run(&root),
        "demo" => demo::run(&root),
        "test" => test::run(&root),
        "bench" => bench::run(&root, rest),
        "chaos" => chaos::run(&root, rest),
        "screenshot" => screenshot::run(&root),
        "help" | "--help" | "-h" => {
            print!("{USAGE}");
            Ok(())
        }
        other => {
            eprintln!("xtask: unknown task `{other}`\n");
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask {task}: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root: the parent of this crate's directory.
fn workspace_root() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map_or(manifest_dir.clone(), |root| root.to_path_buf())
}
