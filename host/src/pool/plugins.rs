//! A pool of plugins ([`PluginPool`]): several modules, each with its own limits and grants,
//! served by one set of worker processes, and replaced or removed while the pool runs.
//!
//! Plugins whose grants or engine settings differ cannot share a process (the OS confinement
//! and the engine are per process), so the pool puts them in groups, each with a dispatcher
//! and workers of its own; `processes` is shared out between the groups. Every worker of a
//! group loads all its plugins when it starts, before it confines itself, and keeps at most
//! [`KEPT_INSTANCES`] instances alive (see `worker::modules`). A replace or remove starts new
//! workers for the group at once; the old ones finish the calls they hold on the old code.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::Value;

use super::api::{AsyncResult, Export, ExportSource, Face, Imap, ImapUnordered, Terminator};
use super::builder::PoolBuilder;
use super::dispatcher::{self, DispatcherConfig};
use super::inbox::{Control, Requests};
use super::request::Request;
use super::transport::{ProcessTransport, Transport};
use crate::error::{Error, TaskError};
use crate::sandbox::engine::{EngineSettings, MemoryInit};
use crate::sync;
use crate::task::TaskSource;
use crate::vocab::{DirGrant, Grants, HttpGrant, Setup};

/// The most instances a worker process of a pool of plugins keeps alive at once, one per
/// plugin it ran last; their memories together are also kept within the largest memory limit
/// of the group's plugins. A plugin past them makes a new instance (and runs its `init`) when
/// it is next called there.
pub const KEPT_INSTANCES: u32 = 16;

/// One plugin's settings in a pool of plugins ([`PoolBuilder::plugin`]): each one not set is
/// the pool builder's; grants add to the builder's.
#[derive(Debug, Clone, Default)]
pub struct PluginOptions {
    memory: Option<u64>,
    timeout: Option<Duration>,
    fuel: Option<u64>,
    output: Option<u64>,
    function: Option<String>,
    init: Option<String>,
    fresh: Option<bool>,
    dirs: Vec<DirGrant>,
    env: Vec<(String, String)>,
    http: Vec<HttpGrant>,
}

impl PluginOptions {
    /// Nothing of its own: every setting is the pool builder's.
    pub fn new() -> PluginOptions {
        PluginOptions::default()
    }

    /// Its memory limit per sandbox, in bytes (see [`PoolBuilder::memory_limit`]).
    pub fn memory_limit(mut self, bytes: u64) -> Self {
        self.memory = Some(bytes);
        self
    }

    /// Its wall-clock limit per call (see [`PoolBuilder::timeout`]).
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.timeout = Some(limit);
        self
    }

    /// Its instruction budget per call (see [`PoolBuilder::fuel`]). Plugins that meter fuel
    /// and plugins that do not run in separate processes (it changes compiled code).
    pub fn fuel(mut self, fuel: u64) -> Self {
        self.fuel = Some(fuel);
        self
    }

    /// The most output kept per call, in bytes (see [`PoolBuilder::output_limit`]).
    pub fn output_limit(mut self, bytes: u64) -> Self {
        self.output = Some(bytes);
        self
    }

    /// Its own function (see [`PoolBuilder::function`]).
    pub fn function(mut self, name: impl Into<String>) -> Self {
        self.function = Some(name.into());
        self
    }

    /// The export run once in each of its new instances (see [`PoolBuilder::init`]).
    pub fn init(mut self, name: impl Into<String>) -> Self {
        self.init = Some(name.into());
        self
    }

    /// A new instance for every call (see [`PoolBuilder::fresh`]).
    pub fn fresh(mut self, fresh: bool) -> Self {
        self.fresh = Some(fresh);
        self
    }

    /// Grants its sandboxes a directory, besides the builder's. Plugins granted different
    /// things run in separate processes (the OS confinement is per process).
    pub fn dir(mut self, grant: DirGrant) -> Self {
        self.dirs.push(grant);
        self
    }

    /// Grants its sandboxes an environment variable, besides the builder's.
    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((name.into(), value.into()));
        self
    }

    /// Lets its sandboxes send HTTP requests to this host, besides the builder's.
    pub fn allow_http(mut self, grant: HttpGrant) -> Self {
        self.http.push(grant);
        self
    }

    /// `builder` with these options laid over it.
    pub(crate) fn over(&self, mut builder: PoolBuilder) -> PoolBuilder {
        if let Some(bytes) = self.memory {
            builder = builder.memory_limit(bytes);
        }
        if let Some(limit) = self.timeout {
            builder = builder.timeout(limit);
        }
        if let Some(fuel) = self.fuel {
            builder = builder.fuel(fuel);
        }
        if let Some(bytes) = self.output {
            builder = builder.output_limit(bytes);
        }
        if let Some(name) = &self.function {
            builder = builder.function(name.clone());
        }
        if let Some(name) = &self.init {
            builder = builder.init(name.clone());
        }
        if let Some(fresh) = self.fresh {
            builder = builder.fresh(fresh);
        }
        for grant in &self.dirs {
            builder = builder.dir(grant.clone());
        }
        for (name, value) in &self.env {
            builder = builder.env(name.clone(), value.clone());
        }
        for grant in &self.http {
            builder = builder.allow_http(grant.clone());
        }
        builder
    }
}

