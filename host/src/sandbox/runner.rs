//! [`Sandbox`]: runs tasks of one task module, one at a time, each under the limits.
//!
//! By default an instance is kept between tasks (as Python's worker keeps its globals) and
//! replaced after any failure, since a trapped instance is dead; with `fresh` every task gets
//! a new instance. A new instance runs the `init` export, if any, before its first task.
//! A module run as a WASI program is handed to [`Program`], which makes a new instance per task.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use compact_str::CompactString;
use wasmtime::component::types::Type;
use wasmtime::component::{self, ComponentExportIndex, Val};
use wasmtime::{Engine, Store, Trap, UpdateDeadline};

use super::cancel::{CallCancelled, CancelKey, Cancels};
use super::classify::classify;
use super::exports::{self, ExportedFunction};
use super::host_calls::{self, HostLine};
use super::linker;
use super::module::{self, Loaded};
use super::output::OutputCapture;
use super::program::{Program, RunContext};
use super::state::SandboxState;
use super::typed::IntFunc;
use crate::error::ErrorKind;
use crate::limits::Limits;
use crate::values::{params_from_json, results_to_json, single_integer};
use crate::vocab::{
    Entry, FunctionPath, Grants, ModuleKind, ModuleSetup, WireFailure, WireOutcome, WireTask,
};

/// How long one epoch tick lasts for a given timeout: fine enough to stop a task within ~5%
/// of its limit, coarse enough to cost nothing.
pub fn epoch_tick(timeout: Duration) -> Duration {
    (timeout / 20).clamp(Duration::from_millis(1), Duration::from_millis(100))
}

/// The longest epoch tick of a worker: a call's own timeout and a cancel are noticed within it.
const MAX_TICK: Duration = Duration::from_millis(10);

/// The epoch tick of a worker whose pool has `timeout`.
pub fn worker_tick(timeout: Option<Duration>) -> Duration {
    timeout.map_or(MAX_TICK, epoch_tick).min(MAX_TICK)
}

/// An instantiable module with its functions resolved, in the setup's order.
enum Prepared {
    Component {
        pre: component::InstancePre<SandboxState>,
        funcs: Vec<ComponentExportIndex>,
        init: Option<ComponentExportIndex>,
    },
    Core {
        pre: wasmtime::InstancePre<SandboxState>,
        funcs: Vec<String>,
        init: Option<String>,
    },
    /// The whole module as a program, in a new instance per task.
    Program(Program),
}

enum Callable {
    Component(component::Func),
    Core(wasmtime::Func),
}

/// One function a task may call: its signature, and in a live instance the function itself.
struct Signature {
    params: Vec<(String, Type)>,
    result_count: usize,
}

struct Live {
    store: Store<SandboxState>,
    funcs: Vec<Callable>,
    /// The same functions typed, when a signature has a fast path.
    typed: Vec<Option<IntFunc>>,
}

/// Runs tasks of one module under the limits (see the module docs).
pub struct Sandbox {
    engine: Engine,
    prepared: Prepared,
    signatures: Vec<Signature>,
    /// Argument and result buffers, reused from task to task.
    args: Vec<Val>,
    results: Vec<Val>,
    limits: Limits,
    fresh: bool,
    /// Measure each task's run time (asked for, or a program).
    timed: bool,
    /// The worker's epoch tick (a program's deadline is counted in ticks).
    tick: Duration,
    output: OutputCapture,
    grants: Grants,
    live: Option<Live>,
    /// The worker's cancels, for the epoch callback and host calls.
    cancels: Arc<Cancels>,
}

impl Sandbox {
    /// Loads the artifact `setup` names into `engine` and resolves its functions. Only a worker
    /// process calls it, with the setup its host sent: `grants` and `tick` are the process's
    /// (its setup's), and the imports the module's setup says the application answers are
    /// linked to calls over `line`.
    ///
    /// # Errors
    /// A message saying what could not be loaded or found.
    pub(crate) fn new(
        engine: &Engine,
        setup: &ModuleSetup,
        grants: &Grants,
        tick: Duration,
        line: Option<Arc<HostLine>>,
        cancels: Arc<Cancels>,
    ) -> Result<Sandbox, String> {
        // SAFETY: the setup arrives on this worker's stdin from the host that started it
        // (`ProcessTransport` pipes it; nothing else can write there), and the host names only
        // artifacts it produced itself with `task::artifact::prepare`, which `module::load`
        // requires. A broker's worker receives modules as `.wasm` bytes and compiles them
        // itself before a local pool names the artifact, so no artifact crosses machines.
        let loaded = unsafe { module::load(engine, setup.kind, &setup.artifact) }.map_err(|e| {
            format!(
                "cannot load the precompiled module {}: {e:#}",
                setup.artifact.display()
            )
        })?;
        let (prepared, signatures) = match &setup.entry {
            Entry::Functions { functions, init } => {
                let host = line.map(|line| (setup.host_imports.as_slice(), line));
                let (prepared, targets) =
                    prepare_functions(engine, &loaded, setup.kind, functions, init.as_ref(), host)?;
                let signatures = targets
                    .into_iter()
                    .map(|t| Signature {
                        result_count: t.results.len(),
                        params: t.params,
                    })
                    .collect();
                (prepared, signatures)
            }
            Entry::Program(spec) => {
                let program = Program::new(engine, &loaded, spec.clone(), setup.limits.output)?;
                (Prepared::Program(program), Vec::new())
            }
        };
        Ok(Sandbox {
            engine: engine.clone(),
            prepared,
            signatures,
            args: Vec::new(),
            results: Vec::new(),
            limits: setup.limits.clone(),
            fresh: setup.fresh,
            timed: setup.timed || matches!(setup.entry, Entry::Program(_)),
            tick,
            output: OutputCapture::new(setup.limits.output),
            grants: grants.clone(),
            live: None,
            cancels,
        })
    }

