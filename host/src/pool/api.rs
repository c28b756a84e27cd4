//! The public face of the pool, named after Python's `multiprocessing.Pool`: [`Pool::map`],
//! [`Pool::imap`], [`Pool::imap_unordered`], [`Pool::starmap`], [`Pool::apply`],
//! [`Pool::apply_async`], plus typed helpers through serde (a single-sandbox
//! [`Process`](super::Process) is in [`super::process`]).
//! Inputs follow one rule: a 1-parameter function takes the value, a k-parameter function an
//! array of k values.

use std::collections::HashMap;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::Duration;

use compact_str::CompactString;
use futures_core::Stream;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::builder::PoolShared;
use super::handlers::JobScope;
use super::inbox::Requests;
use super::job::{self, Outcomes, Submitter, TryPush};
use super::lane::{Lane, Slot};
use super::outcome::{Cancelled, TaskOutcome};
use super::request::{JobCall, JobId, JobShared, PluginTarget, Request};
use super::trace::OutputTrace;
use crate::error::{Error, ErrorKind, TaskError};
use crate::ids::TaskIndex;
use crate::limits::Limits;
use crate::shared::SharedStore;
use crate::sync;
use crate::task::{ExportedFunction, Task};
use crate::vocab::{CallLimits, TaskCall};

/// What every task of a pool calls.
#[derive(Clone)]
pub(crate) struct Callee {
    /// The function (for a program: its `wasi:cli/run` or `_start`).
    pub(crate) function: ExportedFunction,
    /// How many arguments a task takes (1 for a program: its input).
    pub(crate) arity: usize,
    /// Whether tasks run the module as a program.
    pub(crate) program: bool,
    /// Every export a task may call, in the setup's order (`function` first); empty for a
    /// program.
    pub(crate) exports: Vec<ExportedFunction>,
    /// What each job's shared state starts as, when the module imports a shared interface.
    pub(crate) shared: Option<PoolShared>,
    /// The plugin's name, when tasks' output also goes to `tracing`.
    pub(crate) trace: Option<String>,
}

/// A pool of worker processes, each running the task module in a sandbox.
///
/// ```no_run
/// use mpwasm::Pool;
/// use serde_json::json;
///
/// let pool = Pool::builder().processes(2).build("square.wasm")?;
/// let squares: Vec<u64> = pool
///     .map_typed(0u64..10)
///     .into_iter()
///     .collect::<Result<_, _>>()?;
/// assert_eq!(squares[3], 9);
/// assert_eq!(pool.apply(vec![json!(7)])?, json!(49));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Dropping the pool stops its workers at once; tasks still running end as `cancelled`.
pub struct Pool {
    face: Arc<Face>,
    dispatcher: Mutex<Option<JoinHandle<()>>>,
    processes: usize,
    /// What the dispatcher learned one task costs (nanoseconds; 0: nothing yet).
    task_nanos: Arc<AtomicU64>,
}

/// What calls need of the pool that serves them, for one module (of a pool of one module, or
/// one version of a plugin): where requests go, what to call and how.
pub(crate) struct Face {
    pub(crate) requests: Requests,
    /// Numbers the pool's jobs (shared by every face of a pool of plugins).
    pub(crate) next_job: Arc<AtomicU64>,
    pub(crate) window: usize,
    pub(crate) task: Task,
    pub(crate) callee: Callee,
    pub(crate) limits: Limits,
    /// In a pool of plugins: the plugin's number and this version.
    pub(crate) target: Option<(u32, u32)>,
    /// The lane of the module's own function's single calls without options of their own.
    main_lane: LaneCell,
    /// The same for its other exports, by number.
    lanes: Mutex<HashMap<u32, LaneCell>>,
}

/// The face an [`Export`] calls through: its pool's (borrowed for as long as the pool lives),
/// or a plugin version's (shared, as a plugin's handle outlives a replace).
#[derive(Clone)]
enum FaceRef<'p> {
    Pool(&'p Face),
    Plugin(Arc<Face>),
}

impl std::ops::Deref for FaceRef<'_> {
    type Target = Face;

    fn deref(&self) -> &Face {
        match self {
            FaceRef::Pool(face) => face,
            FaceRef::Plugin(face) => face,
        }
    }
}

/// A lane, opened when its first call comes (see [`Export::lane`]).
type LaneCell = Arc<OnceLock<Arc<Lane>>>;

impl Face {
    /// What calls need of a module (see the fields).
    pub(crate) fn new(
        requests: Requests,
        next_job: Arc<AtomicU64>,
        window: usize,
        task: Task,
        callee: Callee,
        limits: Limits,
        target: Option<(u32, u32)>,
    ) -> Face {
        Face {
            requests,
            next_job,
            window,
            task,
            callee,
            limits,
            target,
            main_lane: LaneCell::default(),
            lanes: Mutex::new(HashMap::new()),
        }
    }

    /// The lane cell export `number`'s calls share while they carry no options.
    fn lane_cell(&self, number: u32) -> LaneCell {
        if number == 0 {
            return Arc::clone(&self.main_lane);
        }
        Arc::clone(sync::lock(&self.lanes).entry(number).or_default())
    }

