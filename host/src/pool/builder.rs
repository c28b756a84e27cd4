//! [`PoolBuilder`]: configures and starts a [`Pool`], rayon-style. Defaults come from the
//! machine: one worker per available core (or `$MPWASM_PROCESSES`), a memory limit of half the
//! RAM shared between the workers (at most 4 GiB each), no timeout.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::api::{Callee, Pool};
use super::dispatcher::{self, DispatcherConfig};
use super::transport::{ProcessTransport, Transport};
use crate::error::Error;
use crate::limits::{Limits, default_memory_limit, default_processes};
use crate::sandbox::engine::EngineSettings;
use crate::sandbox::grants::{DirGrant, Grants, HttpGrant};
use crate::task::CommandSpec;
use crate::task::{Task, TaskSource};
use crate::wire::message::{Entry, Setup};

/// The settings of a [`PoolBuilder`] a broker's worker may lower or refuse.
pub(crate) struct Restrictable<'a> {
    pub(crate) memory: &'a mut Option<u64>,
    pub(crate) timeout: &'a mut Option<Duration>,
    pub(crate) output: &'a mut Option<u64>,
    pub(crate) grants: &'a mut Grants,
}

/// How often a task is retried when its worker process dies, by default.
const DEFAULT_RETRIES: u32 = 1;

/// Configures a [`Pool`]. Every setting has a default; see each method.
///
/// It serializes (as JSON) to what a job asks of its sandboxes, for a broker's job record
/// ([`crate::broker`]); the settings that belong to one machine (processes, worker program,
/// cache, window) stay behind.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PoolBuilder {
    #[serde(skip)]
    processes: Option<usize>,
    memory: Option<u64>,
    timeout: Option<Duration>,
    fuel: Option<u64>,
    output: Option<u64>,
    function: Option<String>,
    init: Option<String>,
    fresh: bool,
    #[serde(skip)]
    no_cache: bool,
    chunksize: Option<usize>,
    retries: Option<u32>,
    #[serde(skip)]
    window: Option<usize>,
    #[serde(skip)]
    worker_program: Option<PathBuf>,
    grants: Grants,
    max_tasks_per_worker: Option<u64>,
    program: Option<CommandSpec>,
    timed: bool,
}

impl PoolBuilder {
    /// A builder with every setting at its default.
    pub fn new() -> PoolBuilder {
        PoolBuilder::default()
    }

    /// How many worker processes (default: `$MPWASM_PROCESSES`, else the available cores).
    pub fn processes(mut self, n: usize) -> Self {
        self.processes = Some(n);
        self
    }

    /// The most linear memory plus tables one sandbox may grow to, in bytes (default: half the
    /// RAM divided by the number of workers, at most 4 GiB).
    pub fn memory_limit(mut self, bytes: u64) -> Self {
        self.memory = Some(bytes);
        self
    }