/// A plugin as [`PoolBuilder::plugin`] names it.
#[derive(Debug, Clone)]
pub(crate) struct PluginDef {
    pub(crate) name: String,
    pub(crate) source: TaskSource,
    pub(crate) options: PluginOptions,
}

/// Several plugins served by one pool of worker processes, each with its own limits and
/// grants; a plugin can be replaced by a new version, or removed, while calls run.
///
/// ```no_run
/// use mpwasm::{Pool, PluginOptions};
/// use serde_json::json;
/// use std::time::Duration;
///
/// let pool = Pool::builder()
///     .processes(4)
///     .plugin("calc", "square.wasm", PluginOptions::new().timeout(Duration::from_millis(50)))
///     .plugin("text", "upper.wasm", PluginOptions::new().memory_limit(64 << 20))
///     .build_plugins()?;
/// let calc = pool.plugin("calc")?;
/// assert_eq!(calc.apply(vec![json!(7)])?, json!(49));
/// let version = pool.replace("calc", "cube.wasm")?; // calls running finish on version 0
/// assert_eq!(version, 1);
/// assert_eq!(calc.apply(vec![json!(2)])?, json!(8)); // every later call runs version 1
/// pool.remove("text")?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// **Which version a call runs on.** A call runs on the version of its plugin that is current
/// when it is put in a batch for a worker; a call a worker holds when the plugin is replaced
/// finishes on the version it started on. [`replace`](Self::replace) returns once the switch
/// is made, so every call submitted after it returns runs on the new version (or a newer
/// one); a call submitted before but still waiting runs on the new one too. A call whose
/// worker died runs again on the version current then. [`TaskOutcome::plugin_version`] says
/// which version answered.
///
/// **What a worker keeps.** Every worker process of a group loads all the group's plugins
/// when it starts, and keeps at most [`KEPT_INSTANCES`] instances alive (one per plugin it
/// ran last, their memories within the group's largest memory limit); the scheduler sends a
/// worker the calls of plugins it holds warm, unless another plugin has waited longer than
/// [`WARM_PATIENCE`](super::dispatcher::WARM_PATIENCE). A replace or remove starts a new
/// process in each of the group's slots at once (the new code never enters a confined
/// process); the old ones end when they hold nothing.
///
/// [`TaskOutcome::plugin_version`]: crate::TaskOutcome::plugin_version
pub struct PluginPool {
    groups: Vec<Group>,
    plugins: Mutex<HashMap<String, Registered>>,
    processes: usize,
}

/// Plugins sharing worker processes: their grants and engine settings are the same.
struct Group {
    requests: Requests,
    dispatcher: Mutex<Option<JoinHandle<()>>>,
    grants: Grants,
    engine: EngineSettings,
}

/// A plugin of the pool as it is now.
struct Registered {
    group: usize,
    /// The builder its versions are loaded and checked with.
    builder: PoolBuilder,
    /// Its current version.
    face: Arc<Face>,
}

/// Memory initialisation of every plugin: its group's processes have one engine, so every
/// plugin is compiled alike; copy-on-write serves large and small modules, and a kept
/// instance does not make it again.
const PLUGIN_MEMORY_INIT: MemoryInit = MemoryInit::CopyOnWrite;