    /// The export numbered `number` (0: the module's own function).
    fn function(&self, number: u32) -> &ExportedFunction {
        match number {
            0 => &self.callee.function,
            n => self
                .callee
                .exports
                .get(n as usize)
                .unwrap_or(&self.callee.function),
        }
    }

    /// Its own function as an [`Export`] of a plugin version.
    pub(crate) fn main<'p>(self: &Arc<Face>) -> Export<'p> {
        Face::main_of(FaceRef::Plugin(Arc::clone(self)))
    }

    /// Another export of a plugin version, by name (see [`Pool::export`]).
    pub(crate) fn export<'p>(self: &Arc<Face>, name: &str) -> Result<Export<'p>, Error> {
        Face::export_of(FaceRef::Plugin(Arc::clone(self)), name)
    }

    fn main_of(face: FaceRef<'_>) -> Export<'_> {
        Export {
            arity: face.callee.arity,
            face,
            number: 0,
            call: None,
            store: None,
            lane: None,
        }
    }

    fn export_of<'p>(face: FaceRef<'p>, name: &str) -> Result<Export<'p>, Error> {
        let this = &*face;
        if this.callee.program {
            return Err(Error::Config(format!(
                "{} runs as a program: it has no exports to call by name",
                this.task.source().display()
            )));
        }
        let wanted = this.task.function(Some(name))?;
        let number = this
            .callee
            .exports
            .iter()
            .position(|f| f.path == wanted.path)
            .ok_or_else(|| {
                Error::Config(format!(
                    "export `{}` cannot be called (it is the module's `init`, or its \
                     signature is not supported)",
                    wanted.path
                ))
            })?;
        let arity = this.callee.exports[number].params.len();
        Ok(Export {
            face,
            number: number as u32,
            arity,
            call: None,
            store: None,
            lane: None,
        })
    }
}

impl Pool {
    pub(crate) fn new(
        requests: Requests,
        dispatcher: JoinHandle<()>,
        task: Task,
        callee: Callee,
        limits: Limits,
        (processes, window): (usize, usize),
        task_nanos: Arc<AtomicU64>,
    ) -> Pool {
        Pool {
            task_nanos,
            face: Arc::new(Face::new(
                requests,
                Arc::new(AtomicU64::new(0)),
                window,
                task,
                callee,
                limits,
                None,
            )),
            dispatcher: Mutex::new(Some(dispatcher)),
            processes,
        }
    }

    /// The task module.
    pub fn task(&self) -> &Task {
        &self.face.task
    }

    /// The function every task calls (for a program: its `wasi:cli/run` or `_start`).
    pub fn function(&self) -> &ExportedFunction {
        &self.face.callee.function
    }

    /// Whether every task runs the module as a WASI program (see
    /// [`PoolBuilder::program_args`](super::PoolBuilder::program_args)); a program's task takes one input, and its value is
    /// `{"exit":C,"stdout":..,"stderr":..}`.
    pub fn is_program(&self) -> bool {
        self.face.callee.program
    }

    /// The limits every task runs under.
    pub fn limits(&self) -> &Limits {
        &self.face.limits
    }

    /// How many worker processes the pool keeps.
    pub fn processes(&self) -> usize {
        self.processes
    }

    /// What one task costs in a worker, as the pool learned it to size its batches: a moving
    /// average of a batch's time in the worker per task (the pipes and the host excluded).
    /// `None` until the first batch came back. A caller that feeds the pool from elsewhere (a
    /// broker worker reading inputs) sizes its own window with it.
    pub fn task_cost(&self) -> Option<Duration> {
        match self.task_nanos.load(Ordering::Relaxed) {
            0 => None,
            nanos => Some(Duration::from_nanos(nanos)),
        }
    }

    /// Opens a raw job: push JSON-text inputs on the [`Submitter`] (from any thread) and take
    /// [`TaskOutcome`]s, with captured output and worker pid, from [`Outcomes`]. `ordered`
    /// chooses input order or completion order. This is what the CLI uses.
    pub fn job(&self, ordered: bool) -> (Submitter, Outcomes) {
        self.main().job(ordered)
    }

    /// Applies the function to every input and returns the results in input order, one per
    /// input (Python's `Pool.map`).
    pub fn map<I>(&self, inputs: I) -> Vec<Result<Value, TaskError>>
    where
        I: IntoIterator<Item = Value>,
    {
        self.main().map(inputs)
    }

    /// Like [`map`](Self::map) but lazy: results stream in input order while later inputs are
    /// still being read, and at most the pool's window of inputs is read ahead, so the input
    /// may be endless (Python's `Pool.imap`).
    pub fn imap<I>(&self, inputs: I) -> Imap<'_, I::IntoIter>
    where
        I: IntoIterator<Item = Value>,
    {
        self.main().imap(inputs)
    }

    /// Like [`imap`](Self::imap), but results come as they complete, each with its input's
    /// index (Python's `Pool.imap_unordered`).
    pub fn imap_unordered<I>(&self, inputs: I) -> ImapUnordered<'_, I::IntoIter>
    where
        I: IntoIterator<Item = Value>,
    {
        self.main().imap_unordered(inputs)
    }

