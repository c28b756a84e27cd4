//! `mpwasm test`'s config file (`.config/mpwasm.toml`) against the real test binary of
//! `guest-tasks/untrusted-tests`: overrides give single tests their own time limit, memory
//! limit, retries, directory and variables; flags win over them; a named profile (by flag or
//! `$MPWASM_PROFILE`) falls back to the default one and brings `terminate-after` and a JUnit
//! path; `--show-config` says what each test gets; a malformed file is an exit-2 error naming
//! the file, the line and the key.

use std::path::Path;
use std::process::Command;

use mpwasm_test_artifacts::guests;

use crate::common::{Run, mpwasm_bin, temp_dir};

/// `mpwasm test UNTRUSTED_TESTS ARGS -j 2` run in `dir`, with the variables `env`.
fn test_in(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Run {
    let out = Command::new(mpwasm_bin())
        .arg("test")
        .arg(guests::UNTRUSTED_TESTS)
        .args(["-j", "2"])
        .args(args)
        .env_remove("MPWASM_PROFILE")
        .envs(env.iter().copied())
        .current_dir(dir)
        .output()
        .expect("mpwasm runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The label of test `name`'s line (`   TIMEOUT [   0.701s] untrusted_tests tests::hangs`).
fn label<'a>(run: &'a Run, name: &str) -> Option<&'a str> {
    run.stdout
        .lines()
        .take_while(|line| !line.starts_with("────"))
        .filter(|line| !line.trim_start().starts_with("SLOW"))
        .find(|line| line.ends_with(&format!("untrusted_tests {name}")))
        .and_then(|line| line.split_whitespace().next())
}

/// `--show-config`'s line for test `name`.
fn shown<'a>(run: &'a Run, name: &str) -> &'a str {
    run.stdout
        .lines()
        .find(|line| line.trim_start().starts_with(&format!("{name}: ")))
        .unwrap_or_else(|| panic!("no line for {name}: {run:?}"))
}

const CONFIG: &str = r#"# The tests' own limits, as a team would write them.
[profile.default]
timeout = "20s"
memory = "96MiB"

[[profile.default.overrides]]
filter = "exact:tests::hangs"
timeout = "700ms"

[[profile.default.overrides]]
filter = "re:^tests::exhausts_"
memory = "24MiB"

[[profile.default.overrides]]
filter = "flaky_with"
retries = 2
dir = ["scratch::/scratch"]

[[profile.default.overrides]]
filter = "passes_with_output"
env = { GREETING = "from the config" }

[profile.ci]
slow-timeout = "250ms"
terminate-after = 2
junit = { path = "reports/junit.xml" }
"#;

const TESTS: [&str; 5] = [
    "tests::hangs",
    "tests::exhausts_memory",
    "tests::flaky_with_scratch",
    "tests::passes",
    "--exact",
];

