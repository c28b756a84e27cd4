//! `cargo xtask bench`: builds everything in release, runs the workloads of the performance
//! issue with every contender on this machine in one run, prints the table and writes it into
//! BENCHMARKS.md. `--smoke` runs tiny sizes once and only checks that every contender ran and
//! produced the same results (CI runs it so the harness cannot rot; it asserts no timing).

mod measure;
mod plot;
mod report;
mod sweep;
mod workloads;

use std::fmt::Write as _;
use std::fs;
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::command::{self, cargo_command};
use crate::guests::COMPONENT_TARGET;
use crate::{demo, setup};
use measure::Sample;
use report::{Outcome, Row};
use workloads::{Measure, Paths, Sizes};

/// Options of `cargo xtask bench`.
#[derive(Debug, Clone)]
struct Options {
    smoke: bool,
    sweep: bool,
    runs: usize,
    only: Vec<String>,
}

const USAGE: &str = "\
usage: cargo xtask bench [--smoke] [--runs N] [--only W1,W3,...]
       cargo xtask bench --sweep [--smoke] [--runs N]

  --smoke      tiny sizes, one run, results checked, no timing claims, BENCHMARKS.md untouched
  --runs N     timed runs per contender (default 5); the figure is their median
  --only IDS   run only these workloads (printed; BENCHMARKS.md is left alone)
  --sweep      the cost as the work grows instead: W1 over 1e3..1e7 items, W8 over 1 KiB..1 MiB
               per input, W6 over 1..N processes, `mpwasm test` over 10..10 000 tests; fits
               fixed cost + slope per contender, draws a chart per sweep and rewrites the
               sweep section of BENCHMARKS.md (with --smoke: two tiny sizes, nothing written)

The wasmtime CLI is a contender when `wasmtime` is on the PATH (or $WASMTIME names it).
";

fn options(args: &[String]) -> Result<Options> {
    let mut options = Options {
        smoke: false,
        sweep: false,
        runs: 5,
        only: Vec::new(),
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--smoke" => options.smoke = true,
            "--sweep" => options.sweep = true,
            "--runs" => {
                let value = args.next().context("--runs needs a number")?;
                options.runs = value
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .with_context(|| format!("--runs: `{value}` is not a positive number"))?;
            }
            "--only" => {
                let value = args
                    .next()
                    .context("--only needs workload ids, e.g. W1,W3")?;
                options.only = value
                    .split(',')
                    .map(|id| id.trim().to_uppercase())
                    .collect();
            }
            "--help" | "-h" => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument `{other}`\n\n{USAGE}"),
        }
    }
    if options.smoke {
        options.runs = 1;
    }
    Ok(options)
}

/// Runs the benchmark with the arguments after `bench`.
pub fn run(root: &Path, args: &[String]) -> Result<()> {
    let options = options(args)?;
    let sizes = if options.smoke {
        Sizes::SMOKE
    } else {
        Sizes::FULL
    };
    let paths = build(root, sizes)?;
    if options.sweep {
        return sweeps(root, &paths, &options);
    }
    let all = workloads::all(&paths, sizes);
    let chosen: Vec<&workloads::Workload> = all
        .iter()
        .filter(|w| {
            options.only.is_empty() || options.only.iter().any(|id| id.eq_ignore_ascii_case(w.id))
        })
        .collect();
    if chosen.is_empty() {
        bail!("--only {:?} matches no workload (W1 … W20)", options.only);
    }

    let mut outcomes = Vec::new();
    for workload in chosen {
        println!("== {}: {}", workload.id, workload.title);
        if let Some(why) = &workload.skipped {
            println!("   not run: {why}");
            outcomes.push(Outcome {
                workload,
                rows: Vec::new(),
                verdict: None,
            });
            continue;
        }
        let rows = run_workload(workload, options.runs)?;
        for row in &rows {
            println!(
                "   {:<26} median {:>10.4} {}   (min {:.4}, max {:.4})",
                row.label, row.median, workload.unit, row.min, row.max
            );
        }
        let verdict = (workload.verdict)(&Outcome::medians(&rows));
        if let Some((met, figure)) = verdict.as_ref().filter(|_| !options.smoke) {
            println!(
                "   goal: {} — {} ({figure})",
                workload.goal,
                if *met { "met" } else { "NOT met" }
            );
        }
        outcomes.push(Outcome {
            workload,
            rows,
            verdict,
        });
    }

    // The pictures: beside BENCHMARKS.md for a full run, under target/bench otherwise (the
    // smoke run draws them too, so CI proves the drawing works).
    let full = !options.smoke && options.only.is_empty();
    let pictures = if full {
        root.join("docs").join("bench")
    } else {
        demo::target_dir(root).join("bench")
    };
    fs::create_dir_all(&pictures)
        .with_context(|| format!("cannot create {}", pictures.display()))?;
    let ratios = pictures.join("ratios.svg");
    plot::ratios(&outcomes, &ratios)?;
    println!("drew {}", ratios.display());
    let charts = [("the ratios of every workload", "docs/bench/ratios.svg")];

    let machine = machine(&paths);
    let text = report::markdown(&machine, options.runs, &outcomes, &charts);
    if options.smoke {
        println!("bench smoke: every contender ran and agreed on its results");
    } else if !options.only.is_empty() {
        println!("\n{text}\n(--only: BENCHMARKS.md is written by full runs only)");
    } else {
        let file = root.join("BENCHMARKS.md");
        report::write_into(&file, &text)?;
        println!("\n{text}\nwritten to {}", file.display());
    }
    Ok(())
}

