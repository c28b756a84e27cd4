//! The `mpwasm` CLI against real guests built from `guest-tasks/`: ordering, streaming,
//! worker processes, limits, error kinds, exit codes and captured output.

use std::collections::{BTreeSet, HashMap};

use mpwasm_test_artifacts::guests;

use crate::common::{self, mpwasm, mpwasm_with_stdin, run_jsonl};

#[test]
fn square_map_is_in_order() {
    let run = mpwasm(&["run", guests::SQUARE, "--map", "0..1000"]);
    assert_eq!(run.code, 0, "{run:?}");
    let want: Vec<String> = (0u64..1000).map(|i| (i * i).to_string()).collect();
    assert_eq!(run.lines(), want, "{run:?}");
}

#[test]
fn range_forms() {
    let cases: &[(&str, &[u64])] = &[
        ("1..=4", &[1, 4, 9, 16]),
        ("0..10:3", &[0, 9, 36, 81]),
        ("3..0:-1", &[9, 4, 1]),
        ("5..5", &[]),
    ];
    for (range, want) in cases {
        let run = mpwasm(&["run", guests::SQUARE, "--map", range]);
        assert_eq!(run.code, 0, "{range}: {run:?}");
        let want: Vec<String> = want.iter().map(u64::to_string).collect();
        assert_eq!(run.lines(), want, "{range}");
    }
}

#[test]
fn unordered_gives_the_same_multiset() {
    let run = mpwasm(&[
        "run",
        guests::SQUARE,
        "--map",
        "0..2000",
        "--unordered",
        "-j",
        "2",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    let mut got: Vec<u64> = run
        .lines()
        .iter()
        .map(|l| l.parse().expect("a number"))
        .collect();
    got.sort_unstable();
    let want: Vec<u64> = (0u64..2000).map(|i| i * i).collect();
    assert_eq!(got, want);
}

#[test]
fn two_processes_do_the_work() {
    let run = mpwasm(&[
        "run",
        guests::SQUARE,
        "--map",
        "0..200",
        "-j",
        "2",
        "--format",
        "jsonl",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    let lines = run.json_lines();
    assert_eq!(lines.len(), 200);
    let pids: BTreeSet<u64> = lines
        .iter()
        .map(|l| l["worker"].as_u64().expect("a worker pid"))
        .collect();
    assert_eq!(
        pids.len(),
        2,
        "expected two distinct worker processes: {pids:?}"
    );
    let own = u64::from(std::process::id());
    assert!(!pids.contains(&own));
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line["index"], i as u64);
        assert_eq!(line["value"], (i * i) as u64);
    }
}

#[test]
fn memory_limit_fails_that_task_only() {
    // -j 1: the task after the failure runs on the same worker. With --fresh, instances come
    // from the pooling allocator's slots with copied (not mapped) memory: the same limit holds.
    for mode in [&[][..], &["--fresh"][..]] {
        let mut flags = vec!["--memory", "64MiB", "-j", "1"];
        flags.extend_from_slice(mode);
        let run = run_jsonl(guests::MISBEHAVE, "grow", &flags, "200\n1\n");
        assert_eq!(run.code, 1, "{mode:?}: {run:?}");
        let lines = run.json_lines();
        assert_eq!(lines.len(), 2, "{mode:?}: {run:?}");
        assert_eq!(
            lines[0]["error"]["kind"], "memory-limit",
            "{mode:?}: {run:?}"
        );
        let message = lines[0]["error"]["message"].as_str().expect("a message");
        assert!(
            message.contains("64 MiB"),
            "{mode:?}: the message names the limit: {message}"
        );
        assert_eq!(lines[1]["value"], 1, "{mode:?}: {run:?}");
        assert_eq!(
            lines[0]["worker"], lines[1]["worker"],
            "{mode:?}: same worker went on"
        );
    }
}

#[test]
fn timeout_stops_a_spinning_task_and_the_run_goes_on() {
    let run = run_jsonl(
        guests::MISBEHAVE,
        "spin",
        &["--timeout", "300ms", "-j", "1"],
        "0\n1\n0\n",
    );
    assert_eq!(run.code, 1, "{run:?}");
    let lines = run.json_lines();
    assert_eq!(lines.len(), 3, "{run:?}");
    assert_eq!(lines[0]["value"], 0);
    assert_eq!(lines[1]["error"]["kind"], "timeout", "{run:?}");
    let message = lines[1]["error"]["message"].as_str().expect("a message");
    assert!(message.contains("300ms"), "names the limit: {message}");
    assert_eq!(lines[2]["value"], 0, "{run:?}");
}

#[test]
fn bad_input_line_is_reported_and_the_run_goes_on() {
    let run = mpwasm_with_stdin(
        &["run", guests::SQUARE, "--input", "-"],
        "1\n\n\"x\"\n3\n300000000000000000000000\n",
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.lines(), ["1", "9"], "{run:?}");
    assert!(
        run.stderr
            .contains("task 1: bad-input: expected u64, got \"x\" (line 3 of stdin)"),
        "{run:?}"
    );
    assert!(run.stderr.contains("task 3: bad-input"), "{run:?}");
}

#[test]
fn traps_are_named() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "boom",
            "\"the sky fell\"",
            "the task panicked: the sky fell",
        ),
        ("divide", "[1, 0]", "divide by zero"),
        ("unreachable-trap", "null", "unreachable"),
    ];
    for (func, input, want) in cases {
        let run = run_jsonl(guests::MISBEHAVE, func, &[], &format!("{input}\n"));
        assert_eq!(run.code, 1, "{func}: {run:?}");
        let line = &run.json_lines()[0];
        assert_eq!(line["error"]["kind"], "trap", "{func}: {run:?}");
        let message = line["error"]["message"].as_str().expect("a message");
        assert!(message.contains(want), "{func}: {message}");
    }
}

