//! Builds every guest task of `guest-tasks/` from source when the tests are built, and writes
//! `$OUT_DIR/guests.rs`: a path constant per guest, `ALL`, `CORE_MODULES` and `foreach_guest!`,
//! and one per Python task of `guest-tasks/python/` and JavaScript task of `guest-tasks/js/`
//! with `PYTHON` and `JAVASCRIPT` (built by componentize-py and componentize-js).
//!
//! The guests are built by a nested `cargo build --release --target <wasm target>` into a target
//! directory inside `OUT_DIR`, so the nested build never waits on the outer build's lock.

#[path = "../../xtask/src/guests.rs"]
mod guests;

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use guests::{Guest, GuestKind};

/// Environment variables of the outer build that must not reach the nested one: flags meant for
/// the host, and the clippy driver when the outer build is `cargo clippy`.
const OUTER_ONLY_ENV: &[&str] = &[
    "CARGO_ENCODED_RUSTFLAGS",
    "RUSTFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
    "RUSTC_WORKSPACE_WRAPPER",
];

fn main() {
    if let Err(message) = run() {
        eprintln!("error: {message}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let manifest_dir = PathBuf::from(env_var("CARGO_MANIFEST_DIR")?);
    // This crate is tests/artifacts/: the workspace root is two levels up.
    let root = manifest_dir
        .ancestors()
        .nth(2)
        .ok_or("tests/artifacts/ has no workspace root above it")?
        .to_path_buf();
    let out_dir = PathBuf::from(env_var("OUT_DIR")?);
    for watched in [
        "guest-tasks",
        "wit",
        "Cargo.toml",
        "Cargo.lock",
        "xtask/src/guests.rs",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }

    let guests = guests::discover(&root).map_err(|err| format!("cannot list the guests: {err}"))?;
    let targets = guests::targets(&guests);
    check_targets_installed(&targets)?;

    let target_dir = out_dir.join("guests");
    let mut built = Vec::new();
    for target in targets {
        let group = guests::for_target(&guests, target);
        if group.is_empty() {
            continue;
        }
        let (suites, group): (Vec<&Guest>, Vec<&Guest>) = group
            .into_iter()
            .partition(|guest| guest.kind == GuestKind::Tests);
        if !group.is_empty() {
            build(&root, &target_dir, target, &group)?;
        }
        for suite in suites {
            let path = build_tests(&root, &target_dir, target, suite)?;
            built.push((suite.clone(), path));
        }
        for guest in group {
            let path = target_dir
                .join(target)
                .join("release")
                .join(guest.wasm_file_name());
            if !path.is_file() {
                return Err(format!(
                    "{} was not built at {}",
                    guest.name,
                    path.display()
                ));
            }
            built.push((guest.clone(), path));
        }
    }
    built.sort_by(|(a, _), (b, _)| a.name.cmp(&b.name));

    let mut source = generate(&built)?;
    source.push_str(&scripted_guests(&root, &guests::PYTHON)?);
    source.push_str(&scripted_guests(&root, &guests::JAVASCRIPT)?);
    let _ = write!(
        source,
        "\n/// The target directory the guests were built in (for tests that run cargo on them).\n\
         pub const TARGET_DIR: &str = {:?};\n",
        target_dir
            .to_str()
            .ok_or("the target directory is not valid UTF-8")?
    );
    let generated = out_dir.join("guests.rs");
    if fs::read_to_string(&generated).ok().as_deref() != Some(source.as_str()) {
        fs::write(&generated, source)
            .map_err(|err| format!("cannot write {}: {err}", generated.display()))?;
    }
    Ok(())
}

/// Builds the tasks of a scripted language (`guests::PYTHON`, `guests::JAVASCRIPT`) with its
/// tool into `target/<lang>/tasks` (when their sources are newer; not in OUT_DIR, which
/// differs between `cargo clippy` and `cargo test`, so one build serves both) and returns
/// their constants. Without the tool their paths are empty and their tests say they were
/// skipped, unless `MPWASM_REQUIRE_PYTHON=1` / `MPWASM_REQUIRE_JS=1` (CI sets them) makes
/// that an error.
fn scripted_guests(root: &Path, lang: &guests::Scripted) -> Result<String, String> {
    println!("cargo:rerun-if-env-changed={}", lang.tool_env);
    println!("cargo:rerun-if-env-changed={}", lang.required_env);
    println!(
        "cargo:rerun-if-changed={}",
        root.join(lang.installed).display()
    );
    let tool = lang.tool(root);
    let names = lang.names(root)?;
    let mut src = String::new();
    let mut all = String::new();
    for name in &names {
        let constant = name.replace('-', "_").to_uppercase();
        let path = match &tool {
            Some(tool) => {
                let out = lang.build(tool, root, name)?;
                out.to_str()
                    .ok_or_else(|| format!("{} is not valid UTF-8", out.display()))?
                    .to_string()
            }
            None if lang.required() => {
                return Err(format!(
                    "{} is not installed, and {}=1 asks for the {} tasks of {}: run `cargo \
                     xtask setup` (it installs it into target/)",
                    lang.tool_name, lang.required_env, lang.lang, lang.dir
                ));
            }
            None => String::new(),
        };
        let _ = writeln!(
            src,
            "\n/// Path of the built {} task `{name}` (empty when {} was missing).\npub const {constant}: &str = {path:?};",
            lang.lang, lang.tool_name
        );
        let _ = writeln!(all, "    ({name:?}, {constant}),");
    }
    if tool.is_none() && !names.is_empty() {
        println!(
            "cargo:warning={} is not installed: the {} tasks are not built and their tests are \
             skipped (`cargo xtask setup` installs it)",
            lang.tool_name, lang.lang
        );
    }
    let _ = write!(
        src,
        "\n/// Every {} task as `(name, path of the built .wasm)` (paths empty when {} was \
         missing).\npub const {}: &[(&str, &str)] = &[\n{all}];\n",
        lang.lang,
        lang.tool_name,
        lang.lang.to_uppercase()
    );
    Ok(src)
}

fn env_var(name: &str) -> Result<String, String> {
    env::var(name).map_err(|err| format!("${name}: {err}"))
}

/// Fails with the fix when the active toolchain lacks one of the wasm targets.
fn check_targets_installed(targets: &[&str]) -> Result<(), String> {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let output = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .map_err(|err| format!("cannot run `{rustc} --print sysroot`: {err}"))?;
    if !output.status.success() {
        return Err(format!(
            "`{rustc} --print sysroot` failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let sysroot = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    for target in targets {
        if !sysroot.join("lib/rustlib").join(target).is_dir() {
            return Err(format!(
                "the {target} target is not installed: run `rustup target add wasm32-wasip2 \
                 wasm32-unknown-unknown` (or `cargo xtask setup`)"
            ));
        }
    }
    Ok(())
}

/// One nested `cargo build` for all the guests of one target, run from the workspace root.
fn build(root: &Path, target_dir: &Path, target: &str, guests: &[&Guest]) -> Result<(), String> {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(&cargo);
    // `--locked` is safe: the outer cargo resolved the whole workspace, guests included, and
    // wrote Cargo.lock before running this script.
    command
        .args([
            "build",
            "--release",
            "--locked",
            "--target",
            target,
            "--target-dir",
        ])
        .arg(target_dir)
        .current_dir(root)
        // Our stdout is read by cargo for `cargo:` lines; the nested build reports on stderr.
        .stdout(Stdio::from(std::io::stderr()));
    for guest in guests {
        command.args(["-p", &guest.name]);
    }
    for name in OUTER_ONLY_ENV {
        command.env_remove(name);
    }
    let status = command
        .status()
        .map_err(|err| format!("cannot run {cargo}: {err}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("building the {target} guests failed ({status})"))
    }
}

/// Builds the test binary of a `kind = "tests"` guest (`cargo test --no-run`) and returns its
/// path, which cargo reports in its JSON messages (the file name carries a hash).
fn build_tests(
    root: &Path,
    target_dir: &Path,
    target: &str,
    guest: &Guest,
) -> Result<PathBuf, String> {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(&cargo);
    command
        .args([
            "test",
            "--no-run",
            "--release",
            "--locked",
            "--message-format=json-render-diagnostics",
            "--target",
            target,
            "-p",
            &guest.name,
            "--target-dir",
        ])
        .arg(target_dir)
        .current_dir(root)
        .stderr(Stdio::inherit());
    for name in OUTER_ONLY_ENV {
        command.env_remove(name);
    }
    let output = command
        .output()
        .map_err(|err| format!("cannot run {cargo}: {err}"))?;
    if !output.status.success() {
        return Err(format!(
            "building the tests of {} failed ({})",
            guest.name, output.status
        ));
    }
    guests::test_executable(&String::from_utf8_lossy(&output.stdout))
        .ok_or_else(|| format!("cargo reported no test binary for {}", guest.name))
}

/// The text of `guests.rs`.
fn generate(built: &[(Guest, PathBuf)]) -> Result<String, String> {
    let mut src =
        String::from("// Generated by tests/artifacts/build.rs from the crates in guest-tasks/.\n");
    let mut all = String::new();
    let mut core_modules = Vec::new();
    let mut calls = String::new();
    for (guest, path) in built {
        let path = path
            .to_str()
            .ok_or_else(|| format!("{} is not valid UTF-8", path.display()))?;
        let constant = guest.name.replace('-', "_").to_uppercase();
        let ident = guest.name.replace('-', "_");
        let kind = if guest.is_component() {
            "a component"
        } else {
            "a core module"
        };
        let name = &guest.name;
        let target = &guest.target;
        // `writeln!` into a String cannot fail.
        let _ = writeln!(
            src,
            "\n/// Path of the built `{name}` guest: {kind} for {target}.\npub const {constant}: &str = {path:?};"
        );
        let _ = writeln!(all, "    ({name:?}, {constant}),");
        if !guest.is_component() {
            core_modules.push(format!("{name:?}"));
        }
        let _ = writeln!(calls, "        $mac!({ident});");
    }
    let core_modules = core_modules.join(", ");
    let _ = write!(
        src,
        r#"
/// Every guest as `(package name, path of the built .wasm)`, sorted by name.
pub const ALL: &[(&str, &str)] = &[
{all}];

/// Package names of the guests built as plain core modules instead of components.
pub const CORE_MODULES: &[&str] = &[{core_modules}];

/// Calls `$mac!(name)` once per guest, `name` being its package name as an identifier (`-`
/// becomes `_`). A test file can define one test per guest with it, or check that it has one.
#[macro_export]
macro_rules! foreach_guest {{
    ($mac:ident) => {{
{calls}    }};
}}
"#
    );
    Ok(src)
}