    /// The limits its tasks run under, unless a call sets its own.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Whether it holds a live instance (kept from its last task).
    pub fn has_instance(&self) -> bool {
        self.live.is_some()
    }

    /// The bytes of memories and tables its live instance holds (0 without one).
    pub fn instance_bytes(&self) -> u64 {
        self.live
            .as_ref()
            .map_or(0, |live| live.store.data().limiter.used())
    }

    /// Drops its live instance, if any: its next task makes a new one (and runs `init`).
    pub fn drop_instance(&mut self) {
        self.live = None;
    }

    /// Runs one task, the one at `key` in the worker's batches, and reports its outcome
    /// (never panics on guest behaviour).
    pub fn run(&mut self, task: &WireTask, key: CancelKey) -> WireOutcome {
        if self.timed {
            let started = Instant::now();
            let mut outcome = self.run_untimed(task, key);
            outcome.nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
            return outcome;
        }
        self.run_untimed(task, key)
    }

    /// The limits `task` runs under: the pool's, with what its call sets for itself.
    fn limits_for(&self, task: &WireTask) -> Cow<'_, Limits> {
        match task.limits() {
            None => Cow::Borrowed(&self.limits),
            Some(own) => {
                let mut limits = self.limits.clone();
                limits.timeout = own.timeout.or(limits.timeout);
                limits.fuel = own.fuel.or(limits.fuel);
                Cow::Owned(limits)
            }
        }
    }

    fn run_untimed(&mut self, task: &WireTask, key: CancelKey) -> WireOutcome {
        if matches!(self.prepared, Prepared::Program(_)) {
            let limits = self.limits_for(task).into_owned();
            let deadline_ticks = match limits.timeout {
                Some(t) => (t.as_nanos().div_ceil(self.tick.as_nanos()) as u64).max(1),
                None => u64::MAX / 4,
            };
            let cx = RunContext {
                engine: &self.engine,
                limits: &limits,
                grants: &self.grants,
                deadline_ticks,
                stderr: &self.output,
            };
            let Prepared::Program(program) = &mut self.prepared else {
                unreachable!("matched above")
            };
            return program.run(&cx, task);
        }
        let result = self.run_inner(task, key);
        let instance_ran = !matches!(&result, Err(f) if f.kind == ErrorKind::BadInput);
        if self.fresh || (result.is_err() && instance_ran) {
            // A trapped instance is dead; a fresh run wants a new one anyway. A bad input never
            // reached the instance, so a kept one stays.
            self.live = None;
        }
        WireOutcome {
            index: task.index,
            result: result.map_err(Box::new),
            output: self.output.take(),
            nanos: 0,
        }
    }

    fn run_inner(&mut self, task: &WireTask, key: CancelKey) -> Result<CompactString, WireFailure> {
        let export = task.export() as usize;
        let Some(signature) = self.signatures.get(export) else {
            return Err(WireFailure::new(
                ErrorKind::BadInput,
                format!("the pool has no export number {export}"),
            ));
        };
        let input = task.input.as_str();
        self.args.clear();
        match single_integer(input, &signature.params) {
            Some(arg) => self.args.push(arg),
            None => {
                self.args = params_from_json(input, &signature.params)
                    .map_err(|e| WireFailure::new(ErrorKind::BadInput, format!("{e}")))?;
            }
        }
        let result_count = signature.result_count;
        let limits = self.limits_for(task).into_owned();
        let live = match self.live.take() {
            Some(live) => self.live.insert(live),
            None => {
                let live = self.instantiate()?;
                self.live.insert(live)
            }
        };
        // The epoch callback runs every tick: it stops the call when its time is up or it is
        // cancelled.
        live.store.set_epoch_deadline(1);
        let scope = &mut live.store.data_mut().call;
        scope.task = task.index;
        scope.key = key;
        scope.timeout = limits.timeout;
        // A timeout too long to add to the clock is no deadline at all.
        scope.deadline = limits.timeout.and_then(|t| Instant::now().checked_add(t));
        if let Some(fuel) = limits.fuel {
            live.store
                .set_fuel(fuel)
                .map_err(|e| failure(ErrorKind::Trap, &e))?;
        }
        let classify_error = |live: &Live, e: wasmtime::Error| {
            let refused = live.store.data().limiter.refused();
            classify(&e, refused, &limits, &self.output.contents())
        };
        if let (Some(Some(typed)), [arg]) = (live.typed.get(export), self.args.as_slice())
            && let Some(result) = typed.call(&mut live.store, arg)
        {
            return result.map_err(|e| classify_error(live, e));
        }
        self.results.clear();
        self.results.resize(result_count, Val::Bool(false));
        let Some(func) = live.funcs.get(export) else {
            return Err(WireFailure::new(
                ErrorKind::Trap,
                format!("export number {export} is missing from the instance"),
            ));
        };
        func.call(&mut live.store, &self.args, &mut self.results)
            .map(|()| results_to_json(&self.results))
            .map_err(|e| classify_error(live, e))
    }

    fn instantiate(&mut self) -> Result<Live, WireFailure> {
        let state =
            SandboxState::new(self.limits.memory, &self.output, &self.grants).map_err(|e| {
                failure(
                    ErrorKind::Trap,
                    &e.context("cannot open a granted directory"),
                )
            })?;
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limiter);
        // Each tick: stop the call if it is cancelled or its time is up, else wait a tick more.
        store.epoch_deadline_callback(|store| {
            let scope = &store.data().call;
            if scope.is_cancelled() {
                return Err(wasmtime::Error::new(CallCancelled));
            }
            match scope.deadline {
                Some(deadline) if Instant::now() >= deadline => {
                    Err(wasmtime::Error::new(Trap::Interrupt))
                }
                _ => Ok(UpdateDeadline::Continue(1)),
            }
        });
        // `init` runs under the pool's limits, and is never anyone's call to cancel.
        let scope = &mut store.data_mut().call;
        scope.cancels = Some(Arc::clone(&self.cancels));
        scope.key = CancelKey::default();
        scope.timeout = self.limits.timeout;
        scope.deadline = self
            .limits
            .timeout
            .and_then(|t| Instant::now().checked_add(t));
        store.set_epoch_deadline(1);
        if let Some(fuel) = self.limits.fuel {
            store
                .set_fuel(fuel)
                .map_err(|e| failure(ErrorKind::Trap, &e))?;
        }
        let fail = |store: &Store<SandboxState>, e: wasmtime::Error, what: &str, kind| {
            let output = self.output.contents();
            let mut f = classify(&e, store.data().limiter.refused(), &self.limits, &output);
            if f.kind != ErrorKind::MemoryLimit {
                f.kind = kind;
            }
            f.message = format!("{what}: {}", f.message);
            f
        };
        let vanished = |what: &str| {
            WireFailure::new(
                ErrorKind::Trap,
                format!("the {what} export is missing from the instance"),
            )
        };
        let (init, funcs) = match &self.prepared {
            Prepared::Component { pre, funcs, init } => {
                let instance = pre.instantiate(&mut store).map_err(|e| {
                    fail(&store, e, "cannot instantiate the module", ErrorKind::Trap)
                })?;
                let mut get = |index| {
                    instance
                        .get_func(&mut store, index)
                        .map(Callable::Component)
                };
                let init = match init {
                    Some(i) => Some(get(i).ok_or_else(|| vanished("init"))?),
                    None => None,
                };
                let funcs = funcs
                    .iter()
                    .map(|f| get(f).ok_or_else(|| vanished("task")))
                    .collect::<Result<Vec<_>, _>>()?;
                (init, funcs)
            }
            Prepared::Core { pre, funcs, init } => {
                let instance = pre.instantiate(&mut store).map_err(|e| {
                    fail(&store, e, "cannot instantiate the module", ErrorKind::Trap)
                })?;
                let mut get = |name: &str| instance.get_func(&mut store, name).map(Callable::Core);
                let init = match init {
                    Some(i) => Some(get(i).ok_or_else(|| vanished("init"))?),
                    None => None,
                };
                let funcs = funcs
                    .iter()
                    .map(|f| get(f).ok_or_else(|| vanished("task")))
                    .collect::<Result<Vec<_>, _>>()?;
                (init, funcs)
            }
            Prepared::Program(_) => {
                return Err(WireFailure::new(
                    ErrorKind::Trap,
                    "a program has no function to instantiate for",
                ));
            }
        };
        if let Some(init) = init {
            init.call(&mut store, &[], &mut [])
                .map_err(|e| fail(&store, e, "init failed", ErrorKind::InitFailed))?;
        }
        let typed = funcs
            .iter()
            .zip(&self.signatures)
            .map(|(func, signature)| match func {
                Callable::Component(f) => IntFunc::new(&store, *f, &signature.params),
                Callable::Core(_) => None,
            })
            .collect();
        Ok(Live {
            store,
            funcs,
            typed,
        })
    }
}

