//! `mpwasm test` against a real test binary built from `guest-tasks/untrusted-tests` with
//! `cargo test --target wasm32-wasip2 --no-run`: every outcome (pass, failed assert, panic,
//! `Err` returned, hang, memory hog, host file probe, should_panic, ignored), the summary, the
//! exit codes, JUnit XML, libtest's filters and `--list`, retries, and cargo's runner.

use std::collections::{BTreeMap, BTreeSet};

use mpwasm_test_artifacts::guests;

use crate::common::{Run, mpwasm, mpwasm_bin, temp_dir};

/// Runs the whole suite once with tight limits.
fn full_run(extra: &[&str]) -> Run {
    let mut args = vec![
        "test",
        guests::UNTRUSTED_TESTS,
        "-j",
        "2",
        "--memory",
        "64MiB",
        "--timeout",
        "2s",
    ];
    args.extend_from_slice(extra);
    mpwasm(&args)
}

/// `name → label` from the per-test lines (`        PASS [   0.001s] crate name`), before
/// the summary.
fn labels(run: &Run) -> BTreeMap<String, String> {
    test_lines(run)
        .into_iter()
        .map(|(label, _, name)| (name, label))
        .collect()
}

/// `(label, suite, name)` of every per-test line before the summary.
fn test_lines(run: &Run) -> Vec<(String, String, String)> {
    run.stdout
        .lines()
        .take_while(|line| !line.starts_with("────"))
        .filter_map(|line| {
            let (label, rest) = line.trim_start().split_once(" [")?;
            let (_, rest) = rest.split_once("] ")?;
            let (suite, name) = rest.split_once(' ')?;
            let name = name.split(" (").next()?;
            Some((label.to_string(), suite.to_string(), name.to_string()))
        })
        .collect()
}