    /// Wall-clock limit per task (default: none).
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.timeout = Some(limit);
        self
    }

    /// Instruction budget per task (default: unmetered).
    pub fn fuel(mut self, fuel: u64) -> Self {
        self.fuel = Some(fuel);
        self
    }

    /// The most guest output kept per task, in bytes (default 1 MiB).
    pub fn output_limit(mut self, bytes: u64) -> Self {
        self.output = Some(bytes);
        self
    }

    /// The export to call: `name` or `interface#name` (default: the only exported function,
    /// `init` aside).
    pub fn function(mut self, name: impl Into<String>) -> Self {
        self.function = Some(name.into());
        self
    }

    /// The export run once in every new instance before its first task (default: an export
    /// named `init` taking no arguments, if there is one).
    pub fn init(mut self, name: impl Into<String>) -> Self {
        self.init = Some(name.into());
        self
    }

    /// A new instance for every task (default: an instance is kept between tasks, and
    /// replaced after a failure).
    pub fn fresh(mut self, fresh: bool) -> Self {
        self.fresh = fresh;
        self
    }

    /// Whether [`build`](Self::build) may take the compiled module from the compile cache
    /// and store it there (default: yes); without, it compiles into a temporary file.
    pub fn cache(mut self, cache: bool) -> Self {
        self.no_cache = !cache;
        self
    }

    /// A fixed number of tasks per batch (default: adaptive, aiming at ~2 ms of work).
    pub fn chunksize(mut self, n: usize) -> Self {
        self.chunksize = Some(n);
        self
    }

    /// How often a task is retried when its worker process dies (default 1).
    pub fn retries(mut self, n: u32) -> Self {
        self.retries = Some(n);
        self
    }

    /// How many tasks a streaming job may have submitted but not yet consumed (default 16384).
    /// A task counts once per started 4 KiB of its input, so the window also bounds the input
    /// bytes held (default: about 64 MiB); a single input larger than the window still runs,
    /// alone.
    pub fn window(mut self, n: usize) -> Self {
        self.window = Some(n);
        self
    }

    /// Grants every sandbox a directory (default: none).
    pub fn dir(mut self, grant: DirGrant) -> Self {
        self.grants.dirs.push(grant);
        self
    }

    /// Grants every sandbox an environment variable (default: none).
    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.grants.env.push((name.into(), value.into()));
        self
    }

    /// Lets every sandbox send HTTP requests (wasi:http) to this host (default: none; every
    /// request is refused).
    pub fn allow_http(mut self, grant: HttpGrant) -> Self {
        self.grants.http.push(grant);
        self
    }

    /// Replaces a worker process after it ran `n` tasks, for tasks that leak (Python's
    /// `maxtasksperchild`; default: never).
    pub fn max_tasks_per_worker(mut self, n: u64) -> Self {
        self.max_tasks_per_worker = Some(n);
        self
    }

    /// How a WASI program (a module exporting `wasi:cli/run` or `_start`) is run for each
    /// input: the argument template and whether the input is fed on stdin (see
    /// [`crate::task::command`]). Without it a program gets each input as its last argument.
    /// A program runs in a new instance for every task, and only when no
    /// [`function`](Self::function) is named. Building fails with [`Error::NotAProgram`] if
    /// this is set and the module is not a program.
    pub fn program_args(mut self, args: Vec<String>, stdin: bool) -> Self {
        self.program = Some(CommandSpec {
            program: String::new(),
            args,
            stdin,
        });
        self
    }

    /// Measure how long each task runs in its worker, for [`TaskOutcome::duration`]
    /// (default: only programs are timed; reading the clock twice per task costs ~5% on the
    /// smallest tasks).
    ///
    /// [`TaskOutcome::duration`]: crate::TaskOutcome::duration
    pub fn time_tasks(mut self, timed: bool) -> Self {
        self.timed = timed;
        self
    }

    /// The program workers run as `PROGRAM __worker` (default: see
    /// [`ProcessTransport::default_program`]).
    pub fn worker_program(mut self, program: impl Into<PathBuf>) -> Self {
        self.worker_program = Some(program.into());
        self
    }

    /// The limits this builder will apply, for `processes` workers.
    pub fn limits(&self) -> Limits {
        let processes = self.resolved_processes();
        let mut limits = Limits::for_processes(processes);
        limits.memory = self
            .memory
            .unwrap_or_else(|| default_memory_limit(processes));
        limits.timeout = self.timeout;
        limits.fuel = self.fuel;
        if let Some(output) = self.output {
            limits.output = output;
        }
        limits
    }

    fn resolved_processes(&self) -> usize {
        self.processes
            .or_else(|| {
                std::env::var("MPWASM_PROCESSES")
                    .ok()
                    .and_then(|v| v.parse().ok())
            })
            .unwrap_or_else(default_processes)
            .max(1)
    }

    /// Loads the task module (compiling it once, or taking it from the cache) and starts the
    /// workers.
    ///
    /// # Errors
    /// Any [`Error`] from loading the module or choosing the function, or
    /// [`Error::Spawn`] when no worker process can be started.
    pub fn build(self, source: impl Into<TaskSource>) -> Result<Pool, Error> {
        let limits = self.limits();
        let settings = EngineSettings::for_pool(&limits, self.fresh);
        // The workers start while the module loads; they wait for their setup.
        let transport = ProcessTransport::new(self.program()).prespawn(self.resolved_processes());
        let task = if self.no_cache {
            Task::load_uncached(source, settings)?
        } else {
            Task::load(source, settings)?
        };
        self.start(&task, transport)
    }

    /// Starts the workers for an already loaded task module (compiled with settings matching
    /// this builder's limits).
    ///
    /// # Errors
    /// As [`build`](Self::build).
    pub fn build_task(self, task: &Task) -> Result<Pool, Error> {
        let transport = ProcessTransport::new(self.program());
        self.start(task, transport)
    }

    /// The worker program: as configured, or [`ProcessTransport::default_program`].
    fn program(&self) -> PathBuf {
        self.worker_program
            .clone()
            .unwrap_or_else(ProcessTransport::default_program)
    }

    /// What every task calls in `task` with these settings: the program, or the chosen
    /// function and `init`.
    ///
    /// # Errors
    /// [`Error::NotAProgram`] for program arguments given to a module that is not a program,
    /// and the errors of [`Task::function`] and [`Task::init_function`].
    pub(crate) fn entry(&self, task: &Task) -> Result<(Entry, Callee), Error> {
        Ok(match task.program_export() {
            Some(run) if self.function.is_none() => {
                let mut spec = self.program.clone().unwrap_or_default();
                spec.program = task
                    .source()
                    .file_name()
                    .map_or_else(|| "program".into(), |n| n.to_string_lossy().into_owned());
                (
                    Entry::Program(spec),
                    Callee {
                        function: run.clone(),
                        arity: 1,
                        program: true,
                    },
                )
            }
            _ => {
                if self.program.is_some() {
                    return Err(Error::NotAProgram {
                        path: task.source().to_path_buf(),
                    });
                }
                let function = task.function(self.function.as_deref())?.clone();
                let init = task.init_function(self.init.as_deref())?.cloned();
                let entry = Entry::Function {
                    function: function.path.clone(),
                    init: init.map(|f| f.path),
                };
                let callee = Callee {
                    arity: function.params.len(),
                    function,
                    program: false,
                };
                (entry, callee)
            }
        })
    }

    /// Whether `task` can run with these settings, without starting anything: the checks
    /// [`build`](Self::build) makes of the module and the function (a broker's submitter makes
    /// them before sending a job to machines that may lack the granted directories). Returns
    /// whether tasks run the module as a program.
    ///
    /// # Errors
    /// As [`entry`](Self::entry).
    pub(crate) fn check(&self, task: &Task) -> Result<bool, Error> {
        Ok(self.entry(task)?.1.program)
    }

    /// The parts of these settings a worker's operator may restrict, mutable (the broker's
    /// worker caps them, [`crate::broker::WorkerCaps`]).
    pub(crate) fn caps_mut(&mut self) -> Restrictable<'_> {
        Restrictable {
            memory: &mut self.memory,
            timeout: &mut self.timeout,
            output: &mut self.output,
            grants: &mut self.grants,
        }
    }

    /// How often a task is retried when its worker dies, as set or by default.
    pub(crate) fn retries_or_default(&self) -> u32 {
        self.retries.unwrap_or(DEFAULT_RETRIES)
    }

    /// The engine settings a module must be compiled with for these settings.
    pub(crate) fn engine_settings(&self) -> EngineSettings {
        EngineSettings::for_pool(&self.limits(), self.fresh)
    }

    /// Whether [`build`](Self::build) uses the compile cache.
    pub(crate) fn uses_cache(&self) -> bool {
        !self.no_cache
    }

    fn start(self, task: &Task, transport: ProcessTransport) -> Result<Pool, Error> {
        let limits = self.limits();
        if task.settings() != EngineSettings::for_pool(&limits, self.fresh) {
            return Err(Error::Config(
                "the task was loaded with other engine settings than this pool needs (fuel \
                 metering, or memory initialisation for fresh instances); load it with \
                 `EngineSettings::for_pool(&builder.limits(), fresh)`"
                    .into(),
            ));
        }
        if self.chunksize == Some(0) {
            return Err(Error::Config("chunksize must be at least 1".into()));
        }
        if limits.memory == 0 {
            return Err(Error::Config("the memory limit must be above 0".into()));
        }
        if self.max_tasks_per_worker == Some(0) {
            return Err(Error::Config(
                "max tasks per worker must be at least 1".into(),
            ));
        }
        let mut grants = self.grants.clone();
        for dir in &mut grants.dirs {
            // Workers may start elsewhere: hand them absolute paths.
            dir.host = std::path::absolute(&dir.host).unwrap_or_else(|_| dir.host.clone());
            if !dir.host.is_dir() {
                return Err(Error::Config(format!(
                    "cannot grant the directory {}: it does not exist or is not a directory",
                    dir.host.display()
                )));
            }
        }
        let (entry, callee) = self.entry(task)?;
        let processes = self.resolved_processes();
        let setup = Setup {
            artifact: task.artifact().to_path_buf(),
            kind: task.kind(),
            entry,
            limits: limits.clone(),
            fresh: self.fresh,
            timed: self.timed,
            grants,
        };
        let transport: Box<dyn Transport> = Box::new(transport);
        let (events, handle) = dispatcher::start(
            DispatcherConfig {
                processes,
                setup,
                chunksize: self.chunksize,
                retries: self.retries_or_default(),
                max_tasks_per_worker: self.max_tasks_per_worker,
            },
            transport,
        )?;
        Ok(Pool::new(
            events,
            handle,
            task.clone(),
            callee,
            limits,
            processes,
            self.window.unwrap_or(16_384),
        ))
    }
}
