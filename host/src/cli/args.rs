//! The raw command line, as clap parses it. Nothing here is validated beyond syntax;
//! [`super::settings`] turns it into checked settings.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use super::style::ColorChoice;

/// Run Rust-built WebAssembly tasks over a pool of sandboxed worker processes.
#[derive(Debug, Parser)]
#[command(
    name = "mpwasm",
    version,
    about = "Python's multiprocessing.Pool, rebuilt around WebAssembly sandboxes",
    long_about = "Python's multiprocessing.Pool, rebuilt around WebAssembly sandboxes.\n\n\
        mpwasm starts one worker process per core, each running the task module in wasmtime \
        with a memory limit, an optional time limit and no capabilities, hands out the inputs \
        and prints one result per input.\n\n\
        Examples:\n  mpwasm run square.wasm --map 0..10\n  \
        mpwasm run primes.wasm --map 0..100000:10000 -j 2 --timeout 2s\n  \
        cat inputs.jsonl | mpwasm run hash.wasm --input - --format jsonl\n  \
        mpwasm call wordcount.wasm \"the cat and the hat\"\n  \
        mpwasm run program.wasm --lines files.txt -- --input {}   # a WASI program per input\n  \
        mpwasm test target/wasm32-wasip2/debug/deps/mycrate-*.wasm --timeout 10s\n  \
        mpwasm worker --broker redis://broker-host:6379   # on each machine, then:\n  \
        mpwasm run primes.wasm --input big.jsonl --broker redis://broker-host:6379"
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Call a function of TASK.wasm once per input, over a pool of worker processes, or run a
    /// WASI program once per input.
    ///
    /// Results go to stdout, one JSON value per line, in input order (or as completed with
    /// --unordered). Errors and the guests' own output go to stderr. For a WASI program each
    /// run's stdout goes to stdout as it is, never interleaved, and its stderr to stderr; a
    /// non-zero exit status is a failure of kind `exit`.
    /// Exit status: 0 every task succeeded, 1 at least one failed, 2 the run could not start.
    #[command(after_help = "Examples:\n  mpwasm run square.wasm --map 0..10\n  \
        mpwasm run square.wasm --map 0..=100:10 --unordered\n  \
        mpwasm run kitchen.wasm --func add --input pairs.jsonl   # lines like [1, 2]\n  \
        seq 5 | mpwasm run square.wasm --input - --format jsonl\n  \
        mpwasm run program.wasm --lines names.txt -- --greet {}   # a WASI program per input\n  \
        mpwasm run program.wasm --lines texts.txt --stdin\n  \
        mpwasm run primes.wasm --input big.jsonl --broker redis://:secret@broker-host:6379")]
    Run(Box<RunArgs>),
    /// Call a function of TASK.wasm once, in a sandbox (Python's apply), or run a WASI
    /// program once.
    ///
    /// Each ARG is a JSON value, or taken as a string if it is not valid JSON. Prints the
    /// result as JSON. Exit status: 0 success, 1 the task failed, 2 it could not start.
    ///
    /// A WASI program (a `fn main` crate built for wasm32-wasip2) gets the ARGs after `--` as
    /// its arguments and this command's stdin (when it is not a terminal), its stdout and
    /// stderr are printed as they are, and its exit status is passed through (a component can
    /// only say 0 or 1). Limits and grants apply as for `run`.
    #[command(after_help = "Examples:\n  mpwasm call square.wasm 7\n  \
        mpwasm call wordcount.wasm \"the cat and the hat\"\n  \
        mpwasm call kitchen.wasm --func add 2 3\n  \
        echo hello | mpwasm call --timeout 5s program.wasm -- --verbose input.txt")]
    Call(CallArgs),
    /// Run Rust test binaries built for wasm32-wasip2, every test in its own sandbox.
    ///
    /// Lists each binary's tests (with its own `--list`, in a sandbox), then runs every test
    /// in a fresh instance over the worker processes, under a time and memory limit, with no
    /// access to the machine beyond --dir/--env grants. Prints one line per test as it
    /// finishes (PASS, FAIL, TIMEOUT, MEMORY, FLAKY, SKIP), the output of every failure, and
    /// a summary. Exit status: 0 all passed, 1 a test failed or timed out, 2 it could not
    /// start. libtest's own arguments (filters, --exact, --skip, --list, --ignored,
    /// --include-ignored, --nocapture) are understood, so it also works as cargo's runner.
    #[command(after_help = "Examples:\n  \
        cargo test --target wasm32-wasip2 --no-run        # builds target/wasm32-wasip2/debug/deps/*.wasm\n  \
        mpwasm test target/wasm32-wasip2/debug/deps/mycrate-*.wasm\n  \
        mpwasm test -j 4 --timeout 10s --memory 256MiB --junit report.xml tests.wasm parser::\n\n\
        As cargo's runner, in .cargo/config.toml:\n  \
        [target.wasm32-wasip2]\n  runner = \"mpwasm test\"\n\
        then `cargo test --target wasm32-wasip2` runs every test binary through mpwasm.")]
    Test(TestArgs),
    /// Show what a module is: component or core module, task or program, every export with
    /// its WIT signature, its imports and what mpwasm grants for each, its size.
    #[command(after_help = "Examples:\n  mpwasm inspect square.wasm\n  \
        mpwasm inspect --json kitchen.wasm | jq '.exports[].signature'")]
    Inspect(InspectArgs),
    /// Create a task crate that builds and runs at once (a Cargo.toml, a WIT world, src/lib.rs
    /// with one function, a README with the two commands).
    #[command(after_help = "Example:\n  mpwasm new my-task && cd my-task\n  \
        cargo build --release --target wasm32-wasip2\n  \
        mpwasm run target/wasm32-wasip2/release/my_task.wasm --map 0..10")]
    New(NewArgs),
    /// Print a shell completion script: bash, zsh, fish, elvish or powershell.
    #[command(
        after_help = "Examples:\n  mpwasm completions bash > ~/.local/share/bash-completion/completions/mpwasm\n  \
        mpwasm completions zsh > ~/.zfunc/_mpwasm\n  \
        mpwasm completions fish > ~/.config/fish/completions/mpwasm.fish"
    )]
    Completions(CompletionsArgs),
    /// Serve a Redis broker: run the inputs of jobs submitted with `mpwasm run --broker URL`
    /// from any machine, in sandboxes on this one.
    ///
    /// Jobs share the worker fairly; each gets a local pool of -j processes while it runs. The
    /// operator decides what runs here: a job's --memory and --timeout are lowered to
    /// --max-memory and --max-timeout, and a job that grants directories or HTTP is refused
    /// unless --allow-dir or --allow-http allow it. Stops on Ctrl-C or SIGTERM; inputs it held
    /// are taken over by other workers after their lease. Exit status: 0 stopped by a signal,
    /// 1 the broker was lost, 2 it could not start.
    #[command(
        after_help = "Examples:\n  mpwasm worker --broker redis://broker-host:6379\n  \
        mpwasm worker --broker redis://:secret@10.0.0.5:6379 -j 8 --max-memory 512MiB --max-timeout 1m\n  \
        mpwasm worker --broker rediss://user:pw@redis.example.com:6380 --allow-dir /srv/data"
    )]
    Worker(WorkerArgs),
    /// Show what a broker's workers and jobs are doing, read from the broker's own keys.
    ///
    /// Workers: name, host, processes, jobs served, inputs held, last heartbeat, what their
    /// operator allows. Jobs: id, module, submitter, done/total, failures by kind, inputs per
    /// second, age, estimated time left, the last failures and the inputs taken over from
    /// workers that stopped answering. Never inputs or results, never the broker's password.
    /// Exit status: 0 shown, 1 the broker was lost (--watch), 2 it could not be reached.
    #[command(
        after_help = "Examples:\n  mpwasm status --broker redis://broker-host:6379\n  \
        mpwasm status --broker redis://broker-host:6379 --watch\n  \
        mpwasm status --json | jq '.jobs[] | {id, done, total}'   # $MPWASM_BROKER"
    )]
    Status(StatusArgs),
    /// Serve a live web dashboard of a broker's workers and jobs, its JSON and Prometheus
    /// metrics.
    ///
    /// One page (no external assets; it works offline and on a phone) updated every second:
    /// the workers, the jobs with a progress bar and a throughput sparkline each, the last
    /// failures, the inputs taken over. `/api/status` is `mpwasm status --json`; `/metrics` is
    /// in Prometheus' text format. It binds loopback unless told otherwise; it has no
    /// accounts: on another address, give it a --token (every request must carry it) or it
    /// warns. Stops on Ctrl-C or SIGTERM (exit 0); 2 if it cannot start.
    #[command(
        after_help = "Examples:\n  mpwasm dashboard --broker redis://broker-host:6379   # http://127.0.0.1:8080\n  \
        MPWASM_DASHBOARD_TOKEN=s3cret mpwasm dashboard --listen 0.0.0.0:8080\n  \
        curl -s 127.0.0.1:8080/metrics | grep mpwasm_inputs_done_total"
    )]
    Dashboard(DashboardArgs),
}

