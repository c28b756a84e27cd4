//! Tasks written in JavaScript, built from `guest-tasks/js/` by componentize-js: the seed's
//! `square` runs without naming its function, with u64 values as BigInts that wrap like the
//! Rust task's; an uncaught exception says its message and where it was thrown.
//!
//! Without componentize-js (`cargo xtask setup` installs it with npm) the JavaScript tasks are
//! not built and these tests say they were skipped; CI sets `MPWASM_REQUIRE_JS=1`, which makes
//! that a build error instead.

use mpwasm_test_artifacts::guests;

use crate::common::mpwasm;

#[test]
fn the_seeds_square_in_javascript_runs_without_naming_its_function() {
    if guests::JS_SQUARE.is_empty() {
        eprintln!(
            "skipped: the JavaScript task js-square was not built (componentize-js is missing)"
        );
        return;
    }
    let run = mpwasm(&["run", guests::JS_SQUARE, "--map", "0..5"]);
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, "0\n1\n4\n9\n16\n"),
        "{run:?}"
    );
    // 2^32 squared is 2^64, which wraps to 0 in a u64, as in the Rust task.
    let wrap = mpwasm(&["call", guests::JS_SQUARE, "4294967296"]);
    assert_eq!((wrap.code, wrap.stdout.trim()), (0, "0"), "{wrap:?}");
    let inspect = mpwasm(&["inspect", guests::JS_SQUARE]);
    assert!(
        inspect.stdout.contains("square: func(x: u64) -> u64"),
        "{inspect:?}"
    );
}

#[test]
fn a_javascript_exception_says_what_was_thrown_and_where() {
    if guests::JS_MISBEHAVE.is_empty() {
        eprintln!(
            "skipped: the JavaScript task js-misbehave was not built (componentize-js is missing)"
        );
        return;
    }
    let source = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../guest-tasks/js/js-misbehave/app.js"
    );
    let source = std::fs::read_to_string(source).expect("app.js is there");
    let line_of = |text: &str| {
        1 + source
            .lines()
            .position(|l| l.contains(text))
            .expect("app.js holds it")
    };
    let boom = mpwasm(&[
        "call",
        guests::JS_MISBEHAVE,
        "--func",
        "boom",
        "\"bad thing\"",
    ]);
    assert_eq!(boom.code, 1, "{boom:?}");
    let throw_line = line_of("throw new Error(msg)");
    assert!(
        boom.stderr.contains(&format!(
            "trap: the task threw bad thing (at check, app.js:{throw_line}:"
        )),
        "{boom:?}"
    );
    // The whole stack stays in the task's output.
    assert!(boom.stderr.contains("boom@app.js:"), "{boom:?}");

    let null = mpwasm(&["call", guests::JS_MISBEHAVE, "--func", "null-property", "1"]);
    let null_line = line_of("nothing.foo");
    assert!(
        null.stderr.contains(&format!(
            "trap: the task threw can't access property \"foo\", nothing is null (at \
             nullProperty, app.js:{null_line}:"
        )),
        "{null:?}"
    );
    let string = mpwasm(&[
        "call",
        guests::JS_MISBEHAVE,
        "--func",
        "throw-string",
        "\"plain\"",
    ]);
    assert!(
        string.stderr.contains("trap: the task threw \"plain\"\n"),
        "{string:?}"
    );
    let id = mpwasm(&["call", guests::JS_MISBEHAVE, "--func", "id", "5"]);
    assert_eq!((id.code, id.stdout.trim()), (0, "5"), "{id:?}");
}
