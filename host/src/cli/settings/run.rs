//! `mpwasm run`'s checked settings: where the inputs come from, where the job runs (here or on
//! a broker's workers), the pool it runs with, and how its results are shown. Built once from
//! [`RunArgs`]; nothing after this reads a flag's text again.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use mpwasm::PoolBuilder;
use mpwasm::broker::BrokerUrl;

use super::pool::{duration, limit_size, pool_builder};
use super::range::{IntRange, parse_range};
use crate::cli::args::{Format, RunArgs};
use crate::cli::style::ColorChoice;

/// What `mpwasm run` does.
#[derive(Debug)]
pub struct RunSettings {
    /// The task module.
    pub task: PathBuf,
    /// Where the inputs come from.
    pub inputs: InputSpec,
    /// Where the job runs.
    pub target: Target,
    /// The pool's settings (for a broker job: what the job asks of each worker's sandboxes).
    pub pool: PoolBuilder,
    /// Results in input order (`false`: as they complete, `--unordered`).
    pub ordered: bool,
    /// How results, failures and progress are shown.
    pub output: OutputSettings,
    /// Where the job's shared store is written at the end (`--shared-out`).
    pub shared_out: Option<PathBuf>,
}

/// Where `run` takes its inputs from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputSpec {
    /// `--map RANGE`.
    Range(IntRange),
    /// `--input PATH` (`None` = stdin).
    JsonLines(Option<PathBuf>),
    /// `--lines PATH` (`None` = stdin): each line a string.
    TextLines(Option<PathBuf>),
    /// `--csv PATH` (`None` = stdin): each row a record, or with `header: false` an array.
    Csv {
        /// The file.
        path: Option<PathBuf>,
        /// The first row names the columns.
        header: bool,
    },
}

/// Where the job runs.
#[derive(Debug)]
pub enum Target {
    /// A pool of worker processes on this machine.
    Local,
    /// The workers of a Redis broker (`--broker URL`).
    Broker {
        /// The broker, checked.
        url: Arc<BrokerUrl>,
        /// How long an input may sit with a silent worker before another takes it (`--lease`).
        lease: Duration,
    },
}

impl Target {
    /// From `--broker` (none: local), `--lease` and whether `-j` was given (a local pool's
    /// size, refused with a broker).
    ///
    /// # Errors
    /// `-j` with a broker, a lease under 100ms, a URL that does not parse.
    pub fn new(broker: Option<&str>, lease: &str, processes_given: bool) -> Result<Target> {
        let Some(url) = broker else {
            return Ok(Target::Local);
        };
        if processes_given {
            bail!(
                "-j/--processes sets the size of a local pool; with --broker each worker \
                 chooses its own (mpwasm worker -j N)"
            );
        }
        let text = lease;
        let lease = duration("--lease", text)?;
        if lease < MIN_LEASE {
            bail!("invalid --lease `{text}`: it must be at least 100ms");
        }
        Ok(Target::Broker {
            url: Arc::new(BrokerUrl::parse(url)?),
            lease,
        })
    }
}

/// How results and progress are shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputSettings {
    /// The results' format on stdout.
    pub format: Format,
    /// The progress bar on stderr.
    pub bar: BarMode,
    /// Colour for stderr.
    pub color: ColorChoice,
    /// No summary line (`-q`; the bar is off then too).
    pub quiet: bool,
    /// `--joblog PATH`, with or without `--resume`.
    pub joblog: Option<JobLogSettings>,
}

/// Whether to show the progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BarMode {
    /// When stderr is a terminal.
    Auto,
    /// Always (`--progress`).
    Forced,
    /// Never (`--quiet`).
    Off,
}

/// `--joblog PATH [--resume]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobLogSettings {
    /// The joblog.
    pub path: PathBuf,
    /// Skip the inputs it records as `ok` (`--resume`).
    pub resume: bool,
}

/// The shortest `--lease`: workers renew a lease every third of it.
const MIN_LEASE: Duration = Duration::from_millis(100);

impl RunSettings {
    /// Checks `mpwasm run`'s flags, in the order a user reads them: the inputs, the batch
    /// size, the pool's flags, the program's arguments, then the broker's.
    ///
    /// # Errors
    /// A message naming the flag and the text it refused.
    pub fn new(args: RunArgs) -> Result<RunSettings> {
        let inputs = input_spec(&args)?;
        if args.chunksize == Some(0) {
            bail!("invalid --chunksize 0: a batch holds at least one task");
        }
        let joblog = args.joblog.clone().map(|path| JobLogSettings {
            path,
            resume: args.resume,
        });
        let mut pool = pool_builder(&args.common)?.time_tasks(joblog.is_some());
        if let Some(n) = args.chunksize {
            pool = pool.chunksize(n);
        }
        if args.stdin || !args.program_args.is_empty() {
            pool = pool.program_args(args.program_args.clone(), args.stdin);
        }
        pool = shared_settings(&args, pool)?;
        let target = Target::new(
            args.broker.as_deref(),
            &args.lease,
            args.common.processes.is_some(),
        )?;
        let bar = if args.quiet {
            BarMode::Off
        } else if args.progress {
            BarMode::Forced
        } else {
            BarMode::Auto
        };
        Ok(RunSettings {
            task: args.task,
            inputs,
            target,
            pool,
            ordered: !args.unordered,
            output: OutputSettings {
                format: args.format,
                bar,
                color: args.color,
                quiet: args.quiet,
                joblog,
            },
            shared_out: args.shared_out,
        })
    }
}

/// `--shared-in`, `--shared-limit`, `--max-submitted`.
fn shared_settings(args: &RunArgs, mut pool: PoolBuilder) -> Result<PoolBuilder> {
    if let Some(path) = &args.shared_in {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("--shared-in: cannot read {}", path.display()))?;
        let seed: serde_json::Value = serde_json::from_str(&text).with_context(|| {
            format!(
                "--shared-in: {} is not JSON (expected an object of keys and values)",
                path.display()
            )
        })?;
        if let Err(e) = mpwasm::SharedStore::from_json(&seed) {
            let message = match e {
                mpwasm::Error::Config(message) => message,
                other => other.to_string(),
            };
            bail!("--shared-in: {}: {message}", path.display());
        }
        pool = pool.shared_in(seed);
    }
    if let Some(text) = &args.shared_limit {
        pool = pool.shared_limit(limit_size("--shared-limit", text)?);
    }
    if let Some(n) = args.max_submitted {
        pool = pool.max_submitted(n);
    }
    Ok(pool)
}

/// The one input flag given.
fn input_spec(args: &RunArgs) -> Result<InputSpec> {
    Ok(match (&args.map, &args.input, &args.lines, &args.csv) {
        (Some(range), None, None, None) => InputSpec::Range(parse_range(range)?),
        (None, Some(path), None, None) => InputSpec::JsonLines(Some(path.clone())),
        (None, None, Some(path), None) => InputSpec::TextLines(Some(path.clone())),
        (None, None, None, Some(path)) => InputSpec::Csv {
            path: Some(path.clone()),
            header: !args.no_header,
        },
        (None, None, None, None) => bail!(
            "no inputs: give --map RANGE (e.g. --map 0..10), --input PATH (JSON Lines), \
             --lines PATH (one string per line), --csv PATH, or `-` as the PATH to read stdin"
        ),
        _ => bail!("give one of --map, --input, --lines and --csv"),
    })
}