/// The flags of `mpwasm status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The broker: redis://[USER:PASSWORD@]HOST[:PORT][/DB], or rediss://... for TLS.
    #[arg(
        long,
        value_name = "URL",
        env = "MPWASM_BROKER",
        hide_env_values = true
    )]
    pub broker: String,

    /// Print one JSON object (what the dashboard's /api/status serves).
    #[arg(long)]
    pub json: bool,

    /// Show it again every second until Ctrl-C (redrawn in place on a terminal).
    #[arg(long)]
    pub watch: bool,
}

/// The flags of `mpwasm dashboard`.
#[derive(Debug, Args)]
pub struct DashboardArgs {
    /// The broker: redis://[USER:PASSWORD@]HOST[:PORT][/DB], or rediss://... for TLS.
    #[arg(
        long,
        value_name = "URL",
        env = "MPWASM_BROKER",
        hide_env_values = true
    )]
    pub broker: String,

    /// Where to listen, ADDRESS:PORT. Loopback by default: only this machine can look.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: String,

    /// A token every request must carry (`?token=...` or `Authorization: Bearer ...`); the
    /// page keeps it for its own requests. Without one, anyone who reaches the address sees
    /// the cluster (module names and counts, never inputs, results or the password).
    #[arg(
        long,
        value_name = "TOKEN",
        env = "MPWASM_DASHBOARD_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
}

