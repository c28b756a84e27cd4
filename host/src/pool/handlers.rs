//! The host's side of host calls: each worker process of a pool that answers imports has a
//! call socket, and two threads per worker serve it ([`serve`]): one waits for the next call
//! while the other may be running a handler, so a slow handler never holds up the worker's
//! next call, nor scheduling (the dispatcher never sees a call). The thread that read a call
//! runs the application's handler (a panic is caught and fails only that call) and writes
//! the reply itself. [`CallRoute`] is what the transport needs for this: the handlers, and
//! the scope of the calls whose job has one (its context, its shared state; the dispatcher
//! files them per batch). Calls to the shared interfaces (`mpwasm:shared/*`) go to the job's
//! [`SharedJob`], never to a handler.

use std::collections::HashMap;
use std::io::{BufReader, Write};
use std::os::unix::net::UnixStream;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::Value as Json;

use crate::ids::BatchId;
use crate::imports::{HostCallInfo, HostError, HostImports};
use crate::shared::{self, SharedJob};
use crate::sync;
use crate::vocab::{HostCall, HostFault, HostReply};
use crate::wire::frame::{encode_frame, read_frame};

/// Threads serving one worker's call socket.
const THREADS_PER_WORKER: usize = 2;

/// What a transport needs to serve its workers' host calls. Cheap to clone.
#[derive(Clone)]
pub(crate) struct CallRoute {
    imports: Arc<HostImports>,
    contexts: Arc<Contexts>,
}

/// What the host calls of one job's tasks see besides their arguments.
#[derive(Default)]
pub struct JobScope {
    /// The context its handlers see (`null` when none was given).
    pub(crate) context: Arc<Json>,
    /// Its shared state, when the module imports a shared interface.
    pub(crate) shared: Option<Arc<SharedJob>>,
}

impl JobScope {
    /// Whether calls of this job need nothing filed (no context, no shared state).
    pub(crate) fn is_plain(&self) -> bool {
        self.context.is_null() && self.shared.is_none()
    }
}

/// The scopes of calls in flight whose job has one, by batch and position.
#[derive(Default)]
pub(crate) struct Contexts {
    by_task: Mutex<HashMap<(BatchId, u32), Arc<JobScope>>>,
    /// Whether any are filed (so batches without scopes never take the lock).
    any: AtomicBool,
}

impl Contexts {
    /// Files the scope of the task at `position` of `batch`.
    pub(crate) fn file(&self, batch: BatchId, position: u32, scope: Arc<JobScope>) {
        sync::lock(&self.by_task).insert((batch, position), scope);
        self.any.store(true, Ordering::Release);
    }

    /// Forgets the contexts of `batch` (it was answered, or its worker is gone).
    pub(crate) fn forget(&self, batch: BatchId) {
        if !self.any.load(Ordering::Acquire) {
            return;
        }
        let mut by_task = sync::lock(&self.by_task);
        by_task.retain(|(b, _), _| *b != batch);
        self.any.store(!by_task.is_empty(), Ordering::Release);
    }

    fn get(&self, batch: BatchId, position: u32) -> Option<Arc<JobScope>> {
        if !self.any.load(Ordering::Acquire) {
            return None;
        }
        sync::lock(&self.by_task).get(&(batch, position)).cloned()
    }
}

impl CallRoute {
    /// A route answering with `imports`, with the `contexts` the dispatcher files.
    pub(crate) fn new(imports: HostImports, contexts: Arc<Contexts>) -> CallRoute {
        CallRoute {
            imports: Arc::new(imports),
            contexts,
        }
    }

    /// Serves the calls a worker sends on `stream` until it closes, on threads of their own.
    pub(crate) fn serve(&self, stream: UnixStream) {
        let Ok(writer) = stream.try_clone() else {
            return;
        };
        let reader = Arc::new(Mutex::new((BufReader::new(stream), Vec::new())));
        let writer = Arc::new(Mutex::new(writer));
        for i in 0..THREADS_PER_WORKER {
            let (route, reader, writer) = (self.clone(), Arc::clone(&reader), Arc::clone(&writer));
            let spawned = std::thread::Builder::new()
                .name(format!("mpwasm-host-{i}"))
                .spawn(move || route.serve_calls(&reader, &writer));
            if spawned.is_err() {
                break; // fewer threads, still served (the first always exists or none do)
            }
        }
    }

    /// One serving thread: read a call (the other thread waits for the next meanwhile),
    /// answer it, write the reply.
    fn serve_calls(
        &self,
        reader: &Mutex<(BufReader<UnixStream>, Vec<u8>)>,
        writer: &Mutex<UnixStream>,
    ) {
        loop {
            let call: HostCall = {
                let mut guard = sync::lock(reader);
                let (stream, buf) = &mut *guard;
                match read_frame(stream, buf) {
                    Ok(Some(call)) => call,
                    // The worker is gone (or wrote garbage; its pipe reports that).
                    Ok(None) | Err(_) => return,
                }
            };
            let scope = self
                .contexts
                .get(call.batch, call.position)
                .unwrap_or_else(|| Arc::clone(&PLAIN));
            let result = if shared::is_shared(&call.import) {
                let alive = || self.contexts.get(call.batch, call.position).is_some();
                match &scope.shared {
                    Some(job) => job.answer(&call, &alive),
                    None => Err(HostFault {
                        message: "the task's job is over, so its shared state is gone".into(),
                        value: None,
                    }),
                }
            } else {
                answer(&self.imports, &call, &scope.context)
            };
            let frame = reply_frame(call.call, result);
            if sync::lock(writer).write_all(&frame).is_err() {
                return;
            }
        }
    }
}

/// The scope of a call whose job has none.
static PLAIN: std::sync::LazyLock<Arc<JobScope>> =
    std::sync::LazyLock::new(|| Arc::new(JobScope::default()));

/// Runs the handler for `call`; every way it can fail becomes a [`HostFault`].
pub(crate) fn answer(
    imports: &HostImports,
    call: &HostCall,
    context: &Json,
) -> Result<compact_str::CompactString, HostFault> {
    let fault = |e: HostError| HostFault {
        value: e.value().map(|v| v.to_string().into()),
        message: e.message().to_string(),
    };
    let Some(handler) = imports.get(&call.import) else {
        return Err(fault(HostError::new(format!(
            "no handler is registered for `{}`",
            call.import
        ))));
    };
    let args: Vec<Json> = serde_json::from_str(&call.args)
        .map_err(|e| fault(HostError::new(format!("the arguments are not JSON: {e}"))))?;
    let info = HostCallInfo {
        import: &call.import,
        function: &call.function,
        args: &args,
        task: call.task,
        context,
    };
    match catch_unwind(AssertUnwindSafe(|| handler.call(&info))) {
        Ok(Ok(value)) => Ok(value.to_string().into()),
        Ok(Err(e)) => Err(fault(e)),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a non-text payload".to_string());
            Err(fault(HostError::new(format!(
                "the handler panicked: {what}"
            ))))
        }
    }
}

/// The reply frame for call `call`; a value too large for a frame becomes an error the
/// guest gets instead.
fn reply_frame(call: u64, result: Result<compact_str::CompactString, HostFault>) -> Vec<u8> {
    match encode_frame(&HostReply { call, result }) {
        Ok(frame) => frame,
        Err(e) => {
            let message = HostReply {
                call,
                result: Err(HostFault {
                    message: format!("the handler's value cannot be sent: {e}"),
                    value: None,
                }),
            };
            encode_frame(&message).unwrap_or_default()
        }
    }
}
