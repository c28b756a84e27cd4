//! `cargo xtask setup`: makes sure the active toolchain has the wasm targets the guests are
//! built for, installing the missing ones with rustup, that `redis-server` (which the
//! broker tests start on their own ports) is installed, with apt-get when it is not, and that
//! componentize-py (which builds the Python tasks) is in a virtual environment in
//! `target/python`, with pip from PyPI when it is not, and componentize-js (the JavaScript
//! tasks) in `target/js`, with npm.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::command;
use crate::guests;

/// Every target the project builds guests for (the ones the guests name, at least these).
const TARGETS: &[&str] = &["wasm32-wasip2", "wasm32-unknown-unknown"];

/// Installs the missing wasm targets and redis-server; does nothing (and needs no network)
/// when all are there.
pub fn run(root: &Path) -> Result<()> {
    redis_server()?;
    componentize_py(root)?;
    componentize_js(root)?;
    let discovered = guests::discover(root).context("cannot list guest-tasks/")?;
    let mut targets: Vec<&str> = TARGETS.to_vec();
    for target in guests::targets(&discovered) {
        if !targets.contains(&target) {
            targets.push(target);
        }
    }

    let sysroot = sysroot()?;
    let missing = missing_targets(&sysroot, &targets);
    if missing.is_empty() {
        println!("wasm targets installed: {}", targets.join(", "));
        return Ok(());
    }
    if !has_rustup() {
        bail!(
            "the {} target(s) are missing from the toolchain at {} and rustup is not available: \
             install the Rust standard library for them with your Rust distribution",
            missing.join(", "),
            sysroot.display()
        );
    }
    let mut add = Command::new("rustup");
    add.args(["target", "add"]).args(&missing);
    command::run("rustup target add", &mut add)?;
    let still_missing = missing_targets(&sysroot, &missing);
    if !still_missing.is_empty() {
        bail!(
            "rustup did not install {} into {} (is the active toolchain managed by rustup?)",
            still_missing.join(", "),
            sysroot.display()
        );
    }
    Ok(())
}

/// Installs Debian's redis-server when `redis-server` is not on the PATH.
fn redis_server() -> Result<()> {
    let found = |program: &str| {
        Command::new(program)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    };
    if found("redis-server") && found("redis-cli") {
        return Ok(());
    }
    let apt = found("apt-get");
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !apt || !root {
        bail!(
            "redis-server is not installed, and the broker tests need it: install it (Debian and \
             Ubuntu: `sudo apt-get install redis-server`; any Redis 6.2 or newer with \
             redis-server and redis-cli on the PATH will do)"
        );
    }
    let install = |update: bool| -> Result<()> {
        if update {
            command::run(
                "apt-get update",
                Command::new("apt-get").args(["update", "-qq"]),
            )?;
        }
        command::run(
            "apt-get install redis-server",
            Command::new("apt-get")
                .args([
                    "install",
                    "-y",
                    "-qq",
                    "--no-install-recommends",
                    "redis-server",
                ])
                .env("DEBIAN_FRONTEND", "noninteractive"),
        )
    };
    // The package lists may be missing or stale on a fresh machine.
    install(false).or_else(|_| install(true))?;
    if !found("redis-server") {
        bail!("apt-get installed redis-server, but it is still not on the PATH");
    }
    Ok(())
}

/// The componentize-py release the Python tasks are built with.
const COMPONENTIZE_PY: &str = "componentize-py==0.25.1";

/// Makes the virtual environment `target/python` with componentize-py, unless it is there.
/// Without Python 3 (or without PyPI) this is a warning, and the Python tasks' tests are
/// skipped, unless `MPWASM_REQUIRE_PYTHON=1` (CI sets it) makes it an error.
fn componentize_py(root: &Path) -> Result<()> {
    let python = &guests::PYTHON;
    let none = python.names(root).map_or(true, |names| names.is_empty());
    if none || root.join(python.installed).is_file() {
        return Ok(());
    }
    let venv = root.join("target").join("python");
    let required = python.required();
    let made = command::run(
        "python3 -m venv",
        Command::new("python3").args(["-m", "venv"]).arg(&venv),
    )
    .and_then(|()| {
        command::run(
            "pip install componentize-py",
            Command::new(venv.join("bin").join("pip")).args([
                "install",
                "--quiet",
                "--disable-pip-version-check",
                COMPONENTIZE_PY,
            ]),
        )
    });
    match made {
        Ok(()) => Ok(()),
        Err(e) if required => Err(e.context(
            "MPWASM_REQUIRE_PYTHON=1: the Python tasks need componentize-py (Python 3 with its \
             venv module, and PyPI)",
        )),
        Err(e) => {
            eprintln!(
                "setup: {e:#}; the Python tasks are not built and their tests are skipped \
                 (install Python 3 with venv, then run `cargo xtask setup` again)"
            );
            Ok(())
        }
    }
}

/// The componentize-js release the JavaScript tasks are built with.
const COMPONENTIZE_JS: &str = "@bytecodealliance/componentize-js@0.23.0";

/// Installs componentize-js into `target/js` with npm, unless it is there. Without npm (or
/// without the registry) this is a warning, and the JavaScript tasks' tests are skipped,
/// unless `MPWASM_REQUIRE_JS=1` (CI sets it) makes it an error.
fn componentize_js(root: &Path) -> Result<()> {
    let js = &guests::JAVASCRIPT;
    let none = js.names(root).map_or(true, |names| names.is_empty());
    if none || root.join(js.installed).is_file() {
        return Ok(());
    }
    let prefix = root.join("target").join("js");
    std::fs::create_dir_all(&prefix)
        .with_context(|| format!("cannot create {}", prefix.display()))?;
    let made = command::run(
        "npm install componentize-js",
        Command::new("npm")
            .args(["install", "--silent", "--no-audit", "--no-fund", "--prefix"])
            .arg(&prefix)
            .arg(COMPONENTIZE_JS),
    );
    match made {
        Ok(()) => Ok(()),
        Err(e) if js.required() => Err(e.context(
            "MPWASM_REQUIRE_JS=1: the JavaScript tasks need componentize-js (npm, and its \
             registry)",
        )),
        Err(e) => {
            eprintln!(
                "setup: {e:#}; the JavaScript tasks are not built and their tests are skipped \
                 (install Node.js with npm, then run `cargo xtask setup` again)"
            );
            Ok(())
        }
    }
}

/// The active toolchain's sysroot, from `rustc --print sysroot`.
fn sysroot() -> Result<PathBuf> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let output = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .with_context(|| format!("cannot run `{rustc} --print sysroot`"))?;
    if !output.status.success() {
        bail!(
            "`{rustc} --print sysroot` failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(PathBuf::from(
        String::from_utf8_lossy(&output.stdout).trim(),
    ))
}

/// The `targets` whose standard library is not in `sysroot`.
fn missing_targets<'a>(sysroot: &Path, targets: &[&'a str]) -> Vec<&'a str> {
    targets
        .iter()
        .copied()
        .filter(|target| !sysroot.join("lib/rustlib").join(target).is_dir())
        .collect()
}

/// Whether `rustup` can be run.
fn has_rustup() -> bool {
    Command::new("rustup")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}