/// Starts a pool of the plugins `builder` names (see [`PoolBuilder::build_plugins`]).
pub(crate) fn build(builder: PoolBuilder, defs: Vec<PluginDef>) -> Result<PluginPool, Error> {
    if defs.is_empty() {
        return Err(Error::Config(
            "a pool of plugins needs at least one plugin (PoolBuilder::plugin)".into(),
        ));
    }
    for (i, def) in defs.iter().enumerate() {
        if def.name.is_empty() {
            return Err(Error::Config("a plugin's name must not be empty".into()));
        }
        if defs[..i].iter().any(|d| d.name == def.name) {
            return Err(Error::Config(format!(
                "two plugins are named `{}`: each needs a name of its own",
                def.name
            )));
        }
    }
    // Each plugin: loaded and checked as a pool of its own would be.
    let mut loaded = Vec::with_capacity(defs.len());
    for def in defs {
        // Its output events (`output_to_tracing`) carry its name.
        let own = def.options.over(builder.clone()).name(def.name.clone());
        let task = own
            .load_with_init(def.source.clone(), PLUGIN_MEMORY_INIT)
            .map_err(|e| named(&def.name, e))?;
        let plan = own
            .plan(&task, def.name.clone())
            .map_err(|e| named(&def.name, e))?;
        loaded.push((def, own, task, plan));
    }
    // Groups: plugins with the same grants and engine settings.
    let mut keys: Vec<(Grants, EngineSettings)> = Vec::new();
    let mut group_of = Vec::with_capacity(loaded.len());
    for (_, _, _, plan) in &loaded {
        let key = (plan.grants.clone(), plan.engine);
        let group = match keys.iter().position(|k| *k == key) {
            Some(g) => g,
            None => {
                keys.push(key);
                keys.len() - 1
            }
        };
        group_of.push(group);
    }
    let total = builder.resolved_processes();
    let shares = share(total, keys.len());
    let next_job = Arc::new(AtomicU64::new(0));
    let window = builder.window_or_default();
    let mut groups = Vec::with_capacity(keys.len());
    let mut plugins = HashMap::new();
    for (g, (grants, engine)) in keys.into_iter().enumerate() {
        let members: Vec<usize> = (0..loaded.len()).filter(|&i| group_of[i] == g).collect();
        let setup = Setup {
            modules: members
                .iter()
                .map(|&i| Some(loaded[i].3.module.clone()))
                .collect(),
            engine,
            memory_init: PLUGIN_MEMORY_INIT,
            grants: grants.clone(),
            kept_instances: KEPT_INSTANCES,
            host_socket: None,
        };
        let transport = ProcessTransport::new(builder.program()).prespawn(shares[g]);
        let started = dispatcher::start(
            DispatcherConfig {
                processes: shares[g],
                setup,
                plugins: true,
                chunksize: builder.spec().chunksize,
                retries: builder.spec().retries_or_default(),
                max_tasks_per_worker: builder.spec().max_tasks_per_worker,
                host: builder.host_imports().clone(),
                task_nanos: Arc::default(),
            },
            Box::new(transport) as Box<dyn Transport>,
        );
        let (requests, handle) = match started {
            Ok(started) => started,
            Err(e) => {
                stop(&groups);
                return Err(e);
            }
        };
        for (number, &i) in members.iter().enumerate() {
            let (def, own, task, plan) = &loaded[i];
            let face = Arc::new(Face::new(
                requests.clone(),
                Arc::clone(&next_job),
                window,
                task.clone(),
                plan.callee.clone(),
                plan.limits.clone(),
                Some((number as u32, 0)),
            ));
            let registered = Registered {
                group: g,
                builder: own.clone(),
                face,
            };
            plugins.insert(def.name.clone(), registered);
        }
        groups.push(Group {
            requests,
            dispatcher: Mutex::new(Some(handle)),
            grants,
            engine,
        });
    }
    Ok(PluginPool {
        groups,
        plugins: Mutex::new(plugins),
        processes: shares.iter().sum(),
    })
}

/// `total` processes shared out between `groups`, evenly, at least one each.
fn share(total: usize, groups: usize) -> Vec<usize> {
    let each = (total / groups.max(1)).max(1);
    let extra = total.saturating_sub(each * groups);
    (0..groups).map(|g| each + usize::from(g < extra)).collect()
}

/// `error`, saying which plugin it is about.
fn named(plugin: &str, error: Error) -> Error {
    Error::Plugin {
        plugin: plugin.to_string(),
        source: Box::new(error),
    }
}

