//! [`PoolBuilder`]: configures and starts a [`Pool`], rayon-style. Defaults come from the
//! machine: one worker per available core (or `$MPWASM_PROCESSES`), a memory limit of half the
//! RAM shared between the workers (at most 4 GiB each), no timeout. What the builder asks of
//! every sandbox is a [`JobSpec`]; the rest belongs to this machine.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::api::{Callee, Pool};
use super::dispatcher::{self, DispatcherConfig};
use super::plugins::{self, PluginDef, PluginOptions, PluginPool};
use super::transport::{ProcessTransport, Transport};
use crate::error::Error;
use crate::imports::{HostHandler, HostImports};
use crate::limits::{Limits, default_memory_limit, default_processes};
use crate::sandbox::engine::{EngineSettings, MemoryInit};
use crate::shared::{self, Backend, Remote, SharedLimits, SharedStore};
use crate::task::{Task, TaskSource};
use crate::vocab::{CommandSpec, Entry, Grants, JobSpec, ModuleSetup, Setup};
use crate::vocab::{DirGrant, HttpGrant};

/// Configures a [`Pool`]. Every setting has a default; see each method.
///
/// What it asks of every sandbox is its [`JobSpec`] ([`spec`](Self::spec)), which is what a
/// broker's job record carries; the settings that belong to one machine (processes, worker
/// program, cache, window) stay behind.
#[derive(Debug, Clone, Default)]
pub struct PoolBuilder {
    spec: JobSpec,
    processes: Option<usize>,
    no_cache: bool,
    window: Option<usize>,
    worker_program: Option<PathBuf>,
    host: HostImports,
    shared_seed: Option<serde_json::Value>,
    shared_limits: SharedLimits,
    shared_remote: Option<Remote>,
    /// Whether tasks' output also goes to `tracing`.
    trace_output: bool,
    /// The plugin's name in output events (default: the module's file stem).
    name: Option<String>,
    /// Told when a module is about to be compiled.
    compile_notice: Option<CompileNotice>,
    /// The plugins of a pool of plugins ([`build_plugins`](Self::build_plugins)).
    plugins: Vec<PluginDef>,
}

/// What [`PoolBuilder::on_compile`] calls: the module's path (or name) and its size in bytes.
#[derive(Clone)]
pub(crate) struct CompileNotice(pub(crate) Arc<crate::task::artifact::Notice>);

impl std::fmt::Debug for CompileNotice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CompileNotice(..)")
    }
}

impl Pool {
    /// Starts configuring a pool.
    pub fn builder() -> PoolBuilder {
        PoolBuilder::new()
    }
}

impl PoolBuilder {
    /// A builder with every setting at its default.
    pub fn new() -> PoolBuilder {
        PoolBuilder::default()
    }

    /// A builder asking `spec` of every sandbox, with this machine's defaults for the rest.
    pub fn from_spec(spec: JobSpec) -> PoolBuilder {
        PoolBuilder {
            spec,
            ..PoolBuilder::default()
        }
    }

    /// What the builder asks of every sandbox.
    pub fn spec(&self) -> &JobSpec {
        &self.spec
    }

    /// How many worker processes (default: `$MPWASM_PROCESSES`, else the available cores).
    pub fn processes(mut self, n: usize) -> Self {
        self.processes = Some(n);
        self
    }

    /// The most linear memory plus tables one sandbox may grow to, in bytes (default: half the
    /// RAM divided by the number of workers, at most 4 GiB).
    pub fn memory_limit(mut self, bytes: u64) -> Self {
        self.spec.memory = Some(bytes);
        self
    }

