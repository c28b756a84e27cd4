//! [`Task`]: a task module read, checked and compiled on the host, ready to hand to workers.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use wasmtime::Engine;

use super::artifact::{self, Artifact};
use super::choose;
use super::function_cache::FunctionCache;
use super::memory_init;
use crate::error::Error;
use crate::sandbox::engine::{self, EngineSettings, MemoryInit};
use crate::sandbox::exports::{self, ExportedFunction};
use crate::sandbox::host_calls;
use crate::sandbox::linker;
use crate::sandbox::module::{self, Loaded};
use crate::vocab::ModuleKind;

/// Where a task module comes from.
#[derive(Debug, Clone)]
pub enum TaskSource {
    /// A `.wasm` file.
    Path(PathBuf),
    /// Module bytes already in memory, with a name for messages.
    Bytes {
        /// Shown in messages where a path would be.
        name: String,
        /// The `.wasm` bytes.
        bytes: Vec<u8>,
    },
}

impl From<&Path> for TaskSource {
    fn from(path: &Path) -> TaskSource {
        TaskSource::Path(path.to_path_buf())
    }
}

impl From<PathBuf> for TaskSource {
    fn from(path: PathBuf) -> TaskSource {
        TaskSource::Path(path)
    }
}

impl From<&str> for TaskSource {
    fn from(path: &str) -> TaskSource {
        TaskSource::Path(PathBuf::from(path))
    }
}

/// A task module, compiled once and checked: it is WebAssembly, wasmtime accepts it, and it
/// imports nothing beyond WASI. Cheap to clone; workers load its artifact.
#[derive(Clone)]
pub struct Task {
    inner: Arc<TaskInner>,
}

struct TaskInner {
    source: PathBuf,
    kind: ModuleKind,
    settings: EngineSettings,
    memory_init: MemoryInit,
    artifact: Artifact,
    functions: Vec<ExportedFunction>,
    imports: Vec<String>,
}

impl std::fmt::Debug for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Task")
            .field("source", &self.inner.source)
            .field("kind", &self.inner.kind)
            .finish_non_exhaustive()
    }
}

/// The kind of module the bytes hold, from the 8-byte header.
fn sniff(path: &Path, bytes: &[u8]) -> Result<ModuleKind, Error> {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err(Error::NotWasm {
            path: path.to_path_buf(),
        });
    }
    // Core modules have version 1 (layer 0); components carry layer 1 in bytes 6..8.
    Ok(if bytes[6..8] == [1, 0] {
        ModuleKind::Component
    } else {
        ModuleKind::Core
    })
}

impl Task {
    /// Reads, checks and compiles (or finds in the cache) a task module for the given engine
    /// settings.
    ///
    /// # Errors
    /// [`Error::Read`], [`Error::NotWasm`], [`Error::Compile`], [`Error::UnsupportedImport`],
    /// [`Error::Artifact`].
    pub fn load(source: impl Into<TaskSource>, settings: EngineSettings) -> Result<Task, Error> {
        Task::load_with(source.into(), settings, true, Answered::These(&[]))
    }

    /// Like [`load`](Self::load) (through the compile cache when `cache`), but the imports
    /// named in `answered` (interfaces, or functions the world imports directly) are answered
    /// by the application, so the module may import them too. Each must hold only functions.
    ///
    /// # Errors
    /// As [`load`](Self::load); [`Error::UnsupportedImport`] names every import that is
    /// neither WASI nor answered, and an answered interface that holds a resource.
    pub fn load_answering(
        source: impl Into<TaskSource>,
        settings: EngineSettings,
        cache: bool,
        answered: &[String],
    ) -> Result<Task, Error> {
        Task::load_with(source.into(), settings, cache, Answered::These(answered))
    }

    /// Like [`load`](Self::load), but compiles afresh into a temporary artifact, never reading
    /// or filling the compile cache.
    ///
    /// # Errors
    /// As [`load`](Self::load).
    pub fn load_uncached(
        source: impl Into<TaskSource>,
        settings: EngineSettings,
    ) -> Result<Task, Error> {
        Task::load_with(source.into(), settings, false, Answered::These(&[]))
    }

    /// Loads a module as a pool whose application answers every import that is not WASI
    /// would: to look at what a module exports and imports (`mpwasm inspect`), not to run it.
    ///
    /// # Errors
    /// As [`load`](Self::load), but imports beyond WASI are refused only when no handler could
    /// answer them (resources in an interface).
    pub fn load_for_inspection(
        source: impl Into<TaskSource>,
        settings: EngineSettings,
    ) -> Result<Task, Error> {
        Task::load_with(source.into(), settings, true, Answered::AllButWasi)
    }