/// The flags of `mpwasm worker`.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// The broker: redis://[USER:PASSWORD@]HOST[:PORT][/DB], or rediss://... for TLS.
    #[arg(
        long,
        value_name = "URL",
        env = "MPWASM_BROKER",
        hide_env_values = true
    )]
    pub broker: String,

    /// Worker processes per job [default: the number of available cores].
    #[arg(short = 'j', long = "processes", value_name = "N")]
    pub processes: Option<usize>,

    /// Inputs held at once over all jobs, running or queued here [default: two per process, so
    /// the next input is here when one finishes]. More hides the broker's round trip for tiny
    /// tasks; fewer leaves more to other machines. `auto` learns it from what an input costs:
    /// about 2 ms of work per process, 2 to 256 inputs per process (tiny inputs then come many
    /// per read; a small job may then run on fewer machines). An input queued behind one that
    /// crashes the machine is charged that delivery too, then runs alone on the worker that
    /// takes it over.
    #[arg(long, value_name = "N|auto")]
    pub prefetch: Option<String>,

    /// The most memory any job's sandbox may have here [default: half the RAM shared
    /// between the processes, at most 4 GiB].
    #[arg(long, value_name = "SIZE")]
    pub max_memory: Option<String>,

    /// The longest any task may run here [default: as the job says].
    #[arg(long, value_name = "DURATION")]
    pub max_timeout: Option<String>,

    /// A host directory (and what is under it) jobs may grant with --dir (repeatable)
    /// [default: none: a job granting a directory is refused].
    #[arg(long, value_name = "DIR")]
    pub allow_dir: Vec<PathBuf>,

    /// Let jobs send HTTP requests to the hosts they name with --allow-http [default: a job
    /// asking for HTTP is refused].
    #[arg(long)]
    pub allow_http: bool,

    /// Say nothing on stderr but errors.
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

