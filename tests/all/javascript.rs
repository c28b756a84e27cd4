//! Tasks written in JavaScript, built from `guest-tasks/js/` by componentize-js: the seed's
//! `square` runs without naming its function, with u64 values as BigInts that wrap like the
//! Rust task's.
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
