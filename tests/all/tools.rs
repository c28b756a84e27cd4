//! The tools around running: `mpwasm inspect` (text and JSON), `mpwasm new` (the generated
//! crate builds for wasm32-wasip2 and runs at once) and `mpwasm completions`.

use std::process::Command;

use mpwasm_test_artifacts::guests;

use crate::common::{mpwasm, mpwasm_bin, temp_dir};

#[test]
fn inspect_shows_kind_signatures_imports_and_sizes() {
    let kitchen = mpwasm(&["inspect", guests::KITCHEN]);
    assert_eq!(kitchen.code, 0, "{kitchen:?}");
    assert!(
        kitchen.stdout.contains("component with task functions"),
        "{kitchen:?}"
    );
    assert!(
        kitchen.stdout.contains("add: func(a: s32, b: s32) -> s32"),
        "{kitchen:?}"
    );
    // Records are spelled out.
    assert!(kitchen.stdout.contains("record {"), "{kitchen:?}");
    assert!(
        kitchen.stdout.contains("compiled for this machine"),
        "{kitchen:?}"
    );
    // A Rust task's few hundred bytes of data are copied into a new instance.
    assert!(
        kitchen
            .stdout
            .contains("of data, copied into each new instance"),
        "{kitchen:?}"
    );

    // A test binary is a program, and it reads files (one of its tests probes the host).
    let json = mpwasm(&["inspect", "--json", guests::UNTRUSTED_TESTS]);
    assert_eq!(json.code, 0, "{json:?}");
    let value: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
    assert_eq!(value["kind"], "component");
    assert_eq!(value["program"], true);
    assert!(value["size"].as_u64().is_some_and(|s| s > 1000));
    assert!(value["compiled_size"].as_u64().is_some_and(|s| s > 1000));
    assert!(value["data_size"].as_u64().is_some(), "{value}");
    let imports = value["imports"].as_array().expect("imports");
    let filesystem = imports
        .iter()
        .find(|i| {
            i["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("wasi:filesystem/"))
        })
        .expect("a program that reads files imports the filesystem");
    assert!(
        filesystem["grant"]
            .as_str()
            .is_some_and(|g| g.contains("--dir"))
    );

    let core = mpwasm(&["inspect", guests::CORE_SQUARE]);
    assert!(
        core.stdout.contains("core module with task functions"),
        "{core:?}"
    );
    let missing = mpwasm(&["inspect", "/nonexistent.wasm"]);
    assert_eq!(missing.code, 2, "{missing:?}");
}

#[test]
fn completions_for_each_shell() {
    for (shell, marker) in [
        ("bash", "_mpwasm()"),
        ("zsh", "#compdef mpwasm"),
        ("fish", "complete -c mpwasm"),
    ] {
        let run = mpwasm(&["completions", shell]);
        assert_eq!(run.code, 0, "{shell}: {run:?}");
        assert!(run.stdout.contains(marker), "{shell}: {}", run.stdout);
        assert!(
            run.stdout.contains("joblog"),
            "{shell}: flags are completed"
        );
    }
    assert_eq!(mpwasm(&["completions", "tcsh"]).code, 2);
}

#[test]
fn new_writes_a_crate_that_builds_and_runs() {
    let dir = temp_dir("new");
    let crate_dir = dir.join("my-task");
    let created = mpwasm(&[
        "new",
        "my-task",
        "--path",
        crate_dir.to_str().expect("utf-8"),
    ]);
    assert_eq!(created.code, 0, "{created:?}");
    for file in ["Cargo.toml", "wit/world.wit", "src/lib.rs", "README.md"] {
        assert!(crate_dir.join(file).is_file(), "{file} is missing");
    }
    // A second time into the same place is refused; so is a bad name.
    assert_eq!(
        mpwasm(&[
            "new",
            "my-task",
            "--path",
            crate_dir.to_str().expect("utf-8")
        ])
        .code,
        2
    );
    assert_eq!(mpwasm(&["new", "Bad Name"]).code, 2);

    squares_0_to_10(&build_new_crate(&crate_dir, "new-task", "my_task"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs the task `mpwasm new` wrote (built at `wasm`) as its README says: `--map 0..10`
/// prints the squares.
fn squares_0_to_10(wasm: &std::path::Path) {
    let run = Command::new(mpwasm_bin())
        .args(["run", wasm.to_str().expect("utf-8"), "--map", "0..10", "-q"])
        .output()
        .expect("mpwasm runs");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let want: Vec<String> = (0u64..10).map(|i| (i * i).to_string()).collect();
    assert_eq!(stdout.lines().collect::<Vec<_>>(), want, "{run:?}");
}

#[test]
fn new_shared_writes_a_crate_that_counts_into_the_shared_store() {
    let dir = temp_dir("new-shared");
    let crate_dir = dir.join("counting");
    let created = mpwasm(&[
        "new",
        "counting",
        "--shared",
        "--path",
        crate_dir.to_str().expect("utf-8"),
    ]);
    assert_eq!(created.code, 0, "{created:?}");
    assert!(
        created.stdout.contains("--shared-out counts.json"),
        "{created:?}"
    );
    let shipped = std::fs::read_to_string(crate_dir.join("wit/deps/shared/shared.wit"))
        .expect("the shared WIT is written");
    assert!(shipped.contains("package mpwasm:shared@0.1.0;"));
    // Run as its README says.
    let wasm = build_new_crate(&crate_dir, "new-shared-task", "counting");
    let counts = dir.join("counts.json");
    let run = crate::common::mpwasm_with_stdin(
        &[
            "run",
            wasm.to_str().expect("utf-8"),
            "--input",
            "-",
            "--shared-out",
            counts.to_str().expect("utf-8"),
        ],
        "\"a rose is a rose\"\n\"is a rose\"\n",
    );
    assert_eq!(run.code, 0, "{run:?}");
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&counts).expect("written")).expect("JSON");
    assert_eq!(saved, serde_json::json!({"a": 3, "is": 2, "rose": 3}));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `mpwasm new NAME --lang LANG` into a fresh directory: it says so (naming the language),
/// writes `files`, and its `build.sh` builds `WASM` as its README says, installing the tool
/// itself (`tool_env`, which names another one, is cleared); the task squares 0..10.
fn new_scripted_task_builds_and_runs(
    lang: &str,
    language: &str,
    name: &str,
    files: &[&str],
    tool_env: &str,
) {
    let dir = temp_dir(&format!("new-{lang}"));
    let task_dir = dir.join(name);
    let created = mpwasm(&[
        "new",
        name,
        "--lang",
        lang,
        "--path",
        task_dir.to_str().expect("utf-8"),
    ]);
    assert_eq!(created.code, 0, "{created:?}");
    assert!(
        created.stdout.contains(&format!("{language} task"))
            && created.stdout.contains("sh build.sh"),
        "{created:?}"
    );
    for file in files {
        assert!(task_dir.join(file).is_file(), "{file} is missing");
    }
    let shared = mpwasm(&["new", "x", "--lang", lang, "--shared"]);
    assert_eq!(shared.code, 2, "--shared is for Rust tasks: {shared:?}");
    let build = Command::new("sh")
        .arg("build.sh")
        .current_dir(&task_dir)
        .env_remove(tool_env)
        .output()
        .expect("sh runs");
    assert!(
        build.status.success(),
        "{}",
        String::from_utf8_lossy(&build.stderr)
    );
    squares_0_to_10(&task_dir.join(format!("{}.wasm", name.replace('-', "_"))));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn new_python_writes_a_task_that_builds_and_runs() {
    if guests::PY_SQUARE.is_empty() {
        eprintln!("skipped: componentize-py is missing (cargo xtask setup installs it)");
        return;
    }
    // build.sh installs componentize-py into .venv from PyPI, then builds.
    let files = ["wit/world.wit", "app.py", "build.sh", "README.md"];
    new_scripted_task_builds_and_runs("python", "Python", "py-task", &files, "COMPONENTIZE_PY");
}

#[test]
fn new_js_writes_a_task_that_builds_and_runs() {
    if guests::JS_SQUARE.is_empty() {
        eprintln!("skipped: componentize-js is missing (cargo xtask setup installs it)");
        return;
    }
    // build.sh installs componentize-js into node_modules with npm, then builds.
    let files = [
        "wit/world.wit",
        "app.js",
        "package.json",
        "build.sh",
        "README.md",
    ];
    new_scripted_task_builds_and_runs("js", "JavaScript", "js-task", &files, "COMPONENTIZE_JS");
}

/// Builds the crate `mpwasm new` wrote in `crate_dir` as its README says, in a target
/// directory `target_name` kept between test runs; the path of its `LIB.wasm`.
fn build_new_crate(
    crate_dir: &std::path::Path,
    target_name: &str,
    lib: &str,
) -> std::path::PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let target = std::path::Path::new(guests::TARGET_DIR).join(target_name);
    let build = Command::new(cargo)
        .args(["build", "--release", "--target", "wasm32-wasip2"])
        .current_dir(crate_dir)
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .output()
        .expect("cargo runs");
    assert!(
        build.status.success(),
        "{}",
        String::from_utf8_lossy(&build.stderr)
    );
    target.join(format!("wasm32-wasip2/release/{lib}.wasm"))
}
