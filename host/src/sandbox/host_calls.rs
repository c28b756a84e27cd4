//! Imports the application answers, inside a worker: each function of a registered import is
//! linked with a function that sends a [`HostCall`] on the worker's call socket and reads the
//! [`HostReply`] itself (no thread in between), but only until its call's deadline: then the
//! task fails `timeout` and the worker lives. A cancelled call stops waiting within
//! [`SLICE`]. Arguments and results cross as JSON text through [`crate::values`].

use std::io::{ErrorKind as IoErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value as Json;
use wasmtime::Engine;
use wasmtime::StoreContextMut;
use wasmtime::component::types::{ComponentFunc, ComponentItem, Type};
use wasmtime::component::{Component, Linker, Val};

use super::cancel::{CallCancelled, CancelKey, Cancels};
use super::state::SandboxState;
use crate::ids::TaskIndex;
use crate::limits::format_duration;
use crate::sync::lock;
use crate::values::from_json::val_from_json;
use crate::values::to_json::val_to_json;
use crate::values::type_name;
use crate::vocab::{HostCall, HostFault, HostReply};
use crate::wire::frame::{MAX_FRAME, encode_frame};

/// How often a call waiting for the application checks whether it was cancelled.
pub const SLICE: Duration = Duration::from_millis(10);

/// The worker's line to the host for calls: a Unix socket the host listens on, used only by
/// the thread running the guest (the lock is never contended).
pub struct HostLine {
    socket: Mutex<Socket>,
    next: AtomicU64,
}

struct Socket {
    /// `None`: a line that only stands in for the real one (the host's import check).
    stream: Option<UnixStream>,
    /// Bytes read and not yet taken as a frame.
    pending: Vec<u8>,
    /// The read timeout set last, to skip setting it again.
    timeout: Option<Duration>,
}

impl HostLine {
    /// Connects to the host's call socket at `path`.
    ///
    /// # Errors
    /// The socket's error.
    pub fn connect(path: &Path) -> std::io::Result<HostLine> {
        let stream = UnixStream::connect(path)?;
        Ok(HostLine::over(Some(stream)))
    }

    /// A line that is never used: linking with it checks what a module imports.
    pub fn unused() -> HostLine {
        HostLine::over(None)
    }

    fn over(stream: Option<UnixStream>) -> HostLine {
        HostLine {
            socket: Mutex::new(Socket {
                stream,
                pending: Vec::new(),
                timeout: None,
            }),
            next: AtomicU64::new(0),
        }
    }

    /// Sends `call` (its number filled in) and waits for its reply until the scope's
    /// deadline, or until its task is cancelled. Replies to earlier calls that gave up are
    /// dropped.
    fn ask(&self, mut call: HostCall, scope: &CallScope) -> Result<HostReply, Waited> {
        if scope.is_cancelled() {
            return Err(Waited::Cancelled);
        }
        call.call = self.next.fetch_add(1, Ordering::Relaxed);
        let number = call.call;
        let frame = encode_frame(&call).map_err(|_| Waited::HostGone)?;
        let mut socket = lock(&self.socket);
        let Socket {
            stream,
            pending,
            timeout,
        } = &mut *socket;
        let stream = stream.as_mut().ok_or(Waited::HostGone)?;
        stream.write_all(&frame).map_err(|_| Waited::HostGone)?;
        let mut chunk = [0u8; 4096];
        loop {
            while let Some(reply) = take_frame(pending)? {
                if reply.call == number {
                    return Ok(reply);
                }
            }
            if scope.is_cancelled() {
                return Err(Waited::Cancelled);
            }
            let wait = match scope.deadline {
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(Waited::TimedOut);
                    }
                    left.min(SLICE)
                }
                None => SLICE,
            };
            if *timeout != Some(wait) {
                stream
                    .set_read_timeout(Some(wait))
                    .map_err(|_| Waited::HostGone)?;
                *timeout = Some(wait);
            }
            match stream.read(&mut chunk) {
                Ok(0) => return Err(Waited::HostGone),
                Ok(n) => pending.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        IoErrorKind::WouldBlock | IoErrorKind::TimedOut | IoErrorKind::Interrupted
                    ) => {}
                Err(_) => return Err(Waited::HostGone),
            }
        }
    }
}

/// Takes one complete frame off the front of `pending`, if there is one.
fn take_frame(pending: &mut Vec<u8>) -> Result<Option<HostReply>, Waited> {
    let Some(len) = pending.get(..4) else {
        return Ok(None);
    };
    let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]);
    if len > MAX_FRAME {
        return Err(Waited::HostGone);
    }
    let end = 4 + len as usize;
    if pending.len() < end {
        return Ok(None);
    }
    let reply = postcard::from_bytes(&pending[4..end]).map_err(|_| Waited::HostGone);
    pending.drain(..end);
    reply.map(Some)
}

