//! Tasks written in Python, built from `guest-tasks/python/` by componentize-py: the seed's
//! three examples run as the README shows, `square` without naming its function (its first
//! run saying that it compiles CPython, with a spinner on a terminal) (componentize-py's own `exports#init` hook is
//! not a task function), and a Python error says what Python said: the exception with where
//! it was raised, `sys.exit` as an exit, a result of the wrong type as the TypeError; and a
//! fresh instance starts from the interpreter's image every task; the sales summary over
//! `--csv` gives the Rust task's rows, and a library from PyPI is bundled and runs.
//!
//! Without componentize-py (`cargo xtask setup` installs it) the Python tasks are not built
//! and these tests say they were skipped; CI sets `MPWASM_REQUIRE_PYTHON=1`, which makes that
//! a build error instead.

use mpwasm::{ErrorKind, Pool};
use mpwasm_test_artifacts::guests;
use serde_json::json;

use crate::common::{self, mpwasm, mpwasm_with_stdin};

/// The built Python task at `path`, or `None` (saying so) when componentize-py was missing.
fn built(path: &'static str, name: &str) -> Option<&'static str> {
    if path.is_empty() {
        eprintln!("skipped: the Python task {name} was not built (componentize-py is missing)");
        return None;
    }
    Some(path)
}

#[test]
fn the_seeds_square_in_python_runs_without_naming_its_function() {
    let Some(task) = built(guests::PY_SQUARE, "py-square") else {
        return;
    };
    // In a cache of its own: the first run says it compiles CPython, the second does not.
    let cache = common::temp_dir("python-cache");
    for first in [true, false] {
        let out = std::process::Command::new(common::mpwasm_bin())
            .args(["run", task, "--map", "0..5"])
            .env("MPWASM_CACHE_DIR", &cache)
            .output()
            .expect("mpwasm runs");
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        assert_eq!(stdout, "0\n1\n4\n9\n16\n", "{stderr}");
        let said = stderr.contains("mpwasm: compiling py_square.wasm (17.");
        assert_eq!(said, first, "first run: {first}: {stderr}");
    }
    // On a terminal (a pseudo-terminal made by `script`), a spinner while it compiles, then
    // how long it took. Without the compiled module, it compiles again (from the functions
    // the first run filed).
    for entry in std::fs::read_dir(&cache).expect("the cache").flatten() {
        if entry.path().extension().is_some_and(|x| x == "cwasm") {
            std::fs::remove_file(entry.path()).expect("removed");
        }
    }
    let line = format!(
        "'{}' run '{task}' --map 0..3 -q",
        common::mpwasm_bin().display()
    );
    let tty = std::process::Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env("MPWASM_CACHE_DIR", &cache)
        .env("COLUMNS", "200")
        .output()
        .expect("script runs");
    let screen = String::from_utf8_lossy(&tty.stdout);
    assert!(tty.status.success(), "{screen}");
    assert!(
        screen.contains("mpwasm: compiling py_square.wasm (17.")
            && screen.contains(" MiB), first run only [")
            && screen.contains("mpwasm: compiled py_square.wasm in "),
        "{screen}"
    );
    let _ = std::fs::remove_dir_all(&cache);
    let call = mpwasm(&["call", task, "7"]);
    assert_eq!((call.code, call.stdout.trim()), (0, "49"), "{call:?}");

    // `--func init` does not pick componentize-py's hook, and the listing leaves it out.
    let init = mpwasm(&["run", task, "--func", "init", "--map", "0..1"]);
    assert_eq!(init.code, 2, "{init:?}");
    assert!(
        init.stderr.contains("square: func(x: u64) -> u64"),
        "{init:?}"
    );
    assert!(!init.stderr.contains("exports#init"), "{init:?}");

    // inspect shows it apart, named as the toolchain's.
    let inspect = mpwasm(&["inspect", task]);
    assert!(
        inspect
            .stdout
            .contains("exports#init    [componentize-py's own hook, not a task function]"),
        "{inspect:?}"
    );
    assert!(!inspect.stdout.contains("app-name: string"), "{inspect:?}");
    let json: serde_json::Value =
        serde_json::from_str(&mpwasm(&["inspect", "--json", task]).stdout).expect("JSON");
    let hooks: Vec<&serde_json::Value> = json["exports"]
        .as_array()
        .expect("exports")
        .iter()
        .filter(|e| e["toolchain_hook"] == "componentize-py")
        .collect();
    assert_eq!(hooks.len(), 1, "{json}");
    assert_eq!(hooks[0]["name"], "exports#init");

    // The interpreter's initialised heap is far too big to copy into every fresh instance.
    assert!(
        json["data_size"].as_u64().is_some_and(|s| s > 4 << 20),
        "{json}"
    );
    assert_eq!(json["memory_init"], "copy-on-write", "{json}");
}

#[test]
fn a_python_error_says_what_python_said() {
    let Some(task) = built(guests::PY_MISBEHAVE, "py-misbehave") else {
        return;
    };
    let pool = Pool::builder()
        .worker_program(common::mpwasm_bin())
        .processes(1)
        .function("id")
        .build(task)
        .expect("the pool starts");

    // An exception raised two calls deep: its type, message and where; the whole traceback
    // stays in the task's output.
    let boom = pool
        .export("boom")
        .expect("exported")
        .apply_async(vec![json!("bad thing")])
        .wait_outcome();
    let error = boom.json().expect_err("boom raises");
    assert_eq!(error.kind(), ErrorKind::Trap, "{error}");
    let source = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../guest-tasks/python/py-misbehave/app.py"
    );
    let source = std::fs::read_to_string(source).expect("app.py is there");
    let raise_line = 1 + source
        .lines()
        .position(|l| l.trim() == "raise ValueError(msg)")
        .expect("app.py raises ValueError");
    assert!(
        error
            .message()
            .starts_with("the task raised ValueError: bad thing (at ")
            && error
                .message()
                .ends_with(&format!("app.py, line {raise_line}, in check)")),
        "{error}"
    );
    let output = String::from_utf8_lossy(boom.output());
    assert!(
        output.contains("Traceback (most recent call last):") && output.contains("in boom"),
        "{output}"
    );

    // sys.exit is an exit, not a bare wasm backtrace.
    let quit = pool.call("quit", vec![json!(3)]).expect_err("quit exits");
    assert_eq!(quit.kind(), ErrorKind::Exit, "{quit}");
    assert!(
        quit.message().contains("exited with a failing status")
            && quit.message().contains("sys.exit()"),
        "{quit}"
    );

    // A result of the wrong type: Python's TypeError, not a Rust debug string.
    let wrong = pool
        .call("wrong-type", vec![json!(1)])
        .expect_err("a string for a u64");
    assert_eq!(wrong.kind(), ErrorKind::Trap, "{wrong}");
    assert!(
        wrong.message().contains("does not fit its WIT type")
            && wrong
                .message()
                .ends_with("TypeError: 'str' object cannot be interpreted as an integer"),
        "{wrong}"
    );
    assert!(!wrong.message().contains("PyErr"), "{wrong}");

    // And the next task runs.
    assert_eq!(pool.call("id", vec![json!(5)]).expect("id"), json!(5));
}