    /// Applies the function to each list of arguments (Python's `Pool.starmap`).
    pub fn starmap<I, A>(&self, args: I) -> Vec<Result<Value, TaskError>>
    where
        I: IntoIterator<Item = A>,
        A: IntoIterator<Item = Value>,
    {
        self.main().starmap(args)
    }

    /// Calls the function once with these arguments and waits (Python's `Pool.apply`).
    ///
    /// # Errors
    /// The task's [`TaskError`].
    pub fn apply(&self, args: Vec<Value>) -> Result<Value, TaskError> {
        self.main().apply(args)
    }

    /// Calls the function once with these arguments without waiting (Python's
    /// `Pool.apply_async`).
    pub fn apply_async(&self, args: Vec<Value>) -> AsyncResult {
        self.main().apply_async(args)
    }

    /// [`apply_async`](Self::apply_async) with serde types on both sides (see
    /// [`Export::apply_typed_async`]).
    pub fn apply_typed_async<T: Serialize, R: DeserializeOwned>(&self, args: T) -> Typed<R> {
        self.main().apply_typed_async(args)
    }

    /// [`map`](Self::map) with serde types on both sides.
    pub fn map_typed<T, R, I>(&self, inputs: I) -> Vec<Result<R, TaskError>>
    where
        T: Serialize,
        R: DeserializeOwned,
        I: IntoIterator<Item = T>,
    {
        self.main().map_typed(inputs)
    }

    /// [`apply`](Self::apply) with serde types on both sides; `args` is serialized to the
    /// function's argument (a tuple or array for several parameters).
    ///
    /// # Errors
    /// The task's [`TaskError`], or `bad-input` when `args` cannot be serialized.
    pub fn apply_typed<T: Serialize, R: DeserializeOwned>(&self, args: T) -> Result<R, TaskError> {
        self.main().apply_typed(args)
    }

    /// The pool's own function as an [`Export`] (what [`map`](Self::map) and the rest call).
    pub fn main(&self) -> Export<'_> {
        Face::main_of(FaceRef::Pool(&self.face))
    }

    /// Another export of the module, served by the same workers: `name` or
    /// `interface#name`, as [`PoolBuilder::function`](super::PoolBuilder::function) takes.
    /// Every callable export is there; `init` still runs once per instance.
    ///
    /// ```no_run
    /// use mpwasm::{CallOptions, Pool};
    /// use serde_json::json;
    ///
    /// let pool = Pool::builder().build("plugin.wasm")?;
    /// let hook = pool.export("on-save")?;
    /// let result = hook.apply(vec![json!({"path": "a.txt"})]);
    /// let limited = pool
    ///     .export("transform")?
    ///     .with(CallOptions::new().timeout(std::time::Duration::from_millis(50)))?;
    /// let pending = limited.apply_async(vec![json!("text")]);
    /// pending.canceller().cancel(); // it never runs, or is stopped where it is
    /// # Ok::<(), mpwasm::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::NoSuchFunction`] (listing the exports), [`Error::AmbiguousFunction`], or
    /// [`Error::Config`] for a pool that runs a program (it has no exports to call).
    pub fn export(&self, name: &str) -> Result<Export<'_>, Error> {
        Face::export_of(FaceRef::Pool(&self.face), name)
    }

    /// Calls export `export` once with these arguments and waits: shorthand for
    /// `pool.export(export)?.apply(args)`.
    ///
    /// # Errors
    /// The task's [`TaskError`]; an export that cannot be called is a `bad-input` error that
    /// says why.
    pub fn call(&self, export: &str, args: Vec<Value>) -> Result<Value, TaskError> {
        self.export(export)
            .map_err(|e| TaskError::new(TaskIndex(0), ErrorKind::BadInput, e.to_string()))?
            .apply(args)
    }
}

/// What serves exports by name for as long as `'p`: a `&Pool`, or a
/// [`Plugin`](super::Plugin) of a pool of plugins. The clients `mpwasm::bindgen!` generates
/// take one.
pub trait ExportSource<'p> {
    /// The export `name` (`name` or `interface#name`), as [`Pool::export`].
    ///
    /// # Errors
    /// As [`Pool::export`].
    fn export(&self, name: &str) -> Result<Export<'p>, Error>;
}

impl<'p> ExportSource<'p> for &'p Pool {
    fn export(&self, name: &str) -> Result<Export<'p>, Error> {
        Pool::export(self, name)
    }
}

/// Options one call sets for itself; each one not set is the pool's.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CallOptions {
    timeout: Option<Duration>,
    fuel: Option<u64>,
    context: Option<Value>,
    shared: Option<SharedStore>,
}

impl CallOptions {
    /// No options: every limit is the pool's, and the context is `null`.
    pub fn new() -> CallOptions {
        CallOptions::default()
    }

