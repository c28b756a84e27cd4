//! The guest task crates under `guest-tasks/`: each one's package name and the target it is built
//! for, and how a Python task of `guest-tasks/python/` is built. Shared by the xtask and by
//! `tests/artifacts/build.rs` (which includes this file with `#[path]`), so
//! the list of guests is the directory listing and is written down nowhere else.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Target of every guest that does not name another one: WebAssembly components.
pub const COMPONENT_TARGET: &str = "wasm32-wasip2";

/// Manifest section where a guest names a different target, as `target = "..."`.
const METADATA_SECTION: &str = "[package.metadata.mpwasm]";

/// What a guest crate builds into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuestKind {
    /// A task module: a `cdylib` exporting functions (the default).
    Task,
    /// A WASI command: a `fn main` binary (`kind = "command"`).
    Command,
    /// A libtest test binary, built with `cargo test --no-run` (`kind = "tests"`).
    Tests,
}

/// One crate under `guest-tasks/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guest {
    /// Package name, e.g. `core-square`.
    pub name: String,
    /// Rust target it is built for: [`COMPONENT_TARGET`] unless its manifest's
    /// `[package.metadata.mpwasm]` section sets `target`.
    pub target: String,
    /// What it builds into: [`GuestKind::Task`] unless the metadata section sets `kind`.
    pub kind: GuestKind,
}

impl Guest {
    /// File name of the built artifact: the library name (`-` becomes `_`) plus `.wasm`, or
    /// for a command the package name plus `.wasm`. (A test binary's name carries a hash that
    /// only cargo knows.)
    pub fn wasm_file_name(&self) -> String {
        match self.kind {
            GuestKind::Command => format!("{}.wasm", self.name),
            GuestKind::Task | GuestKind::Tests => format!("{}.wasm", self.name.replace('-', "_")),
        }
    }

    /// Whether the guest is a component (built for [`COMPONENT_TARGET`]) rather than a plain core
    /// module.
    pub fn is_component(&self) -> bool {
        self.target == COMPONENT_TARGET
    }
}

/// The test binary in the JSON messages of `cargo test --no-run --message-format=json`: the
/// `executable` of the artifact built with the test profile. Read without a JSON parser (the
/// build script has none); a path holding `"` or `\` is not found.
pub fn test_executable(cargo_json: &str) -> Option<PathBuf> {
    const KEY: &str = "\"executable\":\"";
    cargo_json
        .lines()
        .filter(|line| {
            line.contains("\"reason\":\"compiler-artifact\"") && line.contains("\"test\":true")
        })
        .find_map(|line| {
            let start = line.find(KEY)? + KEY.len();
            let end = start + line[start..].find(['"', '\\'])?;
            (line[end..].starts_with('"')).then(|| PathBuf::from(&line[start..end]))
        })
}

/// Reads `guest-tasks/*/Cargo.toml` below `workspace_root`; the guests come sorted by name.
///
/// # Errors
///
/// Fails when the directory or a manifest cannot be read, or a manifest has no package name.
pub fn discover(workspace_root: &Path) -> io::Result<Vec<Guest>> {
    let mut guests = Vec::new();
    for entry in fs::read_dir(workspace_root.join("guest-tasks"))? {
        let manifest = entry?.path().join("Cargo.toml");
        if !manifest.is_file() {
            continue;
        }
        let text = fs::read_to_string(&manifest)?;
        let guest = parse_manifest(&text).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: no `name` in its [package] section", manifest.display()),
            )
        })?;
        guests.push(guest);
    }
    guests.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(guests)
}

/// The targets the guests are built for, each once, [`COMPONENT_TARGET`] first.
pub fn targets(guests: &[Guest]) -> Vec<&str> {
    let mut targets = vec![COMPONENT_TARGET];
    for guest in guests {
        if !targets.contains(&guest.target.as_str()) {
            targets.push(&guest.target);
        }
    }
    targets
}

/// The guests built for `target`.
pub fn for_target<'a>(guests: &'a [Guest], target: &str) -> Vec<&'a Guest> {
    guests
        .iter()
        .filter(|guest| guest.target == target)
        .collect()
}

/// Finds the package name and the optional target in a guest manifest. A line-based reading of
/// the two keys we need, not a TOML parser: values must be plain double-quoted strings.
fn parse_manifest(text: &str) -> Option<Guest> {
    let mut section = "";
    let mut name = None;
    let mut target = None;
    let mut kind = GuestKind::Task;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line;
        } else if let Some((key, value)) = line.split_once('=') {
            let value = value.trim().split('"').nth(1);
            match (section, key.trim()) {
                ("[package]", "name") => name = value,
                (METADATA_SECTION, "target") => target = value,
                (METADATA_SECTION, "kind") => {
                    kind = match value {
                        Some("command") => GuestKind::Command,
                        Some("tests") => GuestKind::Tests,
                        _ => GuestKind::Task,
                    }
                }
                _ => {}
            }
        }
    }
    Some(Guest {
        name: name?.to_owned(),
        target: target.unwrap_or(COMPONENT_TARGET).to_owned(),
        kind,
    })
}