/// `--sweep`: every sweep, its charts and, for a full run, its section of BENCHMARKS.md.
fn sweeps(root: &Path, paths: &Paths, options: &Options) -> Result<()> {
    let pictures = if options.smoke {
        demo::target_dir(root).join("bench")
    } else {
        root.join("docs").join("bench")
    };
    fs::create_dir_all(&pictures)
        .with_context(|| format!("cannot create {}", pictures.display()))?;
    let text = sweep::run(paths, options.runs, options.smoke, &pictures, "docs/bench")?;
    if options.smoke {
        println!("bench sweep smoke: every size ran, was fitted and drawn");
    } else {
        let section = format!(
            "{}\n\n{} runs per size (medians). Each fit is time = fixed + slope · size, by \
             least squares weighted by 1/time².\n{text}",
            machine(paths),
            options.runs
        );
        let file = root.join("BENCHMARKS.md");
        report::write_between(&file, report::SWEEP_BEGIN, report::SWEEP_END, &section)?;
        println!("{section}\nwritten to {}", file.display());
    }
    Ok(())
}

/// One warm-up run per contender (whose output is checked against the first contender's), then
/// `runs` rounds in which every contender runs once, in turn.
fn run_workload(workload: &workloads::Workload, runs: usize) -> Result<Vec<Row>> {
    let mut reference: Option<(String, Sample)> = None;
    for contender in &workload.contenders {
        let sample = measure::run_once(&mut contender.command())
            .with_context(|| format!("{}: {} (warm-up)", workload.id, contender.display()))?;
        check_agrees(workload.id, contender, &sample, reference.as_ref())?;
        if reference.is_none() && contender.measure != Measure::WallUncompared {
            reference = Some((contender.label.clone(), sample));
        }
    }
    let mut values = vec![Vec::new(); workload.contenders.len()];
    let mut peaks = vec![0u64; workload.contenders.len()];
    for _ in 0..runs {
        for (i, contender) in workload.contenders.iter().enumerate() {
            let sample = measure::run_once(&mut contender.command())
                .with_context(|| format!("{}: {}", workload.id, contender.display()))?;
            let value = figure(contender.measure, &sample).with_context(|| {
                format!("{}: {} printed no metric", workload.id, contender.display())
            })?;
            values[i].push(value);
            peaks[i] = peaks[i].max(sample.peak_rss_kib);
        }
    }
    Ok(workload
        .contenders
        .iter()
        .enumerate()
        .map(|(i, c)| Row::new(&c.label, c.display(), &values[i], peaks[i]))
        .collect())
}

/// The figure of one run, lower is better.
fn figure(measure: Measure, sample: &Sample) -> Option<f64> {
    match measure {
        Measure::Wall | Measure::WallUncompared => Some(sample.seconds),
        Measure::Metric(name) => sample.metric(name),
        Measure::PerItemMicros(name) => sample.metric(name).map(|rate| 1e6 / rate),
    }
}