impl Callable {
    /// Calls the function with component values; core functions get their core equivalents.
    fn call(
        &self,
        store: &mut Store<SandboxState>,
        args: &[Val],
        results: &mut [Val],
    ) -> wasmtime::Result<()> {
        match self {
            Callable::Component(func) => func.call(&mut *store, args, results),
            Callable::Core(func) => {
                let args: Vec<wasmtime::Val> = args.iter().map(to_core).collect();
                let mut out = vec![wasmtime::Val::I32(0); results.len()];
                func.call(&mut *store, &args, &mut out)?;
                for (slot, value) in results.iter_mut().zip(&out) {
                    *slot = from_core(value);
                }
                Ok(())
            }
        }
    }
}

/// Resolves the functions (and init) to call in a loaded module.
fn prepare_functions(
    engine: &Engine,
    loaded: &Loaded,
    kind: ModuleKind,
    functions_wanted: &[FunctionPath],
    init: Option<&FunctionPath>,
    host: Option<(&[String], Arc<HostLine>)>,
) -> Result<(Prepared, Vec<ExportedFunction>), String> {
    let functions = exports::list(engine, loaded);
    let find = |path: &FunctionPath| -> Result<ExportedFunction, String> {
        functions
            .iter()
            .find(|f| &f.path == path)
            .cloned()
            .ok_or_else(|| format!("the module exports no function `{path}`"))
    };
    let targets = functions_wanted
        .iter()
        .map(&find)
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(init) = &init {
        find(init)?;
    }
    let prepared = match (loaded, kind) {
        (Loaded::Component(c), ModuleKind::Component) => {
            let mut linker = linker::component(engine).map_err(|e| format!("{e:#}"))?;
            if let Some((imports, line)) = &host {
                host_calls::link(&mut linker, engine, c, imports, line)?;
            }
            let pre = linker
                .instantiate_pre(c)
                .map_err(|e| format!("cannot link the module: {e:#}"))?;
            let index = |path: &FunctionPath| -> Result<ComponentExportIndex, String> {
                let parent = match &path.interface {
                    Some(i) => Some(
                        c.get_export_index(None, i.as_str())
                            .ok_or_else(|| format!("no exported interface `{i}`"))?,
                    ),
                    None => None,
                };
                c.get_export_index(parent.as_ref(), path.name.as_str())
                    .ok_or_else(|| format!("no exported function `{path}`"))
            };
            Prepared::Component {
                pre,
                funcs: functions_wanted
                    .iter()
                    .map(index)
                    .collect::<Result<Vec<_>, _>>()?,
                init: init.map(index).transpose()?,
            }
        }
        (Loaded::Core(m), ModuleKind::Core) => {
            let linker = linker::core(engine).map_err(|e| format!("{e:#}"))?;
            let pre = linker
                .instantiate_pre(m)
                .map_err(|e| format!("cannot link the module: {e:#}"))?;
            Prepared::Core {
                pre,
                funcs: functions_wanted.iter().map(|f| f.name.clone()).collect(),
                init: init.map(|p| p.name.clone()),
            }
        }
        _ => return Err("the artifact is not of the announced kind".to_string()),
    };
    Ok((prepared, targets))
}

fn failure(kind: ErrorKind, e: &wasmtime::Error) -> WireFailure {
    WireFailure::new(kind, format!("{e:#}"))
}

/// Component value → core value (core signatures only use these four types).
fn to_core(val: &Val) -> wasmtime::Val {
    match val {
        Val::S32(x) => wasmtime::Val::I32(*x),
        Val::S64(x) => wasmtime::Val::I64(*x),
        Val::Float32(x) => wasmtime::Val::F32(x.to_bits()),
        Val::Float64(x) => wasmtime::Val::F64(x.to_bits()),
        _ => wasmtime::Val::I32(0),
    }
}

/// Core value → component value.
fn from_core(val: &wasmtime::Val) -> Val {
    match val {
        wasmtime::Val::I32(x) => Val::S32(*x),
        wasmtime::Val::I64(x) => Val::S64(*x),
        wasmtime::Val::F32(x) => Val::Float32(f32::from_bits(*x)),
        wasmtime::Val::F64(x) => Val::Float64(f64::from_bits(*x)),
        other => Val::String(format!("{other:?}")),
    }
}