/// The flags of `mpwasm inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The module.
    #[arg(value_name = "TASK.wasm")]
    pub task: PathBuf,

    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// The flags of `mpwasm new`.
#[derive(Debug, Args)]
pub struct NewArgs {
    /// The crate's name: lowercase letters, digits, `-` and `_`.
    #[arg(value_name = "NAME")]
    pub name: String,

    /// Where to create it [default: ./NAME]; it must not exist or be empty.
    #[arg(long, value_name = "DIR")]
    pub path: Option<PathBuf>,

    /// A task that shares state with the other tasks of its run: its world imports the job's
    /// shared store (mpwasm:shared/kv; the WIT of every shared interface goes to
    /// wit/deps/shared/), and its function counts words into it (Rust only).
    #[arg(long)]
    pub shared: bool,

    /// The language of the task: a Rust crate, a Python module built into a component by
    /// componentize-py (its `build.sh` installs componentize-py into `.venv` from PyPI the
    /// first time), or a JavaScript module built by componentize-js (its `build.sh` installs
    /// it into `node_modules` with npm the first time).
    #[arg(long, value_enum, default_value = "rust")]
    pub lang: Lang,
}

/// The language `mpwasm new` writes a task in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Lang {
    /// A Rust crate built for wasm32-wasip2.
    Rust,
    /// A Python module (`app.py`) built with componentize-py.
    Python,
    /// A JavaScript module (`app.js`) built with componentize-js.
    Js,
}

/// The flags of `mpwasm completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// The flags of `mpwasm test`.
#[derive(Debug, Args)]
pub struct TestArgs {
    /// Test binaries (paths ending in `.wasm`) and test name filters, in any order. A test runs
    /// if its name contains one of the filters (all tests without filters).
    #[arg(value_name = "BINARY.wasm|FILTER", required = true)]
    pub items: Vec<String>,

    /// Filters and --skip match whole test names, not substrings.
    #[arg(long)]
    pub exact: bool,

    /// Leave out the tests whose name contains this. Repeatable.
    #[arg(long, value_name = "FILTER")]
    pub skip: Vec<String>,

    /// List the selected tests (`NAME: test`, as libtest does) instead of running them.
    #[arg(long)]
    pub list: bool,

    /// Print every test's output as it finishes, not only the failures'.
    #[arg(long, visible_alias = "no-capture")]
    pub nocapture: bool,

    /// Run the `#[ignore]` tests too.
    #[arg(long, conflicts_with = "ignored")]
    pub include_ignored: bool,

    /// Run only the `#[ignore]` tests.
    #[arg(long)]
    pub ignored: bool,

    /// Worker processes running tests at once [default: the number of available cores].
    #[arg(short = 'j', long = "processes", value_name = "N")]
    pub processes: Option<usize>,

    /// Wall-clock limit per test; a test past it is stopped and reported as TIMEOUT
    /// [default: the profile's `timeout`, or 60s]. Given, it holds for every test, over the
    /// profile's overrides.
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,

    /// The most memory one test may grow to; a test past it is stopped and reported as
    /// MEMORY [default: the profile's `memory`, or 1GiB, or less when half the RAM shared
    /// between the workers is less]. Given, it holds for every test, over the overrides.
    #[arg(long, value_name = "SIZE")]
    pub memory: Option<String>,

    /// Run a failed test again, up to N times; one that then passes is reported FLAKY
    /// [default: the profile's `retries`, or 0]. Given, it holds for every test.
    #[arg(long, value_name = "N")]
    pub retries: Option<u32>,

