//! Where a test binary's tests run ([`Place`]): a pool of worker processes on this machine (one
//! for the binary, and one more for each group of tests whose config overrides change their
//! limits or grants), or the workers of a Redis broker (`--broker`: a broker job for the listing
//! and one per group). Either way a group of tests is one job: a submitter and its outcomes,
//! which the suite's loop drives the same way, and a [`GroupJob`] holding what runs it.

use std::path::Path;

use anyhow::{Result, bail};
use mpwasm::pool::{Outcomes, Submitter, Terminator};
use mpwasm::{Pool, PoolBuilder, TaskOutcome};

use super::config::TestLimits;
use super::libtest::{self, TestCase};
use crate::cli::run::target::Running;
use crate::cli::settings::{Target, TestBinary, TestSettings};
use crate::cli::signals::Watcher;

/// Tests submitted and unfinished at once on a broker when they must start as they are handed
/// over (`--slow-timeout`, `libtest-json`, `--max-fail`): a broker does not say how many
/// processes its workers have.
const BROKER_IN_FLIGHT: usize = 16;

/// Where one binary's tests run.
pub enum Place {
    /// This machine: the binary's pool (its tests without overrides run in it).
    Local(Box<Pool>),
    /// A broker's workers.
    Broker,
}

/// What runs a group of tests' job (its submitter and outcomes come beside it).
pub struct GroupJob {
    /// Stops the job from the signal thread.
    pub terminator: Terminator,
    /// How many of its tests may be handed over at once when each must start as it is handed
    /// to a worker: the pool's processes, or [`BROKER_IN_FLIGHT`].
    pub workers: usize,
    /// The group's own pool or broker job, ended when this is dropped or finished.
    keep: Keep,
}

/// What a [`GroupJob`] holds on to.
enum Keep {
    /// Nothing: it runs in the binary's pool.
    Nothing,
    /// A pool of its own.
    Pool(Box<Pool>),
    /// A broker job.
    Broker(Running),
}

impl GroupJob {
    /// Ends the job: its own pool's workers stop; a broker job's keys are deleted.
    pub fn finish(self) {
        match self.keep {
            Keep::Nothing => {}
            Keep::Pool(pool) => drop(pool),
            Keep::Broker(running) => running.finish(),
        }
    }
}

impl Place {
    /// Where `binary`'s tests run with `settings`: its pool is started here (so a binary that
    /// cannot load fails now); a broker's jobs start as they are asked for.
    ///
    /// # Errors
    /// When the binary cannot be loaded, or is not a WASI program.
    pub fn open(settings: &TestSettings, binary: &TestBinary) -> Result<Place> {
        Ok(match settings.target {
            Target::Local => Place::Local(Box::new(start_pool(&settings.pool, &binary.path)?)),
            Target::Broker { .. } => Place::Broker,
        })
    }

    /// Stops what runs now (the listing): the binary's pool; a broker's listing job ends with
    /// the signal's own check.
    pub fn terminator(&self) -> Option<Terminator> {
        match self {
            Place::Local(pool) => Some(pool.terminator()),
            Place::Broker => None,
        }
    }

    /// Worker processes, for the progress bar: the pool's, or 0 (unknown) on a broker.
    pub fn processes(&self) -> usize {
        match self {
            Place::Local(pool) => pool.processes(),
            Place::Broker => 0,
        }
    }

    /// The binary's tests, from its `--list` and `--list --ignored` run in sandboxes (a
    /// signal stops a broker's listing job).
    ///
    /// # Errors
    /// When a listing fails or cannot be read, or the broker refuses the job.
    pub fn list(
        &self,
        settings: &TestSettings,
        binary: &TestBinary,
        watcher: &Watcher,
    ) -> Result<Vec<TestCase>> {
        let path = &binary.path;
        let (ignored, all) = match self {
            Place::Local(pool) => {
                let run = |ignored: bool| {
                    pool.apply_async(vec![libtest::list_input(ignored)])
                        .wait_outcome()
                };
                (run(true), run(false))
            }
            Place::Broker => {
                let (running, mut submitter, mut outcomes) =
                    start_broker_job(settings, settings.pool.clone(), path, true, 2)?;
                let (terminator, waker) = (running.terminator(), outcomes.waker());
                watcher.on_first(move || {
                    terminator.terminate();
                    waker.wake();
                })?;
                for ignored in [true, false] {
                    let _ = submitter.push(libtest::list_input(ignored).to_string());
                }
                submitter.finish();
                let (ignored, all) = (outcomes.next_blocking(), outcomes.next_blocking());
                drop(outcomes);
                running.finish();
                match (ignored, all) {
                    (Some(ignored), Some(all)) => (ignored, all),
                    _ => bail!(
                        "cannot list the tests of {}: the broker job ended without an answer",
                        path.display()
                    ),
                }
            }
        };
        let ignored = listing(&ignored, path)?;
        Ok(listing(&all, path)?
            .into_iter()
            .map(|name| TestCase {
                ignored: ignored.contains(&name),
                name,
            })
            .collect())
    }

