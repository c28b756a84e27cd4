//! The settings stage as tables: command lines, as clap parses them, become settings (the pool
//! compared with the builder the flags stand for) or exactly the error a user sees.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use mpwasm::DirGrant;
use mpwasm::PoolBuilder;
use mpwasm::broker::{Prefetch, WorkerCaps};
use mpwasm::limits::{default_memory_limit, default_processes};
use serde_json::json;

use super::range::parse_range;
use super::*;
use crate::cli::args::{Cli, Command, Format};
use crate::cli::style::ColorChoice;

/// Parses `mpwasm ARGS` with clap (stage one).
fn command(args: &[&str]) -> Command {
    Cli::try_parse_from(std::iter::once("mpwasm").chain(args.iter().copied()))
        .unwrap_or_else(|e| panic!("clap refuses {args:?}: {e}"))
        .command
}

/// A builder's settings as text, to compare two builders.
fn shown(builder: &PoolBuilder) -> String {
    format!("{builder:?}")
}

/// The error as `main` prints it after `mpwasm: error: `.
fn message(error: anyhow::Error) -> String {
    format!("{error:#}")
}

fn run(args: &[&str]) -> Result<RunSettings, String> {
    let mut all = vec!["run", "task.wasm"];
    all.extend_from_slice(args);
    match command(&all) {
        Command::Run(args) => RunSettings::new(*args).map_err(message),
        other => panic!("not run: {other:?}"),
    }
}

/// The pool every local run starts from: `pool_builder`'s defaults (its compile notice shows
/// as `CompileNotice(..)` whatever it does).
fn base() -> PoolBuilder {
    PoolBuilder::new()
        .on_compile(|_, _| {})
        .time_tasks(false)
        .fresh(false)
        .cache(true)
}

fn plain_output() -> OutputSettings {
    OutputSettings {
        format: Format::Values,
        bar: BarMode::Auto,
        color: ColorChoice::Auto,
        quiet: false,
        joblog: None,
    }
}

