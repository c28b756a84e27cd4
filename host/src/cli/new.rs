//! `mpwasm new NAME [--path DIR]`: writes a task crate that builds and runs at once: a
//! Cargo.toml (a `cdylib` with wit-bindgen, its own workspace), a WIT world with one function,
//! `src/lib.rs` implementing it, and a README with the two commands that build and run it.
//! With `--shared`, the world imports the job's shared store (`mpwasm:shared`, whose WIT is
//! written to `wit/deps/shared/`) and the function counts words into it. With `--lang python`
//! it writes a Python task instead: the WIT world, `app.py` and a `build.sh` that builds it
//! with componentize-py (installed into `.venv` from PyPI the first time); with `--lang js` a
//! JavaScript task: the world, `app.js`, a `package.json` naming componentize-js and a
//! `build.sh` that installs it with npm the first time and builds.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};

use super::ExitCode;
use super::args::{Lang, NewArgs};

/// The wit-bindgen the generated crate uses (the one the example tasks use).
const WIT_BINDGEN: &str = "0.61";
/// The componentize-py a Python task's `build.sh` installs (the one the tests build with).
const COMPONENTIZE_PY: &str = "0.25.1";
/// The componentize-js a JavaScript task's `package.json` names (the one the tests build with).
const COMPONENTIZE_JS: &str = "0.23.0";

/// Whether `name` can be a crate name and (with `-` for `_`) a WIT identifier.
fn valid(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && !name.ends_with(['-', '_'])
        && !name.contains("--")
        && !name.contains("__")
}

fn files(name: &str, shared: bool) -> Vec<(&'static str, String)> {
    if shared {
        return shared_files(name);
    }
    let world = name.replace('_', "-");
    let lib = name.replace('-', "_");
    let cargo = format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
publish = false

# A task module is a WebAssembly component library: build it with
# `cargo build --release --target wasm32-wasip2`.
[lib]
crate-type = ["cdylib"]

[dependencies]
wit-bindgen = "{WIT_BINDGEN}"

[profile.release]
strip = "debuginfo"

# Its own workspace, so it builds wherever it is created.
[workspace]
"#
    );
    let wit = format!(
        r#"package local:{world};

/// The task's interface: what mpwasm can call. Add functions here and implement them in
/// src/lib.rs; any WIT types work (records, lists, options, results, ...), as JSON.
world {world} {{
  /// Returns `x * x` (wrapping on overflow).
  export square: func(x: u64) -> u64;
}}
"#
    );
    let lib_rs = format!(
        r#"//! The `{name}` task: the functions of the world in `wit/world.wit`, for mpwasm.

wit_bindgen::generate!({{ path: "wit", world: "{world}" }});

struct Task;

impl Guest for Task {{
    /// Called once per input: `mpwasm run ... --map 0..10` calls `square(0)` ... `square(9)`,
    /// each in a sandbox. Print with `println!` (shown per task); a panic fails only this
    /// input, with its message.
    fn square(x: u64) -> u64 {{
        x.wrapping_mul(x)
    }}
}}

export!(Task);
"#
    );
    let readme = format!(
        r#"# {name}

A task for mpwasm: `square(x)`, called once per input, each call in a sandbox.

```sh
rustup target add wasm32-wasip2                     # once
cargo build --release --target wasm32-wasip2
mpwasm run target/wasm32-wasip2/release/{lib}.wasm --map 0..10
```

Change the function in `wit/world.wit` and `src/lib.rs`; `mpwasm inspect
target/wasm32-wasip2/release/{lib}.wasm` shows what the module exports.
"#
    );
    vec![
        ("Cargo.toml", cargo),
        ("wit/world.wit", wit),
        ("src/lib.rs", lib_rs),
        ("README.md", readme),
        (".gitignore", "/target\n".to_string()),
    ]
}

/// The WIT world `world` of a Python or JavaScript task, exporting `square`; `how` ends the
/// sentence saying how to add functions.
fn square_world(world: &str, how: &str) -> String {
    format!(
        r#"package local:{world};

/// The task's interface: what mpwasm can call. Add functions here and {how}
world {world} {{
  /// Returns `x * x`.
  export square: func(x: u64) -> u64;
}}
"#
    )
}