/// A language whose tasks are built by a componentizer instead of cargo: each task is
/// `DIR/NAME/SOURCE`, built against the world `NAME` of `wit/` into `OUT/NAME.wasm` (`-` as
/// `_`), with a tool that `cargo xtask setup` installs below `target/`.
pub struct Scripted {
    /// The language's name, for messages.
    pub lang: &'static str,
    /// Where its tasks live, below the workspace root.
    pub dir: &'static str,
    /// Each task's source file.
    pub source: &'static str,
    /// The tool's name.
    pub tool_name: &'static str,
    /// The variable naming another tool.
    pub tool_env: &'static str,
    /// Where `cargo xtask setup` installs the tool, below the workspace root.
    pub installed: &'static str,
    /// The variable (`=1`) that makes a missing tool an error (CI sets it).
    pub required_env: &'static str,
    /// Where its tasks are built, below the workspace root.
    pub out: &'static str,
}

/// Python tasks, built by componentize-py from PyPI.
pub const PYTHON: Scripted = Scripted {
    lang: "Python",
    dir: "guest-tasks/python",
    source: "app.py",
    tool_name: "componentize-py",
    tool_env: "MPWASM_COMPONENTIZE_PY",
    installed: "target/python/bin/componentize-py",
    required_env: "MPWASM_REQUIRE_PYTHON",
    out: "target/python/tasks",
};

/// JavaScript tasks, built by componentize-js from npm.
pub const JAVASCRIPT: Scripted = Scripted {
    lang: "JavaScript",
    dir: "guest-tasks/js",
    source: "app.js",
    tool_name: "componentize-js",
    tool_env: "MPWASM_COMPONENTIZE_JS",
    installed: "target/js/node_modules/.bin/componentize-js",
    required_env: "MPWASM_REQUIRE_JS",
    out: "target/js/tasks",
};

impl Scripted {
    /// The tool to build with: `$TOOL_ENV`, the one `cargo xtask setup` installed, or one on
    /// the `PATH`.
    pub fn tool(&self, workspace_root: &Path) -> Option<PathBuf> {
        let installed = workspace_root.join(self.installed);
        std::env::var_os(self.tool_env)
            .map(PathBuf::from)
            .or_else(|| installed.is_file().then_some(installed))
            .or_else(|| {
                std::process::Command::new(self.tool_name)
                    .arg("--version")
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
                    .then(|| PathBuf::from(self.tool_name))
            })
    }

    /// Whether `$REQUIRED_ENV=1`.
    pub fn required(&self) -> bool {
        std::env::var_os(self.required_env).is_some_and(|v| v == "1")
    }

    /// The built file of the task `name`.
    pub fn output(&self, workspace_root: &Path, name: &str) -> PathBuf {
        workspace_root
            .join(self.out)
            .join(format!("{}.wasm", name.replace('-', "_")))
    }

    /// Builds the task `name` with `tool`, unless its output is newer than every file of the
    /// task and of `wit/`; returns the output's path.
    ///
    /// # Errors
    /// When the tool cannot run or fails.
    pub fn build(&self, tool: &Path, workspace_root: &Path, name: &str) -> Result<PathBuf, String> {
        let wit = workspace_root.join("wit");
        let app = workspace_root.join(self.dir).join(name);
        let out = self.output(workspace_root, name);
        if newest(&[&app, &wit]) <= modified(&out) {
            return Ok(out);
        }
        // Built in a scratch directory (componentize-py leaves its bindings in the working
        // directory) and renamed into place only when whole, so a build cut short is not
        // taken as up to date.
        let scratch = out.with_extension("build");
        let partial = scratch.join("task.wasm");
        let _ = fs::remove_dir_all(&scratch);
        fs::create_dir_all(&scratch).map_err(|e| format!("{}: {e}", scratch.display()))?;
        let mut command = std::process::Command::new(tool);
        if self.source == "app.py" {
            command
                .arg("-d")
                .arg(&wit)
                .args(["-w", name, "componentize", "app", "-p"])
                .arg(&app);
            // A task bundling libraries from PyPI pins them in requirements.txt: installed
            // into the scratch directory, which joins the module path.
            let requirements = app.join("requirements.txt");
            if requirements.is_file() {
                let deps = scratch.join("deps");
                pip_install(tool, &requirements, &deps)?;
                command.arg("-p").arg(&deps);
            }
        } else {
            command
                .arg(app.join(self.source))
                .arg("-w")
                .arg(&wit)
                .args(["-n", name]);
        }
        let status = command
            .arg("-o")
            .arg(&partial)
            .current_dir(&scratch)
            // No __pycache__ in guest-tasks/: it would look like a change and rebuild.
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdout(std::process::Stdio::from(std::io::stderr()))
            .status()
            .map_err(|e| format!("cannot run {}: {e}", tool.display()))?;
        let placed = status.success() && fs::rename(&partial, &out).is_ok();
        let _ = fs::remove_dir_all(&scratch);
        if placed {
            Ok(out)
        } else {
            Err(format!(
                "building the {} task {name} failed ({status})",
                self.lang
            ))
        }
    }