    /// Wall-clock limit per task (default: none).
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.spec.timeout = Some(limit);
        self
    }

    /// Instruction budget per task (default: unmetered).
    pub fn fuel(mut self, fuel: u64) -> Self {
        self.spec.fuel = Some(fuel);
        self
    }

    /// The most guest output kept per task, in bytes (default 1 MiB).
    pub fn output_limit(mut self, bytes: u64) -> Self {
        self.spec.output = Some(bytes);
        self
    }

    /// The export to call: `name` or `interface#name` (default: the only exported function,
    /// `init` aside).
    pub fn function(mut self, name: impl Into<String>) -> Self {
        self.spec.function = Some(name.into());
        self
    }

    /// The export run once in every new instance before its first task (default: an export
    /// named `init` taking no arguments, if there is one).
    pub fn init(mut self, name: impl Into<String>) -> Self {
        self.spec.init = Some(name.into());
        self
    }

    /// A new instance for every task (default: an instance is kept between tasks, and
    /// replaced after a failure).
    pub fn fresh(mut self, fresh: bool) -> Self {
        self.spec.fresh = fresh;
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
        self.spec.chunksize = Some(n);
        self
    }

    /// How often a task is retried when its worker process dies (default 1).
    pub fn retries(mut self, n: u32) -> Self {
        self.spec.retries = Some(n);
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
        self.spec.grants.dirs.push(grant);
        self
    }

    /// Grants every sandbox an environment variable (default: none).
    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.spec.grants.env.push((name.into(), value.into()));
        self
    }

    /// Lets every sandbox send HTTP requests (wasi:http) to this host (default: none; every
    /// request is refused).
    pub fn allow_http(mut self, grant: HttpGrant) -> Self {
        self.spec.grants.http.push(grant);
        self
    }

    /// Replaces a worker process after it ran `n` tasks, for tasks that leak (Python's
    /// `maxtasksperchild`; default: never).
    pub fn max_tasks_per_worker(mut self, n: u64) -> Self {
        self.spec.max_tasks_per_worker = Some(n);
        self
    }

    /// How a WASI program (a module exporting `wasi:cli/run` or `_start`) is run for each
    /// input: the argument template and whether the input is fed on stdin (see
    /// [`crate::vocab::command`]). Without it a program gets each input as its last argument.
    /// A program runs in a new instance for every task, and only when no
    /// [`function`](Self::function) is named. Building fails with [`Error::NotAProgram`] if
    /// this is set and the module is not a program.
    pub fn program_args(mut self, args: Vec<String>, stdin: bool) -> Self {
        self.spec.program = Some(CommandSpec {
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
        self.spec.timed = timed;
        self
    }

    /// Answers the module's import `import` with `handler`: an interface the component
    /// imports (`example:app/store`, every function in it), or a function its world imports
    /// directly (`log`). Each call from a guest reaches the handler on a thread serving its
    /// worker's call socket, never the scheduler's; the guest waits for the answer only until
    /// its call's timeout. A second handler for the same import replaces the first. Such a pool
    /// runs only locally (its handlers live in this process).
    ///
    /// ```no_run
    /// use mpwasm::{HostCallInfo, HostError, Pool};
    /// use serde_json::{Value, json};
    ///
    /// let pool = Pool::builder()
    ///     .host("example:app/store", |call: &HostCallInfo<'_>| -> Result<Value, HostError> {
    ///         match call.function() {
    ///             "get" => Ok(json!(format!("value of {}", call.arg::<String>(0)?))),
    ///             other => Err(HostError::new(format!("no function {other}"))),
    ///         }
    ///     })
    ///     .build("plugin.wasm")?;
    /// # Ok::<(), mpwasm::Error>(())
    /// ```
    pub fn host(mut self, import: impl Into<String>, handler: impl HostHandler) -> Self {
        self.host.insert(import, std::sync::Arc::new(handler));
        self
    }

    /// Also sends each line a task writes to stdout or stderr to `tracing` (default: off):
    /// one `INFO` event of target `mpwasm::plugin` per line, with the fields `plugin` (see
    /// [`name`](Self::name)), `export`, `task` (the input's index) and `worker` (the process
    /// id), and a `WARN` event saying how many bytes were dropped past the output limit. The
    /// events are sent as each outcome arrives from its worker (in arrival order, before the
    /// application takes it); the outcome keeps the bytes too.
    pub fn output_to_tracing(mut self, on: bool) -> Self {
        self.trace_output = on;
        self
    }

    /// The plugin's name in [`output_to_tracing`](Self::output_to_tracing)'s events
    /// (default: the module's file name without its extension).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// What every job's shared store starts with, when the module imports a shared interface
    /// (`mpwasm:shared/*`): a JSON object as [`SharedStore::from_json`] takes it (default:
    /// empty). A job given its own store ([`CallOptions::shared`](super::CallOptions::shared))
    /// starts with that one instead.
    pub fn shared_in(mut self, seed: serde_json::Value) -> Self {
        self.shared_seed = Some(seed);
        self
    }

    /// The most a job's shared store may hold, in bytes: keys, values, queue names and items
    /// together (default: 64 MiB). A task's write past it fails the task.
    pub fn shared_limit(mut self, bytes: u64) -> Self {
        self.shared_limits.bytes = bytes;
        self
    }

    /// The most inputs the tasks of one job may add with `work#submit` (default: 1 000 000).
    /// The task whose submit would pass it fails.
    pub fn max_submitted(mut self, inputs: u64) -> Self {
        self.shared_limits.submitted = inputs;
        self
    }

    /// Answers every job's shared calls with `backend` instead of a store in this process (a
    /// broker worker: the job's store is in Redis).
    pub(crate) fn shared_backend(mut self, backend: std::sync::Arc<dyn Backend>) -> Self {
        self.shared_remote = Some(Remote(backend));
        self
    }

    /// The imports this builder's handlers answer.
    pub fn host_imports(&self) -> &HostImports {
        &self.host
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
            .spec
            .memory
            .unwrap_or_else(|| default_memory_limit(processes));
        limits.timeout = self.spec.timeout;
        limits.fuel = self.spec.fuel;
        if let Some(output) = self.spec.output {
            limits.output = output;
        }
        limits
    }

    pub(crate) fn resolved_processes(&self) -> usize {
        self.processes
            .or_else(|| {
                std::env::var("MPWASM_PROCESSES")
                    .ok()
                    .and_then(|v| v.parse().ok())
            })
            .unwrap_or_else(default_processes)
            .max(1)
    }

    /// Adds a plugin named `name` to a pool of plugins, loaded from `source`, with `options`
    /// over this builder's settings; [`build_plugins`](Self::build_plugins) starts the pool.
    /// The builder's processes, host functions (for every plugin importing them), retries,
    /// chunk size, window, cache and worker program serve all its plugins.
    pub fn plugin(
        mut self,
        name: impl Into<String>,
        source: impl Into<TaskSource>,
        options: PluginOptions,
    ) -> Self {
        self.plugins.push(PluginDef {
            name: name.into(),
            source: source.into(),
            options,
        });
        self
    }

    /// Loads every plugin given with [`plugin`](Self::plugin) (compiling each once, or taking
    /// it from the cache) and starts one pool of worker processes for them all; see
    /// [`PluginPool`] for how they share it.
    ///
    /// # Errors
    /// Any [`Error`] of [`build`](Self::build) for a plugin ([`Error::Plugin`] names it), two
    /// plugins of one name, or none.
    pub fn build_plugins(mut self) -> Result<PluginPool, Error> {
        let defs = std::mem::take(&mut self.plugins);
        plugins::build(self, defs)
    }

    /// Loads the task module (compiling it once, or taking it from the cache) and starts the
    /// workers.
    ///
    /// # Errors
    /// Any [`Error`] from loading the module or choosing the function, or
    /// [`Error::Spawn`] when no worker process can be started; [`Error::Config`] for a
    /// builder given plugins (they start with [`build_plugins`](Self::build_plugins)).
    pub fn build(self, source: impl Into<TaskSource>) -> Result<Pool, Error> {
        self.no_plugins()?;
        // The workers start while the module loads; they wait for their setup.
        let transport = ProcessTransport::new(self.program()).prespawn(self.resolved_processes());
        let task = self.load(source)?;
        self.start(&task, transport)
    }

    /// Like [`build`](Self::build), but `check` looks at the loaded module before any worker
    /// gets it (the workers start meanwhile, and stop if it refuses).
    ///
    /// # Errors
    /// As [`build`](Self::build), or `check`'s error.
    pub fn build_checked<E: From<Error>>(
        self,
        source: impl Into<TaskSource>,
        check: impl FnOnce(&Task) -> Result<(), E>,
    ) -> Result<Pool, E> {
        self.no_plugins()?;
        let transport = ProcessTransport::new(self.program()).prespawn(self.resolved_processes());
        let task = self.load(source)?;
        check(&task)?;
        Ok(self.start(&task, transport)?)
    }

    /// Loads the task module as [`build`](Self::build) would (with the engine settings these
    /// settings need, through the compile cache unless [`cache`](Self::cache) is off), without
    /// starting anything; [`build_task`](Self::build_task) starts a pool for it.
    ///
    /// # Errors
    /// As [`Task::load`].
    pub fn load(&self, source: impl Into<TaskSource>) -> Result<Task, Error> {
        let settings = self.engine_settings();
        let answered: Vec<String> = self.host.names().map(str::to_string).collect();
        let notice = self.compile_notice.as_ref().map(|n| &*n.0);
        Task::load_noticed(source.into(), settings, !self.no_cache, &answered, notice)
    }

    /// Calls `notice` with the module's path and size just before a module is compiled: when
    /// it is not in the compile cache (the first run of a module on this machine), or the
    /// cache is off. A large module (CPython inside a Python task: ~17 MiB) takes seconds to
    /// compile; `mpwasm run` says so on stderr with this.
    pub fn on_compile(mut self, notice: impl Fn(&Path, u64) + Send + Sync + 'static) -> Self {
        self.compile_notice = Some(CompileNotice(Arc::new(notice)));
        self
    }

    /// Starts the workers for an already loaded task module (compiled with settings matching
    /// this builder's limits).
    ///
    /// # Errors
    /// As [`build`](Self::build).
    pub fn build_task(self, task: &Task) -> Result<Pool, Error> {
        self.no_plugins()?;
        let transport = ProcessTransport::new(self.program());
        self.start(task, transport)
    }

    /// A builder given plugins builds only a [`PluginPool`].
    ///
    /// # Errors
    /// [`Error::Config`] saying so.
    pub(crate) fn no_plugins(&self) -> Result<(), Error> {
        match self.plugins.first() {
            None => Ok(()),
            Some(first) => Err(Error::Config(format!(
                "this builder holds plugins (`{}`{}): start it with build_plugins, which makes a \
                 pool of plugins; a pool of plugins runs only on this machine",
                first.name,
                if self.plugins.len() > 1 { ", ..." } else { "" }
            ))),
        }
    }

    /// [`load`](Self::load), compiling for `memory_init` whatever the module's data (the
    /// plugins of a pool share their workers' engine).
    pub(crate) fn load_with_init(
        &self,
        source: TaskSource,
        memory_init: MemoryInit,
    ) -> Result<Task, Error> {
        let settings = self.engine_settings();
        let answered: Vec<String> = self.host.names().map(str::to_string).collect();
        let notice = self.compile_notice.as_ref().map(|n| &*n.0);
        Task::load_initialised(
            source,
            settings,
            !self.no_cache,
            &answered,
            notice,
            memory_init,
        )
    }

    /// The window of inputs a streaming job may have submitted and not consumed.
    pub(crate) fn window_or_default(&self) -> usize {
        self.window.unwrap_or(16_384)
    }

    /// The worker program: as configured, or [`ProcessTransport::default_program`].
    pub(crate) fn program(&self) -> PathBuf {
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
            Some(run) if self.spec.function.is_none() => {
                let mut command = self.spec.program.clone().unwrap_or_default();
                command.program = task
                    .source()
                    .file_name()
                    .map_or_else(|| "program".into(), |n| n.to_string_lossy().into_owned());
                (
                    Entry::Program(command),
                    Callee {
                        function: run.clone(),
                        arity: 1,
                        program: true,
                        exports: Vec::new(),
                        shared: None,
                        trace: None,
                    },
                )
            }
            _ => {
                if self.spec.program.is_some() {
                    return Err(Error::NotAProgram {
                        path: task.source().to_path_buf(),
                    });
                }
                let function = task.function(self.spec.function.as_deref())?.clone();
                let init = task.init_function(self.spec.init.as_deref())?.cloned();
                // The pool's function first, then every other export a task can call, so one
                // pool serves them all (`Pool::export`).
                let mut exports = vec![function.clone()];
                exports.extend(
                    task.functions()
                        .iter()
                        .filter(|f| {
                            f.unsupported.is_none()
                                && f.path != function.path
                                && init.as_ref().is_none_or(|i| i.path != f.path)
                        })
                        .cloned(),
                );
                let entry = Entry::Functions {
                    functions: exports.iter().map(|f| f.path.clone()).collect(),
                    init: init.map(|f| f.path),
                };
                let callee = Callee {
                    arity: function.params.len(),
                    function,
                    program: false,
                    exports,
                    shared: None,
                    trace: None,
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

    /// The engine settings a module must be compiled with for these settings.
    pub(crate) fn engine_settings(&self) -> EngineSettings {
        EngineSettings::for_limits(&self.limits())
    }

    /// What a worker needs to run `task` with these settings, and what the pool's calls
    /// need, after the checks [`build`](Self::build) makes; `name` names the module in
    /// messages.
    ///
    /// # Errors
    /// [`Error::Config`] for settings that cannot work (a zero chunk size, memory limit or
    /// share of tasks, a granted directory that is not one, host functions for a program, a
    /// task loaded with other engine settings), and the errors of [`entry`](Self::entry).
    pub(crate) fn plan(&self, task: &Task, name: String) -> Result<Plan, Error> {
        let limits = self.limits();
        let engine = EngineSettings::for_limits(&limits);
        if task.settings() != engine {
            return Err(Error::Config(
                "the task was loaded with other engine settings than this pool needs (fuel \
                 metering is compiled in only when a fuel budget is set); load it with \
                 `EngineSettings::for_limits(&builder.limits())`"
                    .into(),
            ));
        }
        if self.spec.chunksize == Some(0) {
            return Err(Error::Config("chunksize must be at least 1".into()));
        }
        if limits.memory == 0 {
            return Err(Error::Config("the memory limit must be above 0".into()));
        }
        if self.spec.max_tasks_per_worker == Some(0) {
            return Err(Error::Config(
                "max tasks per worker must be at least 1".into(),
            ));
        }
        let mut grants = self.spec.grants.clone();
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
        let (entry, mut callee) = self.entry(task)?;
        let shared_imports: Vec<String> = task
            .imports()
            .iter()
            .filter(|i| shared::is_shared(i))
            .cloned()
            .collect();
        let host_imports: Vec<String> = self
            .host
            .names()
            .filter(|name| task.imports().iter().any(|i| i == name) && !shared::is_shared(name))
            .map(str::to_string)
            .chain(shared_imports.iter().cloned())
            .collect();
        if !shared_imports.is_empty() {
            callee.shared = Some(self.pool_shared()?);
        }
        if self.trace_output {
            callee.trace = Some(self.name.clone().unwrap_or_else(|| name.clone()));
        }
        if !host_imports.is_empty() && matches!(entry, Entry::Program(_)) {
            return Err(Error::Config(format!(
                "{} is run as a program, and host functions ({}, including the shared \
                 interfaces) answer only function calls for now: name the function to call \
                 with `function`",
                task.source().display(),
                host_imports.join(", ")
            )));
        }
        let module = ModuleSetup {
            name,
            artifact: task.artifact().to_path_buf(),
            kind: task.kind(),
            entry,
            limits: limits.clone(),
            fresh: self.spec.fresh,
            timed: self.spec.timed,
            host_imports,
        };
        Ok(Plan {
            module,
            callee,
            grants,
            limits,
            engine,
        })
    }

    fn start(self, task: &Task, transport: ProcessTransport) -> Result<Pool, Error> {
        let name = task
            .source()
            .file_stem()
            .map_or_else(|| "plugin".into(), |s| s.to_string_lossy().into_owned());
        let plan = self.plan(task, name)?;
        let processes = self.resolved_processes();
        let window = self.window_or_default();
        let setup = Setup::one(plan.module, task.memory_init(), plan.grants, plan.engine);
        let transport: Box<dyn Transport> = Box::new(transport);
        let task_nanos = Arc::default();
        let (requests, handle) = dispatcher::start(
            DispatcherConfig {
                processes,
                setup,
                plugins: false,
                chunksize: self.spec.chunksize,
                retries: self.spec.retries_or_default(),
                max_tasks_per_worker: self.spec.max_tasks_per_worker,
                host: self.host,
                task_nanos: Arc::clone(&task_nanos),
            },
            transport,
        )?;
        Ok(Pool::new(
            requests,
            handle,
            task.clone(),
            plan.callee,
            plan.limits,
            (processes, window),
            task_nanos,
        ))
    }

    /// The shared state every job of the pool gets, the seed checked.
    pub(crate) fn pool_shared(&self) -> Result<PoolShared, Error> {
        let limits = self.shared_limits;
        if limits.bytes == 0 {
            return Err(Error::Config(
                "the shared store's limit must be above 0 bytes".into(),
            ));
        }
        let seed = match &self.shared_seed {
            None => None,
            Some(json) => {
                let store = SharedStore::from_json(json).map_err(|e| {
                    Error::Config(format!("the shared store's seed is not valid: {e}"))
                })?;
                if store.bytes() > limits.bytes {
                    return Err(Error::Config(format!(
                        "the shared store's seed holds {}, more than its limit of {} \
                         (--shared-limit)",
                        crate::limits::format_size(store.bytes()),
                        crate::limits::format_size(limits.bytes)
                    )));
                }
                Some(json.clone())
            }
        };
        Ok(PoolShared {
            seed,
            limits,
            remote: self.shared_remote.clone(),
        })
    }
}

/// What [`PoolBuilder::plan`] makes of a module: what workers run, what calls need.
pub(crate) struct Plan {
    /// What a worker loads and runs.
    pub(crate) module: ModuleSetup,
    /// What every call of it needs.
    pub(crate) callee: Callee,
    /// What its sandboxes are granted (directories made absolute).
    pub(crate) grants: Grants,
    /// Its tasks' limits.
    pub(crate) limits: Limits,
    /// What its compiled code was built with.
    pub(crate) engine: EngineSettings,
}

/// What a pool whose module imports a shared interface gives each job.
#[derive(Debug, Clone)]
pub(crate) struct PoolShared {
    /// What a job's store starts with (checked).
    pub(crate) seed: Option<serde_json::Value>,
    /// Each job's limits.
    pub(crate) limits: SharedLimits,
    /// Where the calls are answered instead of in this process.
    pub(crate) remote: Option<Remote>,
}

impl PoolShared {
    /// A fresh store for a job.
    pub(crate) fn fresh(&self) -> SharedStore {
        self.seed
            .as_ref()
            .and_then(|seed| SharedStore::from_json(seed).ok())
            .unwrap_or_default()
    }
}
