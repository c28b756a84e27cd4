//! The raw command line, as clap parses it. Nothing here is validated beyond syntax;
//! [`super::settings`] turns it into checked settings.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

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
        mpwasm call wordcount.wasm \"the cat and the hat\""
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Call a function of TASK.wasm once per input, over a pool of worker processes.
    ///
    /// Results go to stdout, one JSON value per line, in input order (or as completed with
    /// --unordered). Errors and the guests' own output go to stderr.
    /// Exit status: 0 every task succeeded, 1 at least one failed, 2 the run could not start.
    #[command(after_help = "Examples:\n  mpwasm run square.wasm --map 0..10\n  \
        mpwasm run square.wasm --map 0..=100:10 --unordered\n  \
        mpwasm run kitchen.wasm --func add --input pairs.jsonl   # lines like [1, 2]\n  \
        seq 5 | mpwasm run square.wasm --input - --format jsonl")]
    Run(RunArgs),
    /// Call a function of TASK.wasm once, in a sandbox (Python's apply).
    ///
    /// Each ARG is a JSON value, or taken as a string if it is not valid JSON. Prints the
    /// result as JSON. Exit status: 0 success, 1 the task failed, 2 it could not start.
    #[command(after_help = "Examples:\n  mpwasm call square.wasm 7\n  \
        mpwasm call wordcount.wasm \"the cat and the hat\"\n  \
        mpwasm call kitchen.wasm --func add 2 3")]
    Call(CallArgs),
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
    #[arg(long, value_name = "PATH")]
    pub lines: Option<PathBuf>,

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

    /// The arguments: JSON values (a non-JSON word is taken as a string).
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