#[test]
fn what_python_cannot_do_inside_fails_as_the_readme_says() {
    let Some(task) = built(guests::PY_MISBEHAVE, "py-misbehave") else {
        return;
    };
    let pool = |memory: u64| {
        Pool::builder()
            .worker_program(common::mpwasm_bin())
            .processes(1)
            .function("id")
            .memory_limit(memory << 20)
            .build(task)
            .expect("the pool starts")
    };
    // An interpreter does not fit in 8 MiB: every task fails, saying so.
    let small = pool(8);
    let err = small.call("id", vec![json!(1)]).expect_err("no room");
    assert_eq!(err.kind(), ErrorKind::MemoryLimit, "{err}");
    assert!(
        err.message().contains("cannot instantiate the module")
            && err.message().contains("over the limit of 8 MiB"),
        "{err}"
    );
    // An allocation past the limit is `memory-limit`, never a Python MemoryError.
    let roomy = pool(64);
    assert_eq!(
        roomy.call("hog", vec![json!(4)]).expect("4 MiB fit"),
        json!(4 << 20)
    );
    let err = roomy
        .call("hog", vec![json!(200)])
        .expect_err("200 MiB do not");
    assert_eq!(err.kind(), ErrorKind::MemoryLimit, "{err}");
    assert!(!err.message().contains("MemoryError"), "{err}");
    // No sockets: the import itself fails.
    let dialed = roomy
        .call("dial", vec![json!("127.0.0.1")])
        .expect("dial answers");
    assert!(
        dialed
            .as_str()
            .is_some_and(|d| d.starts_with("ModuleNotFoundError")),
        "{dialed}"
    );
    assert_eq!(roomy.call("id", vec![json!(5)]).expect("id"), json!(5));
}