    /// The call's wall-clock limit, instead of the pool's
    /// [`timeout`](super::PoolBuilder::timeout).
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.timeout = Some(limit);
        self
    }

    /// The call's instruction budget, instead of the pool's. The pool must meter fuel (built
    /// with [`fuel`](super::PoolBuilder::fuel)).
    pub fn fuel(mut self, fuel: u64) -> Self {
        self.fuel = Some(fuel);
        self
    }

    /// A value the call's host functions see ([`HostCallInfo::context`]) and the guest never
    /// does: per-request data such as a user id.
    ///
    /// [`HostCallInfo::context`]: crate::HostCallInfo::context
    pub fn context(mut self, context: Value) -> Self {
        self.context = Some(context);
        self
    }

    /// The shared store each job made with these options uses (for a module importing
    /// `mpwasm:shared/*`), instead of a fresh one seeded as the pool says
    /// ([`shared_in`](super::PoolBuilder::shared_in)); read it after the job. Two jobs given
    /// the same store share it.
    pub fn shared(mut self, store: SharedStore) -> Self {
        self.shared = Some(store);
        self
    }
}

/// One export of a pool's module, with the options its calls carry: `map`, `imap`,
/// `imap_unordered`, `starmap`, `apply`, `apply_async` and the typed helpers, as on the
/// [`Pool`] (which is its own function's `Export`). Get one with [`Pool::export`] or
/// [`Pool::main`]; cheap to clone.
#[derive(Clone)]
pub struct Export<'p> {
    face: FaceRef<'p>,
    number: u32,
    arity: usize,
    /// The options its calls carry (`None`: none, the pool's).
    call: Option<JobCall>,
    /// The shared store its jobs use (`None`: a fresh one each).
    store: Option<SharedStore>,
    /// The lane its single calls share when they carry options (`None`: the face's, for
    /// calls of this export without options).
    lane: Option<LaneCell>,
}

impl<'p> Export<'p> {
    /// The function its calls call.
    pub fn function(&self) -> &ExportedFunction {
        self.face.function(self.number)
    }

