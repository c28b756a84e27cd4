//! `mpwasm test`'s checked settings: the test binaries, libtest's selection, and the pool every
//! binary runs in (program mode, one test per batch, a test's limits), built from the checked
//! values directly.

use std::path::PathBuf;

use anyhow::{Result, bail};
use mpwasm::PoolBuilder;
use mpwasm::limits::{default_memory_limit, default_processes};

use super::pool::{grant_dirs, grant_env, limit_duration, limit_size, processes, size};
use crate::cli::args::{MessageFormat, NoTests, StatusLevel, TestArgs};
use crate::cli::style::ColorChoice;
use crate::cli::test::libtest::{Selection, crate_name};
use crate::cli::test::partition::Partition;

/// The default memory limit per test, unless the machine's share is smaller.
const DEFAULT_TEST_MEMORY: u64 = 1024 * 1024 * 1024;

/// Enough room for every test (and retry) of a binary at once: they are all submitted by the
/// thread that also collects the verdicts, so the window must never make it wait.
const WINDOW: usize = 1 << 24;

/// What `mpwasm test` does.
#[derive(Debug)]
pub struct TestSettings {
    /// The test binaries, in the order given.
    pub binaries: Vec<TestBinary>,
    /// Which tests run, as libtest's own arguments select them.
    pub selection: Selection,
    /// Print the selected tests instead of running them (`--list`).
    pub list: bool,
    /// This run's share of the selected tests (`--partition`); all of them without.
    pub partition: Option<Partition>,
    /// What a run in which no test runs does (`--no-tests`).
    pub no_tests: NoTests,
    /// How many failed tests stop the run from starting more (`--max-fail`); none: no limit.
    pub max_fail: Option<usize>,
    /// How the run is reported on stdout (`--message-format`).
    pub message_format: MessageFormat,
    /// After how long (and each further period) a running test is reported slow.
    pub slow_timeout: Option<std::time::Duration>,
    /// Which tests get a line as they finish (`--status-level`).
    pub status_level: StatusLevel,
    /// Which tests are listed again after the summary (`--final-status-level`).
    pub final_status_level: StatusLevel,
    /// How often a failed test runs again (`--retries`).
    pub retries: u32,
    /// Where to write the JUnit XML report (`--junit`).
    pub junit: Option<PathBuf>,
    /// Show every test's output, not only the failures'.
    pub nocapture: bool,
    /// Colour for the test lines and the summary.
    pub color: ColorChoice,
    /// The pool each binary runs in.
    pub pool: PoolBuilder,
}

/// One test binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestBinary {
    /// Its path.
    pub path: PathBuf,
    /// The crate's name, from the file name (`my_crate-0123456789abcdef.wasm` is `my_crate`).
    pub name: String,
}

impl TestSettings {
    /// Checks `mpwasm test`'s arguments: the binaries first, then the pool's flags.
    ///
    /// # Errors
    /// A message naming the binary, or the flag and the text it refused.
    pub fn new(args: TestArgs) -> Result<TestSettings> {
        let (binaries, filters): (Vec<String>, Vec<String>) = args
            .items
            .into_iter()
            .partition(|item| item.ends_with(".wasm"));
        if binaries.is_empty() {
            bail!(
                "no test binary given (a path ending in .wasm); build them with `cargo test \
                 --target wasm32-wasip2 --no-run` and pass target/wasm32-wasip2/debug/deps/NAME-HASH.wasm"
            );
        }
        let binaries = binaries
            .into_iter()
            .map(|binary| {
                let path = PathBuf::from(&binary);
                if !path.is_file() {
                    bail!("test binary {binary} does not exist");
                }
                let name = crate_name(
                    &path
                        .file_name()
                        .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
                );
                Ok(TestBinary { path, name })
            })
            .collect::<Result<Vec<_>>>()?;
        let partition = args
            .partition
            .as_deref()
            .map(Partition::parse)
            .transpose()
            .map_err(|e| anyhow::anyhow!("--partition {e}"))?;
        let max_fail = match &args.max_fail {
            None => None,
            Some(text) if text == "all" => None,
            Some(text) => match text.parse::<usize>() {
                Ok(n) if n > 0 => Some(n),
                _ => bail!(
                    "--max-fail `{text}`: expected a number of failed tests, 1 or more (or \
                     `all`, which is --no-fail-fast)"
                ),
            },
        };
        let mut pool = PoolBuilder::new();
        if let Some(n) = args.processes {
            pool = pool.processes(processes(n)?);
        }
        let memory = match &args.memory {
            Some(text) => limit_size("--memory", text)?,
            None => {
                // The machine's share as the cores' count sees it ($MPWASM_PROCESSES aside).
                let shared_by = args.processes.unwrap_or_else(default_processes).max(1);
                DEFAULT_TEST_MEMORY.min(default_memory_limit(shared_by))
            }
        };
        pool = pool
            .memory_limit(memory)
            .timeout(limit_duration("--timeout", &args.timeout)?);
        if let Some(text) = &args.output_limit {
            pool = pool.output_limit(size("--output-limit", text)?);
        }
        pool = grant_dirs(pool, &args.dir)?;
        pool = grant_env(pool, &args.env)?
            .fresh(false)
            .cache(!args.no_cache)
            .program_args(Vec::new(), false)
            // One test per batch: a batch's tests would otherwise wait behind a slow one.
            .chunksize(1)
            .window(WINDOW);
        Ok(TestSettings {
            binaries,
            selection: Selection {
                filters,
                skip: args.skip,
                exact: args.exact,
                ignored_only: args.ignored,
                include_ignored: args.include_ignored,
            },
            list: args.list,
            partition,
            max_fail,
            message_format: args.message_format,
            slow_timeout: args
                .slow_timeout
                .as_deref()
                .map(|text| limit_duration("--slow-timeout", text))
                .transpose()?,
            status_level: args.status_level.unwrap_or(StatusLevel::Skip),
            final_status_level: args.final_status_level.unwrap_or(StatusLevel::Fail),
            no_tests: args.no_tests.unwrap_or_else(|| {
                if std::env::var_os("CARGO_MANIFEST_DIR").is_some() {
                    NoTests::Pass
                } else {
                    NoTests::Fail
                }
            }),
            retries: args.retries,
            junit: args.junit,
            nocapture: args.nocapture,
            color: args.color,
            pool,
        })
    }
}