#[test]
fn a_fresh_python_instance_starts_from_the_image_every_task() {
    let Some(task) = built(guests::PY_MISBEHAVE, "py-misbehave") else {
        return;
    };
    // The interpreter's heap is a copy-on-write image (10 MiB): a fresh instance must see it
    // as built, not as the last task left it, and a kept one must keep its state.
    for (fresh, expected) in [(false, [1, 2, 3]), (true, [1, 1, 1])] {
        let pool = Pool::builder()
            .worker_program(common::mpwasm_bin())
            .processes(1)
            .function("calls")
            .fresh(fresh)
            .build(task)
            .expect("the pool starts");
        let served: Vec<_> = (0..3)
            .map(|_| pool.call("calls", vec![]).expect("calls"))
            .collect();
        assert_eq!(served, expected.map(|n| json!(n)), "fresh: {fresh}");
    }
}

#[test]
fn the_seeds_examples_run_in_python_as_the_readme_shows() {
    let (Some(greeter), Some(square), Some(sleepy)) = (
        built(guests::PY_GREETER, "py-greeter"),
        built(guests::PY_SQUARE, "py-square"),
        built(guests::PY_SLEEPY_SQUARE, "py-sleepy-square"),
    ) else {
        return;
    };
    // `worker(num)` prints from each worker process, one block per task.
    let run = mpwasm(&["run", greeter, "--map", "1..5", "-j", "2"]);
    assert_eq!(run.code, 0, "{run:?}");
    for num in 1..5 {
        let start = run.stderr.find(&format!("Starting worker {num}\n"));
        let finish = run.stderr.find(&format!("Finished worker {num}\n"));
        assert!(
            matches!((start, finish), (Some(s), Some(f)) if s < f),
            "worker {num}: {run:?}"
        );
    }
    // `Pool.map(square, [1, 2, 3, 4])`.
    let map = mpwasm(&["run", square, "--map", "1..5"]);
    assert_eq!(
        (map.code, map.stdout.as_str()),
        (0, "1\n4\n9\n16\n"),
        "{map:?}"
    );
    // `imap_unordered`: every result once, in the order the tasks finished (which depends
    // on the machine's load, so only the results are checked).
    let unordered = mpwasm(&["run", sleepy, "--map", "0..8", "-j", "4", "--unordered"]);
    assert_eq!(unordered.code, 0, "{unordered:?}");
    let mut got: Vec<u64> = unordered
        .stdout
        .lines()
        .map(|l| l.parse().expect("a number"))
        .collect();
    got.sort_unstable();
    assert_eq!(got, [0, 1, 4, 9, 16, 25, 36, 49]);
}

#[test]
fn python_summarizes_csv_rows_as_the_rust_task_does() {
    let Some(py_sales) = built(guests::PY_SALES, "py-sales") else {
        return;
    };
    let csv = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../guest-tasks/sales/data/sales.csv"
    );
    // Each row becomes the `sale` record by the header's names; the Python dataclass out
    // is the same JSON as the Rust record, row for row.
    let python = mpwasm(&["run", py_sales, "--csv", csv]);
    let rust = mpwasm(&["run", guests::SALES, "--csv", csv]);
    assert_eq!(python.code, 0, "{python:?}");
    assert_eq!(rust.code, 0, "{rust:?}");
    assert_eq!(python.json_lines().len(), 5, "{python:?}");
    assert_eq!(python.json_lines(), rust.json_lines());
}

#[test]
fn a_library_from_pypi_is_bundled_into_the_task() {
    let Some(task) = built(guests::PY_HUMANIZE, "py-humanize") else {
        return;
    };
    // humanize (requirements.txt) was installed at build time and imported into the
    // component: it runs with no files and no network.
    let sizes = mpwasm(&[
        "run",
        task,
        "--func",
        "natural-size",
        "--map",
        "0..=3000000:1500000",
    ]);
    assert_eq!(sizes.code, 0, "{sizes:?}");
    assert_eq!(sizes.lines(), ["\"0 Bytes\"", "\"1.5 MB\"", "\"3.0 MB\""]);
    let numbers = mpwasm_with_stdin(
        &["run", task, "--func", "intcomma", "--input", "-"],
        "1234567\n-1000\n",
    );
    assert_eq!(numbers.code, 0, "{numbers:?}");
    assert_eq!(numbers.lines(), ["\"1,234,567\"", "\"-1,000\""]);
}