    /// The same export, every call made through it carrying `options`.
    ///
    /// # Errors
    /// [`Error::Config`] for a fuel budget in a pool that does not meter fuel, or a zero
    /// timeout.
    pub fn with(mut self, options: CallOptions) -> Result<Export<'p>, Error> {
        if options.fuel.is_some() && self.face.limits.fuel.is_none() {
            return Err(Error::Config(
                "a call's fuel budget needs a pool that meters fuel: build it with \
                 `PoolBuilder::fuel` (its default budget)"
                    .into(),
            ));
        }
        if options.timeout == Some(Duration::ZERO) {
            return Err(Error::Config("a call's timeout must be above 0".into()));
        }
        let call = self.call.get_or_insert_with(JobCall::default);
        call.limits = (options.timeout.is_some() || options.fuel.is_some()).then_some(CallLimits {
            timeout: options.timeout,
            fuel: options.fuel,
        });
        if options.shared.is_some() && self.face.callee.shared.is_none() {
            return Err(Error::Config(format!(
                "{} imports no shared interface (mpwasm:shared/*), so a shared store has \
                 nothing to serve",
                self.face.task.source().display()
            )));
        }
        call.context = Arc::new(options.context.unwrap_or(Value::Null));
        self.store = options.shared;
        // Calls with these options share a lane of their own.
        self.lane = Some(LaneCell::default());
        Ok(self)
    }

    /// Opens a raw job calling this export (see [`Pool::job`]).
    pub fn job(&self, ordered: bool) -> (Submitter, Outcomes) {
        self.open(ordered, false, true)
    }

    /// A job of one call that may be cancelled (`apply_async`).
    fn cancellable_job(&self) -> (Submitter, Outcomes) {
        self.open(true, true, false)
    }

    /// In a pool of plugins, the plugin its jobs call and how.
    fn target(&self) -> Option<Arc<PluginTarget>> {
        self.face.target.map(|(plugin, version)| {
            Arc::new(PluginTarget {
                plugin,
                version,
                function: (self.number != 0).then(|| self.function().path.clone()),
            })
        })
    }

    /// The lane its single calls share, opened on the first call: unless its calls need a job
    /// each (a fresh shared store each, output sent to `tracing` as each job takes it).
    fn lane(&self) -> Option<Arc<Lane>> {
        let face = &self.face;
        if face.callee.shared.is_some() || face.callee.trace.is_some() || self.store.is_some() {
            return None;
        }
        let own;
        let cell = match &self.lane {
            Some(cell) => cell,
            None if self.number == 0 => &face.main_lane,
            None => {
                own = face.lane_cell(self.number);
                &own
            }
        };
        let lane = cell.get_or_init(|| {
            let limits = self.call.as_ref().and_then(|c| c.limits);
            let call = (self.number != 0 || limits.is_some()).then(|| {
                Box::new(TaskCall {
                    export: self.number,
                    limits,
                })
            });
            let context = self
                .call
                .as_ref()
                .map_or_else(|| Arc::new(Value::Null), |c| Arc::clone(&c.context));
            let scope = Arc::new(JobScope {
                context,
                shared: None,
            });
            let job = face.next_job.fetch_add(1, Ordering::Relaxed);
            Arc::new(Lane::open(&face.requests, job, call, scope, self.target()))
        });
        Some(Arc::clone(lane))
    }

    /// Opens a job; `growable`: its tasks may add inputs (`work#submit`), which only a job
    /// whose caller takes every outcome as it comes can allow (not one call, not a typed map
    /// pairing each input with one result).
    fn open(&self, ordered: bool, cancellable: bool, growable: bool) -> (Submitter, Outcomes) {
        let face = &self.face;
        let id = face.next_job.fetch_add(1, Ordering::Relaxed);
        let mut call = self.call.clone().unwrap_or_default();
        call.export = self.number;
        call.cancellable = cancellable;
        call.trace = face.callee.trace.as_ref().map(|plugin| {
            Arc::new(OutputTrace {
                plugin: plugin.clone(),
                export: self.function().path.to_string(),
            })
        });
        call.target = self.target();
        call.shared = face.callee.shared.as_ref().map(|shared| JobShared {
            store: self.store.clone().unwrap_or_else(|| shared.fresh()),
            limits: shared.limits,
            // Inputs added on a broker worker go to the submitter, never to this pool.
            growable: growable && shared.remote.is_none(),
            remote: shared.remote.clone(),
        });
        job::open(&face.requests, id, face.window, ordered, call)
    }

    /// Applies the function to every input and returns the results in input order, one per
    /// input (Python's `Pool.map`).
    pub fn map<I>(&self, inputs: I) -> Vec<Result<Value, TaskError>>
    where
        I: IntoIterator<Item = Value>,
    {
        self.imap(inputs).collect()
    }

    /// Like [`map`](Self::map) but lazy: results stream in input order while later inputs are
    /// still being read, and at most the pool's window of inputs is read ahead, so the input
    /// may be endless (Python's `Pool.imap`).
    pub fn imap<I>(&self, inputs: I) -> Imap<'p, I::IntoIter>
    where
        I: IntoIterator<Item = Value>,
    {
        let (submitter, outcomes) = self.job(true);
        Imap {
            feed: Feed::new(inputs.into_iter(), submitter),
            outcomes,
            _pool: PhantomData,
        }
    }

    /// Like [`imap`](Self::imap), but results come as they complete, each with its input's
    /// index (Python's `Pool.imap_unordered`).
    pub fn imap_unordered<I>(&self, inputs: I) -> ImapUnordered<'p, I::IntoIter>
    where
        I: IntoIterator<Item = Value>,
    {
        let (submitter, outcomes) = self.job(false);
        ImapUnordered {
            feed: Feed::new(inputs.into_iter(), submitter),
            outcomes,
            _pool: PhantomData,
        }
    }

    /// Applies the function to each list of arguments (Python's `Pool.starmap`).
    pub fn starmap<I, A>(&self, args: I) -> Vec<Result<Value, TaskError>>
    where
        I: IntoIterator<Item = A>,
        A: IntoIterator<Item = Value>,
    {
        let arity = self.arity;
        self.map(
            args.into_iter()
                .map(|a| pack(arity, a.into_iter().collect())),
        )
    }

    /// Calls the function once with these arguments and waits (Python's `Pool.apply`).
    ///
    /// # Errors
    /// The task's [`TaskError`].
    pub fn apply(&self, args: Vec<Value>) -> Result<Value, TaskError> {
        self.apply_async(args).wait()
    }

    /// Calls the function once with these arguments without waiting (Python's
    /// `Pool.apply_async`).
    pub fn apply_async(&self, args: Vec<Value>) -> AsyncResult {
        self.submit_one(Ok(pack(self.arity, args)))
    }

    /// [`apply_async`](Self::apply_async) with serde types on both sides: `args` is
    /// serialized as for [`apply_typed`](Self::apply_typed), and the [`Typed`] future decodes
    /// the result.
    pub fn apply_typed_async<T: Serialize, R: DeserializeOwned>(&self, args: T) -> Typed<R> {
        let input = serde_json::to_value(args).map_err(|e| format!("cannot serialize: {e}"));
        self.submit_one(input).typed()
    }

    /// One cancellable call of `input`; an input that could not be made is its outcome at
    /// once.
    fn submit_one(&self, input: Result<Value, String>) -> AsyncResult {
        if let (Ok(value), Some(lane)) = (&input, self.lane()) {
            let (index, slot) = lane.call(CompactString::from(value.to_string()));
            return AsyncResult {
                job: lane.job(),
                index,
                source: Source::Lane { slot, lane },
                result: None,
                answered: false,
            };
        }
        let (mut submitter, outcomes) = self.cancellable_job();
        let (index, result) = match input {
            // A fresh job's window always has room for its first task.
            Ok(input) => (
                submitter.push(input.to_string()).unwrap_or(TaskIndex(0)),
                None,
            ),
            Err(message) => {
                let failed = TaskOutcome::failed(TaskIndex(0), ErrorKind::BadInput, &message);
                (TaskIndex(0), Some(failed))
            }
        };
        let answered = result.is_some();
        submitter.finish();
        AsyncResult {
            job: outcomes.job_id(),
            index,
            source: Source::Job(outcomes),
            result,
            answered,
        }
    }

    /// [`map`](Self::map) with serde types on both sides.
    pub fn map_typed<T, R, I>(&self, inputs: I) -> Vec<Result<R, TaskError>>
    where
        T: Serialize,
        R: DeserializeOwned,
        I: IntoIterator<Item = T>,
    {
        let converted: Vec<Result<Value, String>> = inputs
            .into_iter()
            .map(|input| serde_json::to_value(input).map_err(|e| e.to_string()))
            .collect();
        let good: Vec<Value> = converted
            .iter()
            .filter_map(|c| c.as_ref().ok().cloned())
            .collect();
        // One result per input: added inputs would have nothing to pair with.
        let (submitter, outcomes) = self.open(true, false, false);
        let fixed = Imap {
            feed: Feed::new(good.into_iter(), submitter),
            outcomes,
            _pool: PhantomData,
        };
        let mut results = fixed.collect::<Vec<_>>().into_iter();
        converted
            .into_iter()
            .enumerate()
            .map(|(i, c)| match c {
                Ok(_) => results
                    .next()
                    .map_or_else(|| Err(lost(TaskIndex(i as u64))), typed),
                Err(e) => Err(TaskError::new(
                    TaskIndex(i as u64),
                    ErrorKind::BadInput,
                    format!("cannot serialize the input: {e}"),
                )),
            })
            .collect()
    }

    /// [`apply`](Self::apply) with serde types on both sides; `args` is serialized to the
    /// function's argument (a tuple or array for several parameters).
    ///
    /// # Errors
    /// The task's [`TaskError`], or `bad-input` when `args` cannot be serialized.
    pub fn apply_typed<T: Serialize, R: DeserializeOwned>(&self, args: T) -> Result<R, TaskError> {
        let value = serde_json::to_value(args).map_err(|e| {
            TaskError::new(
                TaskIndex(0),
                ErrorKind::BadInput,
                format!("cannot serialize: {e}"),
            )
        })?;
        let (mut submitter, mut outcomes) = self.open(true, false, false);
        let _ = submitter.push(value.to_string());
        submitter.finish();
        let outcome = outcomes
            .next_blocking()
            .map_or_else(|| Err(lost(TaskIndex(0))), TaskOutcome::into_value);
        typed(outcome)
    }
}