/// Fails unless `sample` did the same work as the reference contender's.
fn check_agrees(
    id: &str,
    contender: &workloads::Contender,
    sample: &Sample,
    reference: Option<&(String, Sample)>,
) -> Result<()> {
    // An uncompared contender is judged by its exit status alone (cargo-nextest reports on
    // stderr); every other one must print what it is compared on.
    if sample.digest.1 == 0 && contender.measure != Measure::WallUncompared {
        bail!("{id}: {} printed nothing", contender.display());
    }
    let Some((label, theirs)) = reference else {
        return Ok(());
    };
    let (agree, what) = match contender.measure {
        Measure::WallUncompared => return Ok(()),
        Measure::Wall => (sample.digest == theirs.digest, "output"),
        Measure::Metric(_) | Measure::PerItemMicros(_) => {
            (sample.checks() == theirs.checks(), "check lines")
        }
    };
    if !agree {
        bail!(
            "{id}: `{}` and `{label}` disagree on their {what} ({} vs {} bytes); first lines: {:?} vs {:?}",
            contender.label,
            sample.digest.1,
            theirs.digest.1,
            first_line(&sample.head),
            first_line(&theirs.head)
        );
    }
    Ok(())
}

fn first_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .lines()
        .next()
        .unwrap_or("")
        .chars()
        .take(80)
        .collect()
}

/// Builds the binaries and guests, writes the input files, and finds every program.
fn build(root: &Path, sizes: Sizes) -> Result<Paths> {
    setup::run(root).context("setup")?;
    command::run(
        "build mpwasm and the bench contenders",
        &mut cargo_command(
            root,
            ["build", "--release", "-p", "mpwasm", "-p", "mpwasm-bench"],
        ),
    )?;
    command::run(
        "build the bench guests",
        &mut cargo_command(
            root,
            [
                "build",
                "--release",
                "--target",
                COMPONENT_TARGET,
                "-p",
                "square",
                "-p",
                "primes",
                "-p",
                "hash",
                "-p",
                "host-calls",
                "-p",
                "shared-probe",
                "-p",
                "shared-wordcount",
                "-p",
                "misbehave",
            ],
        ),
    )?;
    let tiny_tests = build_test_binary(root, "tiny-tests")?;
    let target = demo::target_dir(root);
    let data = target.join("bench");
    fs::create_dir_all(&data).with_context(|| format!("cannot create {}", data.display()))?;
    let many_tests = many_tests(&data, sizes.w17_tests)?;
    let bytes_suite = bytes_suite(root, &data)?;
    let w2_inputs = data.join(format!("primes-{}x{}.jsonl", sizes.w2_n, sizes.w2_inputs));
    fs::write(
        &w2_inputs,
        format!("{}\n", sizes.w2_n).repeat(sizes.w2_inputs),
    )
    .with_context(|| format!("cannot write {}", w2_inputs.display()))?;
    let w8_inputs = data.join(format!(
        "strings-{}x{}.jsonl",
        sizes.w8_lines, sizes.w8_line_bytes
    ));
    write_strings(&w8_inputs, sizes.w8_lines, sizes.w8_line_bytes)
        .with_context(|| format!("cannot write {}", w8_inputs.display()))?;
    let w15_inputs = data.join(format!("incr-{}.jsonl", sizes.w15_incrs));
    fs::write(
        &w15_inputs,
        "1000\n".repeat((sizes.w15_incrs / 1000).max(1) as usize),
    )
    .with_context(|| format!("cannot write {}", w15_inputs.display()))?;
    let w16_corpus = data.join(format!("corpus-{}.jsonl", sizes.w16_lines));
    write_corpus(&w16_corpus, sizes.w16_lines)
        .with_context(|| format!("cannot write {}", w16_corpus.display()))?;

    let wasm = target.join(COMPONENT_TARGET).join("release");
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
    Command::new(&python)
        .arg("--version")
        .output()
        .ok()
        .filter(|out| out.status.success())
        .with_context(|| format!("the Python contender needs `{python}` (set $PYTHON)"))?;
    Ok(Paths {
        mpwasm: target.join("release").join("mpwasm"),
        bench: target.join("release").join("mpwasm-bench"),
        python_dir: root.join("bench").join("python"),
        python,
        wasmtime: find_wasmtime(),
        square: wasm.join("square.wasm"),
        primes: wasm.join("primes.wasm"),
        hash: wasm.join("hash.wasm"),
        host_calls: wasm.join("host_calls.wasm"),
        misbehave: wasm.join("misbehave.wasm"),
        shared_probe: wasm.join("shared_probe.wasm"),
        shared_wordcount: wasm.join("shared_wordcount.wasm"),
        w15_inputs,
        w16_corpus,
        py_square: python_square(root),
        tiny_tests,
        many_tests,
        nextest: has_nextest(root),
        w2_inputs,
        w8_inputs,
        bytes_suite,
        root: root.to_path_buf(),
        cores: std::thread::available_parallelism().map_or(1, usize::from),
    })
}