    /// Write a JUnit XML report here (one testsuite per binary, one testcase per test)
    /// [default: the profile's `junit.path`, or none].
    #[arg(long, value_name = "PATH")]
    pub junit: Option<PathBuf>,

    /// The profile of the config file to use: its settings, then `[profile.default]`'s for
    /// what it leaves out, then the built-in defaults; flags override them all.
    #[arg(
        long,
        value_name = "NAME",
        env = "MPWASM_PROFILE",
        default_value = "default"
    )]
    pub profile: String,

    /// The config file [default: the first `.config/mpwasm.toml` in the current directory or
    /// above it]. See README.md, "mpwasm test", for its keys.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Print the settings each selected test would run with (and which config overrides
    /// gave them) instead of running the tests.
    #[arg(long, conflicts_with = "list")]
    pub show_config: bool,

    /// Run the tests on the workers of a Redis broker instead of on this machine, as `mpwasm
    /// run --broker` does: redis://[USER:PASSWORD@]HOST[:PORT][/DB], or rediss://... for TLS.
    /// Each test still gets its own sandbox with the same limits (lowered to a worker's caps);
    /// the output and JUnit are those of a local run but for timings and worker names.
    #[arg(
        long,
        value_name = "URL",
        env = "MPWASM_BROKER",
        hide_env_values = true
    )]
    pub broker: Option<String>,

    /// With --broker: how long a test may sit with a worker that stopped answering (its
    /// machine died) before another worker takes it over and runs it again.
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "10s",
        requires = "broker"
    )]
    pub lease: String,

    /// The most output kept per test; the rest is dropped with a note [default: 1MiB].
    #[arg(long, value_name = "SIZE")]
    pub output_limit: Option<String>,

    /// Compile the test binaries afresh instead of using the compile cache.
    #[arg(long)]
    pub no_cache: bool,

    /// Grant every test a directory: HOST[::GUEST][:ro]. Repeatable. Without it a test sees
    /// no files at all.
    #[arg(long, value_name = "HOST[::GUEST][:ro]")]
    pub dir: Vec<String>,

    /// Pass an environment variable to every test: KEY=VALUE, or KEY for the host's value.
    /// Repeatable.
    #[arg(long, value_name = "KEY[=VALUE]")]
    pub env: Vec<String>,

    /// libtest's, accepted and ignored: every test has a sandbox of its own (see -j).
    #[arg(long, value_name = "N", hide = true)]
    pub test_threads: Option<String>,

    /// libtest's, accepted and ignored.
    #[arg(long, hide = true)]
    pub show_output: bool,

    /// libtest's, accepted and ignored.
    #[arg(short = 'q', long, hide = true)]
    pub quiet: bool,

    /// Colour for the test lines and the summary: auto, always, never.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

    /// How the run is reported on stdout: `human` (a line per test and a summary) or
    /// `libtest-json` (one JSON object per event, as libtest's `--format json` writes them).
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = MessageFormat::Human)]
    pub message_format: MessageFormat,

    /// Print a `SLOW [>DUR]` line for a test still running after DUR, and again after each
    /// further DUR (tests then start one per worker at a time, so a test's time counts from
    /// its start) [default: the profile's `slow-timeout`, whose `terminate-after = K` stops
    /// a test after K periods].
    #[arg(long, value_name = "DURATION")]
    pub slow_timeout: Option<String>,

    /// Which tests get a line as they finish: each level shows itself and those before it in
    /// `none, fail, retry, slow, pass, skip, all` (`fail`: failures only; `retry`: and RETRY
    /// and FLAKY lines; `pass`: and passes; `skip`: and skips) [default: skip, every line].
    #[arg(long, value_enum, value_name = "LEVEL")]
    pub status_level: Option<StatusLevel>,

    /// Which tests are listed again after the summary, with the same levels [default: fail].
    #[arg(long, value_enum, value_name = "LEVEL")]
    pub final_status_level: Option<StatusLevel>,

    /// Stop starting tests once N have failed (after their retries): the tests running then
    /// finish, the rest (and the binaries after) do not run, and the summary counts them
    /// [default: the profile's `max-fail` or `fail-fast`, or no limit].
    #[arg(long, value_name = "N", conflicts_with = "no_fail_fast")]
    pub max_fail: Option<String>,

    /// Run every test however many fail (the default; the opposite of --max-fail).
    #[arg(long)]
    pub no_fail_fast: bool,

    /// Run only share M of N of the selected tests, so that N runs (CI jobs) given the same
    /// binaries and filters run each test exactly once: `hash:M/N` by a stable hash of the
    /// test's name (a test keeps its share as others are added), `slice:M/N` dealt out in
    /// turn in each binary's order (even shares within each binary). M counts from 1.
    #[arg(long, value_name = "hash:M/N|slice:M/N")]
    pub partition: Option<String>,

    /// What a run in which no test runs (the filters, --ignored or --partition left none)
    /// does: `fail` exits 4 with a message, `warn` says so on stderr and exits 0, `pass`
    /// exits 0 [default: fail; pass when cargo runs mpwasm as its runner (it sets
    /// CARGO_MANIFEST_DIR), since cargo runs each binary alone and a filter that matches in
    /// one matches nothing in the others, as libtest's own binaries allow].
    #[arg(long, value_enum, value_name = "WHAT")]
    pub no_tests: Option<NoTests>,
}