    /// A job for the `tests` tests that get `limits`: on this machine, in the binary's pool
    /// when they are the run's own (`base`), else in a pool of their own; on a broker, a job
    /// of its own.
    ///
    /// # Errors
    /// When the group's pool cannot start or the broker refuses the job.
    pub fn job(
        &self,
        settings: &TestSettings,
        binary: &TestBinary,
        limits: &TestLimits,
        base: bool,
        tests: usize,
    ) -> Result<(GroupJob, Submitter, Outcomes)> {
        match self {
            Place::Local(pool) if base => {
                let (submitter, outcomes) = pool.job(false);
                let job = GroupJob {
                    terminator: pool.terminator(),
                    workers: pool.processes(),
                    keep: Keep::Nothing,
                };
                Ok((job, submitter, outcomes))
            }
            Place::Local(_) => {
                let pool = start_pool(&group_builder(settings, limits)?, &binary.path)?;
                let (submitter, outcomes) = pool.job(false);
                let job = GroupJob {
                    terminator: pool.terminator(),
                    workers: pool.processes(),
                    keep: Keep::Pool(Box::new(pool)),
                };
                Ok((job, submitter, outcomes))
            }
            Place::Broker => {
                let builder = if base {
                    settings.pool.clone()
                } else {
                    group_builder(settings, limits)?
                };
                let (running, submitter, outcomes) =
                    start_broker_job(settings, builder, &binary.path, false, tests)?;
                let job = GroupJob {
                    terminator: running.terminator(),
                    workers: BROKER_IN_FLIGHT,
                    keep: Keep::Broker(running),
                };
                Ok((job, submitter, outcomes))
            }
        }
    }
}

/// Starts the pool for one test binary.
///
/// # Errors
/// When the binary cannot be loaded, or is not a WASI program (so not a test binary).
pub fn start_pool(settings: &PoolBuilder, path: &Path) -> Result<Pool> {
    settings.clone().build(path).map_err(|e| match e {
        mpwasm::Error::NotAProgram { path } => not_a_test_binary(&path),
        other => other.into(),
    })
}

/// The error for a module that is not a WASI program.
fn not_a_test_binary(path: &Path) -> anyhow::Error {
    anyhow::anyhow!(
        "{} is not a test binary (it is not a WASI program); build tests with `cargo test \
         --target wasm32-wasip2 --no-run`",
        path.display()
    )
}

/// A broker job running `path` with `builder`'s settings, its outcomes in input order when
/// `ordered`; workers' notes on it are printed on stderr.
fn start_broker_job(
    settings: &TestSettings,
    builder: PoolBuilder,
    path: &Path,
    ordered: bool,
    runs: usize,
) -> Result<(Running, Submitter, Outcomes)> {
    let total = Some(runs as u64);
    Running::start(&settings.target, path, builder, ordered, total, &|task| {
        if task.program_export().is_none() {
            return Err(not_a_test_binary(path));
        }
        Ok(())
    })
}

/// The names one `--list` run printed.
///
/// # Errors
/// When it failed, naming the binary, with its output.
fn listing(outcome: &TaskOutcome, path: &Path) -> Result<Vec<String>> {
    let run = outcome.program_run();
    match (outcome.json(), run) {
        (Ok(_), Some(run)) => Ok(libtest::parse_list(&run.stdout)),
        (Err(error), run) => bail!(
            "cannot list the tests of {}: {}: {}\n{}",
            path.display(),
            error.kind(),
            error.message(),
            run.map_or_else(
                || String::from_utf8_lossy(outcome.output()).into_owned(),
                |r| r.stderr
            )
        ),
        (Ok(value), None) => bail!(
            "cannot list the tests of {}: unreadable result {value}",
            path.display()
        ),
    }
}

/// The pool settings for tests whose limits or grants differ from the run's: the run's, with
/// theirs.
///
/// # Errors
/// When a directory of theirs cannot be granted.
fn group_builder(settings: &TestSettings, limits: &TestLimits) -> Result<PoolBuilder> {
    let mut builder = settings
        .pool
        .clone()
        .memory_limit(limits.memory)
        .timeout(limits.timeout);
    for (key, value) in &limits.env {
        builder = builder.env(key.clone(), value.clone());
    }
    for dir in &limits.dirs {
        builder = builder.dir(mpwasm::DirGrant::parse(dir).map_err(anyhow::Error::msg)?);
    }
    Ok(builder)
}