/// W19's and W20's Python `square` (`guest-tasks/python/py-square`), built as the tests build it into
/// `target/python/tasks`; why not, when componentize-py is missing.
fn python_square(root: &Path) -> Result<PathBuf, String> {
    let python = &crate::guests::PYTHON;
    let tool = python
        .tool(root)
        .ok_or("componentize-py is not installed (`cargo xtask setup` installs it)")?;
    python.build(&tool, root, "py-square")
}

/// Builds a `kind = "tests"` guest with `cargo test --no-run` and returns its test binary, the
/// path cargo reports (the file name carries a hash).
pub fn build_test_binary(root: &Path, package: &str) -> Result<PathBuf> {
    let mut command = cargo_command(
        root,
        [
            "test",
            "--no-run",
            "--release",
            "--message-format=json-render-diagnostics",
            "--target",
            COMPONENT_TARGET,
            "-p",
            package,
        ],
    );
    println!("$ {}", command::display(&command));
    let output = command
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("cannot run cargo to build the tests of {package}"))?;
    if !output.status.success() {
        anyhow::bail!("building the tests of {package} failed ({})", output.status);
    }
    crate::guests::test_executable(&String::from_utf8_lossy(&output.stdout))
        .with_context(|| format!("cargo reported no test binary for {package}"))
}

/// W17's crate: `n` tiny tests, generated into `data/many-tests-N` (a workspace of its own,
/// with its own target directory, so nextest can build it as a user's crate) and built for
/// wasm32-wasip2; returns the crate's directory and its test binary.
fn many_tests(data: &Path, n: usize) -> Result<(PathBuf, PathBuf)> {
    let dir = data.join(format!("many-tests-{n}"));
    fs::create_dir_all(dir.join("src"))
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let manifest = "[package]\nname = \"many-tests\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n\
                    [workspace]\n";
    let mut lib = String::from(
        "//! Generated by `cargo xtask bench` for W17: many tiny tests, each checking one sum.\n\n\
         pub fn double(x: u64) -> u64 {\n    x + x\n}\n\n#[cfg(test)]\nmod tests {\n",
    );
    for i in 0..n {
        let _ = writeln!(
            lib,
            "    #[test]\n    fn t{i:05}() {{\n        assert_eq!(super::double({i}), {});\n    }}",
            2 * i
        );
    }
    lib.push_str("}\n");
    // Written only when different, so that cargo does not rebuild an unchanged crate.
    for (path, text) in [
        (dir.join("Cargo.toml"), manifest.to_string()),
        (dir.join("src/lib.rs"), lib),
    ] {
        if fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        }
    }
    let mut command = own_crate_test_build(&dir, &["--message-format=json-render-diagnostics"]);
    println!("$ {}", command::display(&command));
    let output = command
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("cannot run cargo to build W17's tests")?;
    if !output.status.success() {
        bail!("building W17's {n} tests failed ({})", output.status);
    }
    let binary = crate::guests::test_executable(&String::from_utf8_lossy(&output.stdout))
        .context("cargo reported no test binary for W17's crate")?;
    Ok((dir, binary))
}

/// W10r's crate, bytes 1.12.2 (the version in the workspace's lock file, from cargo's
/// registry): its source copied into `data/bytes-1.12.2` as a workspace of its own (so cargo and
/// nextest build it as a user's crate, with its own target directory), its tests built for
/// wasm32-wasip2 (cargo fetches its dev-dependencies). Returns the crate's directory.
fn bytes_suite(root: &Path, data: &Path) -> Result<PathBuf> {
    const VERSION: &str = "1.12.2";
    let dir = data.join(format!("bytes-{VERSION}"));
    let manifest_path = dir.join("Cargo.toml");
    if !manifest_path.is_file() {
        let mut command = cargo_command(root, ["metadata", "--format-version", "1"]);
        let output = command
            .stderr(std::process::Stdio::inherit())
            .output()
            .context("cannot run cargo metadata to find bytes' source")?;
        if !output.status.success() {
            bail!("cargo metadata failed ({})", output.status);
        }
        let metadata: serde_json::Value =
            serde_json::from_slice(&output.stdout).context("cargo metadata's output")?;
        let source = metadata["packages"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["name"] == "bytes" && p["version"] == VERSION)
            .and_then(|p| p["manifest_path"].as_str())
            .and_then(|m| Path::new(m).parent().map(Path::to_path_buf))
            .with_context(|| format!("bytes {VERSION} is not in the workspace's lock file"))?;
        let partial = data.join(format!("bytes-{VERSION}.partial"));
        let _ = fs::remove_dir_all(&partial);
        copy_dir(&source, &partial).with_context(|| {
            format!("cannot copy {} to {}", source.display(), partial.display())
        })?;
        let manifest = partial.join("Cargo.toml");
        let mut text = fs::read_to_string(&manifest)
            .with_context(|| format!("cannot read {}", manifest.display()))?;
        text.push_str("\n[workspace]\n");
        fs::write(&manifest, text)
            .with_context(|| format!("cannot write {}", manifest.display()))?;
        fs::rename(&partial, &dir)
            .with_context(|| format!("cannot rename {} to {}", partial.display(), dir.display()))?;
    }
    let mut command = own_crate_test_build(&dir, &["--tests"]);
    println!("$ {}", command::display(&command));
    let status = command
        .stdout(std::process::Stdio::null())
        .status()
        .context("cannot run cargo to build the bytes suite")?;
    if !status.success() {
        bail!("building the bytes {VERSION} suite failed ({status})");
    }
    Ok(dir)
}