    /// The names of its tasks (directories holding its source file), sorted.
    ///
    /// # Errors
    /// When the directory cannot be read.
    pub fn names(&self, workspace_root: &Path) -> Result<Vec<String>, String> {
        let dir = workspace_root.join(self.dir);
        let mut names: Vec<String> = fs::read_dir(&dir)
            .map_err(|e| format!("cannot list {}: {e}", dir.display()))?
            .filter_map(|entry| entry.ok())
            .filter(|entry| entry.path().join(self.source).is_file())
            .filter_map(|entry| entry.file_name().to_str().map(str::to_string))
            .collect();
        names.sort();
        Ok(names)
    }
}

/// Installs the pinned `requirements` into `target` with the pip beside `tool` (the
/// componentize-py of a virtual environment), else `python3 -m pip`.
fn pip_install(tool: &Path, requirements: &Path, target: &Path) -> Result<(), String> {
    let beside = tool.with_file_name("pip");
    let mut pip = if beside.is_file() {
        std::process::Command::new(beside)
    } else {
        let mut python = std::process::Command::new("python3");
        python.args(["-m", "pip"]);
        python
    };
    let status = pip
        .args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--target",
        ])
        .arg(target)
        .arg("-r")
        .arg(requirements)
        .stdout(std::process::Stdio::from(std::io::stderr()))
        .status()
        .map_err(|e| format!("cannot run pip: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "pip could not install {} ({status}): a task's libraries come from PyPI",
            requirements.display()
        ))
    }
}

/// When the file at `path` was last modified (the epoch when it does not exist).
fn modified(path: &Path) -> std::time::SystemTime {
    fs::metadata(path)
        .and_then(|m| m.modified())
        .unwrap_or(std::time::UNIX_EPOCH)
}

/// The newest modification time of any file below `dirs`.
fn newest(dirs: &[&Path]) -> std::time::SystemTime {
    let mut newest = std::time::UNIX_EPOCH;
    let mut stack: Vec<PathBuf> = dirs.iter().map(|d| d.to_path_buf()).collect();
    while let Some(path) = stack.pop() {
        match fs::read_dir(&path) {
            Ok(entries) => stack.extend(entries.filter_map(|e| e.ok()).map(|e| e.path())),
            Err(_) => newest = newest.max(modified(&path)),
        }
    }
    newest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_are_read() {
        type Expected<'a> = Option<(&'a str, &'a str, GuestKind)>;
        let cases: &[(&str, Expected)] = &[
            (
                "[package]\nname = \"square\"\nversion.workspace = true\n",
                Some(("square", COMPONENT_TARGET, GuestKind::Task)),
            ),
            (
                "# comment\n[package]\nname = \"core-square\"\n\n[package.metadata.mpwasm]\n\
                 target = \"wasm32-unknown-unknown\"\n",
                Some(("core-square", "wasm32-unknown-unknown", GuestKind::Task)),
            ),
            // `name` outside [package] does not count.
            ("[lib]\nname = \"square\"\n", None),
            (
                "[package]\nname=\"x\"\n[dependencies]\ntarget = \"no\"\n",
                Some(("x", COMPONENT_TARGET, GuestKind::Task)),
            ),
            (
                "[package]\nname = \"t\"\n[package.metadata.mpwasm]\nkind = \"tests\"\n",
                Some(("t", COMPONENT_TARGET, GuestKind::Tests)),
            ),
            (
                "[package]\nname = \"c\"\n[package.metadata.mpwasm]\nkind = \"command\"\n",
                Some(("c", COMPONENT_TARGET, GuestKind::Command)),
            ),
        ];
        for (text, expected) in cases {
            let expected = expected.map(|(name, target, kind)| Guest {
                name: name.to_owned(),
                target: target.to_owned(),
                kind,
            });
            assert_eq!(parse_manifest(text), expected, "{text}");
        }
    }

    #[test]
    fn test_executables_are_found_in_cargo_messages() {
        let messages = concat!(
            r#"{"reason":"compiler-artifact","profile":{"test":false},"executable":null}"#,
            "\n",
            r#"{"reason":"compiler-artifact","profile":{"opt_level":"3","test":true},"executable":"/t/deps/x-0123.wasm","fresh":true}"#,
            "\n",
            r#"{"reason":"build-finished","success":true}"#,
        );
        assert_eq!(
            test_executable(messages),
            Some(PathBuf::from("/t/deps/x-0123.wasm"))
        );
        assert_eq!(test_executable(r#"{"reason":"build-finished"}"#), None);
    }

    #[test]
    fn targets_put_components_first() {
        let guest = |name: &str, target: &str| Guest {
            name: name.to_owned(),
            target: target.to_owned(),
            kind: GuestKind::Task,
        };
        let guests = [
            guest("core-square", "wasm32-unknown-unknown"),
            guest("square", COMPONENT_TARGET),
        ];
        assert_eq!(
            targets(&guests),
            [COMPONENT_TARGET, "wasm32-unknown-unknown"]
        );
        assert_eq!(for_target(&guests, COMPONENT_TARGET), [&guests[1]]);
        assert_eq!(guests[0].wasm_file_name(), "core_square.wasm");
        assert!(!guests[0].is_component());
    }
}