#[test]
fn run_flags_become_settings() {
    let range = |text: &str| InputSpec::Range(parse_range(text).expect("a range"));
    let path = |p: &str| Some(PathBuf::from(p));
    let path_env = std::env::var("PATH").unwrap_or_default();
    let cases: Vec<(Vec<&str>, InputSpec, PoolBuilder, bool, OutputSettings)> = vec![
        (
            vec!["--map", "0..3"],
            range("0..3"),
            base(),
            true,
            plain_output(),
        ),
        (
            vec![
                "--input",
                "-",
                "--unordered",
                "-j",
                "2",
                "--memory",
                "64MiB",
                "--timeout",
                "2s",
                "--fuel",
                "1000",
                "--output-limit",
                "1k",
                "--chunksize",
                "5",
                "--format",
                "jsonl",
                "-q",
                "--color",
                "never",
            ],
            InputSpec::JsonLines(path("-")),
            base()
                .processes(2)
                .memory_limit(64 << 20)
                .timeout(Duration::from_secs(2))
                .fuel(1000)
                .output_limit(1024)
                .chunksize(5),
            false,
            OutputSettings {
                format: Format::Jsonl,
                bar: BarMode::Off,
                quiet: true,
                color: ColorChoice::Never,
                ..plain_output()
            },
        ),
        (
            vec![
                "--lines",
                "in.txt",
                "--joblog",
                "run.log",
                "--resume",
                "--progress",
                "--func",
                "api#go",
                "--init",
                "setup",
                "--retries",
                "3",
                "--max-tasks-per-worker",
                "9",
                "--fresh",
                "--no-cache",
            ],
            InputSpec::TextLines(path("in.txt")),
            base()
                .time_tasks(true)
                .function("api#go")
                .init("setup")
                .retries(3)
                .max_tasks_per_worker(9)
                .fresh(true)
                .cache(false),
            true,
            OutputSettings {
                bar: BarMode::Forced,
                joblog: Some(JobLogSettings {
                    path: PathBuf::from("run.log"),
                    resume: true,
                }),
                ..plain_output()
            },
        ),
        (
            vec![
                "--csv",
                "rows.csv",
                "--no-header",
                "--dir",
                "data::/data:ro",
                "--allow-http",
                "example.com",
                "--env",
                "A=1",
                "--env",
                "PATH",
                "--",
                "--name={}",
                "x",
            ],
            InputSpec::Csv {
                path: path("rows.csv"),
                header: false,
            },
            base()
                .dir(DirGrant::parse("data::/data:ro").expect("a grant"))
                .allow_http(mpwasm::HttpGrant::parse("example.com").expect("a grant"))
                .env("A", "1")
                .env("PATH", path_env)
                .program_args(vec!["--name={}".into(), "x".into()], false),
            true,
            plain_output(),
        ),
        (
            vec!["--map", "0..2", "--stdin"],
            range("0..2"),
            base().program_args(Vec::new(), true),
            true,
            plain_output(),
        ),
    ];
    for (args, inputs, pool, ordered, output) in cases {
        let got = run(&args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        assert_eq!(got.task, PathBuf::from("task.wasm"));
        assert_eq!(got.inputs, inputs, "{args:?}");
        assert_eq!(shown(&got.pool), shown(&pool), "{args:?}");
        assert_eq!(got.ordered, ordered, "{args:?}");
        assert_eq!(got.output, output, "{args:?}");
        assert!(matches!(got.target, Target::Local), "{args:?}");
    }
}

#[test]
fn a_broker_run_has_a_checked_url_and_lease() {
    let got = run(&[
        "--map",
        "0..3",
        "--broker",
        "redis://:secret@localhost:6379",
        "--lease",
        "2s",
    ])
    .expect("settings");
    let Target::Broker { url, lease } = got.target else {
        panic!("not a broker run: {:?}", got.target);
    };
    assert!(!url.shown().contains("secret"), "{}", url.shown());
    assert_eq!(lease, Duration::from_secs(2));
    let default = run(&["--map", "0..3", "--broker", "redis://localhost"]).expect("settings");
    assert!(
        matches!(default.target, Target::Broker { lease, .. } if lease == Duration::from_secs(10))
    );
}

#[test]
fn bad_run_flags_are_refused_naming_the_flag_and_the_text() {
    let cases: &[(&[&str], &str)] = &[
        (
            &[],
            "no inputs: give --map RANGE (e.g. --map 0..10), --input PATH (JSON Lines), \
             --lines PATH (one string per line), --csv PATH, or `-` as the PATH to read stdin",
        ),
        (
            &["--map", "zero..3"],
            "invalid --map range `zero..3`: start `zero` is not an integer; expected A..B, \
             A..=B or A..B:STEP with integers, e.g. 0..10, 1..=5, 0..100:10: invalid digit \
             found in string",
        ),
        (
            &["--map", "0..3:0"],
            "invalid --map range `0..3:0`: the step must not be 0",
        ),
        (
            &["--map", "0..3", "--chunksize", "0"],
            "invalid --chunksize 0: a batch holds at least one task",
        ),
        (
            &["--map", "0..3", "-j", "0"],
            "invalid -j/--processes 0: at least one worker process is needed",
        ),
        (
            &["--map", "0..3", "--memory", "lots"],
            "--memory: invalid size `lots`: expected a number with an optional unit, e.g. \
             64MiB, 2G, 512k",
        ),
        (
            &["--map", "0..3", "--memory", "0"],
            "invalid --memory `0`: the limit must be above 0",
        ),
        (
            &["--map", "0..3", "--timeout", "soon"],
            "--timeout: invalid duration `soon`: expected a number with a unit, e.g. 500ms, \
             2s, 1m",
        ),
        (
            &["--map", "0..3", "--timeout", "0s"],
            "invalid --timeout `0s`: the limit must be above 0",
        ),
        (
            &["--map", "0..3", "--output-limit", "much"],
            "--output-limit: invalid size `much`: expected a number with an optional unit, \
             e.g. 64MiB, 2G, 512k",
        ),
        (
            &["--map", "0..3", "--max-tasks-per-worker", "0"],
            "invalid --max-tasks-per-worker 0: a worker runs at least one task",
        ),
        (
            &["--map", "0..3", "--dir", "::/x"],
            "invalid --dir `::/x`: expected HOST[::GUEST][:ro], e.g. ./data::/data:ro",
        ),
        (
            &["--map", "0..3", "--env", "=1"],
            "invalid --env `=1`: expected KEY=VALUE or KEY",
        ),
        (
            &["--map", "0..3", "--env", "MPWASM_SETTINGS_TEST_UNSET"],
            "--env MPWASM_SETTINGS_TEST_UNSET: the variable is not set here (write --env \
             MPWASM_SETTINGS_TEST_UNSET=VALUE): environment variable not found",
        ),
        (
            &["--map", "0..3", "--broker", "redis://localhost", "-j", "2"],
            "-j/--processes sets the size of a local pool; with --broker each worker chooses \
             its own (mpwasm worker -j N)",
        ),
        (
            &[
                "--map",
                "0..3",
                "--broker",
                "redis://localhost",
                "--lease",
                "50ms",
            ],
            "invalid --lease `50ms`: it must be at least 100ms",
        ),
        (
            &[
                "--map",
                "0..3",
                "--broker",
                "redis://localhost",
                "--lease",
                "a while",
            ],
            "--lease: invalid duration `a while`: expected a number with a unit, e.g. 500ms, \
             2s, 1m",
        ),
        (
            &["--map", "0..3", "--broker", "http://localhost"],
            "invalid broker URL `http://localhost`: it must start with redis:// or rediss://; \
             expected redis://[USER:PASSWORD@]HOST[:PORT][/DB], or rediss://... for TLS",
        ),
        // The checks run in the order of the flags' stages: the inputs first.
        (
            &["--map", "x", "--memory", "0"],
            "invalid --map range `x`: expected A..B, A..=B or A..B:STEP with integers, e.g. \
             0..10, 1..=5, 0..100:10",
        ),
    ];
    for (args, want) in cases {
        match run(args) {
            Ok(settings) => panic!("{args:?} was accepted: {settings:?}"),
            Err(got) => assert_eq!(got, *want, "{args:?}"),
        }
    }
}

/// A directory of this test process's own, with empty files standing in for test binaries.
fn scratch(files: &[&str]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mpwasm-settings-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    for file in files {
        std::fs::write(dir.join(file), b"").expect("a file");
    }
    dir
}

fn test_settings(args: &[&str]) -> Result<TestSettings, String> {
    let mut all = vec!["test"];
    all.extend_from_slice(args);
    match command(&all) {
        Command::Test(args) => TestSettings::new(args).map_err(message),
        other => panic!("not test: {other:?}"),
    }
}

/// The pool of every test binary, from the checked values.
fn test_pool(processes: Option<usize>, memory: u64, timeout: Duration) -> PoolBuilder {
    let mut pool = PoolBuilder::new();
    if let Some(n) = processes {
        pool = pool.processes(n);
    }
    pool.memory_limit(memory)
        .timeout(timeout)
        .fresh(false)
        .cache(true)
        .program_args(Vec::new(), false)
        .chunksize(1)
        .window(4096)
}

#[test]
fn test_arguments_become_settings() {
    let dir = scratch(&["suite_a-0123456789abcdef.wasm", "plain.wasm"]);
    let a = dir.join("suite_a-0123456789abcdef.wasm");
    let plain = dir.join("plain.wasm");
    let (a_text, plain_text) = (
        a.to_string_lossy().into_owned(),
        plain.to_string_lossy().into_owned(),
    );
    let (a_text, plain_text) = (a_text.as_str(), plain_text.as_str());
    let got = test_settings(&[a_text, "adds", plain_text, "--skip", "slow", "--exact"])
        .expect("settings");
    assert_eq!(
        got.binaries,
        [
            TestBinary {
                path: a.clone(),
                name: "suite_a".into()
            },
            TestBinary {
                path: plain.clone(),
                name: "plain".into()
            },
        ]
    );
    assert_eq!(got.selection.filters, ["adds"]);
    assert_eq!(got.selection.skip, ["slow"]);
    assert!(got.selection.exact && !got.selection.ignored_only);
    assert!(!got.list && !got.nocapture && got.junit.is_none());
    assert_eq!(got.limits.retries, 0);
    let machine_share = (1u64 << 30).min(default_memory_limit(default_processes().max(1)));
    assert_eq!(
        shown(&got.pool),
        shown(&test_pool(None, machine_share, Duration::from_secs(60)))
    );

    let got = test_settings(&[
        a_text,
        "-j",
        "2",
        "--memory",
        "64MiB",
        "--timeout",
        "2s",
        "--output-limit",
        "4k",
        "--dir",
        "fixtures::/fixtures:ro",
        "--env",
        "K=V",
        "--no-cache",
        "--retries",
        "2",
        "--ignored",
        "--list",
        "--nocapture",
        "--junit",
        "report.xml",
        "--test-threads",
        "1",
        "-q",
        "--show-output",
    ])
    .expect("settings");
    let want = test_pool(Some(2), 64 << 20, Duration::from_secs(2))
        .output_limit(4096)
        .dir(DirGrant::parse("fixtures::/fixtures:ro").expect("a grant"))
        .env("K", "V")
        .cache(false);
    assert_eq!(shown(&got.pool), shown(&want));
    assert!(got.selection.ignored_only && got.list && got.nocapture);
    assert_eq!(got.limits.retries, 2);
    assert_eq!(got.junit, Some(PathBuf::from("report.xml")));
    // Without --memory, the machine's share is counted for -j.
    let got = test_settings(&[a_text, "-j", "3"]).expect("settings");
    let share = (1u64 << 30).min(default_memory_limit(3));
    assert_eq!(
        shown(&got.pool),
        shown(&test_pool(Some(3), share, Duration::from_secs(60)))
    );

    let missing = dir.join("missing.wasm");
    let missing_text = missing.to_string_lossy().into_owned();
    let missing_text = missing_text.as_str();
    let cases: Vec<(Vec<&str>, String)> = vec![
        (
            vec!["a_filter"],
            "no test binary given (a path ending in .wasm); build them with `cargo test \
             --target wasm32-wasip2 --no-run` and pass \
             target/wasm32-wasip2/debug/deps/NAME-HASH.wasm"
                .into(),
        ),
        (
            vec![missing_text, "-j", "0"],
            format!("test binary {missing_text} does not exist"),
        ),
        (
            vec![a_text, "-j", "0"],
            "invalid -j/--processes 0: at least one worker process is needed".into(),
        ),
        (
            vec![a_text, "--memory", "0"],
            "invalid --memory `0`: the limit must be above 0".into(),
        ),
        (
            vec![a_text, "--timeout", "soon"],
            "--timeout: invalid duration `soon`: expected a number with a unit, e.g. 500ms, \
             2s, 1m"
                .into(),
        ),
        (
            vec![a_text, "--dir", ""],
            "invalid --dir ``: expected HOST[::GUEST][:ro], e.g. ./data::/data:ro".into(),
        ),
    ];
    for (args, want) in cases {
        match test_settings(&args) {
            Ok(settings) => panic!("{args:?} was accepted: {settings:?}"),
            Err(got) => assert_eq!(got, want, "{args:?}"),
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn worker(args: &[&str]) -> Result<WorkerSettings, String> {
    let mut all = vec!["worker", "--broker"];
    all.extend_from_slice(args);
    match command(&all) {
        Command::Worker(args) => WorkerSettings::new(args).map_err(message),
        other => panic!("not worker: {other:?}"),
    }
}

#[test]
fn worker_flags_become_settings() {
    let got = worker(&["redis://localhost"]).expect("settings");
    assert_eq!(got.processes, default_processes());
    assert_eq!(got.prefetch, Prefetch::Fixed(default_processes() * 2));
    assert!(!got.quiet);
    let dir = std::env::temp_dir();
    let dir_text = dir.to_string_lossy().into_owned();
    let got = worker(&[
        "redis://localhost",
        "-j",
        "3",
        "--prefetch",
        "64",
        "--max-memory",
        "512MiB",
        "--max-timeout",
        "1m",
        "--allow-dir",
        &dir_text,
        "--allow-http",
        "-q",
    ])
    .expect("settings");
    assert_eq!(
        (got.processes, got.prefetch, got.quiet),
        (3, Prefetch::Fixed(64), true)
    );
    let want = WorkerCaps {
        max_memory: Some(512 << 20),
        max_timeout: Some(Duration::from_secs(60)),
        allow_dirs: vec![dir.clone()],
        allow_http: true,
    };
    assert_eq!(format!("{:?}", got.caps), format!("{want:?}"));
    assert_eq!(
        worker(&["redis://localhost", "-j", "3"]).map(|w| w.prefetch),
        Ok(Prefetch::Fixed(6))
    );
    let auto = worker(&["redis://localhost", "-j", "3", "--prefetch", "auto"]).expect("auto");
    assert_eq!(auto.prefetch, Prefetch::Adaptive);
    let window = |cost_us: Option<u64>| auto.prefetch.window(3, cost_us.map(Duration::from_micros));
    assert_eq!(
        window(None),
        6,
        "two per process until an input's cost is known"
    );
    assert_eq!(window(Some(100)), 60, "2 ms of 100 µs inputs per process");
    assert_eq!(window(Some(1)), 768, "at most 256 per process");
    assert_eq!(window(Some(50_000)), 6, "at least two per process");

    let cases: &[(&[&str], &str)] = &[
        (
            &["redis://localhost", "-j", "0"],
            "invalid -j/--processes 0: at least one worker process is needed",
        ),
        (
            &["redis://localhost", "--prefetch", "0"],
            "invalid --prefetch 0: a worker holds at least one input",
        ),
        (
            &["redis://localhost", "--prefetch", "many"],
            "invalid --prefetch `many`: expected a number of inputs, or `auto` to learn it from \
             what an input costs",
        ),
        (
            &["redis://localhost", "--max-memory", "0"],
            "invalid --max-memory `0`: the limit must be above 0",
        ),
        (
            &["redis://localhost", "--max-memory", "big"],
            "--max-memory: invalid size `big`: expected a number with an optional unit, e.g. \
             64MiB, 2G, 512k",
        ),
        (
            &["redis://localhost", "--max-timeout", "0"],
            "invalid --max-timeout `0`: the limit must be above 0",
        ),
        (
            &["redis://localhost", "--allow-dir", "/nonexistent/mpwasm"],
            "invalid --allow-dir /nonexistent/mpwasm: it does not exist or is not a directory",
        ),
        (
            &["localhost:6379"],
            "invalid broker URL `localhost:6379`: it must start with redis:// or rediss://; \
             expected redis://[USER:PASSWORD@]HOST[:PORT][/DB], or rediss://... for TLS",
        ),
    ];
    for (args, want) in cases {
        match worker(args) {
            Ok(settings) => panic!("{args:?} was accepted: {settings:?}"),
            Err(got) => assert_eq!(got, *want, "{args:?}"),
        }
    }
}

#[test]
fn call_arguments_are_json_values_or_words() {
    let Command::Call(args) = command(&["call", "t.wasm", "7", "word", "[1, 2]", "-j", "4"]) else {
        panic!("not call");
    };
    let got = CallSettings::new(args).expect("settings");
    assert_eq!(got.values, [json!(7), json!("word"), json!([1, 2])]);
    assert_eq!(got.words, ["7", "word", "[1, 2]"]);
    // One call runs in one worker process, whatever -j says.
    let one = PoolBuilder::new()
        .on_compile(|_, _| {})
        .processes(1)
        .fresh(false)
        .cache(true);
    assert_eq!(shown(&got.pool), shown(&one));
    assert!(!got.function_named);
    let Command::Call(args) = command(&["call", "t.wasm", "--func", "f", "--no-cache"]) else {
        panic!("not call");
    };
    let got = CallSettings::new(args).expect("settings");
    let uncached = PoolBuilder::new()
        .on_compile(|_, _| {})
        .function("f")
        .processes(1)
        .fresh(false)
        .cache(false);
    assert_eq!(shown(&got.pool), shown(&uncached));
    assert!(got.function_named && got.values.is_empty());
    let Command::Call(args) = command(&["call", "t.wasm", "--memory", "0"]) else {
        panic!("not call");
    };
    assert_eq!(
        CallSettings::new(args).map_err(message).err().as_deref(),
        Some("invalid --memory `0`: the limit must be above 0")
    );
}