impl Pool {
    /// Stops the workers now; tasks not finished end as `cancelled` (Python's `terminate`).
    pub fn terminate(&self) {
        let _ = self.face.requests.send(Request::Shutdown);
    }

    /// A handle that terminates this pool from another thread (a signal handler, a watchdog).
    pub fn terminator(&self) -> Terminator {
        Terminator::new(self.face.requests.clone())
    }
}

/// Terminates a [`Pool`] (or a [`PluginPool`](super::PluginPool)) from another thread; see
/// [`Pool::terminator`].
#[derive(Clone)]
pub struct Terminator(Vec<Requests>);

impl Terminator {
    /// A terminator that sends [`Request::Shutdown`] on `requests`.
    pub(crate) fn new(requests: Requests) -> Terminator {
        Terminator(vec![requests])
    }

    /// A terminator that sends [`Request::Shutdown`] to each of `servers`.
    pub(crate) fn of_all(servers: Vec<Requests>) -> Terminator {
        Terminator(servers)
    }

    /// Stops the pool's workers now, as [`Pool::terminate`].
    pub fn terminate(&self) {
        for requests in &self.0 {
            let _ = requests.send(Request::Shutdown);
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        let _ = self.face.requests.send(Request::Shutdown);
        let handle = sync::lock(&self.dispatcher).take();
        if let Some(handle) = handle {
            let _ = handle.join();
        }
    }
}

/// Arguments → the wire's input convention.
fn pack(arity: usize, mut args: Vec<Value>) -> Value {
    if arity == 1 && args.len() == 1 {
        args.remove(0)
    } else {
        Value::Array(args)
    }
}

fn typed<R: DeserializeOwned>(result: Result<Value, TaskError>) -> Result<R, TaskError> {
    result.and_then(|value| {
        serde_json::from_value(value.clone()).map_err(|e| {
            TaskError::new(
                TaskIndex(0),
                ErrorKind::BadInput,
                format!("the result {value} does not fit the requested Rust type: {e}"),
            )
        })
    })
}

fn lost(index: TaskIndex) -> TaskError {
    TaskError::new(index, ErrorKind::Cancelled, Cancelled::NoAnswer.message())
}

/// Feeds an input iterator into a job from the consuming thread, never past the window.
struct Feed<I> {
    inputs: I,
    submitter: Option<Submitter>,
    /// An input taken from `inputs` that did not fit in the window yet.
    held: Option<CompactString>,
}

impl<I: Iterator<Item = Value>> Feed<I> {
    fn new(inputs: I, submitter: Submitter) -> Self {
        Feed {
            inputs,
            submitter: Some(submitter),
            held: None,
        }
    }

    /// Submits inputs while the window has room; ends the job's input when they run out.
    fn fill(&mut self) {
        let Some(submitter) = self.submitter.as_mut() else {
            return;
        };
        loop {
            let input = match self.held.take() {
                Some(input) => input,
                None if submitter.has_room() => match self.inputs.next() {
                    Some(value) => CompactString::from(value.to_string()),
                    None => {
                        if let Some(s) = self.submitter.take() {
                            s.finish();
                        }
                        return;
                    }
                },
                None => break,
            };
            // This thread is also the consumer: it must never wait for credits here.
            match submitter.try_push(input) {
                TryPush::Pushed(_) => {}
                TryPush::Full(input) => {
                    self.held = Some(input);
                    break;
                }
                TryPush::Closed => break,
            }
        }
        submitter.flush();
    }

