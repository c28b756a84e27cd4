//! Command mode against a real WASI program built from `guest-tasks/echo-args` (a `fn main`
//! crate that prints its arguments, echoes stdin upper-cased on `stdin`, writes `stderr=TEXT`
//! to stderr, sleeps on `sleep=MS` and exits non-zero on `exit=N`): `{}` substitution,
//! `--stdin`, ordering, jsonl values, failing exit codes, timeouts, and `mpwasm call`.

use mpwasm_test_artifacts::guests;

use crate::common::{mpwasm, mpwasm_with_stdin, temp_dir};

#[test]
fn placeholders_are_replaced_and_runs_print_in_input_order() {
    let run = mpwasm(&[
        "run",
        guests::ECHO_ARGS,
        "--map",
        "0..6",
        "-j",
        "2",
        "--",
        "n={}",
        "x{}y",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    let want: Vec<String> = (0..6)
        .flat_map(|i| [format!("n={i}"), format!("x{i}y")])
        .collect();
    assert_eq!(run.lines(), want, "{run:?}");
}

#[test]
fn without_a_placeholder_the_input_is_the_last_argument() {
    let run = mpwasm_with_stdin(
        &["run", guests::ECHO_ARGS, "--lines", "-", "--", "first"],
        "a b\nc\n",
    );
    assert_eq!(run.code, 0, "{run:?}");
    // A string input is one argument, spaces and all, without JSON quotes.
    assert_eq!(run.lines(), ["first", "a b", "first", "c"], "{run:?}");
}

#[test]
fn array_inputs_fill_numbered_placeholders() {
    let run = mpwasm_with_stdin(
        &["run", guests::ECHO_ARGS, "--input", "-", "--", "{2}", "{1}"],
        "[\"a\", 1]\n[\"b\", 2]\n",
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.lines(), ["1", "a", "2", "b"], "{run:?}");
}

#[test]
fn stdin_mode_feeds_the_input_on_standard_input() {
    let run = mpwasm_with_stdin(
        &[
            "run",
            guests::ECHO_ARGS,
            "--lines",
            "-",
            "--stdin",
            "--",
            "stdin",
        ],
        "hello\nworld\n",
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, "stdin\nHELLOstdin\nWORLD", "{run:?}");
}

#[test]
fn ordered_output_waits_for_slow_runs_and_unordered_does_not() {
    // The first input sleeps; the second does not. Ordered output keeps input order, never
    // interleaving runs; unordered prints the quick run first.
    let input = "[\"sleep=400\", \"slow\"]\n[\"sleep=0\", \"quick\"]\n";
    let ordered = mpwasm_with_stdin(
        &["run", guests::ECHO_ARGS, "-j", "2", "--input", "-"],
        input,
    );
    assert_eq!(ordered.code, 0, "{ordered:?}");
    assert_eq!(
        ordered.lines(),
        ["sleep=400", "slow", "sleep=0", "quick"],
        "{ordered:?}"
    );
    let unordered = mpwasm_with_stdin(
        &[
            "run",
            guests::ECHO_ARGS,
            "-j",
            "2",
            "--chunksize",
            "1",
            "--input",
            "-",
            "--unordered",
        ],
        input,
    );
    assert_eq!(unordered.code, 0, "{unordered:?}");
    assert_eq!(
        unordered.lines(),
        ["sleep=0", "quick", "sleep=400", "slow"],
        "{unordered:?}"
    );
}

#[test]
fn a_failing_exit_status_is_an_exit_failure_with_its_output() {
    let run = mpwasm(&[
        "run",
        guests::ECHO_ARGS,
        "--map",
        "0..2",
        "--",
        "stderr=oops-{}",
        "exit={}",
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    // Both runs printed their stdout, in order; only the second failed.
    assert_eq!(
        run.lines(),
        ["stderr=oops-0", "exit=0", "stderr=oops-1", "exit=1"],
        "{run:?}"
    );
    assert!(run.stderr.contains("oops-0\n"), "{run:?}");
    assert!(
        run.stderr
            .contains("task 1: exit: the program exited with status 1"),
        "{run:?}"
    );
    assert!(!run.stderr.contains("task 0:"), "{run:?}");
}

#[test]
fn jsonl_values_hold_exit_stdout_and_stderr() {
    let run = mpwasm(&[
        "run",
        guests::ECHO_ARGS,
        "--map",
        "0..2",
        "--format",
        "jsonl",
        "--",
        "stderr=e{}",
        "exit={}",
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    let lines = run.json_lines();
    assert_eq!(lines.len(), 2, "{run:?}");
    assert_eq!(lines[0]["value"]["exit"], 0);
    assert_eq!(lines[0]["value"]["stdout"], "stderr=e0\nexit=0\n");
    assert_eq!(lines[0]["value"]["stderr"], "e0\n");
    assert_eq!(lines[1]["error"]["kind"], "exit");
    assert_eq!(lines[1]["value"]["exit"], 1);
    assert_eq!(lines[1]["value"]["stderr"], "e1\n");
}

#[test]
fn a_program_past_its_timeout_is_stopped() {
    let run = mpwasm(&[
        "run",
        guests::ECHO_ARGS,
        "--map",
        "0..1",
        "--timeout",
        "300ms",
        "--format",
        "jsonl",
        "--",
        "sleep=10000",
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    let lines = run.json_lines();
    assert_eq!(lines[0]["error"]["kind"], "timeout", "{run:?}");
}

#[test]
fn program_arguments_for_a_module_that_is_not_a_program_are_refused() {
    let run = mpwasm(&["run", guests::SQUARE, "--map", "0..2", "--", "x"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("is not a WASI program"), "{run:?}");
}

#[test]
fn call_passes_stdin_stdout_stderr_and_the_exit_status_through() {
    let ok = mpwasm_with_stdin(
        &["call", guests::ECHO_ARGS, "--", "stdin", "stderr=note"],
        "some text",
    );
    assert_eq!(ok.code, 0, "{ok:?}");
    assert_eq!(ok.stdout, "stdin\nSOME TEXTstderr=note\n", "{ok:?}");
    assert_eq!(ok.stderr, "note\n", "{ok:?}");
    // WASI 0.2's exit can only say success or failure: any non-zero status arrives as 1.
    let failed = mpwasm(&["call", guests::ECHO_ARGS, "--", "exit=3"]);
    assert_eq!(failed.code, 1, "{failed:?}");
    assert_eq!(failed.stdout, "exit=3\n", "{failed:?}");
}

/// A wasip1 core module with `_start`: prints its first argument after `argv[0]` and exits
/// with status 3 when that argument is `fail`.
const CORE_PROGRAM: &str = r#"
(module
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $sizes (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $args (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (local $arg i32) (local $len i32)
    ;; argc at 0, buffer size at 4; argv pointers at 16, strings at 256
    (drop (call $sizes (i32.const 0) (i32.const 4)))
    (drop (call $args (i32.const 16) (i32.const 256)))
    (local.set $arg (i32.load (i32.const 20)))
    ;; the argument's length: up to its NUL
    (block $done (loop $scan
      (br_if $done (i32.eqz (i32.load8_u (i32.add (local.get $arg) (local.get $len)))))
      (local.set $len (i32.add (local.get $len) (i32.const 1)))
      (br $scan)))
    ;; end it with a newline and write it to stdout
    (i32.store8 (i32.add (local.get $arg) (local.get $len)) (i32.const 10))
    (i32.store (i32.const 8) (local.get $arg))
    (i32.store (i32.const 12) (i32.add (local.get $len) (i32.const 1)))
    (drop (call $write (i32.const 1) (i32.const 8) (i32.const 1) (i32.const 100)))
    ;; "fail" exits with 3
    (if (i32.and (i32.eq (local.get $len) (i32.const 4))
                 (i32.eq (i32.load (local.get $arg)) (i32.const 0x6c696166)))
      (then (call $exit (i32.const 3))))))
"#;

#[test]
fn a_core_module_with_start_is_a_program_and_keeps_its_exit_status() {
    let dir = temp_dir("core-program");
    let path = dir.join("core-program.wasm");
    std::fs::write(&path, wat::parse_str(CORE_PROGRAM).expect("valid WAT")).expect("written");
    let path = path.to_str().expect("utf-8 path");
    let run = mpwasm_with_stdin(&["run", path, "--lines", "-"], "one\nfail\ntwo\n");
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.lines(), ["one", "fail", "two"], "{run:?}");
    assert!(
        run.stderr
            .contains("task 1: exit: the program exited with status 3"),
        "{run:?}"
    );
    let call = mpwasm(&["call", path, "--", "fail"]);
    assert_eq!(call.code, 3, "{call:?}");
    assert_eq!(call.stdout, "fail\n", "{call:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