#[test]
fn overrides_give_single_tests_their_own_limits_retries_and_directories() {
    let root = temp_dir("test-config");
    std::fs::create_dir_all(root.join(".config")).expect("a .config dir");
    std::fs::create_dir_all(root.join("scratch")).expect("a scratch dir");
    std::fs::write(root.join(".config/mpwasm.toml"), CONFIG).expect("the config");
    // Found from a directory below the one holding .config, as under cargo.
    let below = root.join("crates/deep");
    std::fs::create_dir_all(&below).expect("a subdirectory");

    let run = test_in(&below, &[], &TESTS);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(label(&run, "tests::hangs"), Some("TIMEOUT"), "{run:?}");
    assert!(
        run.stdout
            .contains("the limit of 700ms (`timeout` in the config file; --show-config"),
        "{run:?}"
    );
    assert_eq!(
        label(&run, "tests::exhausts_memory"),
        Some("MEMORY"),
        "{run:?}"
    );
    assert!(
        run.stdout
            .contains("over the limit of 24 MiB (`memory` in the config file"),
        "{run:?}"
    );
    // Granted /scratch and two retries by its override: it fails once, then passes.
    assert_eq!(
        label(&run, "tests::flaky_with_scratch"),
        Some("FLAKY"),
        "{run:?}"
    );
    assert!(root.join("scratch/flaky-marker").is_file(), "{run:?}");
    assert_eq!(label(&run, "tests::passes"), Some("PASS"), "{run:?}");

    // A variable for one test alone.
    let env = test_in(
        &below,
        &[],
        &[
            "tests::passes_with_output",
            "tests::passes",
            "--exact",
            "--nocapture",
        ],
    );
    assert_eq!(env.code, 0, "{env:?}");
    assert_eq!(
        env.stdout.matches("GREETING is from the config").count(),
        1,
        "{env:?}"
    );

    // What each test gets, and from where.
    let config = test_in(&below, &[], &[&TESTS[..], &["--show-config"]].concat());
    assert_eq!(config.code, 0, "{config:?}");
    assert!(
        config.stdout.starts_with(&format!(
            "profile default of {}",
            root.join(".config/mpwasm.toml").display()
        )),
        "{config:?}"
    );
    let hangs = shown(&config, "tests::hangs");
    assert!(
        hangs.contains("timeout 700ms, memory 96 MiB, retries 0")
            && hangs.contains("mpwasm.toml:7:10, profile default"),
        "{hangs}"
    );
    let flaky = shown(&config, "tests::flaky_with_scratch");
    assert!(
        flaky.contains("timeout 20s, memory 96 MiB, retries 2")
            && flaky.contains(&format!("dir {}::/scratch", root.join("scratch").display())),
        "{flaky}"
    );
    assert!(
        shown(&config, "tests::passes").ends_with("timeout 20s, memory 96 MiB, retries 0"),
        "{config:?}"
    );
    // A flag holds for every test, over the overrides.
    let flagged = test_in(
        &below,
        &[],
        &[
            &TESTS[..],
            &["--show-config", "--timeout", "3s", "--retries", "1"],
        ]
        .concat(),
    );
    let hangs = shown(&flagged, "tests::hangs");
    assert!(
        hangs.contains("timeout 3s, memory 96 MiB, retries 1"),
        "{hangs}"
    );

    // The ci profile, chosen by $MPWASM_PROFILE: the default profile's limits and overrides,
    // and its own slow-timeout whose terminate-after stops `hangs` after two periods (500ms,
    // before its override's 700ms), and a JUnit report beside .config.
    let ci = test_in(&below, &[("MPWASM_PROFILE", "ci")], &TESTS[..2]);
    assert_eq!(ci.code, 1, "{ci:?}");
    assert_eq!(label(&ci, "tests::hangs"), Some("TIMEOUT"), "{ci:?}");
    assert!(
        ci.stdout.contains(
            "the limit of 500ms and was stopped (terminate-after: stopped after 2 slow-timeout \
             periods)"
        ),
        "{ci:?}"
    );
    let xml = std::fs::read_to_string(root.join("reports/junit.xml")).expect("the report");
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    assert!(
        doc.descendants()
            .any(|n| n.has_tag_name("testcase") && n.attribute("name") == Some("tests::hangs")),
        "{xml}"
    );
    let by_flag = test_in(&below, &[], &["--profile", "ci", "--show-config", "passes"]);
    assert!(
        by_flag.stdout.starts_with("profile ci of ")
            && by_flag
                .stdout
                .contains("slow-timeout 250ms (terminate-after 2)"),
        "{by_flag:?}"
    );
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn a_bad_config_is_an_exit_2_error_naming_the_file_line_and_key() {
    let root = temp_dir("test-config-bad");
    std::fs::create_dir_all(root.join(".config")).expect("a .config dir");
    let file = root.join(".config/mpwasm.toml");
    let cases = [
        (
            "[profile.default]\ntimeout = \"5s\"\ntimout = \"1s\"\n",
            ":3:1: unknown field `timout`",
        ),
        (
            "[profile.default]\nmemory = \"lots\"\n",
            ":2:10: memory: invalid size `lots`",
        ),
        (
            "[[profile.default.overrides]]\nfilter = \"re:(\"\n",
            ":2:10: filter `re:(`: not a regular expression",
        ),
        ("[profile.default\n", ":1:"),
    ];
    for (text, want) in cases {
        std::fs::write(&file, text).expect("the config");
        let run = test_in(&root, &[], &["passes"]);
        assert_eq!(run.code, 2, "{text}: {run:?}");
        assert!(
            run.stderr.contains(&format!("{}{want}", file.display())),
            "{text}: {run:?}"
        );
    }
    // A profile the file does not have, and one asked for without a file.
    std::fs::write(&file, "[profile.nightly]\nretries = 3\n").expect("the config");
    let run = test_in(&root, &[], &["--profile", "ci", "passes"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("profile `ci` is not in") && run.stderr.contains("(it has: nightly)"),
        "{run:?}"
    );
    let elsewhere = temp_dir("test-config-none");
    let run = test_in(&elsewhere, &[], &["--profile", "ci", "passes"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("there is no config file"), "{run:?}");
    // --config names a file anywhere.
    let run = test_in(
        &elsewhere,
        &[],
        &[
            "--config",
            file.to_str().expect("utf-8"),
            "--profile",
            "nightly",
            "--show-config",
            "passes",
        ],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        shown(&run, "tests::passes").contains("retries 3"),
        "{run:?}"
    );
    let _ = std::fs::remove_dir_all(&root);
    let _ = std::fs::remove_dir_all(&elsewhere);
}