/// `mpwasm test --status-level` and `--final-status-level`: which tests are shown, by what
/// happened to them; each level shows itself and every level before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum StatusLevel {
    /// No test.
    None,
    /// Tests that failed, timed out or went over the memory limit.
    Fail,
    /// And retried attempts (RETRY) and tests that passed on a retry (FLAKY).
    Retry,
    /// And slow tests.
    Slow,
    /// And tests that passed.
    Pass,
    /// And skipped tests (ignored, should_panic).
    Skip,
    /// Every test.
    All,
}

/// `mpwasm test --message-format`: how the run is reported on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MessageFormat {
    /// A line per test as it finishes, cargo-nextest style, and a summary.
    Human,
    /// One JSON object per line per event, in the shape of libtest's own JSON output.
    LibtestJson,
}

/// `mpwasm test --no-tests`: what a run in which no test runs does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum NoTests {
    /// An error: exit 4, naming what selected nothing.
    Fail,
    /// A warning on stderr; exit 0.
    Warn,
    /// Exit 0 quietly.
    Pass,
}

/// The flags of `mpwasm run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The task module: a Wasm component (or a core module with numeric exports).
    #[arg(value_name = "TASK.wasm")]
    pub task: PathBuf,

    /// Inputs from an integer range: A..B, A..=B, or A..B:STEP (e.g. 0..10, 1..=5, 0..100:10).
    #[arg(
        long,
        value_name = "RANGE",
        conflicts_with_all = ["input", "lines"],
        allow_hyphen_values = true
    )]
    pub map: Option<String>,

    /// Inputs from a JSON Lines file, one input per line (`-` for stdin). A function with k
    /// parameters takes an array of k values per line; blank lines are skipped.
    #[arg(long, value_name = "PATH", conflicts_with = "lines")]
    pub input: Option<PathBuf>,

    /// Inputs from a text file (`-` for stdin): every line is one string input, as it is (no
    /// JSON quoting needed; only the line break is removed), empty lines included.
    #[arg(long, value_name = "PATH", conflicts_with = "csv")]
    pub lines: Option<PathBuf>,

    /// Inputs from a CSV file (`-` for stdin): each row is one input, an object keyed by the
    /// header row's names (a function's parameters are matched by name, a record's fields
    /// too), or with --no-header an array (the parameters in order). A field that reads as a
    /// number or true/false is passed as one; anything else as a string.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["map", "input"])]
    pub csv: Option<PathBuf>,

    /// With --csv: the first row is data, and each row becomes an array.
    #[arg(long, requires = "csv")]
    pub no_header: bool,

    /// Print results as they complete instead of in input order (imap_unordered).
    #[arg(long)]
    pub unordered: bool,

    /// Tasks sent to a worker at a time [default: adaptive, aiming at ~2ms of work].
    #[arg(long, value_name = "N")]
    pub chunksize: Option<usize>,

    /// Output format: `values` prints one JSON value per line (failures go to stderr as
    /// `task I: KIND: MESSAGE`); `jsonl` prints one object per task:
    /// {"index":I,"value":V,"worker":PID} or {"index":I,"error":{"kind":K,"message":M},...}.
    #[arg(long, value_enum, default_value_t = Format::Values)]
    pub format: Format,

    /// Show a progress bar on stderr (done/total, rate, ETA, failures) even when stderr is not
    /// a terminal. On a terminal it is shown anyway.
    #[arg(long, conflicts_with = "quiet")]
    pub progress: bool,

    /// No progress bar and no summary line: only results and errors.
    #[arg(short = 'q', long)]
    pub quiet: bool,

    /// Colour for errors and the summary: auto (on a terminal, unless NO_COLOR is set),
    /// always, never.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

    /// Log every task to PATH as its result is printed, one tab-separated line each: index,
    /// worker pid, start time (Unix seconds), seconds, ok/failed, error kind.
    #[arg(long, value_name = "PATH")]
    pub joblog: Option<PathBuf>,

    /// With --joblog: skip the inputs the joblog records as ok and run the rest, appending to
    /// the same joblog. The interrupted run's output followed by this one's holds every result
    /// exactly once (in jsonl, each with its input's index).
    #[arg(long, requires = "joblog")]
    pub resume: bool,

    /// For a WASI program: feed each input on its standard input (a string as it is, other
    /// values as JSON) instead of as an argument.
    #[arg(long)]
    pub stdin: bool,

    /// Run the job on the workers of a Redis broker instead of on this machine:
    /// redis://[USER:PASSWORD@]HOST[:PORT][/DB], or rediss://... for TLS (a private CA's
    /// certificate in $MPWASM_BROKER_CA). Workers are `mpwasm worker --broker URL` on any
    /// machine; the output, flags and exit status are those of a local run.
    #[arg(
        long,
        value_name = "URL",
        env = "MPWASM_BROKER",
        hide_env_values = true,
        help_heading = "Broker"
    )]
    pub broker: Option<String>,

    /// With --broker: how long an input may sit with a worker that stopped answering (its
    /// machine died) before another worker takes it over. Workers renew it while they run.
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "10s",
        requires = "broker",
        help_heading = "Broker"
    )]
    pub lease: String,

    /// Seed the job's shared store (for a task importing mpwasm:shared) from a JSON object of
    /// keys and values (strings or integers), as --shared-out writes it.
    #[arg(long, value_name = "PATH", help_heading = "Shared state")]
    pub shared_in: Option<PathBuf>,

    /// Write the job's shared store here when the job ends, as a JSON object (integers made
    /// by incr as numbers, queues still holding items under "mpwasm:queues"); also when the
    /// run failed or was interrupted, holding every write made until then.
    #[arg(long, value_name = "PATH", help_heading = "Shared state")]
    pub shared_out: Option<PathBuf>,

    /// The most the job's shared store may hold (keys, values, queue items together); a
    /// task's write past it fails that task [default: 64MiB].
    #[arg(long, value_name = "SIZE", help_heading = "Shared state")]
    pub shared_limit: Option<String>,

    /// The most inputs the job's tasks may add with work#submit; the task whose submit would
    /// pass it fails [default: 1000000].
    #[arg(long, value_name = "N", help_heading = "Shared state")]
    pub max_submitted: Option<u64>,

    /// For a WASI program (a `fn main` crate built for wasm32-wasip2), its arguments, after
    /// `--`. `{}` is replaced by the input (a string without its quotes), `{1}`, `{2}`... by
    /// the elements of an array input; with no `{}` the input is appended as the last
    /// argument. Each input runs the program once, in a new instance.
    #[arg(last = true, value_name = "ARGS")]
    pub program_args: Vec<String>,

    /// Settings shared with `call`.
    #[command(flatten)]
    pub common: CommonArgs,
}