    /// [`load_answering`](Self::load_answering), calling `notice` (path, bytes) before it
    /// compiles ([`crate::PoolBuilder::on_compile`]).
    pub(crate) fn load_noticed(
        source: TaskSource,
        settings: EngineSettings,
        cache: bool,
        answered: &[String],
        notice: Option<&artifact::Notice>,
    ) -> Result<Task, Error> {
        Task::load_inner(
            source,
            settings,
            cache,
            Answered::These(answered),
            notice,
            None,
        )
    }

    /// [`load_noticed`](Self::load_noticed), with `memory_init` whatever the module's data:
    /// the plugins of a pool share their workers' one engine, so they are compiled alike.
    pub(crate) fn load_initialised(
        source: TaskSource,
        settings: EngineSettings,
        cache: bool,
        answered: &[String],
        notice: Option<&artifact::Notice>,
        memory_init: MemoryInit,
    ) -> Result<Task, Error> {
        Task::load_inner(
            source,
            settings,
            cache,
            Answered::These(answered),
            notice,
            Some(memory_init),
        )
    }

    fn load_with(
        source: TaskSource,
        settings: EngineSettings,
        cache: bool,
        answered: Answered<'_>,
    ) -> Result<Task, Error> {
        Task::load_inner(source, settings, cache, answered, None, None)
    }

    fn load_inner(
        source: TaskSource,
        settings: EngineSettings,
        cache: bool,
        answered: Answered<'_>,
        notice: Option<&artifact::Notice>,
        forced: Option<MemoryInit>,
    ) -> Result<Task, Error> {
        let (path, bytes) = match source {
            TaskSource::Path(path) => {
                let bytes = std::fs::read(&path).map_err(|cause| Error::Read {
                    path: path.clone(),
                    cause,
                })?;
                (path, bytes)
            }
            TaskSource::Bytes { name, bytes } => (PathBuf::from(name), bytes),
        };
        let kind = sniff(&path, &bytes)?;
        let memory_init = forced.unwrap_or_else(|| memory_init::choose(&bytes));
        // Through the compile cache, functions compiled for other modules are reused too.
        let functions = artifact::cache_dir().filter(|_| cache).map(|dir| {
            Arc::new(FunctionCache::in_cache_dir(&dir)) as Arc<dyn wasmtime::CacheStore>
        });
        let engine = match functions {
            Some(functions) => engine::build_caching(settings, memory_init, functions),
            None => engine::build(settings, memory_init),
        }
        .map_err(|e| Error::Compile {
            path: path.clone(),
            message: format!("cannot configure wasmtime: {e:#}"),
        })?;
        let (artifact, cached) = artifact::prepare(&engine, &path, &bytes, kind, cache, notice)?;
        // SAFETY: `artifact::prepare` returns a file this program wrote with
        // `Engine::precompile_*`: just now, or earlier into the user's private cache directory
        // under a name derived from the SHA-256 of the module and the engine's compatibility
        // hash. Anyone able to replace files there can already run code as this user.
        let loaded = match unsafe { module::load(&engine, kind, artifact.path()) } {
            Ok(loaded) => loaded,
            Err(_) if cached => {
                // A stale or damaged cache entry: compile afresh.
                artifact::evict(&artifact);
                drop(artifact);
                return Task::load_inner(
                    TaskSource::Bytes {
                        name: path.display().to_string(),
                        bytes,
                    },
                    settings,
                    cache,
                    answered,
                    notice,
                    forced,
                );
            }
            Err(e) => {
                return Err(Error::Compile {
                    path,
                    message: format!("{e:#}"),
                });
            }
        };
        check_imports(&engine, &path, &loaded, answered)?;
        let functions = exports::list(&engine, &loaded);
        let imports = match &loaded {
            Loaded::Component(c) => c
                .component_type()
                .imports(&engine)
                .map(|(name, _)| name.to_string())
                .collect(),
            Loaded::Core(m) => m
                .imports()
                .map(|i| format!("{}#{}", i.module(), i.name()))
                .collect(),
        };
        Ok(Task {
            inner: Arc::new(TaskInner {
                source: path,
                kind,
                settings,
                memory_init,
                artifact,
                functions,
                imports,
            }),
        })
    }

    /// The file it came from (or the name given with its bytes).
    pub fn source(&self) -> &Path {
        &self.inner.source
    }

    /// Component or core module.
    pub fn kind(&self) -> ModuleKind {
        self.inner.kind
    }

    /// The engine settings it was compiled for.
    pub fn settings(&self) -> EngineSettings {
        self.inner.settings
    }

