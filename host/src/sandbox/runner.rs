//! [`Sandbox`]: runs tasks of one task module, one at a time, each under the limits.
//!
//! By default an instance is kept between tasks (as Python's worker keeps its globals) and
//! replaced after any failure, since a trapped instance is dead; with `fresh` every task gets
//! a new instance. A new instance runs the `init` export, if any, before its first task.
//! A module run as a WASI program is handed to [`Program`], which makes a new instance per task.

use std::time::{Duration, Instant};

use compact_str::CompactString;
use wasmtime::component::types::Type;
use wasmtime::component::{self, ComponentExportIndex, Val};
use wasmtime::{Engine, Store};

use super::classify::classify;
use super::engine::{self, EngineSettings};
use super::exports::{self, ExportedFunction};
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
    Entry, FunctionPath, Grants, ModuleKind, Setup, WireFailure, WireOutcome, WireTask,
};

/// How long one epoch tick lasts for a given timeout: fine enough to stop a task within ~5%
/// of its limit, coarse enough to cost nothing.
pub fn epoch_tick(timeout: Duration) -> Duration {
    (timeout / 20).clamp(Duration::from_millis(1), Duration::from_millis(100))
}

/// An instantiable module with its function resolved.
enum Prepared {
    Component {
        pre: component::InstancePre<SandboxState>,
        func: ComponentExportIndex,
        init: Option<ComponentExportIndex>,
    },
    Core {
        pre: wasmtime::InstancePre<SandboxState>,
        func: String,
        init: Option<String>,
    },
    /// The whole module as a program, in a new instance per task.
    Program(Program),
}

enum Callable {
    Component(component::Func),
    Core(wasmtime::Func),
}

struct Live {
    store: Store<SandboxState>,
    func: Callable,
    /// The same function typed, when its signature has a fast path.
    typed: Option<IntFunc>,
}

/// Runs tasks of one module under the limits (see the module docs).
pub struct Sandbox {
    engine: Engine,
    prepared: Prepared,
    params: Vec<(String, Type)>,
    result_count: usize,
    /// Argument and result buffers, reused from task to task.
    args: Vec<Val>,
    results: Vec<Val>,
    limits: Limits,
    fresh: bool,
    /// Measure each task's run time (asked for, or a program).
    timed: bool,
    deadline_ticks: u64,
    output: OutputCapture,
    grants: Grants,
    live: Option<Live>,
}

impl Sandbox {
    /// Loads the artifact named in `setup` and resolves the function. Only a worker process
    /// calls it, with the setup its host sent.
    ///
    /// # Errors
    /// A message saying what could not be loaded or found.
    pub(crate) fn new(setup: &Setup) -> Result<Sandbox, String> {
        let engine = engine::build_for_worker(EngineSettings::for_pool(&setup.limits, setup.fresh))
            .map_err(|e| format!("cannot configure wasmtime: {e:#}"))?;
        // SAFETY: the setup arrives on this worker's stdin from the host that started it
        // (`ProcessTransport` pipes it; nothing else can write there), and the host names only
        // artifacts it produced itself with `task::artifact::prepare`, which `module::load`
        // requires. A broker's worker receives modules as `.wasm` bytes and compiles them
        // itself before a local pool names the artifact, so no artifact crosses machines.
        let loaded =
            unsafe { module::load(&engine, setup.kind, &setup.artifact) }.map_err(|e| {
                format!(
                    "cannot load the precompiled module {}: {e:#}",
                    setup.artifact.display()
                )
            })?;
        let (prepared, params, result_count) = match &setup.entry {
            Entry::Function { function, init } => {
                let (prepared, target) =
                    prepare_function(&engine, &loaded, setup.kind, function, init.as_ref())?;
                (prepared, target.params, target.results.len())
            }
            Entry::Program(spec) => {
                let program = Program::new(&engine, &loaded, spec.clone(), setup.limits.output)?;
                (Prepared::Program(program), Vec::new(), 0)
            }
        };
        let deadline_ticks = match setup.limits.timeout {
            Some(t) => {
                let tick = epoch_tick(t);
                (t.as_nanos().div_ceil(tick.as_nanos()) as u64).max(1)
            }
            None => u64::MAX / 4,
        };
        Ok(Sandbox {
            engine,
            prepared,
            params,
            result_count,
            args: Vec::new(),
            results: Vec::new(),
            limits: setup.limits.clone(),
            fresh: setup.fresh,
            timed: setup.timed || matches!(setup.entry, Entry::Program(_)),
            deadline_ticks,
            output: OutputCapture::new(setup.limits.output),
            grants: setup.grants.clone(),
            live: None,
        })
    }