/// The flags of `mpwasm call`.
#[derive(Debug, Args)]
pub struct CallArgs {
    /// The task module.
    #[arg(value_name = "TASK.wasm")]
    pub task: PathBuf,

    /// The arguments: JSON values (a non-JSON word is taken as a string). For a WASI program,
    /// its command-line arguments as they are (put them after `--`).
    #[arg(value_name = "ARG", allow_negative_numbers = true)]
    pub args: Vec<String>,

    /// Settings shared with `run`.
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Flags shared by `run` and `call`.
#[derive(Debug, Args)]
pub struct CommonArgs {
    /// The export to call: NAME, or INTERFACE#NAME for a function inside an exported interface
    /// [default: the only exported function, `init` aside].
    #[arg(long = "func", value_name = "NAME")]
    pub func: Option<String>,

    /// The export run once in every new instance before its first task (Python's initializer)
    /// [default: an export named `init` taking no arguments, if any].
    #[arg(long, value_name = "NAME")]
    pub init: Option<String>,

    /// Worker processes [default: the number of available cores, or $MPWASM_PROCESSES].
    #[arg(short = 'j', long = "processes", value_name = "N")]
    pub processes: Option<usize>,

    /// The most linear memory + tables one sandbox may grow to, e.g. 64MiB, 2G
    /// [default: half the machine's RAM divided by the number of workers, at most 4GiB].
    #[arg(long, value_name = "SIZE")]
    pub memory: Option<String>,

