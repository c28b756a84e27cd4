//! `mpwasm test`'s checked settings: the test binaries, libtest's selection, the limits each
//! test gets (the flags over the config file's profile and its overrides), and the pool every
//! binary runs in (program mode, one test per batch), built from the checked values directly.

use std::path::PathBuf;

use anyhow::{Result, bail};
use mpwasm::PoolBuilder;
use mpwasm::limits::{default_memory_limit, default_processes};

use super::Target;
use super::pool::{grant_dirs, grant_env, limit_duration, limit_size, processes, size};
use crate::cli::args::{MessageFormat, NoTests, StatusLevel, TestArgs};
use crate::cli::style::ColorChoice;
use crate::cli::test::config::{ConfigFile, DEFAULT_PROFILE, Fixed, Limits, Profile};
use crate::cli::test::libtest::{Selection, crate_name};
use crate::cli::test::partition::Partition;

/// The default memory limit per test, unless the machine's share is smaller.
const DEFAULT_TEST_MEMORY: u64 = 1024 * 1024 * 1024;

/// The time limit per test without `--timeout` or a profile's.
const DEFAULT_TEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// How many tests are handed to the pool ahead of the verdicts taken, as many as a broker's job
/// takes: the thread that submits them also collects the verdicts, so it never waits for room
/// (a binary with more tests starts the rest as verdicts come in).
const WINDOW: usize = 4096;

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
    /// Which tests get a line as they finish (`--status-level`).
    pub status_level: StatusLevel,
    /// Which tests are listed again after the summary (`--final-status-level`).
    pub final_status_level: StatusLevel,
    /// What each test gets (its time and memory limits, its retries), before and after the
    /// config file's overrides.
    pub limits: Limits,
    /// The config file and profile in use, when there is a file.
    pub config: Option<(PathBuf, String)>,
    /// Print each selected test's settings instead of running them (`--show-config`).
    pub show_config: bool,
    /// Where the tests run: worker processes here, or a broker's workers (`--broker`).
    pub target: Target,
    /// Where to write the JUnit XML report (`--junit`).
    pub junit: Option<PathBuf>,
    /// Show every test's output, not only the failures'.
    pub nocapture: bool,
    /// Colour for the test lines and the summary.
    pub color: ColorChoice,
    /// The pool each binary runs in (with the limits before overrides; a test whose
    /// overrides change them runs in a pool of its own).
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
        let file = ConfigFile::find(args.config.as_deref())?;
        let profile = match &file {
            Some(file) => file.profile(&args.profile)?,
            None if args.profile == DEFAULT_PROFILE => Profile::default(),
            None => bail!(
                "profile `{}`: there is no config file (looked for {} here and in every \
                 directory above; --config PATH names one)",
                args.profile,
                crate::cli::test::config::FILE
            ),
        };
        let max_fail = match (&args.max_fail, args.no_fail_fast) {
            (None, true) => None,
            (None, false) => profile.max_fail.flatten(),
            (Some(text), _) if text == "all" => None,
            (Some(text), _) => match text.parse::<usize>() {
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
        let memory = match (&args.memory, profile.memory) {
            (Some(text), _) => limit_size("--memory", text)?,
            (None, Some(bytes)) => bytes,
            (None, None) => {
                // The machine's share as the cores' count sees it ($MPWASM_PROCESSES aside).
                let shared_by = args.processes.unwrap_or_else(default_processes).max(1);
                DEFAULT_TEST_MEMORY.min(default_memory_limit(shared_by))
            }
        };
        let timeout = match (&args.timeout, profile.timeout) {
            (Some(text), _) => limit_duration("--timeout", text)?,
            (None, Some(limit)) => limit,
            (None, None) => DEFAULT_TEST_TIMEOUT,
        };
        let slow_timeout = match &args.slow_timeout {
            Some(text) => Some(limit_duration("--slow-timeout", text)?),
            None => profile.slow_timeout,
        };
        let limits = Limits {
            timeout,
            memory,
            retries: args.retries.or(profile.retries).unwrap_or(0),
            fixed: Fixed {
                timeout: args.timeout.is_some(),
                memory: args.memory.is_some(),
                retries: args.retries.is_some(),
            },
            configured: Fixed {
                timeout: args.timeout.is_none() && profile.timeout.is_some(),
                memory: args.memory.is_none() && profile.memory.is_some(),
                retries: args.retries.is_none() && profile.retries.is_some(),
            },
            slow: slow_timeout.map(|period| (period, profile.terminate_after)),
            overrides: profile.overrides,
            flag_env: args
                .env
                .iter()
                .map(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k).to_string())
                .collect(),
        };
        pool = pool.memory_limit(memory).timeout(limits.base().timeout);
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
            status_level: args.status_level.unwrap_or(StatusLevel::Skip),
            final_status_level: args.final_status_level.unwrap_or(StatusLevel::Fail),
            no_tests: args.no_tests.unwrap_or_else(|| {
                if std::env::var_os("CARGO_MANIFEST_DIR").is_some() {
                    NoTests::Pass
                } else {
                    NoTests::Fail
                }
            }),
            limits,
            config: file.map(|f| (f.path().to_path_buf(), args.profile.clone())),
            show_config: args.show_config,
            target: Target::new(
                args.broker.as_deref(),
                &args.lease,
                args.processes.is_some(),
            )?,
            junit: args.junit.or(profile.junit),
            nocapture: args.nocapture,
            color: args.color,
            pool,
        })
    }
}
