//! The handler threads: they take the host calls a worker link's reader hands over (the call
//! never passes through the dispatcher), run the application's handler (a panic is caught and
//! fails only that call), and write the reply straight to the calling worker's stdin, so
//! neither a slow handler nor a reply ever waits on scheduling. [`CallRoute`] is that path,
//! with the contexts of the calls whose job has one (the dispatcher files them per batch).

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crossbeam_channel::{Receiver, Sender, unbounded};
use serde_json::Value as Json;

use super::transport::Replier;
use crate::ids::BatchId;
use crate::imports::{HostCallInfo, HostError, HostImports};
use crate::sync;
use crate::vocab::{HostCall, HostFault, HostReply};
use crate::wire::frame::encode_frame;
use crate::wire::message::ToWorkerRef;

/// One call to answer.
pub(crate) struct HandlerJob {
    /// The call as the worker sent it.
    pub(crate) call: HostCall,
    /// The context of the job the task belongs to.
    pub(crate) context: Arc<Json>,
    /// Where the reply goes: the calling worker's pipe.
    pub(crate) reply: Replier,
}

/// The handler threads of one pool; they end when every copy is dropped.
#[derive(Clone)]
pub(crate) struct HandlerThreads {
    jobs: Sender<HandlerJob>,
}

/// Where a worker link sends its worker's host calls: the handler threads, with the contexts
/// to give them. Cheap to clone.
#[derive(Clone)]
pub(crate) struct CallRoute {
    handlers: HandlerThreads,
    contexts: Arc<Contexts>,
}

/// The contexts of calls in flight whose job has one, by batch and position.
#[derive(Default)]
pub(crate) struct Contexts {
    by_task: Mutex<HashMap<(BatchId, u32), Arc<Json>>>,
    /// Whether any are filed (so batches without contexts never take the lock).
    any: AtomicBool,
}

impl Contexts {
    /// Files the context of the task at `position` of `batch`.
    pub(crate) fn file(&self, batch: BatchId, position: u32, context: Arc<Json>) {
        sync::lock(&self.by_task).insert((batch, position), context);
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

    fn get(&self, batch: BatchId, position: u32) -> Option<Arc<Json>> {
        if !self.any.load(Ordering::Acquire) {
            return None;
        }
        sync::lock(&self.by_task).get(&(batch, position)).cloned()
    }
}

impl CallRoute {
    /// A route to `handlers`, with the `contexts` the dispatcher files.
    pub(crate) fn new(handlers: HandlerThreads, contexts: Arc<Contexts>) -> CallRoute {
        CallRoute { handlers, contexts }
    }

    /// Hands `call` to a handler thread; its reply goes to `reply`.
    pub(crate) fn call(&self, call: HostCall, reply: Replier) {
        let context = self
            .contexts
            .get(call.batch, call.position)
            .unwrap_or_else(|| Arc::clone(&NULL));
        self.handlers.submit(HandlerJob {
            call,
            context,
            reply,
        });
    }
}

/// The context of a call whose job has none.
static NULL: std::sync::LazyLock<Arc<Json>> = std::sync::LazyLock::new(|| Arc::new(Json::Null));

impl HandlerThreads {
    /// Starts `threads` handler threads (at least one) answering with `imports`.
    pub(crate) fn start(imports: HostImports, threads: usize) -> HandlerThreads {
        let (jobs, rx) = unbounded::<HandlerJob>();
        let imports = Arc::new(imports);
        for i in 0..threads.max(1) {
            let (rx, imports) = (rx.clone(), Arc::clone(&imports));
            let spawned = std::thread::Builder::new()
                .name(format!("mpwasm-host-{i}"))
                .spawn(move || serve(&rx, &imports));
            if spawned.is_err() && i > 0 {
                break; // fewer threads, still served
            }
        }
        HandlerThreads { jobs }
    }

    /// Hands a call to the next free thread.
    pub(crate) fn submit(&self, job: HandlerJob) {
        if let Err(crossbeam_channel::SendError(job)) = self.jobs.send(job) {
            // No thread could be started: answer here rather than leave the guest waiting.
            let fault = HostFault {
                message: "no handler thread is running".into(),
                value: None,
            };
            send_reply(&job.reply, job.call.call, Err(fault));
        }
    }
}

fn serve(jobs: &Receiver<HandlerJob>, imports: &HostImports) {
    for job in jobs.iter() {
        let result = answer(imports, &job.call, &job.context);
        send_reply(&job.reply, job.call.call, result);
    }
}

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

fn send_reply(reply: &Replier, call: u64, result: Result<compact_str::CompactString, HostFault>) {
    let message = HostReply { call, result };
    match encode_frame(&ToWorkerRef::HostReply(&message)) {
        Ok(frame) => reply.send(frame),
        Err(e) => {
            // Too large for a frame: the guest gets the error instead.
            let message = HostReply {
                call,
                result: Err(HostFault {
                    message: format!("the handler's value cannot be sent: {e}"),
                    value: None,
                }),
            };
            if let Ok(frame) = encode_frame(&ToWorkerRef::HostReply(&message)) {
                reply.send(frame);
            }
        }
    }
}