    /// [`next_outcome`](Self::next_outcome) for an async consumer: never waits.
    fn poll_outcome(
        &mut self,
        outcomes: &mut Outcomes,
        cx: &mut Context<'_>,
    ) -> Poll<Option<TaskOutcome>> {
        outcomes.return_credits();
        self.fill();
        outcomes.poll_next_outcome(cx)
    }

    fn next_outcome(&mut self, outcomes: &mut Outcomes) -> Option<TaskOutcome> {
        loop {
            outcomes.return_credits();
            self.fill();
            if let Some(outcome) = outcomes.try_next() {
                return Some(outcome);
            }
            if outcomes.is_done() {
                return None;
            }
            if !outcomes.wait_message() {
                return None;
            }
        }
    }
}

/// The iterator [`Pool::imap`] returns: results in input order.
pub struct Imap<'p, I> {
    feed: Feed<I>,
    outcomes: Outcomes,
    _pool: PhantomData<&'p ()>,
}

impl<I: Iterator<Item = Value>> Iterator for Imap<'_, I> {
    type Item = Result<Value, TaskError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.feed
            .next_outcome(&mut self.outcomes)
            .map(TaskOutcome::into_value)
    }
}

/// The iterator [`Pool::imap_unordered`] returns: `(input index, result)` as completed.
pub struct ImapUnordered<'p, I> {
    feed: Feed<I>,
    outcomes: Outcomes,
    _pool: PhantomData<&'p ()>,
}

impl<I: Iterator<Item = Value>> Iterator for ImapUnordered<'_, I> {
    type Item = (TaskIndex, Result<Value, TaskError>);

    fn next(&mut self) -> Option<Self::Item> {
        self.feed
            .next_outcome(&mut self.outcomes)
            .map(|o| (o.index(), o.into_value()))
    }
}

/// The results in input order, for an async consumer: the [`Iterator`] that does not block
/// (reading the next input from `I` is the only work done on the polling thread).
impl<I: Iterator<Item = Value> + Unpin> Stream for Imap<'_, I> {
    type Item = Result<Value, TaskError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        this.feed
            .poll_outcome(&mut this.outcomes, cx)
            .map(|o| o.map(TaskOutcome::into_value))
    }
}

/// The results as they complete, for an async consumer: the [`Iterator`] that does not
/// block (reading the next input from `I` is the only work done on the polling thread).
impl<I: Iterator<Item = Value> + Unpin> Stream for ImapUnordered<'_, I> {
    type Item = (TaskIndex, Result<Value, TaskError>);

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        this.feed
            .poll_outcome(&mut this.outcomes, cx)
            .map(|o| o.map(|o| (o.index(), o.into_value())))
    }
}

/// A pending result from [`Pool::apply_async`] (Python's `AsyncResult`).
///
/// It is also a [`Future`] of the same result, tied to no runtime: awaiting it registers the
/// task's waker, which the pool wakes when the outcome arrives, so no thread of the runtime
/// blocks (tokio, async-std, `futures::executor` and any other executor work alike).
///
/// Dropping it before its outcome was taken cancels the call (see [`Canceller::cancel`]), so
/// an abandoned future frees its worker (on a pool of this machine's workers; a job on a
/// broker cannot cancel one input, so there the call runs on and its result is dropped).
/// The outcome is taken once: awaiting or waiting again after that gives `cancelled`.
pub struct AsyncResult {
    /// The call's job and task.
    job: JobId,
    index: TaskIndex,
    source: Source,
    result: Option<TaskOutcome>,
    /// The outcome was taken (or is held in `result`): dropping no longer cancels.
    answered: bool,
}

/// Where a call's outcome comes from.
enum Source {
    /// A job of its own.
    Job(Outcomes),
    /// Its slot in a lane (kept open while the call waits).
    Lane { slot: Arc<Slot>, lane: Arc<Lane> },
}

impl Source {
    /// Where the call's requests go.
    fn requests(&self) -> &Requests {
        match self {
            Source::Job(outcomes) => outcomes.requests(),
            Source::Lane { lane, .. } => lane.requests(),
        }
    }

    fn try_next(&mut self) -> Option<TaskOutcome> {
        match self {
            Source::Job(outcomes) => outcomes.try_next(),
            Source::Lane { slot, .. } => slot.try_take(),
        }
    }