/// Stops the groups started so far.
fn stop(groups: &[Group]) {
    for group in groups {
        let _ = group.requests.send(Request::Shutdown);
        if let Some(handle) = sync::lock(&group.dispatcher).take() {
            let _ = handle.join();
        }
    }
}

impl PluginPool {
    /// The plugin named `name`, to call: its current version (a call through it runs on the
    /// version current when it starts, so the handle stays good across replaces).
    ///
    /// # Errors
    /// [`Error::Config`] when the pool has no such plugin (or it was removed), naming those
    /// it has.
    pub fn plugin(&self, name: &str) -> Result<Plugin<'_>, Error> {
        let plugins = sync::lock(&self.plugins);
        match plugins.get(name) {
            Some(registered) => Ok(Plugin {
                name: name.to_string(),
                face: Arc::clone(&registered.face),
                _pool: PhantomData,
            }),
            None => Err(self.no_such(name, &plugins)),
        }
    }

    /// The names of its plugins, sorted.
    pub fn plugins(&self) -> Vec<String> {
        let mut names: Vec<String> = sync::lock(&self.plugins).keys().cloned().collect();
        names.sort();
        names
    }

    /// How many worker processes the pool keeps, all groups together.
    pub fn processes(&self) -> usize {
        self.processes
    }

    /// How many groups of worker processes it has: plugins whose grants or engine settings
    /// differ are in different groups.
    pub fn groups(&self) -> usize {
        self.groups.len()
    }

    /// Replaces plugin `name` by the module at `source`, with the same options; returns the
    /// new version's number (one more than the last). The module is loaded (compiled on the
    /// first run) on this thread, and checked as the first was; the switch itself is quick.
    /// Calls running finish on the old version, every call that starts later runs on the new
    /// one (see [`PluginPool`]). A call made through an export the new version lacks fails
    /// `bad-input`, saying so.
    ///
    /// # Errors
    /// As [`PoolBuilder::build`] for the new module (nothing changes then), or
    /// [`Error::Config`] when there is no such plugin or the pool was shut down.
    pub fn replace(&self, name: &str, source: impl Into<TaskSource>) -> Result<u32, Error> {
        let builder = {
            let plugins = sync::lock(&self.plugins);
            match plugins.get(name) {
                Some(registered) => registered.builder.clone(),
                None => return Err(self.no_such(name, &plugins)),
            }
        };
        let task = builder
            .load_with_init(source.into(), PLUGIN_MEMORY_INIT)
            .map_err(|e| named(name, e))?;
        let plan = builder
            .plan(&task, name.to_string())
            .map_err(|e| named(name, e))?;
        let mut plugins = sync::lock(&self.plugins);
        let Some(registered) = plugins.get_mut(name) else {
            return Err(self.no_such(name, &plugins));
        };
        let group = &self.groups[registered.group];
        if plan.grants != group.grants || plan.engine != group.engine {
            // The options are the plugin's, so only a directory that changed under its path
            // could get here.
            return Err(named(
                name,
                Error::Config(
                    "its grants or engine settings changed since the pool started".into(),
                ),
            ));
        }
        let Some((number, _)) = registered.face.target else {
            return Err(Error::Config(format!("plugin `{name}` has no number")));
        };
        let (done, answer) = crossbeam_channel::bounded(1);
        let control = Control::Replace {
            plugin: number,
            module: Box::new(plan.module),
            keep: Box::new(task.clone()),
            done,
        };
        let version = match group.requests.control(control) {
            true => answer.recv().ok(),
            false => None,
        }
        .ok_or_else(|| Error::Config("the pool of plugins was shut down".into()))?;
        registered.face = Arc::new(Face::new(
            registered.face.requests.clone(),
            Arc::clone(&registered.face.next_job),
            registered.face.window,
            task,
            plan.callee,
            plan.limits,
            Some((number, version)),
        ));
        Ok(version)
    }

    /// Removes plugin `name`: calls not yet started fail `plugin-removed` (and so does every
    /// later call through a handle of it), calls running finish; its code and instances go
    /// with the group's old processes.
    ///
    /// # Errors
    /// [`Error::Config`] when there is no such plugin, or the pool was shut down.
    pub fn remove(&self, name: &str) -> Result<(), Error> {
        let mut plugins = sync::lock(&self.plugins);
        let Some(registered) = plugins.get(name) else {
            return Err(self.no_such(name, &plugins));
        };
        let Some((number, _)) = registered.face.target else {
            return Err(Error::Config(format!("plugin `{name}` has no number")));
        };
        let (done, answer) = crossbeam_channel::bounded(1);
        let group = &self.groups[registered.group];
        let removed = group.requests.control(Control::Remove {
            plugin: number,
            done,
        }) && answer.recv().is_ok();
        if !removed {
            return Err(Error::Config("the pool of plugins was shut down".into()));
        }
        plugins.remove(name);
        Ok(())
    }

    /// Stops every worker now; calls not finished end as `cancelled`.
    pub fn terminate(&self) {
        for group in &self.groups {
            let _ = group.requests.send(Request::Shutdown);
        }
    }

    /// A handle that terminates this pool from another thread.
    pub fn terminator(&self) -> Terminator {
        Terminator::of_all(self.groups.iter().map(|g| g.requests.clone()).collect())
    }

    fn no_such(&self, name: &str, plugins: &HashMap<String, Registered>) -> Error {
        let mut names: Vec<&str> = plugins.keys().map(String::as_str).collect();
        names.sort_unstable();
        Error::Config(format!(
            "the pool has no plugin `{name}` (it has: {})",
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        ))
    }
}