enum Waited {
    TimedOut,
    HostGone,
    Cancelled,
}

/// Which task is running, for the calls its guest makes and the store's epoch callback.
#[derive(Debug, Clone)]
pub struct CallScope {
    /// The task.
    pub task: TaskIndex,
    /// Where it is in the worker's batches.
    pub key: CancelKey,
    /// When its time is up, if it has a timeout.
    pub deadline: Option<Instant>,
    /// Its timeout, for the message.
    pub timeout: Option<Duration>,
    /// The worker's cancels (`None` in a state no worker made: nothing cancels it).
    pub cancels: Option<Arc<Cancels>>,
}

impl CallScope {
    /// Whether the host cancelled this call.
    pub fn is_cancelled(&self) -> bool {
        self.cancels
            .as_ref()
            .is_some_and(|c| c.is_cancelled(self.key))
    }
}

impl Default for CallScope {
    fn default() -> CallScope {
        CallScope {
            task: TaskIndex(0),
            key: CancelKey::default(),
            deadline: None,
            timeout: None,
            cancels: None,
        }
    }
}

/// Why a host call ended the task. [`super::classify`] turns it into the task's failure.
#[derive(Debug, thiserror::Error)]
pub enum HostCallError {
    /// The task's time ran out while it waited for the application.
    #[error(
        "the task ran longer than the limit of {} (--timeout) waiting for host function \
         `{function}`, and was stopped",
        format_duration(*limit)
    )]
    TimedOut {
        /// `interface#function`.
        function: String,
        /// The task's timeout.
        limit: Duration,
    },
    /// The handler failed and the function cannot return an error to the guest.
    #[error("host function `{function}` failed: {message}")]
    Failed {
        /// `interface#function`.
        function: String,
        /// The handler's message.
        message: String,
    },
    /// The handler's value does not fit the function's result type.
    #[error("host function `{function}` answered a value that is not a {ty}: {message}")]
    BadValue {
        /// `interface#function`.
        function: String,
        /// The result type in WIT syntax.
        ty: String,
        /// What does not fit.
        message: String,
    },
    /// The host went away mid-call.
    #[error("the host went away during a call to host function `{function}`")]
    HostGone {
        /// `interface#function`.
        function: String,
    },
}

/// What one registered import of a component holds, as found in its type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportShape {
    /// An interface: these functions.
    Interface(Vec<String>),
    /// A function imported directly by the world.
    Function,
}

/// Finds import `name` in `component`'s imports.
///
/// # Errors
/// A message when it is not imported, or holds something only functions can stand for
/// (resources).
pub fn shape(engine: &Engine, component: &Component, name: &str) -> Result<ImportShape, String> {
    let ty = component.component_type();
    let Some((_, item)) = ty.imports(engine).find(|(n, _)| *n == name) else {
        return Err(format!("the module does not import `{name}`"));
    };
    match item.ty {
        ComponentItem::ComponentFunc(_) => Ok(ImportShape::Function),
        ComponentItem::ComponentInstance(instance) => {
            let mut functions = Vec::new();
            for (export, item) in instance.exports(engine) {
                match item.ty {
                    ComponentItem::ComponentFunc(_) => functions.push(export.to_string()),
                    ComponentItem::Type(_) => {}
                    ComponentItem::Resource(_) => {
                        return Err(format!(
                            "`{name}` defines the resource `{export}`; resources in host \
                             interfaces are not supported yet: pass plain values (records, \
                             lists, strings) instead"
                        ));
                    }
                    _ => {
                        return Err(format!(
                            "`{name}` holds `{export}`, which is not a function; a host \
                             interface may hold only functions and types"
                        ));
                    }
                }
            }
            Ok(ImportShape::Interface(functions))
        }
        _ => Err(format!(
            "`{name}` is not an interface or a function, so no handler can answer it"
        )),
    }
}