#[test]
fn setup_errors_exit_2_with_a_reason() {
    let dir = std::env::temp_dir().join(format!("mpwasm-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let not_wasm = dir.join("notes.wasm");
    std::fs::write(&not_wasm, "hello").expect("write");
    let not_wasm = not_wasm.to_str().expect("utf-8 path");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["run", "/no/such/task.wasm", "--map", "0..3"],
            "cannot read task module /no/such/task.wasm",
        ),
        (
            vec!["run", not_wasm, "--map", "0..3"],
            "is not a WebAssembly module",
        ),
        (
            vec!["run", guests::SQUARE, "--map", "0..3", "--func", "cube"],
            "no exported function `cube`",
        ),
        (
            vec!["run", guests::KITCHEN, "--map", "0..3"],
            "exports several functions",
        ),
        (
            vec!["run", guests::SQUARE, "--map", "zero..3"],
            "invalid --map range",
        ),
        (vec!["run", guests::SQUARE], "no inputs"),
        (
            vec!["run", guests::SQUARE, "--map", "0..3", "--memory", "lots"],
            "invalid size",
        ),
        (
            vec!["run", guests::SQUARE, "--map", "0..3", "--timeout", "soon"],
            "invalid duration",
        ),
        (
            vec!["run", guests::SQUARE, "--input", "/no/such/input.jsonl"],
            "cannot open --input",
        ),
    ];
    for (args, want) in cases {
        let run = mpwasm(&args);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert!(run.stderr.contains(want), "{args:?}: {run:?}");
        assert!(run.stdout.is_empty(), "{args:?}: {run:?}");
    }
    // The ambiguity message lists the signatures.
    let run = mpwasm(&["run", guests::KITCHEN, "--map", "0..3"]);
    assert!(
        run.stderr.contains("add: func(a: s32, b: s32) -> s32"),
        "{run:?}"
    );
    assert!(
        run.stderr
            .contains("mpwasm:tasks/types#echo-u8: func(x: u8) -> u8"),
        "{run:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn guest_output_comes_in_one_block_per_task() {
    // `-q`: only the guests' output on stderr, no summary line.
    let run = mpwasm(&["run", guests::GREETER, "--map", "1..5", "-j", "4", "-q"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.lines(),
        ["null", "null", "null", "null"],
        "no result: null"
    );
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 8, "{run:?}");
    for pair in lines.chunks(2) {
        let n = pair[0]
            .strip_prefix("Starting worker ")
            .expect("a start line");
        assert_eq!(pair[1], format!("Finished worker {n}"), "{run:?}");
    }
}

#[test]
fn starmap_and_zero_argument_functions() {
    let run = mpwasm_with_stdin(
        &["run", guests::KITCHEN, "--func", "add", "--input", "-"],
        "[1, 2]\n{\"a\": 5, \"b\": -7}\n",
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.lines(), ["3", "-2"]);
    let run = mpwasm_with_stdin(
        &["run", guests::KITCHEN, "--func", "answer", "--input", "-"],
        "null\n[]\n",
    );
    assert_eq!(run.lines(), ["42", "42"], "{run:?}");
}

#[test]
fn instances_are_kept_unless_fresh_and_init_runs_per_instance() {
    let kept = mpwasm_with_stdin(
        &["run", guests::COUNTER, "-j", "1", "--input", "-"],
        "null\nnull\nnull\n",
    );
    assert_eq!(kept.code, 0, "{kept:?}");
    assert_eq!(kept.lines(), ["101", "102", "103"], "{kept:?}");
    assert_eq!(kept.stderr.matches("init ran").count(), 1, "{kept:?}");
    let fresh = mpwasm_with_stdin(
        &["run", guests::COUNTER, "-j", "1", "--fresh", "--input", "-"],
        "null\nnull\nnull\n",
    );
    assert_eq!(fresh.lines(), ["101", "101", "101"], "{fresh:?}");
    assert_eq!(fresh.stderr.matches("init ran").count(), 3, "{fresh:?}");
    // A bad input never reaches the instance, so the kept one (and its count) survives it.
    let kept = mpwasm_with_stdin(
        &["run", guests::COUNTER, "-j", "1", "--input", "-"],
        "null
5
null
",
    );
    assert_eq!(kept.lines(), ["101", "102"], "{kept:?}");
    assert!(kept.stderr.contains("task 1: bad-input"), "{kept:?}");
}

#[test]
fn core_modules_work_too() {
    let run = mpwasm(&["run", guests::CORE_SQUARE, "--map", "-3..4"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.lines(), ["9", "4", "1", "0", "1", "4", "9"]);
}

#[test]
fn call_runs_one_task() {
    let run = mpwasm(&["call", guests::WORDCOUNT, "the cat and the hat"]);
    assert_eq!(run.code, 0, "{run:?}");
    let value: serde_json::Value = serde_json::from_str(run.stdout.trim()).expect("JSON");
    assert_eq!(value[0], serde_json::json!(["the", 2]), "{run:?}");
    let run = mpwasm(&["call", guests::KITCHEN, "--func", "add", "2", "3"]);
    assert_eq!(run.stdout.trim(), "5", "{run:?}");
    let run = mpwasm(&["call", guests::SQUARE, "seven"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("bad-input"), "{run:?}");
}

#[test]
fn interface_functions_are_named_with_a_hash() {
    let run = mpwasm(&[
        "call",
        guests::KITCHEN,
        "--func",
        "mpwasm:tasks/types#echo-u8",
        "7",
    ]);
    assert_eq!(run.stdout.trim(), "7", "{run:?}");
    // A bare name finds it too when only one interface has it.
    let run = mpwasm(&["call", guests::KITCHEN, "--func", "echo-char", "\"λ\""]);
    assert_eq!(run.stdout.trim(), "\"λ\"", "{run:?}");
}

#[test]
fn hash_uses_the_ecosystem() {
    let run = mpwasm_with_stdin(&["run", guests::HASH, "--input", "-"], "\"abc\"\n\"\"\n");
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.lines(),
        [
            "\"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\"",
            "\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\"",
        ]
    );
}

#[test]
fn primes_counts_primes_below_n() {
    let run = mpwasm(&["run", guests::PRIMES, "--map", "0..=100:25"]);
    assert_eq!(run.code, 0, "{run:?}");
    // π(n) for n = 0, 25, 50, 75, 100: primes strictly below n.
    assert_eq!(run.lines(), ["0", "9", "15", "21", "25"]);
}

#[test]
fn captured_output_is_capped_with_a_note() {
    let run = mpwasm_with_stdin(
        &[
            "run",
            guests::MISBEHAVE,
            "--func",
            "shout",
            "--output-limit",
            "1KiB",
            "--input",
            "-",
        ],
        "100000\n",
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.lines(), ["100000"]);
    assert!(
        run.stderr.len() < 2048,
        "output was capped: {} bytes",
        run.stderr.len()
    );
    assert!(
        run.stderr.contains("98976 more bytes dropped"),
        "{}",
        run.stderr
    );
}

#[test]
fn errors_in_jsonl_and_counts() {
    let run = mpwasm_with_stdin(
        &["run", guests::SQUARE, "--input", "-", "--format", "jsonl"],
        "2\n-1\n",
    );
    assert_eq!(run.code, 1);
    let lines = run.json_lines();
    assert_eq!(lines[0]["value"], 4);
    assert_eq!(lines[1]["index"], 1);
    assert_eq!(lines[1]["error"]["kind"], "bad-input");
    let kinds: HashMap<&str, usize> = lines
        .iter()
        .filter_map(|l| l["error"]["kind"].as_str())
        .fold(HashMap::new(), |mut m, k| {
            *m.entry(k).or_default() += 1;
            m
        });
    assert_eq!(kinds.get("bad-input"), Some(&1));
}

#[test]
fn a_task_blocked_in_a_host_call_still_times_out() {
    // Epoch interruption cannot stop a sleep inside WASI; the worker's watchdog reports it and
    // the host replaces the worker. The tasks around it succeed.
    let run = run_jsonl(
        guests::MISBEHAVE,
        "sleep-ms",
        &["--timeout", "300ms", "-j", "1"],
        "10\n60000\n10\n",
    );
    assert_eq!(run.code, 1, "{run:?}");
    let lines = run.json_lines();
    assert_eq!(lines.len(), 3, "{run:?}");
    assert_eq!(lines[0]["value"], 10);
    assert_eq!(lines[1]["error"]["kind"], "timeout", "{run:?}");
    let message = lines[1]["error"]["message"].as_str().expect("a message");
    assert!(
        message.contains("300ms") && message.contains("host call"),
        "{message}"
    );
    assert_eq!(lines[2]["value"], 10);
    assert_ne!(
        lines[0]["worker"], lines[2]["worker"],
        "the stuck worker was replaced"
    );
}

#[test]
fn workers_are_recycled_after_max_tasks() {
    let run = mpwasm_with_stdin(
        &[
            "run",
            guests::COUNTER,
            "-j",
            "1",
            "--max-tasks-per-worker",
            "2",
            "--input",
            "-",
            "--format",
            "jsonl",
        ],
        "null\nnull\nnull\nnull\nnull\n",
    );
    assert_eq!(run.code, 0, "{run:?}");
    let lines = run.json_lines();
    let values: Vec<u64> = lines
        .iter()
        .map(|l| l["value"].as_u64().expect("a value"))
        .collect();
    assert_eq!(
        values,
        [101, 102, 101, 102, 101],
        "a new process every 2 tasks"
    );
    let pids: BTreeSet<u64> = lines
        .iter()
        .map(|l| l["worker"].as_u64().expect("pid"))
        .collect();
    assert_eq!(pids.len(), 3, "{run:?}");
}

#[test]
fn bad_modules_exit_2_naming_the_problem() {
    let dir = std::env::temp_dir().join(format!("mpwasm-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let square = std::fs::read(guests::SQUARE).expect("square.wasm");
    let foreign_import =
        wat::parse_str(r#"(component (import "acme:db/query" (instance (export "run" (func)))))"#)
            .expect("wat");
    let core_import = wat::parse_str(
        r#"(module (import "env" "launch" (func)) (func (export "go") (result i32) i32.const 1))"#,
    )
    .expect("wat");
    let resource_param = wat::parse_str(
        r#"(component
            (type $r (resource (rep i32)))
            (export $r2 "thing" (type $r))
            (core module $m (func (export "f") (param i32)))
            (core instance $i (instantiate $m))
            (func $f (param "x" (own $r2)) (canon lift (core func $i "f")))
            (export "use-thing" (func $f)))"#,
    )
    .expect("wat");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "resource.wasm",
            resource_param,
            "own<resource> is a resource handle",
        ),
        ("empty.wasm", Vec::new(), "is not a WebAssembly module"),
        (
            "random.wasm",
            (0..4096u32)
                .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
                .collect(),
            "is not a WebAssembly module",
        ),
        (
            "truncated.wasm",
            square[..square.len() / 2].to_vec(),
            "failed to compile",
        ),
        (
            "magic-only.wasm",
            b"\0asm\x01\0\0\0\xff\xff".to_vec(),
            "failed to compile",
        ),
        ("foreign.wasm", foreign_import, "acme:db/query"),
        ("core-import.wasm", core_import, "launch"),
    ];
    for (name, bytes, want) in cases {
        let path = dir.join(name);
        std::fs::write(&path, bytes).expect("write");
        let run = mpwasm(&["run", path.to_str().expect("utf-8"), "--map", "0..2"]);
        assert_eq!(run.code, 2, "{name}: {run:?}");
        assert!(run.stderr.contains(want), "{name}: {run:?}");
        assert!(!run.stderr.contains("panicked"), "{name}: {run:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn fuel_recursion_and_a_gigabyte_of_output() {
    let fuel = run_jsonl(guests::MISBEHAVE, "spin", &["--fuel", "1000000"], "1\n0\n");
    assert_eq!(fuel.code, 1, "{fuel:?}");
    let lines = fuel.json_lines();
    assert_eq!(lines[0]["error"]["kind"], "fuel-exhausted", "{fuel:?}");
    assert!(
        lines[0]["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("1000000"))
    );
    assert_eq!(lines[1]["value"], 0, "{fuel:?}");

    let deep = run_jsonl(guests::MISBEHAVE, "recurse", &[], "100000000\n1000\n");
    let lines = deep.json_lines();
    assert_eq!(lines[0]["error"]["kind"], "trap", "{deep:?}");
    let message = lines[0]["error"]["message"].as_str().expect("a message");
    assert!(message.contains("stack overflow"), "{message}");
    assert_eq!(lines[1]["value"], 1000, "{deep:?}");

    // 1 GiB written; 1 MiB kept (the default cap), the rest counted.
    let loud = run_jsonl(guests::MISBEHAVE, "shout", &[], "1073741824\n");
    assert_eq!(loud.code, 0, "exit {}", loud.code);
    assert_eq!(loud.json_lines()[0]["value"], 1_073_741_824u64);
    assert!(
        loud.stderr.len() < (1 << 20) + 4096,
        "{} bytes of stderr",
        loud.stderr.len()
    );
    assert!(
        loud.stderr.contains("1072693248 more bytes dropped"),
        "the cut is noted"
    );
}

#[test]
fn an_invalid_utf8_line_is_bad_input_naming_the_line() {
    use std::io::Write;
    let mut child = common::spawn(&["run", guests::SQUARE, "--input", "-"]);
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(b"2\n\xff\xfe\n3\n")
        .expect("write");
    let out = child.wait_with_output().expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stdout.lines().collect::<Vec<_>>(), ["4", "9"]);
    assert!(
        stderr.contains("task 1: bad-input") && stderr.contains("line 2 of stdin"),
        "{stderr}"
    );
    assert!(stderr.contains("UTF-8"), "{stderr}");
}

#[test]
fn the_compile_cache_is_filled_unless_no_cache() {
    let dir = std::env::temp_dir().join(format!("mpwasm-cache-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let run = |extra: &[&str]| {
        let out = std::process::Command::new(common::mpwasm_bin())
            .args(["run", guests::SQUARE, "--map", "0..3"])
            .args(extra)
            .env("MPWASM_CACHE_DIR", &dir)
            .output()
            .expect("mpwasm runs");
        assert!(out.status.success(), "{out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "0\n1\n4\n");
    };
    let cached = || -> usize {
        std::fs::read_dir(&dir).map_or(0, |entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "cwasm"))
                .count()
        })
    };
    run(&["--no-cache"]);
    assert_eq!(cached(), 0, "--no-cache left the cache alone");
    run(&[]);
    assert_eq!(cached(), 1, "a plain run stores the compiled module");
    run(&[]);
    assert_eq!(cached(), 1, "and the next run takes it from there");
    run(&["--fresh"]);
    assert_eq!(cached(), 1, "a --fresh run loads the same compiled module");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn compiled_functions_are_reused_and_a_damaged_one_is_compiled_again() {
    let dir = std::env::temp_dir().join(format!("mpwasm-functions-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let compile_and_run = || {
        // Without the compiled module, so the run compiles again.
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if entry.path().extension().is_some_and(|x| x == "cwasm") {
                std::fs::remove_file(entry.path()).expect("removed");
            }
        }
        let out = std::process::Command::new(common::mpwasm_bin())
            .args(["run", guests::SQUARE, "--map", "0..4"])
            .env("MPWASM_CACHE_DIR", &dir)
            .output()
            .expect("mpwasm runs");
        assert!(out.status.success(), "{out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "0\n1\n4\n9\n");
    };
    // Every entry by its inode: a rewritten entry (written anew, renamed in) gets a new one.
    let entries = || -> std::collections::BTreeMap<std::path::PathBuf, u64> {
        use std::os::unix::fs::MetadataExt;
        let mut found = std::collections::BTreeMap::new();
        for folder in std::fs::read_dir(dir.join("functions"))
            .expect("functions/")
            .flatten()
        {
            for entry in std::fs::read_dir(folder.path())
                .expect("a folder")
                .flatten()
            {
                let ino = entry.metadata().expect("metadata").ino();
                found.insert(entry.path(), ino);
            }
        }
        found
    };
    compile_and_run();
    let first = entries();
    assert!(
        first.len() > 10,
        "the compile filed its functions: {first:?}"
    );

    // Compiled again: every function filed comes from the cache, none is written again (a
    // few functions, 1 to 5 of square's 40, get another key from every compile, and are
    // filed anew).
    compile_and_run();
    let second = entries();
    for (path, ino) in &first {
        assert_eq!(second.get(path), Some(ino), "{} was reused", path.display());
    }
    // The functions whose key changes from compile to compile: their first entries are never
    // looked up again.
    let unstable = second.len() - first.len();
    assert!(unstable < 10, "{unstable} functions were filed anew");

    // Damaged entries are compiled again (and rewritten), and the module still runs right;
    // only those of the unstable functions (which are not looked up) may stay as they are.
    let damaged: Vec<_> = first.keys().step_by(3).cloned().collect();
    for path in &damaged {
        let mut bytes = std::fs::read(path).expect("an entry");
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x55;
        std::fs::write(path, &bytes).expect("damaged");
    }
    let before = entries();
    compile_and_run();
    let after = entries();
    let kept: Vec<_> = damaged
        .iter()
        .filter(|path| before[*path] == after[*path])
        .collect();
    // A function's key may also change only now and then (the same in the first two compiles,
    // another in this one): its first entry is not looked up either, and this compile files
    // it anew. So the entries not looked up are at most those of the functions filed anew in
    // the second compile and in this one.
    let anew = after.len() - before.len();
    assert!(
        kept.len() <= unstable + anew && kept.len() < damaged.len(),
        "{} of {} damaged entries were not compiled again ({unstable} functions filed anew \
         by the second compile, {anew} by the third): {kept:?}",
        kept.len(),
        damaged.len()
    );
    let untouched = first.keys().filter(|p| !damaged.contains(p));
    for path in untouched {
        assert_eq!(before[path], after[path], "{} was reused", path.display());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn lines_are_string_inputs_as_they_are() {
    // Quotes, backslashes, a CRLF line end, an empty line and a last line without a newline:
    // each is the string input its JSON Lines twin spells out.
    let text = "hello\n\n\"quoted\" \\ back\r\nlast";
    let twins = ["hello", "", "\"quoted\" \\ back", "last"];
    let json: String = twins
        .iter()
        .map(|s| format!("{}\n", serde_json::Value::from(*s)))
        .collect();
    let lines = mpwasm_with_stdin(&["run", guests::HASH, "--lines", "-", "-j", "1"], text);
    let input = mpwasm_with_stdin(&["run", guests::HASH, "--input", "-", "-j", "1"], &json);
    assert_eq!(lines.code, 0, "{lines:?}");
    assert_eq!(input.code, 0, "{input:?}");
    assert_eq!(lines.lines().len(), 4, "{lines:?}");
    assert_eq!(lines.stdout, input.stdout);

    let both = mpwasm_with_stdin(&["run", guests::HASH, "--lines", "-", "--input", "-"], "");
    assert_eq!(both.code, 2, "{both:?}");
    let missing = mpwasm(&["run", guests::HASH, "--lines", "/nonexistent/lines.txt"]);
    assert_eq!(missing.code, 2, "{missing:?}");
    assert!(
        missing.stderr.contains("--lines /nonexistent/lines.txt"),
        "{missing:?}"
    );
}

/// A map over a range travels to a worker as where each batch starts and how long it is, and
/// a batch of plain results comes back as one block of text. Every input must still get its
/// own answer, exactly as when each goes alone as a line of JSON: refused by name, failed at
/// the limit, or its result, in order.
#[test]
fn a_range_map_answers_every_input_as_inputs_sent_one_by_one_do() {
    let common = [
        "run",
        guests::MISBEHAVE,
        "--func",
        "grow",
        "--memory",
        "8MiB",
        "-j",
        "2",
    ];
    let by_range = mpwasm(&[&common[..], &["--map", "-2..12", "--chunksize", "4"]].concat());
    let lines: String = (-2..12).map(|i| format!("{i}\n")).collect();
    let one_by_one = mpwasm_with_stdin(
        &[&common[..], &["--input", "-", "--chunksize", "1"]].concat(),
        &lines,
    );
    assert_eq!(by_range.code, 1, "{by_range:?}");
    assert_eq!(one_by_one.code, 1, "{one_by_one:?}");
    // `grow(mib)` returns mib while it fits in 8 MiB: 0..=6.
    let want: Vec<String> = (0..=6).map(|i: u32| i.to_string()).collect();
    assert_eq!(by_range.lines(), want, "{by_range:?}");
    assert_eq!(by_range.stdout, one_by_one.stdout);
    // The same errors, but for the line numbers a file has and a range has not (and the
    // summary's time).
    let errors = |run: &common::Run| -> Vec<String> {
        let mut lines: Vec<String> = run
            .stderr
            .lines()
            .map(|l| match l.find(" (line ") {
                Some(at) => l[..at].to_string(),
                None => l.to_string(),
            })
            .collect();
        lines.pop();
        lines
    };
    let (by_range_errors, one_by_one_errors) = (errors(&by_range), errors(&one_by_one));
    assert_eq!(by_range_errors, one_by_one_errors);
    assert_eq!(by_range_errors.len(), 7, "{by_range:?}");
    assert!(
        by_range_errors[0].ends_with("expected u32, got -2, which is out of range for u32"),
        "{by_range:?}"
    );
    assert!(
        by_range_errors[2].starts_with("task 9: memory-limit:"),
        "{by_range:?}"
    );
    assert!(
        by_range
            .stderr
            .contains("14 tasks: 7 ok, 7 failed (2 bad-input, 5 memory-limit)"),
        "{by_range:?}"
    );
}