    fn next_blocking(&mut self) -> Option<TaskOutcome> {
        match self {
            Source::Job(outcomes) => outcomes.next_blocking(),
            Source::Lane { slot, .. } => slot.wait(),
        }
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<TaskOutcome>> {
        match self {
            Source::Job(outcomes) => outcomes.poll_next_outcome(cx),
            Source::Lane { slot, .. } => slot.poll_take(cx),
        }
    }
}

/// Cancels one submitted call, from any thread; see [`AsyncResult::canceller`].
#[derive(Clone)]
pub struct Canceller {
    requests: Requests,
    job: JobId,
    index: TaskIndex,
}

impl Canceller {
    /// Cancels the call: if it has not started it never runs; if it runs it is stopped at
    /// its next epoch check (within a few milliseconds), or its wait for a host function ends,
    /// and the worker and its other tasks live on; only a call blocked in a WASI call that
    /// cannot be interrupted costs its worker process, half a second later. Its outcome is
    /// then `cancelled`. A call that already finished keeps its result.
    pub fn cancel(&self) {
        let _ = self.requests.send(Request::Cancel {
            job: self.job,
            index: self.index,
        });
    }
}

impl AsyncResult {
    /// Cancels the call (see [`Canceller::cancel`]); [`wait`](Self::wait) then returns its
    /// outcome.
    pub fn cancel(&self) {
        let _ = self.source.requests().send(Request::Cancel {
            job: self.job,
            index: self.index,
        });
    }

    /// A handle that cancels the call from another thread.
    pub fn canceller(&self) -> Canceller {
        Canceller {
            requests: self.source.requests().clone(),
            job: self.job,
            index: self.index,
        }
    }

    /// Waits for the result.
    ///
    /// # Errors
    /// The task's [`TaskError`] (`cancelled` if the pool was dropped first).
    pub fn wait(mut self) -> Result<Value, TaskError> {
        self.wait_outcome().into_value()
    }

    /// Waits and returns the whole outcome (result, captured output, worker pid).
    pub fn wait_outcome(&mut self) -> TaskOutcome {
        self.answered = true;
        if let Some(outcome) = self.result.take() {
            return outcome;
        }
        self.source
            .next_blocking()
            .unwrap_or_else(|| TaskOutcome::cancelled(self.index, Cancelled::NoAnswer))
    }

    /// The result if it is ready, without waiting; `None` while the task runs.
    pub fn try_get(&mut self) -> Option<Result<Value, TaskError>> {
        self.ready();
        self.result.clone().map(TaskOutcome::into_value)
    }

    /// Whether the result is ready.
    pub fn ready(&mut self) -> bool {
        if self.result.is_none() && !self.answered {
            self.result = self.source.try_next();
            self.answered = self.result.is_some();
        }
        self.result.is_some()
    }

    /// Polls for the whole outcome (result, captured output, worker pid), as the [`Future`]
    /// does for the result: `Pending` with the task's waker registered until it arrives.
    pub fn poll_outcome(&mut self, cx: &mut Context<'_>) -> Poll<TaskOutcome> {
        if let Some(outcome) = self.result.take() {
            self.answered = true;
            return Poll::Ready(outcome);
        }
        match self.source.poll_next(cx) {
            Poll::Ready(outcome) => {
                self.answered = true;
                Poll::Ready(
                    outcome
                        .unwrap_or_else(|| TaskOutcome::cancelled(self.index, Cancelled::NoAnswer)),
                )
            }
            Poll::Pending => Poll::Pending,
        }
    }

    /// The same call's result through serde, as a future (or with [`Typed::wait`]).
    pub fn typed<R: DeserializeOwned>(self) -> Typed<R> {
        Typed::decoded_by(self, "", |_, result| typed(result))
    }
}

impl Future for AsyncResult {
    type Output = Result<Value, TaskError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.get_mut().poll_outcome(cx).map(TaskOutcome::into_value)
    }
}

impl Drop for AsyncResult {
    fn drop(&mut self) {
        if !self.answered {
            self.cancel();
        }
    }
}

/// A call whose result is decoded into `R`: with serde ([`AsyncResult::typed`],
/// [`Export::apply_typed_async`]) or by its WIT type ([`bindings::Call`](crate::bindings::Call),
/// what a generated `_async` method returns). A [`Future`] (dropping it cancels the call), or wait
/// with [`Typed::wait`].
pub struct Typed<R> {
    call: AsyncResult,
    /// The function called, named by a decoding error.
    function: &'static str,
    decode: Decoder<R>,
}

/// How a [`Typed`] call turns the function's JSON result into `R`.
type Decoder<R> = fn(&str, Result<Value, TaskError>) -> Result<R, TaskError>;

impl<R> Typed<R> {
    /// `call`, whose result `decode` turns into `R` (given `function` for its errors).
    pub(crate) fn decoded_by(
        call: AsyncResult,
        function: &'static str,
        decode: Decoder<R>,
    ) -> Self {
        Typed {
            call,
            function,
            decode,
        }
    }

    /// Waits for the result, blocking the thread.
    ///
    /// # Errors
    /// The task's [`TaskError`], or `bad-input` when its result does not fit `R`.
    pub fn wait(self) -> Result<R, TaskError> {
        (self.decode)(self.function, self.call.wait())
    }

    /// Cancels the call (see [`Canceller::cancel`]).
    pub fn cancel(&self) {
        self.call.cancel();
    }

    /// A handle that cancels the call from another thread.
    pub fn canceller(&self) -> Canceller {
        self.call.canceller()
    }
}

impl<R> Future for Typed<R> {
    type Output = Result<R, TaskError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let (function, decode) = (this.function, this.decode);
        Pin::new(&mut this.call)
            .poll(cx)
            .map(|result| decode(function, result))
    }
}