/// The files of a Python task: the world, `app.py`, `build.sh` and a README.
fn python_files(name: &str) -> Vec<(&'static str, String)> {
    let world = name.replace('_', "-");
    let wasm = format!("{}.wasm", name.replace('-', "_"));
    let wit = square_world(
        &world,
        "implement them as\n/// methods in app.py; any WIT types work (records arrive as \
         dataclasses), as JSON.",
    );
    let app = r#""""The task: one method per function of the world in wit/world.wit, for mpwasm.

Each call runs in a sandbox: no files, no network, no environment unless mpwasm grants them.
print() is shown per task; an exception fails only this input, with its type and message.
"""

import wit_world


class WitWorld(wit_world.WitWorld):
    def square(self, x: int) -> int:
        # u64 wraps like the Rust task: keep the result in range.
        return (x * x) % (1 << 64)
"#
    .to_string();
    let build = format!(
        r#"#!/bin/sh
# Builds {wasm} from app.py and wit/ with componentize-py, which it installs into .venv from
# PyPI the first time ($COMPONENTIZE_PY names another one).
set -eu
cd "$(dirname "$0")"
tool="${{COMPONENTIZE_PY:-.venv/bin/componentize-py}}"
if [ ! -x "$tool" ]; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check componentize-py=={COMPONENTIZE_PY}
  tool=.venv/bin/componentize-py
fi
"$tool" -d wit -w {world} componentize app -o {wasm}
"#
    );
    let readme = format!(
        r#"# {name}

A task for mpwasm written in Python: `square(x)`, called once per input, each call in a
sandbox. componentize-py builds `app.py` and the world in `wit/world.wit` into a component with
CPython inside.

```sh
sh build.sh                                # installs componentize-py into .venv the first time
mpwasm run {wasm} --map 0..10
```

Change the function in `wit/world.wit` and `app.py`; `mpwasm inspect {wasm}` shows what the
component exports. The first run compiles CPython for this machine (about 15 s; cached after).
Only the modules `app.py` imports when it is built are bundled (add pure-Python libraries with
`pip install --target deps NAME` and `-p . -p deps` on componentize-py's line); there is no
`socket`; an instance starts with about 12 MiB of memory, so keep `--memory` above 16 MiB.
"#
    );
    vec![
        ("wit/world.wit", wit),
        ("app.py", app),
        ("build.sh", build),
        ("README.md", readme),
        (".gitignore", format!(".venv/\n__pycache__/\n{wasm}\n")),
    ]
}

/// The files of a JavaScript task: the world, `app.js`, `package.json`, `build.sh` and a
/// README.
fn js_files(name: &str) -> Vec<(&'static str, String)> {
    let world = name.replace('_', "-");
    let wasm = format!("{}.wasm", name.replace('-', "_"));
    let wit = square_world(
        &world,
        "export them from\n/// app.js (kebab-case names become camelCase); any WIT types \
         work, as JSON.",
    );
    let app = r#"// The task: one exported function per function of the world in wit/world.wit, for mpwasm.
//
// Each call runs in a sandbox: no files, no network, no environment unless mpwasm grants them.
// console.log() is shown per task. An exception fails only this input, with its message and
// where it was thrown.

// A u64 arrives as a BigInt; wrap like the Rust task to stay in range.
export function square(x) {
  return (x * x) % (1n << 64n);
}
"#
    .to_string();
    let package = format!(
        r#"{{
  "name": "{name}",
  "private": true,
  "type": "module",
  "scripts": {{
    "build": "componentize-js app.js -w wit -n {world} -o {wasm}"
  }},
  "devDependencies": {{
    "@bytecodealliance/componentize-js": "{COMPONENTIZE_JS}"
  }}
}}
"#
    );
    let build = format!(
        r#"#!/bin/sh
# Builds {wasm} from app.js and wit/ with componentize-js, which npm installs into node_modules
# the first time ($COMPONENTIZE_JS names another one).
set -eu
cd "$(dirname "$0")"
tool="${{COMPONENTIZE_JS:-node_modules/.bin/componentize-js}}"
if [ ! -x "$tool" ]; then
  npm install --silent --no-audit --no-fund
  tool=node_modules/.bin/componentize-js
fi
"$tool" app.js -w wit -n {world} -o {wasm}
"#
    );
    let readme = format!(
        r#"# {name}

A task for mpwasm written in JavaScript: `square(x)`, called once per input, each call in a
sandbox. componentize-js builds `app.js` and the world in `wit/world.wit` into a component with
SpiderMonkey inside.

```sh
sh build.sh                                # installs componentize-js with npm the first time
mpwasm run {wasm} --map 0..10
```

Change the function in `wit/world.wit` and `app.js`; `mpwasm inspect {wasm}` shows what the
component exports. The first run compiles SpiderMonkey for this machine (a few seconds; cached
after). Only what `app.js` imports is bundled, there are no `node:` modules and no network, and
an uncaught exception fails only its input, with its message and where it was thrown.
"#
    );
    vec![
        ("wit/world.wit", wit),
        ("app.js", app),
        ("package.json", package),
        ("build.sh", build),
        ("README.md", readme),
        (
            ".gitignore",
            format!(
                "node_modules/
package-lock.json
{wasm}
"
            ),
        ),
    ]
}

/// The files of a task using the shared store: `count(text)` adds each word to its count.
fn shared_files(name: &str) -> Vec<(&'static str, String)> {
    let world = name.replace('_', "-");
    let lib = name.replace('-', "_");
    let mut files = files(name, false);
    let wit = format!(
        r#"package local:{world};

/// The task's interface. It imports the job's shared store (`wit/deps/shared/shared.wit`,
/// answered by mpwasm): every task of one run sees the same keys, and `incr` is atomic across
/// all the worker processes.
world {world} {{
  import mpwasm:shared/kv@0.1.0;

  /// Adds each word of `text` to its count in the shared store; returns how many words.
  export count: func(text: string) -> u32;
}}
"#
    );
    let lib_rs = format!(
        r#"//! The `{name}` task: counts words into the job's shared store, for mpwasm.

wit_bindgen::generate!({{ path: "wit", world: "{world}", generate_all }});

use mpwasm::shared::kv;

struct Task;

impl Guest for Task {{
    /// Called once per input, each call in a sandbox; every task's `incr` lands in the same
    /// store, which `--shared-out` writes when the run ends.
    fn count(text: String) -> u32 {{
        let mut words = 0;
        for word in text.split_whitespace() {{
            kv::incr(&word.to_lowercase(), 1);
            words += 1;
        }}
        words
    }}
}}

export!(Task);
"#
    );
    let readme = format!(
        r#"# {name}

A task for mpwasm that shares state with the other tasks of its run: `count(text)` adds each
word to its count in the job's shared store (`mpwasm:shared/kv`, see `wit/deps/shared/`).

```sh
rustup target add wasm32-wasip2                     # once
cargo build --release --target wasm32-wasip2
printf '"a rose is a rose"\n"is a rose"\n' |
  mpwasm run target/wasm32-wasip2/release/{lib}.wasm --input - --shared-out counts.json
cat counts.json                                     # {{"a": 3, "is": 2, "rose": 3}}
```

`wit/deps/shared/shared.wit` documents every function: `kv` (get, set, incr,
compare-and-swap, delete, keys), `queue` (push, pop with a timeout) and `work` (submit an
input to the running job).
"#
    );
    for (file, text) in &mut files {
        match *file {
            "wit/world.wit" => *text = wit.clone(),
            "src/lib.rs" => *text = lib_rs.clone(),
            "README.md" => *text = readme.clone(),
            _ => {}
        }
    }
    files.push((
        "wit/deps/shared/shared.wit",
        mpwasm::shared::WIT.to_string(),
    ));
    files
}

/// Runs the command.
///
/// # Errors
/// When the name is not a crate name, or the directory cannot be written.
pub fn run(args: NewArgs) -> Result<ExitCode> {
    if !valid(&args.name) {
        bail!(
            "invalid task name `{}`: use lowercase letters, digits, `-` and `_`, starting with a \
             letter (e.g. `my-task`)",
            args.name
        );
    }
    let dir = args.path.unwrap_or_else(|| PathBuf::from(&args.name));
    if dir.exists()
        && std::fs::read_dir(&dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        bail!(
            "{} already exists and is not empty; choose another --path",
            dir.display()
        );
    }
    if args.shared && args.lang != Lang::Rust {
        bail!("--shared writes a Rust task; leave out --lang, or --shared");
    }
    let files = match args.lang {
        Lang::Rust => files(&args.name, args.shared),
        Lang::Python => python_files(&args.name),
        Lang::Js => js_files(&args.name),
    };
    for (file, text) in files {
        let path = dir.join(file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        if file.ends_with(".sh") {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755));
        }
    }
    let lib = args.name.replace('-', "_");
    if let Some(lang) = match args.lang {
        Lang::Python => Some("Python"),
        Lang::Js => Some("JavaScript"),
        Lang::Rust => None,
    } {
        println!(
            "created the {lang} task {name} in {dir}\n\nbuild and run it:\n  cd {dir}\n  \
             sh build.sh\n  mpwasm run {lib}.wasm --map 0..10",
            name = args.name,
            dir = dir.display(),
        );
        return Ok(ExitCode::Success);
    }
    let run = if args.shared {
        format!(
            "printf '\"a b a\"\\n' | mpwasm run target/wasm32-wasip2/release/{lib}.wasm --input - \
             --shared-out counts.json"
        )
    } else {
        format!("mpwasm run target/wasm32-wasip2/release/{lib}.wasm --map 0..10")
    };
    println!(
        "created the task crate {name} in {dir}\n\nbuild and run it:\n  cd {dir}\n  \
         cargo build --release --target wasm32-wasip2\n  {run}",
        name = args.name,
        dir = dir.display(),
    );
    Ok(ExitCode::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for good in ["a", "my-task", "task_2"] {
            assert!(valid(good), "{good}");
        }
        for bad in ["", "My", "1x", "a b", "x-", "a--b", "ünï"] {
            assert!(!valid(bad), "{bad}");
        }
    }
}