/// Links every function of each import in `imports` so that it calls the host over `line`.
///
/// # Errors
/// A message naming the import that cannot be linked.
pub fn link(
    linker: &mut Linker<SandboxState>,
    engine: &Engine,
    component: &Component,
    imports: &[String],
    line: &Arc<HostLine>,
) -> Result<(), String> {
    for import in imports {
        match shape(engine, component, import)? {
            ImportShape::Function => {
                let f = forwarder(line, import, import);
                linker
                    .root()
                    .func_new(import, f)
                    .map_err(|e| format!("cannot link host function `{import}`: {e:#}"))?;
            }
            ImportShape::Interface(functions) => {
                let mut instance = linker
                    .instance(import)
                    .map_err(|e| format!("cannot link host interface `{import}`: {e:#}"))?;
                for function in functions {
                    let f = forwarder(line, import, &function);
                    instance.func_new(&function, f).map_err(|e| {
                        format!("cannot link host function `{import}#{function}`: {e:#}")
                    })?;
                }
            }
        }
    }
    Ok(())
}

type Forwarder = dyn Fn(StoreContextMut<'_, SandboxState>, ComponentFunc, &[Val], &mut [Val]) -> wasmtime::Result<()>
    + Send
    + Sync
    + 'static;

/// The function standing for `import#function`.
fn forwarder(line: &Arc<HostLine>, import: &str, function: &str) -> Box<Forwarder> {
    let line = Arc::clone(line);
    let import = import.to_string();
    let function = function.to_string();
    Box::new(move |store, ty, params, results| {
        let scope = &store.data().call;
        let args = Json::Array(params.iter().map(val_to_json).collect()).to_string();
        let call = HostCall {
            call: 0,
            task: scope.task,
            batch: scope.key.batch,
            position: scope.key.position,
            import: import.clone(),
            function: function.clone(),
            args: args.into(),
            patience_ms: scope.deadline.map(|deadline| {
                deadline
                    .saturating_duration_since(Instant::now())
                    .as_millis() as u64
            }),
        };
        let path = call.path();
        let reply = match line.ask(call, scope) {
            Ok(reply) => reply,
            Err(Waited::Cancelled) => return Err(wasmtime::Error::new(CallCancelled)),
            Err(Waited::TimedOut) => {
                return Err(wasmtime::Error::new(HostCallError::TimedOut {
                    function: path,
                    limit: scope.timeout.unwrap_or_default(),
                }));
            }
            Err(Waited::HostGone) => {
                return Err(wasmtime::Error::new(HostCallError::HostGone {
                    function: path,
                }));
            }
        };
        let result_ty = ty.results().next();
        let value = answer(reply.result, result_ty.as_ref(), &path)?;
        if let (Some(slot), Some(value)) = (results.first_mut(), value) {
            *slot = value;
        }
        Ok(())
    })
}

/// The guest's value for a reply: the handler's value as the result type (for a `result`,
/// its `ok` payload), or its error as the `err` payload.
fn answer(
    reply: Result<compact_str::CompactString, HostFault>,
    ty: Option<&Type>,
    path: &str,
) -> Result<Option<Val>, wasmtime::Error> {
    let bad = |ty: &Type, message: String| {
        wasmtime::Error::new(HostCallError::BadValue {
            function: path.to_string(),
            ty: type_name(ty),
            message,
        })
    };
    let parse = |text: &str, ty: &Type| -> Result<Val, wasmtime::Error> {
        let json: Json = serde_json::from_str(text)
            .map_err(|e| bad(ty, format!("the handler's value is not JSON: {e}")))?;
        val_from_json(&json, ty).map_err(|e| bad(ty, e.to_string()))
    };
    let Some(ty) = ty else {
        // No result: the handler's value is ignored, its error fails the task.
        return match reply {
            Ok(_) => Ok(None),
            Err(fault) => Err(failed(path, fault.message)),
        };
    };
    match (reply, ty) {
        (Ok(text), Type::Result(result)) => {
            let payload = match result.ok() {
                Some(ok) => Some(Box::new(parse(&text, &ok)?)),
                None => None,
            };
            Ok(Some(Val::Result(Ok(payload))))
        }
        (Ok(text), ty) => parse(&text, ty).map(Some),
        (Err(fault), Type::Result(result)) => {
            let payload = match result.err() {
                None => None,
                Some(Type::String) if fault.value.is_none() => {
                    Some(Box::new(Val::String(fault.message)))
                }
                Some(err) => match &fault.value {
                    Some(text) => Some(Box::new(parse(text, &err)?)),
                    None => {
                        return Err(failed(
                            path,
                            format!(
                                "{} (the function's error type is {}, so the handler must \
                                 give its error a value of that type)",
                                fault.message,
                                type_name(&err)
                            ),
                        ));
                    }
                },
            };
            Ok(Some(Val::Result(Err(payload))))
        }
        (Err(fault), _) => Err(failed(path, fault.message)),
    }
}

fn failed(path: &str, message: String) -> wasmtime::Error {
    wasmtime::Error::new(HostCallError::Failed {
        function: path.to_string(),
        message,
    })
}