    /// Wall-clock limit per task, e.g. 500ms, 2s, 1m; the task is stopped and reported as
    /// `timeout` [default: none].
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,

    /// Instruction budget per task; a task that uses it up fails with `fuel-exhausted`
    /// (deterministic, unlike --timeout) [default: unmetered].
    #[arg(long, value_name = "N")]
    pub fuel: Option<u64>,

    /// The most guest stdout+stderr kept per task; the rest is dropped with a note
    /// [default: 1MiB].
    #[arg(long, value_name = "SIZE")]
    pub output_limit: Option<String>,

    /// A new instance for every task. By default a worker keeps its instance between tasks
    /// (globals survive, as in Python's workers) and replaces it after a failure.
    #[arg(long)]
    pub fresh: bool,

    /// Compile the module afresh into a temporary file instead of using (and filling) the
    /// compile cache in $MPWASM_CACHE_DIR, $XDG_CACHE_HOME/mpwasm or ~/.cache/mpwasm.
    #[arg(long)]
    pub no_cache: bool,

    /// How often a task is retried when its worker process dies [default: 1].
    #[arg(long, value_name = "N")]
    pub retries: Option<u32>,

    /// Replace a worker process after it ran N tasks, for tasks that leak (Python's
    /// maxtasksperchild) [default: never].
    #[arg(long, value_name = "N")]
    pub max_tasks_per_worker: Option<u64>,

    /// Grant a directory: HOST[::GUEST][:ro], e.g. `--dir ./data::/data:ro` (read-only at
    /// /data). Repeatable. Without it a task sees no files at all.
    #[arg(long, value_name = "HOST[::GUEST][:ro]")]
    pub dir: Vec<String>,

    /// Allow outgoing HTTP (wasi:http) to HOST[:PORT] (without a port: 80 and 443). Repeatable.
    /// Without it every request the task makes is refused.
    #[arg(long, value_name = "HOST[:PORT]")]
    pub allow_http: Vec<String>,

    /// Pass an environment variable: KEY=VALUE, or KEY to pass the host's value. Repeatable.
    /// Without it a task sees an empty environment.
    #[arg(long, value_name = "KEY[=VALUE]")]
    pub env: Vec<String>,
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// One JSON value per line.
    Values,
    /// One JSON object per task, with its index, value or error, and worker pid.
    Jsonl,
}