#[test]
fn every_outcome_is_reported_with_junit_xml() {
    let dir = temp_dir("junit");
    let junit = dir.join("report.xml");
    let run = full_run(&["--junit", junit.to_str().expect("utf-8 path")]);
    assert_eq!(run.code, 1, "{run:?}");
    let got = labels(&run);
    let want: BTreeMap<String, String> = [
        ("tests::passes", "PASS"),
        ("tests::passes_with_output", "PASS"),
        ("tests::nested::adds", "PASS"),
        ("tests::sleeps_briefly", "PASS"),
        ("tests::flaky_with_scratch", "PASS"),
        ("tests::fails_assert", "FAIL"),
        ("tests::panics", "FAIL"),
        ("tests::returns_err", "FAIL"),
        ("tests::reads_host_file", "FAIL"),
        ("tests::hangs", "TIMEOUT"),
        ("tests::exhausts_memory", "MEMORY"),
        ("tests::should_panic", "SKIP"),
        ("tests::ignored", "SKIP"),
    ]
    .into_iter()
    .map(|(n, l)| (n.to_string(), l.to_string()))
    .collect();
    assert_eq!(got, want, "{run:?}");
    assert!(
        run.stdout.contains(
            "11 tests run: 5 passed, 6 failed (1 timed out, 1 over the memory limit), 2 skipped"
        ),
        "{run:?}"
    );
    // A failure shows its panic message and the test's own output.
    assert!(
        run.stdout
            .contains("the test panicked: assertion `left == right` failed: two and two"),
        "{run:?}"
    );
    assert!(
        run.stdout.contains("stdout before the failed assert"),
        "{run:?}"
    );
    assert!(
        run.stdout.contains("stderr before the failed assert"),
        "{run:?}"
    );
    assert!(run.stdout.contains("the test returned an error"), "{run:?}");
    // The host file probe failed inside the sandbox.
    assert!(run.stdout.contains("cannot read /etc/passwd"), "{run:?}");
    assert!(
        run.stdout
            .contains("libtest skips them on every wasm target but Emscripten"),
        "{run:?}"
    );
    // Passing tests' output is not shown without --nocapture.
    assert!(!run.stdout.contains("hello from a passing test"), "{run:?}");

    let xml = std::fs::read_to_string(&junit).expect("the JUnit report was written");
    let doc = roxmltree::Document::parse(&xml).expect("the JUnit report is XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    assert_eq!(root.attribute("tests"), Some("13"));
    assert_eq!(root.attribute("failures"), Some("6"));
    assert_eq!(root.attribute("skipped"), Some("2"));
    let suites: Vec<_> = root
        .children()
        .filter(|n| n.has_tag_name("testsuite"))
        .collect();
    assert_eq!(suites.len(), 1);
    assert_eq!(suites[0].attribute("name"), Some("untrusted_tests"));
    let mut workers = BTreeSet::new();
    let mut junit_labels = BTreeMap::new();
    for case in suites[0].children().filter(|n| n.has_tag_name("testcase")) {
        let name = case.attribute("name").expect("a name").to_string();
        let failure = case.children().find(|n| n.has_tag_name("failure"));
        let skipped = case.children().find(|n| n.has_tag_name("skipped"));
        let label = match (failure.and_then(|f| f.attribute("type")), skipped) {
            (Some("timeout"), _) => "TIMEOUT",
            (Some("memory-limit"), _) => "MEMORY",
            (Some(_), _) => "FAIL",
            (None, Some(_)) => "SKIP",
            (None, None) => "PASS",
        };
        junit_labels.insert(name, label.to_string());
        for property in case.descendants().filter(|n| n.has_tag_name("property")) {
            if property.attribute("name") == Some("worker") {
                workers.insert(property.attribute("value").expect("a pid").to_string());
            }
        }
    }
    assert_eq!(junit_labels, want, "{xml}");
    assert!(
        workers.len() >= 2,
        "the tests ran on one worker process only: {workers:?}"
    );
    let should_panic = suites[0]
        .children()
        .find(|n| n.attribute("name") == Some("tests::should_panic"))
        .expect("should_panic is in the report");
    let skipped = should_panic
        .children()
        .find(|n| n.has_tag_name("skipped"))
        .expect("should_panic is skipped");
    assert!(
        skipped
            .attribute("message")
            .is_some_and(|m| m.contains("whatever the panic strategy")),
        "{xml}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn filters_exact_skip_and_ignored_select_as_libtest_does() {
    let run = full_run(&["passes", "--skip", "output"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        labels(&run).into_keys().collect::<Vec<_>>(),
        ["tests::passes"],
        "{run:?}"
    );
    let exact = full_run(&["--exact", "tests::nested::adds", "adds"]);
    assert_eq!(exact.code, 0, "{exact:?}");
    assert_eq!(
        labels(&exact).into_keys().collect::<Vec<_>>(),
        ["tests::nested::adds"],
        "{exact:?}"
    );
    let ignored = full_run(&["--ignored"]);
    assert_eq!(ignored.code, 0, "{ignored:?}");
    assert_eq!(
        labels(&ignored).get("tests::ignored").map(String::as_str),
        Some("PASS"),
        "{ignored:?}"
    );
    assert!(
        ignored.stdout.contains("1 test run: 1 passed"),
        "{ignored:?}"
    );
}

#[test]
fn list_prints_names_as_libtest_does() {
    let all = mpwasm(&["test", guests::UNTRUSTED_TESTS, "--list"]);
    assert_eq!(all.code, 0, "{all:?}");
    assert!(all.lines().contains(&"tests::passes: test"), "{all:?}");
    assert_eq!(all.lines().len(), 13, "{all:?}");
    let filtered = mpwasm(&["test", guests::UNTRUSTED_TESTS, "--list", "nested"]);
    assert_eq!(
        filtered.lines(),
        ["tests::nested::adds: test"],
        "{filtered:?}"
    );
    let ignored = mpwasm(&["test", guests::UNTRUSTED_TESTS, "--list", "--ignored"]);
    assert_eq!(ignored.lines(), ["tests::ignored: test"], "{ignored:?}");
}

#[test]
fn nocapture_shows_passing_output() {
    let run = full_run(&["--nocapture", "passes_with_output"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("hello from a passing test"), "{run:?}");
}

#[test]
fn a_test_that_passes_on_a_retry_is_flaky() {
    let scratch = temp_dir("flaky");
    let grant = format!("{}::/scratch", scratch.display());
    let run = full_run(&["flaky_with_scratch", "--dir", &grant, "--retries", "2"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("RETRY 1/2"), "{run:?}");
    assert_eq!(
        labels(&run)
            .get("tests::flaky_with_scratch")
            .map(String::as_str),
        Some("FLAKY"),
        "{run:?}"
    );
    assert!(run.stdout.contains("1 passed (1 flaky)"), "{run:?}");
    // Without retries the same failure fails the run.
    std::fs::remove_file(scratch.join("flaky-marker")).expect("the test left its marker");
    let once = full_run(&["flaky_with_scratch", "--dir", &grant]);
    assert_eq!(once.code, 1, "{once:?}");
    let _ = std::fs::remove_dir_all(&scratch);
}

#[test]
fn bad_binaries_are_refused_with_exit_status_2() {
    let missing = mpwasm(&["test", "/nonexistent/tests.wasm"]);
    assert_eq!(missing.code, 2, "{missing:?}");
    assert!(missing.stderr.contains("does not exist"), "{missing:?}");
    let not_tests = mpwasm(&["test", guests::SQUARE]);
    assert_eq!(not_tests.code, 2, "{not_tests:?}");
    assert!(
        not_tests.stderr.contains("is not a test binary"),
        "{not_tests:?}"
    );
    let none = mpwasm(&["test", "some_filter"]);
    assert_eq!(none.code, 2, "{none:?}");
    assert!(none.stderr.contains("no test binary"), "{none:?}");
}

#[test]
fn works_as_cargo_runner() {
    // `[target.wasm32-wasip2] runner = "mpwasm test"`, given through cargo's environment form,
    // over the very crate and target directory the build script built it in.
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let runner = format!("{} test -j 2", mpwasm_bin().display());
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root");
    let output = std::process::Command::new(cargo)
        .current_dir(root)
        .args([
            "test",
            "--release",
            "--locked",
            "--target",
            "wasm32-wasip2",
            "-p",
            "untrusted-tests",
            "--target-dir",
            guests::TARGET_DIR,
            "--",
            "passes",
        ])
        .env("CARGO_TARGET_WASM32_WASIP2_RUNNER", &runner)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .output()
        .expect("cargo runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("PASS"), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("2 tests run: 2 passed, 0 failed"),
        "{stdout}\n{stderr}"
    );
}

/// `(suite, name)` of every per-test line before the summary.
fn ran(run: &Run) -> Vec<(String, String)> {
    test_lines(run)
        .into_iter()
        .map(|(_, suite, name)| (suite, name))
        .collect()
}

#[test]
fn partitions_run_every_test_of_two_binaries_exactly_once() {
    let both = [guests::TINY_TESTS, guests::UNTRUSTED_TESTS];
    let listed = mpwasm(&["test", both[0], both[1], "--list"]);
    assert_eq!(listed.code, 0, "{listed:?}");
    let everything: BTreeSet<&str> = listed.lines().into_iter().collect();
    assert_eq!(everything.len(), 213, "{listed:?}");
    // Listing a share lists only its tests: slice shares, between them, list each test once.
    let mut slices = BTreeSet::new();
    for m in 1..=3 {
        let share = format!("slice:{m}/3");
        let run = mpwasm(&["test", both[0], both[1], "--list", "--partition", &share]);
        assert_eq!(run.code, 0, "{run:?}");
        let lines = run.lines();
        // Dealt out in turn: 67 (or 66) of the 200 tiny ones, 5 (or 4) of the 13 others.
        assert!((70..=72).contains(&lines.len()), "{share}: {}", lines.len());
        for line in lines {
            assert!(
                slices.insert(line.to_string()),
                "{share} lists {line} again"
            );
        }
    }
    assert_eq!(
        slices.iter().map(String::as_str).collect::<BTreeSet<_>>(),
        everything
    );
    // Running hash shares runs each test once, and the summary says which share ran.
    let mut seen: BTreeMap<(String, String), String> = BTreeMap::new();
    for m in 1..=3 {
        let share = format!("hash:{m}/3");
        let run = full_run(&[both[0], "--partition", &share]);
        assert!(run.code == 0 || run.code == 1, "{run:?}");
        let tests = ran(&run);
        assert!(
            run.stdout.contains(&format!(
                "(partition {share}: {} of 213 selected)",
                tests.len()
            )),
            "{run:?}"
        );
        for test in tests {
            assert!(
                seen.insert(test.clone(), share.clone()).is_none(),
                "{test:?} ran twice"
            );
        }
    }
    let names: BTreeSet<String> = seen
        .keys()
        .map(|(_, name)| format!("{name}: test"))
        .collect();
    assert_eq!(
        names.iter().map(String::as_str).collect::<BTreeSet<_>>(),
        everything
    );
    let suites: BTreeSet<&str> = seen.keys().map(|(suite, _)| suite.as_str()).collect();
    assert_eq!(suites, BTreeSet::from(["tiny_tests", "untrusted_tests"]));
}

/// [`full_run`] as a user's shell runs it: without the `CARGO_MANIFEST_DIR` that cargo sets
/// for this test binary (and for a runner it starts).
fn outside_cargo(extra: &[&str]) -> Run {
    test_with_manifest_dir(extra, None)
}

/// `mpwasm test` of the untrusted tests with `CARGO_MANIFEST_DIR` set to `dir`, or unset.
fn test_with_manifest_dir(extra: &[&str], dir: Option<&str>) -> Run {
    let mut command = std::process::Command::new(mpwasm_bin());
    command
        .args(["test", guests::UNTRUSTED_TESTS, "--timeout", "2s"])
        .args(extra);
    match dir {
        Some(dir) => command.env("CARGO_MANIFEST_DIR", dir),
        None => command.env_remove("CARGO_MANIFEST_DIR"),
    };
    let out = command
        .stdin(std::process::Stdio::null())
        .output()
        .expect("mpwasm runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn a_run_with_no_tests_fails_with_exit_4_unless_told_otherwise() {
    let none = outside_cargo(&["no_test_is_called_this"]);
    assert_eq!(none.code, 4, "{none:?}");
    assert!(
        none.stderr
            .contains("no tests to run: the filters select none of the tests")
            && none.stderr.contains("--no-tests warn or pass"),
        "{none:?}"
    );
    let warned = outside_cargo(&["no_test_is_called_this", "--no-tests", "warn"]);
    assert_eq!(warned.code, 0, "{warned:?}");
    assert!(
        warned.stderr.contains("warning: no tests to run"),
        "{warned:?}"
    );
    let passed = outside_cargo(&["no_test_is_called_this", "--no-tests", "pass"]);
    assert_eq!(passed.code, 0, "{passed:?}");
    assert!(!passed.stderr.contains("no tests"), "{passed:?}");
    // As cargo's runner (cargo sets CARGO_MANIFEST_DIR, as it did for this test) a binary
    // that a filter leaves empty passes, as libtest's own would: cargo runs each one alone.
    let as_runner =
        |extra: &[&str]| test_with_manifest_dir(extra, Some(env!("CARGO_MANIFEST_DIR")));
    let runner = as_runner(&["no_test_is_called_this"]);
    assert_eq!(runner.code, 0, "{runner:?}");
    let strict = as_runner(&["no_test_is_called_this", "--no-tests", "fail"]);
    assert_eq!(strict.code, 4, "{strict:?}");
    // An empty share is the same: one selected test, and the second of two shares.
    let empty = outside_cargo(&["--exact", "tests::passes", "--partition", "slice:2/2"]);
    assert_eq!(empty.code, 4, "{empty:?}");
    assert!(
        empty
            .stderr
            .contains("partition slice:2/2 holds none of the 1 test selected"),
        "{empty:?}"
    );
    let bad = outside_cargo(&["--partition", "hash:4/3"]);
    assert_eq!(bad.code, 2, "{bad:?}");
    assert!(bad.stderr.contains("--partition `hash:4/3`"), "{bad:?}");
}

#[test]
fn max_fail_stops_starting_tests_and_says_how_many_did_not_run() {
    let run = mpwasm(&[
        "test",
        guests::UNTRUSTED_TESTS,
        guests::TINY_TESTS,
        "-j",
        "1",
        "--memory",
        "64MiB",
        "--timeout",
        "2s",
        "--max-fail",
        "1",
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    let lines = ran(&run);
    let failed = labels(&run)
        .values()
        .filter(|l| matches!(l.as_str(), "FAIL" | "TIMEOUT" | "MEMORY"))
        .count();
    // The tests already running when the first failure came finish: one worker, two started.
    assert!((1..=2).contains(&failed), "{run:?}");
    let summary = run
        .stdout
        .lines()
        .find(|l| l.contains("Summary"))
        .expect("a summary");
    let not_run: usize = summary
        .strip_suffix(" not run (--max-fail 1 reached, 1 test binary not started)")
        .and_then(|head| head.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the summary counts what did not run: {summary}"));
    assert_eq!(lines.len() + not_run, 13, "{run:?}");
    assert!(lines.len() < 13, "{run:?}");
    // The second binary was not started at all.
    assert!(
        lines.iter().all(|(suite, _)| suite == "untrusted_tests"),
        "{run:?}"
    );
    // Without the limit every test runs (and --no-fail-fast says the same).
    let all = full_run(&["--no-fail-fast"]);
    assert_eq!(ran(&all).len(), 13, "{all:?}");
    let bad = full_run(&["--max-fail", "0"]);
    assert_eq!(bad.code, 2, "{bad:?}");
    assert!(bad.stderr.contains("--max-fail `0`"), "{bad:?}");
}

#[test]
fn libtest_json_streams_every_event_as_libtest_writes_it() {
    let human = labels(&full_run(&[]));
    let run = full_run(&["--message-format", "libtest-json"]);
    assert_eq!(run.code, 1, "{run:?}");
    let events: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}")))
        .collect();
    let first = events.first().expect("events");
    assert_eq!(first["type"], "suite");
    assert_eq!(first["event"], "started");
    assert_eq!(first["test_count"], 13);
    let last = events.last().expect("events");
    assert_eq!(last["type"], "suite");
    assert_eq!(last["event"], "failed");
    let mut started = BTreeSet::new();
    let mut verdicts = BTreeMap::new();
    for event in &events[1..events.len() - 1] {
        assert_eq!(event["type"], "test", "{event}");
        let name = event["name"].as_str().expect("a name").to_string();
        match event["event"].as_str().expect("an event") {
            "started" => assert!(started.insert(name), "{event}"),
            verdict => {
                assert!(
                    started.contains(&name),
                    "a verdict before its start: {event}"
                );
                assert!(verdicts.insert(name, event.clone()).is_none(), "{event}");
                assert!(["ok", "failed", "ignored"].contains(&verdict), "{event}");
            }
        }
    }
    assert_eq!(verdicts.len(), 13);
    // The same verdicts as the human lines, in libtest's words.
    for (name, label) in &human {
        let event = &verdicts[name];
        let want = match label.as_str() {
            "PASS" => "ok",
            "SKIP" => "ignored",
            _ => "failed",
        };
        assert_eq!(event["event"], want, "{name}: {label} vs {event}");
        if label == "TIMEOUT" {
            assert_eq!(event["reason"], "time limit exceeded", "{event}");
        }
        if want != "ignored" {
            assert!(event["exec_time"].as_f64().is_some(), "{event}");
        }
    }
    let count = |what: &str| verdicts.values().filter(|e| e["event"] == what).count();
    assert_eq!(last["passed"], count("ok"));
    assert_eq!(last["failed"], count("failed"));
    assert_eq!(last["ignored"], count("ignored"));
    assert_eq!(last["filtered_out"], 0);
}

#[test]
fn junit_keeps_every_failed_attempt_of_a_retried_test() {
    let dir = temp_dir("junit-attempts");
    let scratch = dir.join("scratch");
    std::fs::create_dir_all(&scratch).expect("scratch dir");
    let grant = format!("{}::/scratch", scratch.display());
    let junit = dir.join("report.xml");
    let run = full_run(&[
        "flaky_with_scratch",
        "panics",
        "--dir",
        &grant,
        "--retries",
        "2",
        "--junit",
        junit.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    let xml = std::fs::read_to_string(&junit).expect("the report");
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    let case = |name: &str| {
        doc.descendants()
            .find(|n| n.has_tag_name("testcase") && n.attribute("name") == Some(name))
            .unwrap_or_else(|| panic!("{name} is in the report: {xml}"))
    };
    let children = |node: roxmltree::Node<'_, '_>, tag: &str| -> Vec<String> {
        node.children()
            .filter(|n| n.has_tag_name(tag))
            .map(|n| {
                assert!(
                    n.attribute("time").is_some() && n.attribute("type").is_some(),
                    "{xml}"
                );
                n.descendants().filter_map(|d| d.text()).collect::<String>()
            })
            .collect()
    };
    // Flaky: it failed once (its first run leaves a marker, then it passes), and that attempt
    // is kept with its reason and output, beside the final pass.
    let flaky = case("tests::flaky_with_scratch");
    let attempts = children(flaky, "flakyFailure");
    assert_eq!(attempts.len(), 1, "{xml}");
    assert!(attempts[0].contains("panicked"), "{xml}");
    assert!(children(flaky, "failure").is_empty(), "{xml}");
    assert!(children(flaky, "rerunFailure").is_empty(), "{xml}");
    // Failed every time: the final failure, and the two attempts before it as reruns.
    let panics = case("tests::panics");
    assert_eq!(
        panics
            .children()
            .filter(|n| n.has_tag_name("failure"))
            .count(),
        1,
        "{xml}"
    );
    let reruns = children(panics, "rerunFailure");
    assert_eq!(reruns.len(), 2, "{xml}");
    assert!(
        reruns
            .iter()
            .all(|r| r.contains("deliberate panic in a test")),
        "{xml}"
    );
    assert!(children(panics, "flakyFailure").is_empty(), "{xml}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The labels of the test lines after the summary line.
fn final_labels(run: &Run) -> BTreeMap<String, String> {
    let after: String = run
        .stdout
        .lines()
        .skip_while(|line| !line.contains("Summary ["))
        .skip(1)
        .map(|line| format!("{line}\n"))
        .collect();
    labels(&Run {
        code: run.code,
        stdout: after,
        stderr: String::new(),
    })
}

#[test]
fn status_levels_choose_which_lines_are_printed() {
    let everything = full_run(&[]);
    let all = labels(&everything);
    let failing: BTreeMap<String, String> = all
        .iter()
        .filter(|(_, l)| matches!(l.as_str(), "FAIL" | "TIMEOUT" | "MEMORY"))
        .map(|(n, l)| (n.clone(), l.clone()))
        .collect();
    assert!(
        failing.len() >= 3 && failing.len() < all.len(),
        "{everything:?}"
    );
    // By default every line, and the failures again after the summary.
    assert!(all.values().any(|l| l == "SKIP") && all.values().any(|l| l == "PASS"));
    assert_eq!(final_labels(&everything), failing);
    // Only failures as they finish, nothing after the summary.
    let quiet = full_run(&["--status-level", "fail", "--final-status-level", "none"]);
    assert_eq!(quiet.code, 1, "{quiet:?}");
    assert_eq!(labels(&quiet), failing, "{quiet:?}");
    assert!(final_labels(&quiet).is_empty(), "{quiet:?}");
    assert!(quiet.stdout.contains("Summary ["), "{quiet:?}");
    // No line as they finish; after the summary the passes and failures, not the skips.
    let at_end = full_run(&["--status-level", "none", "--final-status-level", "pass"]);
    assert!(labels(&at_end).is_empty(), "{at_end:?}");
    let listed = final_labels(&at_end);
    let want: BTreeMap<String, String> = all
        .iter()
        .filter(|(_, l)| l.as_str() != "SKIP")
        .map(|(n, l)| (n.clone(), l.clone()))
        .collect();
    assert_eq!(listed, want, "{at_end:?}");
}

#[test]
fn a_slow_test_is_reported_at_each_period_before_its_end() {
    // `hangs` runs until the 2 s timeout: SLOW after 0.6 s, 1.2 s and 1.8 s, then TIMEOUT;
    // `passes` ends long before its first period.
    let run = full_run(&[
        "tests::hangs",
        "tests::passes",
        "--exact",
        "--slow-timeout",
        "600ms",
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    // (Only `hangs`'s lines: on a loaded machine even `passes` may reach a period.)
    let is_slow_hangs = |l: &&str| {
        l.trim_start().starts_with("SLOW") && l.ends_with("untrusted_tests tests::hangs")
    };
    let slow: Vec<&str> = run.stdout.lines().filter(is_slow_hangs).collect();
    // (Three, unless a loaded machine delivers the timeout late.)
    assert!(slow.len() >= 2, "{run:?}");
    assert!(
        slow[0].contains("[>0.600s]") && slow[1].contains("[>1.200s]"),
        "{run:?}"
    );
    // Every SLOW line comes before the test's verdict.
    let verdict = run
        .stdout
        .lines()
        .position(|l| l.contains("TIMEOUT") && l.ends_with("tests::hangs"))
        .expect("hangs timed out");
    let lines: Vec<&str> = run.stdout.lines().collect();
    let last_slow = lines.iter().rposition(is_slow_hangs).expect("a SLOW line");
    assert!(last_slow < verdict, "{run:?}");
    assert_eq!(
        labels(&run).get("tests::passes").map(String::as_str),
        Some("PASS")
    );
    // Below the slow level they are not shown.
    let quiet = full_run(&[
        "tests::hangs",
        "--exact",
        "--slow-timeout",
        "600ms",
        "--status-level",
        "retry",
    ]);
    assert!(
        !quiet.stdout.contains("SLOW") && quiet.stdout.contains("TIMEOUT"),
        "{quiet:?}"
    );
}

#[test]
fn a_progress_bar_shows_on_a_terminal_beside_the_test_lines() {
    let dir = temp_dir("test-progress");
    let typescript = dir.join("typescript.txt");
    // stdout and stderr both on the pseudo-terminal `script` makes, as in a developer's shell.
    let command = format!(
        "{} test {} -j 2 --timeout 10s",
        mpwasm_bin().display(),
        guests::TINY_TESTS
    );
    let status = std::process::Command::new("script")
        .args(["-qfec", &command])
        .arg(&typescript)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .status()
        .expect("`script` (util-linux) runs");
    assert!(status.success(), "{command}: {status}");
    let terminal = std::fs::read_to_string(&typescript).expect("typescript");
    // The bar was drawn (done/total, running, failed), and the lines and the summary are whole.
    assert!(terminal.contains("/200 tests"), "{terminal}");
    // At most one test runs per worker; the rest wait.
    assert!(terminal.contains("(2 running, 0 failed)"), "{terminal}");
    assert!(terminal.contains("200 tests run: 200 passed"), "{terminal}");
    let passes = terminal
        .lines()
        .filter(|l| l.contains("PASS") && l.contains("tiny_tests tests::t"))
        .count();
    assert_eq!(passes, 200, "{terminal}");
    // Into a pipe (as everywhere else in these tests) there is no bar.
    let piped = mpwasm(&["test", guests::TINY_TESTS, "-j", "2", "t00"]);
    assert!(
        !piped.stderr.contains("tests (") && !piped.stdout.contains("running,"),
        "{piped:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The JUnit report's cases: name → (what it holds: `failure:TYPE`, `skipped`, or `passed`).
fn junit_cases(xml: &str) -> BTreeMap<String, String> {
    let doc = roxmltree::Document::parse(xml).expect("well-formed XML");
    doc.descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .map(|case| {
            let name = case.attribute("name").expect("a name").to_string();
            let held = case
                .children()
                .find_map(|c| match c.tag_name().name() {
                    "failure" => Some(format!("failure:{}", c.attribute("type").unwrap_or(""))),
                    "skipped" => Some("skipped".to_string()),
                    _ => None,
                })
                .unwrap_or_else(|| "passed".to_string());
            (name, held)
        })
        .collect()
}

/// The summary line after its timing (`13 tests run: ...`).
fn summary(run: &Run) -> String {
    run.stdout
        .lines()
        .find(|l| l.trim_start().starts_with("Summary"))
        .and_then(|l| l.split_once("] "))
        .map(|(_, rest)| rest.to_string())
        .unwrap_or_else(|| panic!("no summary: {run:?}"))
}

#[test]
fn the_suite_runs_on_a_brokers_workers_as_it_does_here() {
    use crate::common::broker::{Redis, Worker};
    let dir = temp_dir("test-broker");
    let (local_xml, broker_xml) = (dir.join("local.xml"), dir.join("broker.xml"));
    let local = full_run(&["--junit", local_xml.to_str().expect("utf-8")]);
    let redis = Redis::start(&[]);
    let url = redis.url();
    let workers = [Worker::start(&url, &[]), Worker::start(&url, &[])];
    let remote = mpwasm(&[
        "test",
        guests::UNTRUSTED_TESTS,
        "--broker",
        &url,
        "--memory",
        "64MiB",
        "--timeout",
        "2s",
        "--junit",
        broker_xml.to_str().expect("utf-8"),
    ]);
    let logs = || workers.iter().map(Worker::log).collect::<String>();
    assert_eq!(remote.code, local.code, "{remote:?}\n{}", logs());
    assert_eq!(labels(&remote), labels(&local), "{remote:?}");
    assert_eq!(summary(&remote), summary(&local), "{remote:?}");
    let read = |path: &std::path::Path| std::fs::read_to_string(path).expect("a report");
    assert_eq!(
        junit_cases(&read(&broker_xml)),
        junit_cases(&read(&local_xml))
    );
    // -j is a local pool's size.
    let refused = mpwasm(&["test", guests::UNTRUSTED_TESTS, "--broker", &url, "-j", "2"]);
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(refused.stderr.contains("mpwasm worker -j N"), "{refused:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_test_whose_broker_worker_dies_is_taken_over_and_gets_its_verdict() {
    use crate::common::broker::{Redis, Worker};
    use std::io::{BufRead, BufReader};
    let redis = Redis::start(&[]);
    let url = redis.url();
    let mut first = Worker::start(&url, &[]);
    let mut run = std::process::Command::new(mpwasm_bin())
        .args([
            "test",
            guests::UNTRUSTED_TESTS,
            "tests::hangs",
            "tests::passes",
        ])
        .args([
            "--exact",
            "--broker",
            &url,
            "--lease",
            "1s",
            "--timeout",
            "3s",
        ])
        .args(["--message-format", "libtest-json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("mpwasm test starts");
    let mut lines = BufReader::new(run.stdout.take().expect("stdout")).lines();
    // Once `hangs` is handed over and the lone worker runs a pool for it, that worker dies.
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.expect("a line");
        seen.push(line.clone());
        if line.contains(r#""event":"started","name":"tests::hangs""#) {
            break;
        }
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while crate::common::workers(first.pid()).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "{seen:?}\n{}",
            first.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // (It adopts a new job at once; `hangs` then runs for 3 s.)
    std::thread::sleep(std::time::Duration::from_millis(1000));
    first.kill();
    let second = Worker::start(&url, &[]);
    seen.extend(lines.map_while(Result::ok));
    let status = run.wait().expect("mpwasm test ends");
    let verdicts: BTreeMap<String, String> = seen
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["type"] == "test" && e["event"] != "started")
        .map(|e| {
            (
                e["name"].as_str().unwrap_or("").to_string(),
                e["event"].to_string(),
            )
        })
        .collect();
    assert_eq!(status.code(), Some(1), "{seen:?}\n{}", second.log());
    assert_eq!(verdicts.len(), 2, "{seen:?}");
    assert_eq!(verdicts["tests::passes"], r#""ok""#, "{seen:?}");
    assert_eq!(verdicts["tests::hangs"], r#""failed""#, "{seen:?}");
    assert!(
        seen.iter().any(|l| l.contains("time limit exceeded")),
        "{seen:?}"
    );
    assert!(second.log().contains("took over"), "{}", second.log());
}

#[test]
fn ctrl_c_stops_a_broker_test_run_and_its_tests_on_the_workers() {
    use crate::common::broker::{Redis, Worker};
    use std::io::{BufRead, BufReader};
    let redis = Redis::start(&[]);
    let url = redis.url();
    // Each holds one test at a time (by default a worker also holds the next one, which
    // would wait behind `hangs`).
    let prefetch = ["--prefetch", "1"];
    let workers = [
        Worker::start(&url, &prefetch),
        Worker::start(&url, &prefetch),
    ];
    let mut run = std::process::Command::new(mpwasm_bin())
        .args([
            "test",
            guests::UNTRUSTED_TESTS,
            "tests::hangs",
            "tests::passes",
        ])
        .args(["--exact", "--broker", &url, "--timeout", "60s"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("mpwasm test starts");
    let mut out = BufReader::new(run.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("a test line");
    assert!(
        line.trim_start().starts_with("PASS") && line.contains("tests::passes"),
        "{line:?}"
    );
    // `hangs` runs on the other worker, in a worker process of its own.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while workers
        .iter()
        .all(|w| crate::common::workers(w.pid()).is_empty())
    {
        assert!(std::time::Instant::now() < deadline, "no worker runs hangs");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let started = std::time::Instant::now();
    let killed = std::process::Command::new("kill")
        .args(["-INT", &run.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).expect("the rest of stdout");
    let status = run.wait().expect("it exits");
    let err = crate::common::read_stderr(&mut run);
    assert_eq!(status.code(), Some(130), "{rest}\n{err}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "the run was not stopped"
    );
    assert!(
        rest.contains("1 test run: 1 passed, 0 failed, 0 skipped"),
        "{rest}"
    );
    assert!(
        err.contains("interrupted by SIGINT: 1 test did not run"),
        "{err}"
    );
    // The job is gone from the broker, so no worker goes on running `hangs`.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while workers
        .iter()
        .any(|w| !crate::common::workers(w.pid()).is_empty())
    {
        assert!(
            std::time::Instant::now() < deadline,
            "a worker still runs the stopped job: {}",
            workers.iter().map(Worker::log).collect::<String>()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Runs `mpwasm ARGS`, killing it if it has not ended within `limit` (a hang fails the test
/// instead of stalling the suite).
fn mpwasm_within(args: &[&str], limit: std::time::Duration) -> Run {
    let child = crate::common::spawn(args);
    let pid = child.id();
    let (done_tx, done_rx) = crossbeam_channel::bounded::<()>(1);
    let watchdog = std::thread::spawn(move || {
        if done_rx.recv_timeout(limit).is_err() {
            let _ = std::process::Command::new("kill")
                .args(["-9", &pid.to_string()])
                .status();
        }
    });
    let out = child.wait_with_output().expect("mpwasm runs");
    let _ = done_tx.send(());
    let _ = watchdog.join();
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert_ne!(
        run.code, -1,
        "mpwasm {args:?} did not end within {limit:?}: {run:?}"
    );
    run
}

#[test]
fn a_binary_with_more_tests_than_are_handed_over_ahead_runs_every_one_here_and_on_a_broker() {
    use crate::common::broker::{Redis, Worker};
    // 4 201 tests, 4 096 handed over ahead of the verdicts: the thread that collects them
    // also starts the rest, and the retries of the one that fails, never waiting on itself.
    let args = [
        "test",
        guests::MANY_TESTS,
        "--retries",
        "2",
        "--status-level",
        "retry",
    ];
    let limit = std::time::Duration::from_secs(300);
    let check = |run: &Run| {
        assert_eq!(run.code, 1, "one test fails: {run:?}");
        assert!(
            summary(run).contains("4201 tests run: 4200 passed, 1 failed, 0 skipped"),
            "{}",
            summary(run)
        );
        let retries = run
            .stdout
            .lines()
            .filter(|l| l.trim_start().starts_with("RETRY") && l.contains("fails_on_purpose"))
            .count();
        assert_eq!(retries, 2, "both retries ran: {}", run.stdout);
    };
    check(&mpwasm_within(&args, limit));
    let redis = Redis::start(&[]);
    let url = redis.url();
    let _workers = [Worker::start(&url, &[]), Worker::start(&url, &[])];
    check(&mpwasm_within(
        &[&args[..], &["--broker", &url]].concat(),
        limit,
    ));
}