impl Drop for PluginPool {
    fn drop(&mut self) {
        for group in &self.groups {
            let _ = group.requests.send(Request::Shutdown);
        }
        stop(&self.groups);
    }
}

/// One plugin of a [`PluginPool`], to call: the same calls as a [`Pool`](super::Pool) (`map`,
/// `imap`, `imap_unordered`, `apply`, `apply_async`, ...), through [`main`](Self::main) and
/// [`export`](Self::export). Each call runs on the plugin's version current when it starts.
#[derive(Clone)]
pub struct Plugin<'p> {
    name: String,
    face: Arc<Face>,
    _pool: PhantomData<&'p PluginPool>,
}

impl<'p> Plugin<'p> {
    /// Its name in the pool.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The version this handle was taken at (calls run on the current one).
    pub fn version(&self) -> u32 {
        self.face.target.map_or(0, |(_, version)| version)
    }

    /// Its own function as an [`Export`].
    pub fn main(&self) -> Export<'p> {
        self.face.main()
    }

    /// Another of its exports by name (`name` or `interface#name`), as [`Pool::export`].
    ///
    /// # Errors
    /// As [`Pool::export`], for the version this handle was taken at.
    ///
    /// [`Pool::export`]: super::Pool::export
    pub fn export(&self, name: &str) -> Result<Export<'p>, Error> {
        self.face.export(name)
    }

    /// Calls its function once and waits (as [`Pool::apply`](super::Pool::apply)).
    ///
    /// # Errors
    /// The call's [`TaskError`].
    pub fn apply(&self, args: Vec<Value>) -> Result<Value, TaskError> {
        self.main().apply(args)
    }

    /// Calls its function once without waiting (as [`Pool::apply_async`](super::Pool::apply_async)).
    pub fn apply_async(&self, args: Vec<Value>) -> AsyncResult {
        self.main().apply_async(args)
    }

    /// Its function over every input, results in input order (as [`Pool::map`](super::Pool::map)).
    pub fn map<I>(&self, inputs: I) -> Vec<Result<Value, TaskError>>
    where
        I: IntoIterator<Item = Value>,
    {
        self.main().map(inputs)
    }

    /// Lazily, in input order (as [`Pool::imap`](super::Pool::imap)).
    pub fn imap<I>(&self, inputs: I) -> Imap<'p, I::IntoIter>
    where
        I: IntoIterator<Item = Value>,
    {
        self.main().imap(inputs)
    }

    /// Lazily, as they complete (as [`Pool::imap_unordered`](super::Pool::imap_unordered)).
    pub fn imap_unordered<I>(&self, inputs: I) -> ImapUnordered<'p, I::IntoIter>
    where
        I: IntoIterator<Item = Value>,
    {
        self.main().imap_unordered(inputs)
    }
}

impl<'p> ExportSource<'p> for Plugin<'p> {
    fn export(&self, name: &str) -> Result<Export<'p>, Error> {
        Plugin::export(self, name)
    }
}

impl<'p> ExportSource<'p> for &Plugin<'p> {
    fn export(&self, name: &str) -> Result<Export<'p>, Error> {
        Plugin::export(self, name)
    }
}
