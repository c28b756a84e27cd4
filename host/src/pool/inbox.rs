//! The dispatcher's one inbox ([`Inbox`]) and the handles that write to it: [`Requests`] for
//! jobs, [`Reports`] for worker links. One channel, so the dispatcher waits on a single
//! `recv`: a `select!` over two channels parks the thread on every wake, which measured
//! ~45 µs per round trip here against ~1 µs for a `recv` (it decided `apply`'s latency).
//!
//! A job does not know who serves it: [`Requests`] either wraps its requests into the
//! dispatcher's inbox or sends them on a plain [`Request`] channel that another server reads
//! (a broker's submitter).

use crossbeam_channel::{SendError, Sender, unbounded};

use super::events::WorkerReport;
use super::handlers::CallRoute;
use super::request::Request;
use crate::vocab::{ModuleSetup, WireTask};

/// What the dispatcher receives.
pub enum Inbox {
    /// A job's request.
    Request(Request),
    /// A worker link's report.
    Report(WorkerReport),
    /// A change of a pool of plugins ([`crate::PluginPool`]).
    Control(Control),
}

/// A change of a pool of plugins, answered on `done` once the dispatcher made it: every task
/// it puts in a batch afterwards runs on the new version (or fails `plugin-removed`).
pub enum Control {
    /// Plugin `plugin` runs `module` from now on, as its next version (sent on `done`).
    Replace {
        /// The plugin's number.
        plugin: u32,
        /// The new version's module.
        module: Box<ModuleSetup>,
        /// What keeps its compiled artifact on disk while workers may load it (its `Task`).
        keep: Box<dyn std::any::Any + Send>,
        /// Where the new version's number goes.
        done: Sender<u32>,
    },
    /// Plugin `plugin` is removed: calls not yet in a batch fail `plugin-removed`.
    Remove {
        /// The plugin's number.
        plugin: u32,
        /// Answered once done.
        done: Sender<()>,
    },
}

/// Where a job's requests go (cheap to clone).
#[derive(Clone)]
pub struct Requests(Route);

#[derive(Clone)]
enum Route {
    /// Into a dispatcher's inbox.
    Dispatcher(Sender<Inbox>),
    /// On a channel of requests another server reads.
    Server(Sender<Request>),
}

impl Requests {
    /// Requests into the inbox of a dispatcher.
    pub(crate) fn to_dispatcher(inbox: Sender<Inbox>) -> Requests {
        Requests(Route::Dispatcher(inbox))
    }

    /// A channel of requests for a server of one's own: its sending side, and what the server
    /// reads.
    pub(crate) fn channel() -> (Requests, crossbeam_channel::Receiver<Request>) {
        let (tx, rx) = unbounded();
        (Requests(Route::Server(tx)), rx)
    }

    /// Sends `request`; false when its server is gone.
    pub(crate) fn send(&self, request: Request) -> bool {
        self.submit(request).is_ok()
    }

    /// Sends a change of a pool of plugins; false when its dispatcher is gone (or this goes
    /// to another kind of server, which has no plugins).
    pub(crate) fn control(&self, control: Control) -> bool {
        match &self.0 {
            Route::Dispatcher(inbox) => inbox.send(Inbox::Control(control)).is_ok(),
            Route::Server(_) => false,
        }
    }

    /// Sends `request`. When its server is gone, the tasks it carried come back, so they can
    /// still be given an outcome.
    pub(crate) fn submit(&self, request: Request) -> Result<(), Vec<WireTask>> {
        let returned = match &self.0 {
            Route::Dispatcher(inbox) => match inbox.send(Inbox::Request(request)) {
                Ok(()) => return Ok(()),
                Err(SendError(Inbox::Request(request))) => request,
                Err(SendError(Inbox::Report(_) | Inbox::Control(_))) => return Err(Vec::new()),
            },
            Route::Server(tx) => match tx.send(request) {
                Ok(()) => return Ok(()),
                Err(SendError(request)) => request,
            },
        };
        match returned.expanded() {
            Request::Submit { tasks, .. } => Err(tasks),
            _ => Err(Vec::new()),
        }
    }
}

/// Where a worker link sends its reports: the dispatcher's inbox; and, when the pool answers
/// imports, how its worker's host calls are served (never through the dispatcher).
#[derive(Clone)]
pub struct Reports {
    inbox: Sender<Inbox>,
    calls: Option<CallRoute>,
}

impl Reports {
    /// Reports into the inbox of a dispatcher; host calls along `calls`, if given.
    pub(crate) fn to_dispatcher(inbox: Sender<Inbox>, calls: Option<CallRoute>) -> Reports {
        Reports { inbox, calls }
    }

    /// Sends `report`; false when the dispatcher is gone.
    pub fn send(&self, report: WorkerReport) -> bool {
        self.inbox.send(Inbox::Report(report)).is_ok()
    }

    /// Where host calls go without passing the dispatcher, if the pool answers imports.
    pub(crate) fn calls(&self) -> Option<&CallRoute> {
        self.calls.as_ref()
    }
}
