//! The workloads W1–W10 of the performance issue, W11–W12 of the broker issue, W17 of the test
//! runner issue, W18 of the second performance issue, W13 of the plugin-host issue, W14 and W21 of its part two, and W15–W16 of the
//! shared-state issue: for each, its
//! contenders (the exact commands), how a run is measured, and the goal it is judged against.
//! Sizes come from [`Sizes`]: the full ones for `cargo xtask bench`, tiny ones for the smoke run
//! in CI.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Says once that W10 runs without its nextest contender.
static NEXTEST_MISSING: std::sync::Once = std::sync::Once::new();

/// How a contender's run is turned into one number, always "lower is better".
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Measure {
    /// Wall-clock seconds of the whole process; every such contender must print the same output.
    Wall,
    /// Wall-clock seconds of the whole process, output not compared (it does a different
    /// amount of work, e.g. one call where the others do ten).
    WallUncompared,
    /// The value of the `metric NAME` line it prints; its `check` lines must match the others'.
    Metric(&'static str),
    /// One over the value of a `metric NAME` rate (items/s), in microseconds per item.
    PerItemMicros(&'static str),
}

/// One way of doing a workload.
#[derive(Debug, Clone)]
pub struct Contender {
    /// Short name shown in the table, e.g. `mpwasm`, `python Pool`.
    pub label: String,
    /// The program and its arguments.
    pub argv: Vec<String>,
    /// Extra environment for it.
    pub env: Vec<(String, String)>,
    /// Directory it runs in.
    pub dir: PathBuf,
    /// How its runs are measured.
    pub measure: Measure,
}

impl Contender {
    fn new(label: &str, dir: &Path, argv: &[&str], measure: Measure) -> Self {
        Contender {
            label: label.to_owned(),
            argv: argv.iter().map(|arg| (*arg).to_owned()).collect(),
            env: Vec::new(),
            dir: dir.to_path_buf(),
            measure,
        }
    }

    fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The command, ready to spawn.
    pub fn command(&self) -> Command {
        // A relative program path is taken from `dir`, like the arguments.
        let program = Path::new(&self.argv[0]);
        let program = if program.components().count() > 1 {
            self.dir.join(program)
        } else {
            program.to_path_buf()
        };
        let mut command = Command::new(program);
        command
            .args(&self.argv[1..])
            .current_dir(&self.dir)
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        command
    }

    /// The command as one would type it from its directory.
    pub fn display(&self) -> String {
        let env: Vec<String> = self.env.iter().map(|(k, v)| format!("{k}={v} ")).collect();
        format!("{}{}", env.concat(), self.argv.join(" "))
    }
}

/// Medians per contender label, what a goal is judged on.
pub type Medians = BTreeMap<String, f64>;

/// A goal's verdict: met or not, and the figure it was judged on.
pub type Verdict = (bool, String);

/// Judges a workload's medians against its goal (`None` when a contender it needs did not run).
pub type Judge = Box<dyn Fn(&Medians) -> Option<Verdict>>;

/// One workload.
pub struct Workload {
    /// `W1` … `W20`.
    pub id: &'static str,
    /// What it does.
    pub title: String,
    /// Unit of the figures (seconds, µs, MiB …).
    pub unit: &'static str,
    /// The goal, in words.
    pub goal: &'static str,
    /// The contenders; the first is mpwasm, the reference of the ratios.
    pub contenders: Vec<Contender>,
    /// Judges the medians against the goal (`None` when a contender it needs did not run).
    pub verdict: Judge,
    /// Why it is not run, when it is not.
    pub skipped: Option<String>,
    /// The goal as a ratio mpwasm / a contender (at most), for the chart: the contender's
    /// label and the ratio. `None` when the goal is not such a ratio.
    pub goal_line: Option<(&'static str, f64)>,
}

/// The sizes of the workloads.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    /// W1: squares over 0..n.
    pub w1_items: u64,
    /// W2/W6: primes(n) …
    pub w2_n: u32,
    /// … over this many inputs.
    pub w2_inputs: usize,
    /// W3: sequential apply calls.
    pub w3_rounds: u32,
    /// W5: imap_unordered items.
    pub w5_items: u64,
    /// W7: fresh-instance tasks.
    pub w7_items: u64,
    /// W8: strings …
    pub w8_lines: usize,
    /// … of this many bytes each.
    pub w8_line_bytes: usize,
    /// W11: squares through the broker.
    pub w11_items: u64,
    /// W12: primes(100000) through the broker.
    pub w12_items: u64,
    /// W13: host calls made by one task.
    pub w13_calls: u32,
    /// W14: calls awaited from tokio (and items of the blocking map beside them).
    pub w14_calls: u64,
    /// W15: `incr` calls in all, 1 000 per task.
    pub w15_incrs: u64,
    /// W16: lines of the word-count corpus (20 words each).
    pub w16_lines: usize,
    /// W19: squares by the Python task over 0..n, small …
    pub w19_small: u64,
    /// … and large.
    pub w19_large: u64,
    /// W20: `--fresh` tasks of the Python square.
    pub w20_items: u64,
    /// W17: tests in the generated test binary.
    pub w17_tests: usize,
    /// W18: lines a guest prints one at a time.
    pub w18_lines: u32,
    /// W21: plugins called round robin …
    pub w21_plugins: usize,
    /// … this many calls in all.
    pub w21_calls: u32,
    /// W10r: the whole bytes suite (else one of its test binaries, `test_chain`).
    pub w10r_whole: bool,
}

impl Sizes {
    /// The figures the issue sets.
    pub const FULL: Sizes = Sizes {
        w1_items: 1_000_000,
        w2_n: 100_000,
        w2_inputs: 64,
        w3_rounds: 20_000,
        w5_items: 100_000,
        w7_items: 100_000,
        w8_lines: 10_000,
        w8_line_bytes: 10 * 1024,
        w11_items: 5_000,
        w12_items: 1_000,
        w13_calls: 20_000,
        w14_calls: 100_000,
        w15_incrs: 200_000,
        w16_lines: 20_000,
        w19_small: 1_000,
        w19_large: 100_000,
        w20_items: 1_000,
        w17_tests: 10_000,
        w18_lines: 200_000,
        w21_plugins: 20,
        w21_calls: 20_000,
        w10r_whole: true,
    };

    /// Small enough for CI, large enough that every code path runs.
    pub const SMOKE: Sizes = Sizes {
        w1_items: 10_000,
        w2_n: 2_000,
        w2_inputs: 8,
        w3_rounds: 200,
        w5_items: 2_000,
        w7_items: 2_000,
        w8_lines: 50,
        w8_line_bytes: 1024,
        w11_items: 100,
        w12_items: 20,
        w13_calls: 200,
        w14_calls: 2_000,
        w15_incrs: 2_000,
        w16_lines: 200,
        w19_small: 100,
        w19_large: 1_000,
        w20_items: 100,
        w17_tests: 100,
        w18_lines: 2_000,
        w21_plugins: 3,
        w21_calls: 60,
        w10r_whole: false,
    };
}

/// Where the programs and data files are.
#[derive(Clone)]
pub struct Paths {
    /// The `mpwasm` binary.
    pub mpwasm: PathBuf,
    /// The `mpwasm-bench` binary (native and library contenders).
    pub bench: PathBuf,
    /// `bench/python/`.
    pub python_dir: PathBuf,
    /// The Python interpreter.
    pub python: String,
    /// The wasmtime CLI, when one was found.
    pub wasmtime: Option<PathBuf>,
    /// Built guests: `square.wasm`, `primes.wasm`, `hash.wasm`.
    pub square: PathBuf,
    /// See `square`.
    pub primes: PathBuf,
    /// See `square`.
    pub hash: PathBuf,
    /// See `square` (the plugin calling the application, for W13).
    pub host_calls: PathBuf,
    /// See `square` (the output loops of W18).
    pub misbehave: PathBuf,
    /// See `square` (every shared interface, for W15).
    pub shared_probe: PathBuf,
    /// See `square` (the word count into the shared store, for W16).
    pub shared_wordcount: PathBuf,
    /// W15's inputs: one `1000` per task.
    pub w15_inputs: PathBuf,
    /// W16's corpus, one JSON string per line.
    pub w16_corpus: PathBuf,
    /// W19's and W20's Python task (`guest-tasks/python/py-square`), or why it could not be built.
    pub py_square: Result<PathBuf, String>,
    /// The test binary of `guest-tasks/tiny-tests` (200 tiny tests).
    pub tiny_tests: PathBuf,
    /// W17's generated crate of many tiny tests (for nextest, which builds it itself) and its
    /// test binary.
    pub many_tests: (PathBuf, PathBuf),
    /// Whether `cargo nextest` is installed.
    pub nextest: bool,
    /// W2's inputs, one `N` per line.
    pub w2_inputs: PathBuf,
    /// W8's inputs, one JSON string per line.
    pub w8_inputs: PathBuf,
    /// W10r's crate: bytes 1.12.2 (its source, a workspace of its own), its tests built.
    pub bytes_suite: PathBuf,
    /// Directory every command runs in (the workspace root).
    pub root: PathBuf,
    /// Cores the contenders may use.
    pub cores: usize,
}

/// Every workload, in order.
pub fn all(paths: &Paths, sizes: Sizes) -> Vec<Workload> {
    let p = |path: &Path| relative(&paths.root, path);
    let root = paths.root.as_path();
    let (mpwasm, bench) = (p(&paths.mpwasm), p(&paths.bench));
    let (square, primes, hash) = (p(&paths.square), p(&paths.primes), p(&paths.hash));
    let (w2_inputs, w8_inputs) = (p(&paths.w2_inputs), p(&paths.w8_inputs));
    let python = |script: &str, args: &[&str]| -> Vec<String> {
        let mut argv = vec![paths.python.clone(), p(&paths.python_dir.join(script))];
        argv.extend(args.iter().map(|arg| (*arg).to_owned()));
        argv
    };
    let py = |label: &str, script: &str, args: &[&str], measure| {
        let argv = python(script, args);
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        Contender::new(label, root, &argv, measure)
    };
    let cores = paths.cores.to_string();
    let w1_range = format!("0..{}", sizes.w1_items);
    let w1_items = sizes.w1_items.to_string();
    let w2_n = sizes.w2_n.to_string();
    let w2_inputs_count = sizes.w2_inputs.to_string();
    let w3_rounds = sizes.w3_rounds.to_string();
    let w5_items = sizes.w5_items.to_string();
    let w7_range = format!("0..{}", sizes.w7_items);
    let w7_items = sizes.w7_items as f64;
    let cores_f = paths.cores as f64;
    let w8_bytes = (sizes.w8_lines * sizes.w8_line_bytes) as f64;

    let mut workloads = Vec::new();

    workloads.push(Workload {
        id: "W1",
        title: format!(
            "map square over 0..{}, results printed, whole process",
            sizes.w1_items
        ),
        unit: "s",
        goal: "≥ 2x faster than Python's Pool().map",
        contenders: vec![
            Contender::new(
                "mpwasm",
                root,
                &[&mpwasm, "run", &square, "--map", &w1_range],
                Measure::Wall,
            ),
            py("python Pool", "map_square.py", &[&w1_items], Measure::Wall),
            Contender::new(
                "rust+rayon",
                root,
                &[&bench, "native-square", &w1_items],
                Measure::Wall,
            ),
        ],
        verdict: ratio_at_most("python Pool", 0.5),
        skipped: None,
        goal_line: Some(("python Pool", 0.5)),
    });

    workloads.push(Workload {
        id: "W2",
        title: format!(
            "map primes({}) over {} inputs, whole process",
            sizes.w2_n, sizes.w2_inputs
        ),
        unit: "s",
        goal: "within 1.15x of native Rust+rayon",
        contenders: vec![
            Contender::new(
                "mpwasm",
                root,
                &[&mpwasm, "run", &primes, "--input", &w2_inputs],
                Measure::Wall,
            ),
            Contender::new(
                "rust+rayon",
                root,
                &[&bench, "native-primes", &w2_n, &w2_inputs_count],
                Measure::Wall,
            ),
            py(
                "python Pool",
                "map_primes.py",
                &[&w2_n, &w2_inputs_count],
                Measure::Wall,
            ),
        ],
        verdict: ratio_at_most("rust+rayon", 1.15),
        skipped: None,
        goal_line: Some(("rust+rayon", 1.15)),
    });

    workloads.push(Workload {
        id: "W3",
        title: "apply round trip of square(3) on a warm pool (library)".to_owned(),
        unit: "µs",
        goal: "≤ 1.2x a raw pipe round trip to a child process",
        contenders: vec![
            Contender::new(
                "mpwasm",
                root,
                &[&bench, "lib-apply", &square, &mpwasm, &w3_rounds],
                Measure::Metric("roundtrip"),
            ),
            Contender::new(
                "pipe (anchor)",
                root,
                &[&bench, "pipe-roundtrip", &w3_rounds],
                Measure::Metric("roundtrip"),
            ),
            py(
                "python Pool",
                "apply.py",
                &[&w3_rounds],
                Measure::Metric("roundtrip"),
            ),
        ],
        verdict: ratio_at_most("pipe (anchor)", 1.2),
        skipped: None,
        goal_line: Some(("pipe (anchor)", 1.2)),
    });

    let mut w4 = vec![
        Contender::new(
            "mpwasm",
            root,
            &[&mpwasm, "run", &square, "--map", "0..10"],
            Measure::Wall,
        ),
        py("python Pool", "map_square.py", &["10"], Measure::Wall),
    ];
    if let Some(wasmtime) = &paths.wasmtime {
        w4.push(Contender::new(
            "wasmtime run",
            root,
            &[&p(wasmtime), "run", "--invoke", "square(3)", &square],
            Measure::WallUncompared,
        ));
    }
    workloads.push(Workload {
        id: "W4",
        title: "a small job as a new process: run square --map 0..10 (warm compile cache)"
            .to_owned(),
        unit: "s",
        goal: "≤ 2x one `wasmtime run --invoke` call, ≥ 9x faster than Python",
        contenders: w4,
        verdict: Box::new(|m: &Medians| {
            let ours = *m.get("mpwasm")?;
            let python = m.get("python Pool").map(|py| py / ours);
            let wasmtime = m.get("wasmtime run").map(|w| ours / w);
            let mut met = python.is_some_and(|x| x >= 9.0);
            let mut figure = format!("{:.1}x faster than Python", python.unwrap_or(f64::NAN));
            match wasmtime {
                Some(x) => {
                    met &= x <= 2.0;
                    figure.push_str(&format!(", {x:.2}x wasmtime run"));
                }
                None => figure.push_str(", wasmtime CLI not installed"),
            }
            Some((met, figure))
        }),
        skipped: None,
        goal_line: Some(("python Pool", 1.0 / 9.0)),
    });

    workloads.push(Workload {
        id: "W5",
        title: format!(
            "imap_unordered with chunksize 1 over {} trivial items (library)",
            sizes.w5_items
        ),
        unit: "µs/item",
        goal: "≥ 10x Python's items/s",
        contenders: vec![
            Contender::new(
                "mpwasm",
                root,
                &[&bench, "lib-imap-unordered", &square, &mpwasm, &w5_items],
                Measure::PerItemMicros("throughput"),
            ),
            py(
                "python Pool",
                "imap_unordered.py",
                &[&w5_items],
                Measure::PerItemMicros("throughput"),
            ),
        ],
        verdict: ratio_at_most("python Pool", 0.1),
        skipped: None,
        goal_line: Some(("python Pool", 0.1)),
    });

    let one = "1".to_owned();
    workloads.push(Workload {
        id: "W6",
        title: format!("scaling of W2 from 1 to {} processes", paths.cores),
        unit: "s",
        goal: "speedup ≥ 0.9·N",
        contenders: vec![
            Contender::new(
                &format!("mpwasm -j {}", paths.cores),
                root,
                &[&mpwasm, "run", &primes, "--input", &w2_inputs, "-j", &cores],
                Measure::Wall,
            ),
            Contender::new(
                "mpwasm -j 1",
                root,
                &[&mpwasm, "run", &primes, "--input", &w2_inputs, "-j", &one],
                Measure::Wall,
            ),
            Contender::new(
                &format!("rust+rayon {} threads", paths.cores),
                root,
                &[&bench, "native-primes", &w2_n, &w2_inputs_count],
                Measure::Wall,
            )
            .env("RAYON_NUM_THREADS", &cores),
            Contender::new(
                "rust+rayon 1 thread",
                root,
                &[&bench, "native-primes", &w2_n, &w2_inputs_count],
                Measure::Wall,
            )
            .env("RAYON_NUM_THREADS", "1"),
        ],
        verdict: {
            let many = format!("mpwasm -j {}", paths.cores);
            Box::new(move |m: &Medians| {
                let speedup = m.get("mpwasm -j 1")? / m.get(&many)?;
                Some((
                    speedup >= 0.9 * cores_f,
                    format!("speedup {speedup:.2} on {cores_f} cores"),
                ))
            })
        },
        skipped: None,
        goal_line: None,
    });

    workloads.push(Workload {
        id: "W7",
        title: format!(
            "--fresh (a new instance per task) over {} trivial items, whole process",
            sizes.w7_items
        ),
        unit: "s",
        goal: "≥ 100 000 tasks/s per core",
        contenders: vec![
            Contender::new(
                "mpwasm --fresh",
                root,
                &[&mpwasm, "run", &square, "--map", &w7_range, "--fresh"],
                Measure::Wall,
            ),
            Contender::new(
                "mpwasm (kept instance)",
                root,
                &[&mpwasm, "run", &square, "--map", &w7_range],
                Measure::Wall,
            ),
        ],
        verdict: Box::new(move |m: &Medians| {
            let rate = w7_items / m.get("mpwasm --fresh")? / cores_f;
            Some((rate >= 100_000.0, format!("{:.0} tasks/s per core", rate)))
        }),
        skipped: None,
        goal_line: None,
    });

    workloads.push(Workload {
        id: "W8",
        title: format!(
            "hash over {} JSON-lines strings of {} KiB each, whole process",
            sizes.w8_lines,
            sizes.w8_line_bytes / 1024
        ),
        unit: "s",
        goal: "≥ Python's bytes/s with hashlib",
        contenders: vec![
            Contender::new(
                "mpwasm",
                root,
                &[&mpwasm, "run", &hash, "--input", &w8_inputs],
                Measure::Wall,
            ),
            py("python Pool", "map_hash.py", &[&w8_inputs], Measure::Wall),
            Contender::new(
                "rust+rayon",
                root,
                &[&bench, "native-hash", &w8_inputs],
                Measure::Wall,
            ),
        ],
        verdict: Box::new(move |m: &Medians| {
            let ours = *m.get("mpwasm")?;
            let python = *m.get("python Pool")?;
            Some((
                ours <= python,
                format!(
                    "{:.0} MB/s vs Python {:.0} MB/s",
                    w8_bytes / ours / 1e6,
                    w8_bytes / python / 1e6
                ),
            ))
        }),
        skipped: None,
        goal_line: None,
    });

    workloads.push(Workload {
        id: "W9",
        title: "PSS of an idle, warm worker process (host RSS during W1: see W1's peak RSS)"
            .to_owned(),
        unit: "MiB",
        goal: "per worker ≤ a Python Pool worker's PSS; host bounded",
        contenders: vec![
            Contender::new(
                "mpwasm",
                root,
                &[&bench, "lib-idle-pss", &square, &mpwasm],
                Measure::Metric("pss"),
            ),
            py("python Pool", "idle_pss.py", &[], Measure::Metric("pss")),
        ],
        verdict: ratio_at_most("python Pool", 1.0),
        skipped: None,
        goal_line: Some(("python Pool", 1.0)),
    });

    let tiny_tests = p(&paths.tiny_tests);
    let runner = format!("{} test", paths.mpwasm.display());
    let cargo_test = [
        "cargo",
        "test",
        "--release",
        "--target",
        "wasm32-wasip2",
        "-p",
        "tiny-tests",
    ];
    let mut w10 = vec![
        Contender::new(
            "mpwasm",
            root,
            &[&mpwasm, "test", &tiny_tests],
            Measure::WallUncompared,
        ),
        Contender::new(
            "cargo test, mpwasm runner",
            root,
            &cargo_test,
            Measure::WallUncompared,
        )
        .env("CARGO_TARGET_WASM32_WASIP2_RUNNER", &runner),
    ];
    match (&paths.wasmtime, paths.nextest) {
        (Some(wasmtime), true) => {
            let mut nextest = cargo_test.to_vec();
            nextest[1] = "nextest";
            nextest.insert(2, "run");
            let runner = format!("{} run", wasmtime.display());
            w10.push(
                Contender::new("nextest+wasmtime", root, &nextest, Measure::WallUncompared)
                    .env("CARGO_TARGET_WASM32_WASIP2_RUNNER", &runner),
            );
        }
        // Said once, though a sweep builds the workloads once per size.
        _ => NEXTEST_MISSING.call_once(|| {
            eprintln!(
                "bench: W10's cargo-nextest contender needs `cargo nextest` and the wasmtime \
                 CLI (on the PATH or in $WASMTIME); it is left out"
            );
        }),
    }
    workloads.push(Workload {
        id: "W10",
        title: "`mpwasm test` on a crate of 200 tiny tests, each in its own sandbox".to_owned(),
        unit: "s",
        goal: "≥ 7x faster than cargo-nextest with `wasmtime run` as its runner",
        contenders: w10,
        verdict: Box::new(|m: &Medians| {
            let speedup = m.get("nextest+wasmtime")? / m.get("mpwasm")?;
            let through_cargo = m
                .get("nextest+wasmtime")
                .zip(m.get("cargo test, mpwasm runner"))
                .map(|(n, c)| n / c);
            Some((
                speedup >= 7.0,
                format!(
                    "{speedup:.1}x faster than nextest+wasmtime ({:.1}x both through cargo; goal ≥ 7)",
                    through_cargo.unwrap_or(f64::NAN)
                ),
            ))
        }),
        skipped: None,
        goal_line: Some(("nextest+wasmtime", 1.0 / 7.0)),
    });

    // W10r: a real crate's suite, run by cargo with each runner, as a user runs it.
    let bytes_dir = p(&paths.bytes_suite);
    let which_tests: &[&str] = if sizes.w10r_whole {
        &["--tests"]
    } else {
        &["--test", "test_chain"]
    };
    let mpwasm_test = own_crate_cargo(&["test"], &bytes_dir, which_tests);
    let mpwasm_test: Vec<&str> = mpwasm_test.iter().map(String::as_str).collect();
    let mut w10r = vec![
        Contender::new(
            "cargo test, mpwasm runner",
            root,
            &mpwasm_test,
            Measure::WallUncompared,
        )
        .env("CARGO_TARGET_WASM32_WASIP2_RUNNER", &runner),
    ];
    w10r.extend(nextest_wasmtime(paths, &bytes_dir, which_tests));
    workloads.push(Workload {
        id: "W10r",
        title: format!(
            "the bytes 1.12.2 suite ({}) through cargo, each runner as \
             `CARGO_TARGET_WASM32_WASIP2_RUNNER`",
            if sizes.w10r_whole {
                "its unit and integration tests"
            } else {
                "one of its test binaries, test_chain"
            }
        ),
        unit: "s",
        goal: "≥ 3x faster than cargo-nextest with `wasmtime run` as its runner",
        contenders: w10r,
        verdict: Box::new(|m: &Medians| {
            let speedup = m.get("nextest+wasmtime")? / m.get("cargo test, mpwasm runner")?;
            Some((
                speedup >= 3.0,
                format!("{speedup:.1}x faster than nextest+wasmtime (goal ≥ 3)"),
            ))
        }),
        skipped: None,
        goal_line: Some(("nextest+wasmtime", 1.0 / 3.0)),
    });

    let w11_range = format!("0..{}", sizes.w11_items);
    let remote = |label: &str, task: &str, range: &str, workers: &str, prefetch: &str, measure| {
        Contender::new(
            label,
            root,
            &[
                &bench,
                "broker-remote",
                &mpwasm,
                task,
                range,
                workers,
                prefetch,
            ],
            measure,
        )
    };
    let per_item = Measure::Metric("per_item");
    let (many_dir, many_binary) = (p(&paths.many_tests.0), p(&paths.many_tests.1));
    let tests = sizes.w17_tests;
    let mut w17 = vec![
        Contender::new(
            "mpwasm",
            root,
            &[&bench, "test-suite", &mpwasm, &many_binary, "0"],
            Measure::Metric("seconds"),
        ),
        Contender::new(
            "mpwasm, 2 broker workers",
            root,
            &[&bench, "test-suite", &mpwasm, &many_binary, "2"],
            Measure::Metric("seconds"),
        ),
    ];
    w17.extend(nextest_wasmtime(paths, &many_dir, &[]));
    workloads.push(Workload {
        id: "W17",
        title: format!(
            "`mpwasm test` on a generated binary of {tests} tiny tests: here, and through a \
             Redis broker to two local workers (each one process)"
        ),
        unit: "s",
        goal: "reported: tests per second here, through the broker, and against \
               cargo-nextest with `wasmtime run` where both are installed",
        contenders: w17,
        verdict: Box::new(move |m: &Medians| {
            let here = m.get("mpwasm")?;
            let broker = m.get("mpwasm, 2 broker workers")?;
            let nextest = m.get("nextest+wasmtime").map_or_else(
                || "nextest+wasmtime not installed".to_string(),
                |n| format!("{:.1}x faster than nextest+wasmtime", n / here),
            );
            Some((
                true,
                format!(
                    "{:.0} tests/s here, {:.0} tests/s through the broker ({:.2}x the time); \
                     {nextest}",
                    tests as f64 / here,
                    tests as f64 / broker,
                    broker / here
                ),
            ))
        }),
        skipped: None,
        goal_line: None,
    });

    workloads.push(Workload {
        id: "W11",
        title: format!(
            "broker overhead per item: square over 0..{}, one worker process, submitter timed",
            sizes.w11_items
        ),
        unit: "µs/item",
        goal: "≤ 20 µs per item over a local run (`--prefetch auto`, the adaptive window)",
        contenders: vec![
            remote("broker, 1 worker", &square, &w11_range, "1", "2", per_item),
            remote(
                "broker, --prefetch auto",
                &square,
                &w11_range,
                "1",
                "auto",
                per_item,
            ),
            remote(
                "broker, --prefetch 1",
                &square,
                &w11_range,
                "1",
                "1",
                per_item,
            ),
            remote(
                "broker, --prefetch 64",
                &square,
                &w11_range,
                "1",
                "64",
                per_item,
            ),
            Contender::new(
                "local -j 1",
                root,
                &[&bench, "broker-local", &mpwasm, &square, &w11_range, "1"],
                per_item,
            ),
        ],
        verdict: Box::new(|m: &Medians| {
            let local = m.get("local -j 1")?;
            let auto = m.get("broker, --prefetch auto")? - local;
            Some((
                auto <= 20.0,
                format!(
                    "+{auto:.0} µs per item with --prefetch auto, +{:.0} µs by default \
                     (--prefetch 2), +{:.0} µs with 1 (one round trip each), +{:.0} µs with 64, \
                     over local",
                    m.get("broker, 1 worker")? - local,
                    m.get("broker, --prefetch 1")? - local,
                    m.get("broker, --prefetch 64")? - local
                ),
            ))
        }),
        skipped: None,
        goal_line: None,
    });

    let w12_range = format!("100000..{}", 100_000 + sizes.w12_items);
    let w12_items = sizes.w12_items as f64;
    let seconds = Measure::Metric("seconds");
    let local_cores = format!("local -j {cores}");
    workloads.push(Workload {
        id: "W12",
        title: format!(
            "broker throughput: primes(n) for n in {w12_range} (~3 ms each), 1–3 workers of one \
             process on this machine vs a local run"
        ),
        unit: "s",
        goal: "2 workers of one process ≥ 0.95x a local run's items/s on as many cores",
        contenders: vec![
            remote(
                "broker, 1 worker",
                &primes,
                &w12_range,
                "1",
                "auto",
                seconds,
            ),
            remote(
                "broker, 2 workers",
                &primes,
                &w12_range,
                "2",
                "auto",
                seconds,
            ),
            remote(
                "broker, 3 workers",
                &primes,
                &w12_range,
                "3",
                "auto",
                seconds,
            ),
            Contender::new(
                "local -j 1",
                root,
                &[&bench, "broker-local", &mpwasm, &primes, &w12_range, "1"],
                seconds,
            ),
            Contender::new(
                &local_cores,
                root,
                &[&bench, "broker-local", &mpwasm, &primes, &w12_range, &cores],
                seconds,
            ),
        ],
        verdict: Box::new(move |m: &Medians| {
            let rate = |label: &str| m.get(label).map(|s| w12_items / s);
            // On this machine's cores (2 here: the comparison).
            let two = rate("broker, 2 workers")? / rate(&local_cores)?;
            Some((
                two >= 0.95,
                format!(
                    "2 workers {two:.2}x {local_cores}; items/s: 1 worker {:.0}, 2 workers {:.0}, \
                     3 workers {:.0}; local -j 1 {:.0}, {local_cores} {:.0}",
                    rate("broker, 1 worker")?,
                    rate("broker, 2 workers")?,
                    rate("broker, 3 workers")?,
                    rate("local -j 1")?,
                    rate(&local_cores)?
                ),
            ))
        }),
        skipped: None,
        goal_line: None,
    });

    let w18_lines = sizes.w18_lines.to_string();
    let misbehave = p(&paths.misbehave);
    // Kept: a cap above everything printed. Dropped: a cap of 1 KiB, nearly all past it.
    let (kept, dropped) = ("1073741824", "1024");
    let guest = |label: &str, export: &str, cap: &str| {
        Contender::new(
            label,
            root,
            &[
                &bench,
                "lib-output",
                &misbehave,
                &mpwasm,
                &w18_lines,
                export,
                cap,
            ],
            Measure::Metric("per_line"),
        )
    };
    let native = |label: &str, to: &str| {
        Contender::new(
            label,
            root,
            &[&bench, "native-output", &w18_lines, to],
            Measure::Metric("per_line"),
        )
    };
    workloads.push(Workload {
        id: "W18",
        title: format!(
            "guest output: {} lines `line I` printed one at a time, `eprintln!` (unbuffered \
             stderr) and `println!` (line-buffered stdout), kept per task or past the output \
             cap (library, one call)",
            sizes.w18_lines
        ),
        unit: "µs/line",
        goal: "≤ 1 µs per `eprintln!` line, output kept",
        contenders: vec![
            guest("mpwasm", "chatter-stderr", kept),
            guest("mpwasm, past the cap", "chatter-stderr", dropped),
            guest("mpwasm println!", "chatter-stdout", kept),
            guest("mpwasm println!, past the cap", "chatter-stdout", dropped),
            native("native eprintln! into a pipe", "stderr"),
            native("native println! into a pipe", "stdout"),
            native("native into memory (libtest's capture)", "memory"),
        ],
        verdict: Box::new(|m: &Medians| {
            let line = *m.get("mpwasm")?;
            Some((
                line <= 1.0,
                format!(
                    "{line:.2} µs per `eprintln!` line ({:.1}x native into a pipe; goal ≤ 1)",
                    line / m.get("native eprintln! into a pipe")?
                ),
            ))
        }),
        skipped: None,
        goal_line: None,
    });

    let w13_calls = sizes.w13_calls.to_string();
    let host_calls = p(&paths.host_calls);
    workloads.push(Workload {
        id: "W13",
        title: "host call round trip: a guest calls the application's `echo` (library)".to_owned(),
        unit: "µs",
        goal: "≤ 1.2x a raw pipe round trip to a child process",
        contenders: vec![
            Contender::new(
                "mpwasm",
                root,
                &[&bench, "lib-hostcall", &host_calls, &mpwasm, &w13_calls],
                Measure::Metric("roundtrip"),
            ),
            Contender::new(
                "pipe (anchor)",
                root,
                &[&bench, "pipe-echo", &w13_calls],
                Measure::Metric("roundtrip"),
            ),
            Contender::new(
                "shared memory, spinning",
                root,
                &[&bench, "shm-roundtrip", &w13_calls],
                Measure::Metric("roundtrip"),
            ),
        ],
        verdict: ratio_at_most("pipe (anchor)", 1.2),
        skipped: None,
        goal_line: Some(("pipe (anchor)", 1.2)),
    });

    let w14_calls = sizes.w14_calls.to_string();
    workloads.push(Workload {
        id: "W14",
        title: format!(
            "{} square calls awaited from a multi-threaded tokio runtime, 1 000 in flight, \
             against the blocking imap_unordered over the same inputs (library)",
            sizes.w14_calls
        ),
        unit: "µs/item",
        goal: "≥ 0.9x the blocking imap_unordered's calls/s",
        contenders: vec![
            Contender::new(
                "mpwasm",
                root,
                &[
                    &bench,
                    "lib-tokio-calls",
                    &square,
                    &mpwasm,
                    &w14_calls,
                    "1000",
                ],
                Measure::PerItemMicros("throughput"),
            ),
            Contender::new(
                "imap_unordered (anchor)",
                root,
                &[
                    &bench,
                    "lib-imap-unordered-auto",
                    &square,
                    &mpwasm,
                    &w14_calls,
                ],
                Measure::PerItemMicros("throughput"),
            ),
        ],
        verdict: Box::new(|m: &Medians| {
            // Per-item times: the anchor's over ours is our share of its calls/s.
            let ratio = m.get("imap_unordered (anchor)")? / m.get("mpwasm")?;
            Some((
                ratio >= 0.9,
                format!("{ratio:.3}x the blocking imap_unordered's calls/s (goal ≥ 0.9)"),
            ))
        }),
        skipped: None,
        goal_line: Some(("imap_unordered (anchor)", 1.0 / 0.9)),
    });

    let (w21_plugins, w21_calls) = (sizes.w21_plugins.to_string(), sizes.w21_calls.to_string());
    let w21 = |label: &str, mode: &str, metric: &'static str| {
        Contender::new(
            label,
            root,
            &[
                &bench,
                "lib-plugins",
                &square,
                &mpwasm,
                &w21_plugins,
                &w21_calls,
                mode,
            ],
            Measure::Metric(metric),
        )
    };
    workloads.push(Workload {
        id: "W21",
        title: format!(
            "{} square plugins called round robin, one apply at a time: one pool of plugins \
             against a pool per plugin (library)",
            sizes.w21_plugins
        ),
        unit: "µs/call",
        goal: "≤ 1.2x a pool per plugin's time per call",
        contenders: vec![
            w21("mpwasm", "one-pool", "roundtrip"),
            w21("a pool per plugin (anchor)", "pools", "roundtrip"),
        ],
        verdict: ratio_at_most("a pool per plugin (anchor)", 1.2),
        skipped: None,
        goal_line: Some(("a pool per plugin (anchor)", 1.2)),
    });
    workloads.push(Workload {
        id: "W21m",
        title: format!(
            "the worker processes' PSS together after W21's calls ({} plugins)",
            sizes.w21_plugins
        ),
        unit: "MiB",
        goal: "a fraction of a pool per plugin's",
        contenders: vec![
            w21("mpwasm", "one-pool", "pss"),
            w21("a pool per plugin (anchor)", "pools", "pss"),
        ],
        verdict: ratio_at_most("a pool per plugin (anchor)", 0.5),
        skipped: None,
        goal_line: Some(("a pool per plugin (anchor)", 0.5)),
    });

    let (shared_probe, shared_wordcount) = (p(&paths.shared_probe), p(&paths.shared_wordcount));
    let (w15_inputs, w16_corpus) = (p(&paths.w15_inputs), p(&paths.w16_corpus));
    let w15_incrs = sizes.w15_incrs.to_string();
    let w15 = |label: &str, processes: &str| {
        Contender::new(
            label,
            root,
            &[
                &mpwasm,
                "run",
                &shared_probe,
                "--func",
                "bump",
                "--input",
                &w15_inputs,
                "-j",
                processes,
                "-q",
            ],
            Measure::WallUncompared,
        )
    };
    let incrs = sizes.w15_incrs as f64;
    workloads.push(Workload {
        id: "W15",
        title: format!(
            "{} atomic increments of one shared counter from tasks (1 000 per task), whole \
             process",
            sizes.w15_incrs
        ),
        unit: "s",
        goal: "≥ 5x the calls/s of Python's Manager().dict() with a lock, at -j 1 and -j 2",
        contenders: vec![
            w15("mpwasm -j 2", "2"),
            w15("mpwasm -j 1", "1"),
            py(
                "python Manager -j 2",
                "manager_incr.py",
                &[&w15_incrs, "1000", "2"],
                Measure::WallUncompared,
            ),
            py(
                "python Manager -j 1",
                "manager_incr.py",
                &[&w15_incrs, "1000", "1"],
                Measure::WallUncompared,
            ),
        ],
        verdict: Box::new(move |m: &Medians| {
            let rate = |label: &str| m.get(label).map(|s| incrs / s);
            let one = rate("mpwasm -j 1")? / rate("python Manager -j 1")?;
            let two = rate("mpwasm -j 2")? / rate("python Manager -j 2")?;
            Some((
                one >= 5.0 && two >= 5.0,
                format!(
                    "calls/s: mpwasm {:.0} (-j 1), {:.0} (-j 2); python {:.0}, {:.0}: {one:.1}x \
                     and {two:.1}x (goal ≥ 5)",
                    rate("mpwasm -j 1")?,
                    rate("mpwasm -j 2")?,
                    rate("python Manager -j 1")?,
                    rate("python Manager -j 2")?
                ),
            ))
        }),
        skipped: None,
        goal_line: None,
    });

    let w16_inputs = format!("@{w16_corpus}");
    let seconds = Measure::Metric("seconds");
    let words = (sizes.w16_lines * 20) as f64;
    workloads.push(Workload {
        id: "W16",
        title: format!(
            "the word-count example (an incr per distinct word of each line) over {} lines of 20 \
             words: locally, and through a broker with 2 workers of one process on this machine",
            sizes.w16_lines
        ),
        unit: "s",
        goal: "reported: words/s locally at -j 1 and -j 2 and through the broker",
        contenders: vec![
            Contender::new(
                "local -j 2",
                root,
                &[
                    &bench,
                    "broker-local",
                    &mpwasm,
                    &shared_wordcount,
                    &w16_inputs,
                    "2",
                ],
                seconds,
            ),
            Contender::new(
                "local -j 1",
                root,
                &[
                    &bench,
                    "broker-local",
                    &mpwasm,
                    &shared_wordcount,
                    &w16_inputs,
                    "1",
                ],
                seconds,
            ),
            remote(
                "broker, 2 workers",
                &shared_wordcount,
                &w16_inputs,
                "2",
                "2",
                seconds,
            ),
        ],
        verdict: Box::new(move |m: &Medians| {
            let rate = |label: &str| m.get(label).map(|s| words / s);
            Some((
                true,
                format!(
                    "words/s: {:.0} at -j 1, {:.0} at -j 2, {:.0} through the broker",
                    rate("local -j 1")?,
                    rate("local -j 2")?,
                    rate("broker, 2 workers")?
                ),
            ))
        }),
        skipped: None,
        goal_line: None,
    });

    let py_square = paths
        .py_square
        .as_ref()
        .map_or_else(|_| String::new(), |path| p(path));
    for (id, items) in [("W19", sizes.w19_small), ("W19b", sizes.w19_large)] {
        let range = format!("0..{items}");
        let count = items.to_string();
        workloads.push(Workload {
            id,
            title: format!(
                "the seed's square written in Python (componentize-py, CPython inside) over \
                 0..{items}, results printed, whole process, compile cache warm; against the \
                 same function in Python's Pool().map"
            ),
            unit: "s",
            goal: "≥ 2x faster than Python's Pool().map",
            contenders: vec![
                Contender::new(
                    "mpwasm",
                    root,
                    &[&mpwasm, "run", &py_square, "--map", &range],
                    Measure::Wall,
                ),
                py("python Pool", "map_square.py", &[&count], Measure::Wall),
            ],
            verdict: ratio_at_most("python Pool", 0.5),
            skipped: paths.py_square.as_ref().err().cloned(),
            goal_line: Some(("python Pool", 0.5)),
        });
    }

    // The first compile of a Python app: into an empty cache, and into a cache where another
    // Python app (the greeter) was compiled before, whose CPython functions it reuses. Every
    // run removes the compiled modules, so each one compiles; the warm-up run compiles the
    // greeter first.
    let scratch = paths.root.join("target/bench");
    let (cold, shared) = (scratch.join("compile-cold"), scratch.join("compile-shared"));
    let greeter = paths.py_square.as_ref().map_or_else(
        |_| String::new(),
        |path| p(&path.with_file_name("py_greeter.wasm")),
    );
    let cold_run = format!(
        "rm -rf '{dir}' && exec \"$0\" inspect \"$1\"",
        dir = cold.display()
    );
    let shared_run = format!(
        "rm -f '{dir}'/*.cwasm && {{ [ -d '{dir}/functions' ] || \"$0\" inspect \"$2\" >/dev/null; }} \
         && rm -f '{dir}'/*.cwasm && exec \"$0\" inspect \"$1\"",
        dir = shared.display()
    );
    workloads.push(Workload {
        id: "W19c",
        title: "the first compile of a Python app (`mpwasm inspect py_square.wasm`, CPython \
                inside, 17.5 MiB), into an empty compile cache and into one where another \
                Python app was compiled before"
            .into(),
        unit: "s",
        goal: "another app's compiled CPython makes it ≥ 2x faster",
        contenders: vec![
            Contender::new(
                "after another Python app",
                root,
                &["sh", "-c", &shared_run, &mpwasm, &py_square, &greeter],
                Measure::Wall,
            )
            .env("MPWASM_CACHE_DIR", &shared.to_string_lossy()),
            Contender::new(
                "empty cache",
                root,
                &["sh", "-c", &cold_run, &mpwasm, &py_square],
                Measure::Wall,
            )
            .env("MPWASM_CACHE_DIR", &cold.to_string_lossy()),
        ],
        verdict: Box::new(move |m: &Medians| {
            let ratio = m.get("after another Python app")? / m.get("empty cache")?;
            Some((
                ratio <= 0.5,
                format!("{ratio:.3}x the empty cache's (goal ≤ 0.5)"),
            ))
        }),
        skipped: paths.py_square.as_ref().err().cloned(),
        goal_line: None,
    });

    let w20_range = format!("0..{}", sizes.w20_items);
    let w20_items = sizes.w20_items as f64;
    workloads.push(Workload {
        id: "W20",
        title: format!(
            "--fresh (a new instance per task) with the Python square over 0..{}, whole \
             process, compile cache warm; the kept instance beside it",
            sizes.w20_items
        ),
        unit: "s",
        goal: "≤ 2 ms per task on each core, start-up included",
        contenders: vec![
            Contender::new(
                "mpwasm --fresh",
                root,
                &[&mpwasm, "run", &py_square, "--map", &w20_range, "--fresh"],
                Measure::Wall,
            ),
            Contender::new(
                "mpwasm (kept instance)",
                root,
                &[&mpwasm, "run", &py_square, "--map", &w20_range],
                Measure::Wall,
            ),
        ],
        verdict: Box::new(move |m: &Medians| {
            let per_task = m.get("mpwasm --fresh")? * cores_f / w20_items * 1000.0;
            Some((
                per_task <= 2.0,
                format!("{per_task:.2} ms per task on each core"),
            ))
        }),
        skipped: paths.py_square.as_ref().err().cloned(),
        goal_line: None,
    });

    workloads
}

/// `cargo SUBCOMMAND` in release for wasm32-wasip2 on the crate in `dir`, a workspace of its
/// own built into `dir/target`, with `extra` arguments last.
fn own_crate_cargo(subcommand: &[&str], dir: &str, extra: &[&str]) -> Vec<String> {
    let (manifest, target_dir) = (format!("{dir}/Cargo.toml"), format!("{dir}/target"));
    let flags = [
        "--release",
        "--target",
        "wasm32-wasip2",
        "--manifest-path",
        &manifest,
        "--target-dir",
        &target_dir,
    ];
    std::iter::once(&"cargo")
        .chain(subcommand)
        .chain(&flags)
        .chain(extra)
        .map(|arg| (*arg).to_owned())
        .collect()
}

/// The contender `nextest+wasmtime`: cargo-nextest running the crate in `dir` (see
/// [`own_crate_cargo`]) with `wasmtime run` as its runner; `None` unless both are installed.
fn nextest_wasmtime(paths: &Paths, dir: &str, extra: &[&str]) -> Option<Contender> {
    let (Some(wasmtime), true) = (&paths.wasmtime, paths.nextest) else {
        return None;
    };
    let nextest = own_crate_cargo(&["nextest", "run"], dir, extra);
    let nextest: Vec<&str> = nextest.iter().map(String::as_str).collect();
    let runner = format!("{} run", wasmtime.display());
    Some(
        Contender::new(
            "nextest+wasmtime",
            &paths.root,
            &nextest,
            Measure::WallUncompared,
        )
        .env("CARGO_TARGET_WASM32_WASIP2_RUNNER", &runner),
    )
}

/// The goal "mpwasm's figure is at most `limit` times `other`'s".
fn ratio_at_most(other: &'static str, limit: f64) -> Judge {
    Box::new(move |m: &Medians| {
        let ratio = m.get("mpwasm")? / m.get(other)?;
        Some((
            ratio <= limit,
            format!("{ratio:.3}x {other} (goal ≤ {limit})"),
        ))
    })
}

/// `path` relative to `root` when inside it, for shorter commands.
fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}