    /// The engine, for the epoch ticker.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Runs one task and reports its outcome (never panics on guest behaviour).
    pub fn run(&mut self, task: &WireTask) -> WireOutcome {
        if self.timed {
            let started = Instant::now();
            let mut outcome = self.run_untimed(task);
            outcome.nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
            return outcome;
        }
        self.run_untimed(task)
    }

    fn run_untimed(&mut self, task: &WireTask) -> WireOutcome {
        if let Prepared::Program(program) = &mut self.prepared {
            let cx = RunContext {
                engine: &self.engine,
                limits: &self.limits,
                grants: &self.grants,
                deadline_ticks: self.deadline_ticks,
                stderr: &self.output,
            };
            return program.run(&cx, task);
        }
        let result = self.run_inner(&task.input);
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

    fn run_inner(&mut self, input: &str) -> Result<CompactString, WireFailure> {
        self.args.clear();
        match single_integer(input, &self.params) {
            Some(arg) => self.args.push(arg),
            None => {
                self.args = params_from_json(input, &self.params)
                    .map_err(|e| WireFailure::new(ErrorKind::BadInput, format!("{e}")))?;
            }
        }
        let live = match self.live.take() {
            Some(live) => self.live.insert(live),
            None => {
                let live = self.instantiate()?;
                self.live.insert(live)
            }
        };
        live.store.set_epoch_deadline(self.deadline_ticks);
        if let Some(fuel) = self.limits.fuel {
            live.store
                .set_fuel(fuel)
                .map_err(|e| failure(ErrorKind::Trap, &e))?;
        }
        let classify_error = |live: &Live, e: wasmtime::Error| {
            let refused = live.store.data().limiter.refused();
            classify(&e, refused, &self.limits, &self.output.contents())
        };
        if let (Some(typed), [arg]) = (&live.typed, self.args.as_slice())
            && let Some(result) = typed.call(&mut live.store, arg)
        {
            return result.map_err(|e| classify_error(live, e));
        }
        self.results.clear();
        self.results.resize(self.result_count, Val::Bool(false));
        live.func
            .call(&mut live.store, &self.args, &mut self.results)
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
        store.set_epoch_deadline(self.deadline_ticks);
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
        let (init, func) = match &self.prepared {
            Prepared::Component { pre, func, init } => {
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
                (init, get(func).ok_or_else(|| vanished("task"))?)
            }
            Prepared::Core { pre, func, init } => {
                let instance = pre.instantiate(&mut store).map_err(|e| {
                    fail(&store, e, "cannot instantiate the module", ErrorKind::Trap)
                })?;
                let mut get = |name: &str| instance.get_func(&mut store, name).map(Callable::Core);
                let init = match init {
                    Some(i) => Some(get(i).ok_or_else(|| vanished("init"))?),
                    None => None,
                };
                (init, get(func).ok_or_else(|| vanished("task"))?)
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
        let typed = match &func {
            Callable::Component(f) => IntFunc::new(&store, *f, &self.params),
            Callable::Core(_) => None,
        };
        Ok(Live { store, func, typed })
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

/// Resolves the function (and init) to call in a loaded module.
fn prepare_function(
    engine: &Engine,
    loaded: &Loaded,
    kind: ModuleKind,
    function: &FunctionPath,
    init: Option<&FunctionPath>,
) -> Result<(Prepared, ExportedFunction), String> {
    let functions = exports::list(engine, loaded);
    let find = |path: &FunctionPath| -> Result<ExportedFunction, String> {
        functions
            .iter()
            .find(|f| &f.path == path)
            .cloned()
            .ok_or_else(|| format!("the module exports no function `{path}`"))
    };
    let target = find(function)?;
    if let Some(init) = &init {
        find(init)?;
    }
    let prepared = match (loaded, kind) {
        (Loaded::Component(c), ModuleKind::Component) => {
            let linker = linker::component(engine).map_err(|e| format!("{e:#}"))?;
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
                func: index(function)?,
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
                func: function.name.clone(),
                init: init.map(|p| p.name.clone()),
            }
        }
        _ => return Err("the artifact is not of the announced kind".to_string()),
    };
    Ok((prepared, target))
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