    /// How its instances' memory is initialised, chosen from the data it holds; workers
    /// build their engines with it.
    pub fn memory_init(&self) -> MemoryInit {
        self.inner.memory_init
    }

    /// The precompiled artifact workers load.
    pub fn artifact(&self) -> &Path {
        self.inner.artifact.path()
    }

    /// What the module imports: interface names for a component (`wasi:filesystem/types@0.2.6`),
    /// `module#name` for a core module (`wasi_snapshot_preview1#fd_write`).
    pub fn imports(&self) -> &[String] {
        &self.inner.imports
    }

    /// Every exported function with its signature.
    pub fn functions(&self) -> &[ExportedFunction] {
        &self.inner.functions
    }

    /// The export that makes the module a WASI program, if it is one: a component's
    /// `wasi:cli/run` (what `fn main` crates built for wasm32-wasip2 export), or a core
    /// module's `_start`.
    pub fn program_export(&self) -> Option<&ExportedFunction> {
        self.inner
            .functions
            .iter()
            .find(|f| match &f.path.interface {
                Some(interface) => interface.starts_with("wasi:cli/run@") && f.path.name == "run",
                None => self.inner.kind == ModuleKind::Core && f.path.name == "_start",
            })
    }

    /// The function to call: the named one, or the only one (`init` aside).
    ///
    /// # Errors
    /// [`Error::NoSuchFunction`], [`Error::AmbiguousFunction`], [`Error::NoFunctions`] or
    /// [`Error::UnsupportedSignature`].
    pub fn function(&self, name: Option<&str>) -> Result<&ExportedFunction, Error> {
        choose::function(&self.inner.functions, name, &self.inner.source)
    }

    /// The init function: the named one (which must exist and take no arguments), else an
    /// export named `init` taking no arguments, if any.
    ///
    /// # Errors
    /// [`Error::NoSuchFunction`] or [`Error::UnsupportedSignature`] for a named init.
    pub fn init_function(&self, name: Option<&str>) -> Result<Option<&ExportedFunction>, Error> {
        choose::init(&self.inner.functions, name, &self.inner.source)
    }
}

/// Which imports of a component the application answers.
#[derive(Clone, Copy)]
enum Answered<'a> {
    /// These (the names its handlers were registered under).
    These(&'a [String]),
    /// Every import that is not WASI (to look at a module, not to run it).
    AllButWasi,
}

/// Checks that WASI and the `answered` imports satisfy every import of the module.
fn check_imports(
    engine: &Engine,
    path: &Path,
    loaded: &Loaded,
    answered: Answered<'_>,
) -> Result<(), Error> {
    let unsupported = |e: wasmtime::Error| Error::UnsupportedImport {
        path: path.to_path_buf(),
        message: format!("{e:#}"),
    };
    match loaded {
        Loaded::Component(c) => {
            let mut linker = linker::component(engine).map_err(unsupported)?;
            let imported: Vec<String> = c
                .component_type()
                .imports(engine)
                .map(|(name, _)| name.to_string())
                .collect();
            let answered: Vec<String> = match answered {
                // mpwasm answers the shared interfaces itself, in every pool.
                Answered::These(names) => imported
                    .iter()
                    .filter(|name| names.contains(name) || crate::shared::is_shared(name))
                    .cloned()
                    .collect(),
                Answered::AllButWasi => imported
                    .iter()
                    .filter(|name| !name.starts_with("wasi:"))
                    .cloned()
                    .collect(),
            };
            // Answered imports are linked as the worker links them, to a line that is never
            // used here, so the check sees them satisfied and their shapes checked.
            let line = Arc::new(host_calls::HostLine::unused());
            host_calls::link(&mut linker, engine, c, &answered, &line).map_err(|message| {
                Error::UnsupportedImport {
                    path: path.to_path_buf(),
                    message,
                }
            })?;
            if let Err(e) = linker.instantiate_pre(c) {
                let missing: Vec<String> = imported
                    .iter()
                    .filter(|name| !name.starts_with("wasi:") && !answered.contains(name))
                    .map(|name| format!("`{name}`"))
                    .collect();
                if missing.is_empty() {
                    return Err(unsupported(e));
                }
                return Err(Error::UnsupportedImport {
                    path: path.to_path_buf(),
                    message: format!(
                        "{} (not WASI, and no host handler answers {})",
                        missing.join(", "),
                        if missing.len() == 1 { "it" } else { "them" }
                    ),
                });
            }
        }
        Loaded::Core(m) => {
            let linker = linker::core(engine).map_err(unsupported)?;
            linker.instantiate_pre(m).map_err(unsupported)?;
        }
    }
    Ok(())
}