/// `cargo test --no-run` in release for wasm32-wasip2 of the crate in `dir`, a workspace of
/// its own built into `dir/target` (as a user's crate is), with `extra` arguments.
fn own_crate_test_build(dir: &Path, extra: &[&str]) -> Command {
    let mut command = cargo_command(
        dir,
        [
            "test",
            "--no-run",
            "--release",
            "--target",
            COMPONENT_TARGET,
        ],
    );
    command
        .args(extra)
        .arg("--manifest-path")
        .arg(dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(dir.join("target"));
    command
}

/// Copies the directory `from` into `to` (created), files and subdirectories.
fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// Whether `cargo nextest` works here.
fn has_nextest(root: &Path) -> bool {
    cargo_command(root, ["nextest", "--version"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Writes `lines` JSON strings of `bytes` printable ASCII characters each to `path`, from a
/// fixed-seed generator (the same file every run), one line at a time.
fn write_strings(path: &Path, lines: usize, bytes: usize) -> std::io::Result<()> {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,;-";
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut out = BufWriter::new(fs::File::create(path)?);
    let mut line = Vec::with_capacity(bytes + 3);
    for _ in 0..lines {
        line.clear();
        line.push(b'"');
        for _ in 0..bytes {
            // xorshift64: a fixed, dependency-free pseudo-random sequence.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            line.push(ALPHABET[(state % ALPHABET.len() as u64) as usize]);
        }
        line.extend_from_slice(b"\"\n");
        out.write_all(&line)?;
    }
    out.flush()
}

/// `lines` JSON strings of 20 words each, drawn from a vocabulary of 64 (W16's corpus).
fn write_corpus(path: &Path, lines: usize) -> std::io::Result<()> {
    let vocabulary: Vec<String> = (0..64).map(|i| format!("word{i}")).collect();
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut out = BufWriter::new(fs::File::create(path)?);
    for _ in 0..lines {
        let mut line = Vec::with_capacity(20);
        for _ in 0..20 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            line.push(vocabulary[(state % 64) as usize].as_str());
        }
        writeln!(out, "\"{}\"", line.join(" "))?;
    }
    out.flush()
}

/// The wasmtime CLI: `$WASMTIME`, or `wasmtime` on the PATH.
fn find_wasmtime() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("WASMTIME").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("wasmtime"))
        .find(|candidate| candidate.is_file())
}

/// A paragraph on the machine and the run: date, CPU, cores, memory, kernel, tool versions.
fn machine(paths: &Paths) -> String {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .and_then(|rest| rest.split_once(':'))
        .map_or("unknown CPU".to_owned(), |(_, name)| name.trim().to_owned());
    let meminfo = fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory_kib: f64 = meminfo
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    let output = |program: &str, args: &[&str]| -> String {
        Command::new(program)
            .args(args)
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map_or_else(
                || "unknown".to_owned(),
                |out| String::from_utf8_lossy(&out.stdout).trim().to_owned(),
            )
    };
    let mut text = String::new();
    let _ = write!(
        text,
        "Run on {date}: {model}, {cores} cores available, {memory:.1} GiB memory, Linux {kernel}; \
         {rustc}; {python}; wasmtime CLI: {wasmtime}.",
        date = output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        cores = paths.cores,
        memory = memory_kib / 1024.0 / 1024.0,
        kernel = output("uname", &["-r"]),
        rustc = output("rustc", &["--version"]),
        python = output(&paths.python, &["--version"]),
        wasmtime = paths
            .wasmtime
            .as_ref()
            .map_or("not installed".to_owned(), |w| output(
                &w.to_string_lossy(),
                &["--version"]
            )),
    );
    text
}
