//! State the tasks of one job share (`wit/deps/shared/shared.wit`, package
//! `mpwasm:shared@0.1.0`): a key-value store with atomic counters (`kv`), named FIFO queues
//! (`queue`), and inputs a task adds to its own job (`work`). The host answers these imports
//! itself, over the same call socket as the application's host functions
//! (`pool/handlers.rs` hands each call to the job's [`SharedJob`]); each call is one atomic
//! step under the store's lock, and the [`journal`] makes a retried task's calls exactly-once.
//!
//! [`SharedStore`] is the application's handle on a store: seed one, give it to a job
//! ([`CallOptions::shared`](crate::CallOptions::shared)), read it when the job is done.

pub(crate) mod journal;
pub(crate) mod store;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use compact_str::CompactString;
use serde_json::Value as Json;

use crate::error::Error;
use crate::ids::TaskIndex;
use crate::limits::format_size;
use crate::sync;
use crate::vocab::{HostCall, HostFault};
use journal::{Journal, Step, fingerprint};
pub use store::QUEUES_KEY;
use store::{Data, IncrError, TooBig};

/// The package the shared interfaces belong to.
pub const PACKAGE: &str = "mpwasm:shared";
/// The key-value interface.
pub const KV: &str = "mpwasm:shared/kv@0.1.0";
/// The queue interface.
pub const QUEUE: &str = "mpwasm:shared/queue@0.1.0";
/// The interface adding inputs to the running job.
pub const WORK: &str = "mpwasm:shared/work@0.1.0";

/// The WIT of the shared interfaces, as shipped in `wit/deps/shared/shared.wit`.
pub const WIT: &str = include_str!("../../../wit/deps/shared/shared.wit");

/// The default limit of a job's store: its keys, values, queue names and items together.
pub const DEFAULT_LIMIT: u64 = 64 << 20;

/// The default limit of inputs the tasks of one job may add with `work#submit`.
pub const DEFAULT_MAX_SUBMITTED: u64 = 1_000_000;

/// How often a `pop` waiting for an item checks that its task still waits for it.
const POP_SLICE: Duration = Duration::from_millis(20);

/// Whether `import` is one of the shared interfaces (any version of the package).
pub fn is_shared(import: &str) -> bool {
    import
        .strip_prefix(PACKAGE)
        .is_some_and(|rest| rest.starts_with('/'))
}

/// A job's shared store: cheap to clone, every clone the same store. Keys hold strings or
/// integers (made by `incr`); queues hold strings.
#[derive(Clone, Default)]
pub struct SharedStore {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    data: Mutex<Data>,
    pushed: Condvar,
    /// `pop`s waiting (so a `push` with none waiting never signals).
    waiting: AtomicUsize,
}

impl SharedStore {
    /// An empty store.
    pub fn new() -> SharedStore {
        SharedStore::default()
    }

    /// A store holding `json`: an object whose values are strings or integers; the key
    /// [`QUEUES_KEY`] may hold queues (an object of lists of strings), as
    /// [`to_json`](Self::to_json) writes them.
    ///
    /// # Errors
    /// [`Error::Config`] naming the first value that is neither.
    pub fn from_json(json: &Json) -> Result<SharedStore, Error> {
        let data = Data::from_json(json, u64::MAX).map_err(Error::Config)?;
        let store = SharedStore::new();
        *sync::lock(&store.inner.data) = data;
        Ok(store)
    }

    /// The store as a JSON object: each key with its value (a string, or a number for an
    /// integer made by `incr`), and the queues still holding items under [`QUEUES_KEY`].
    pub fn to_json(&self) -> Json {
        sync::lock(&self.inner.data).to_json()
    }

    /// The value under `key`, as a task's `kv#get` sees it.
    pub fn get(&self, key: &str) -> Option<String> {
        sync::lock(&self.inner.data)
            .get(key)
            .map(store::Stored::text)
    }

    /// Stores `value` under `key` (no limit applies to the application's own writes).
    pub fn set(&self, key: &str, value: impl Into<String>) {
        let _ = sync::lock(&self.inner.data).set(key, value.into(), u64::MAX);
    }

    /// The bytes the store holds (keys, values, queue names and items).
    pub fn bytes(&self) -> u64 {
        sync::lock(&self.inner.data).bytes()
    }

    /// How many keys the store holds, and how many items its queues hold.
    pub fn counts(&self) -> (usize, usize) {
        sync::lock(&self.inner.data).counts()
    }
}

/// Two handles are equal when they are the same store.
impl PartialEq for SharedStore {
    fn eq(&self, other: &SharedStore) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl std::fmt::Debug for SharedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (keys, items) = self.counts();
        f.debug_struct("SharedStore")
            .field("keys", &keys)
            .field("queued", &items)
            .field("bytes", &self.bytes())
            .finish()
    }
}

/// Adds inputs to a running job (the pool's side of `work#submit`).
pub(crate) trait Spawn: Send + Sync {
    /// Adds `input` (JSON text) to the job for task `parent`; its index.
    ///
    /// # Errors
    /// Why it cannot: the message the task fails with.
    fn submit(&self, parent: TaskIndex, input: CompactString) -> Result<TaskIndex, String>;
}

/// The limits of one job's shared state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedLimits {
    /// The store's size limit in bytes.
    pub bytes: u64,
    /// How many inputs the job's tasks may add.
    pub submitted: u64,
}

impl Default for SharedLimits {
    fn default() -> SharedLimits {
        SharedLimits {
            bytes: DEFAULT_LIMIT,
            submitted: DEFAULT_MAX_SUBMITTED,
        }
    }
}

/// One job's shared state as its tasks' calls reach it.
pub(crate) struct SharedJob {
    store: SharedStore,
    journal: Mutex<Journal>,
    limits: SharedLimits,
    /// Where `submit` adds inputs (`None`: a job of one call).
    spawn: Option<Arc<dyn Spawn>>,
    /// The job's consumer is gone: a waiting `pop` stops waiting.
    closed: AtomicBool,
}

impl SharedJob {
    /// The state of a job using `store`.
    pub(crate) fn new(
        store: SharedStore,
        limits: SharedLimits,
        spawn: Option<Arc<dyn Spawn>>,
    ) -> SharedJob {
        SharedJob {
            store,
            journal: Mutex::new(Journal::default()),
            limits,
            spawn,
            closed: AtomicBool::new(false),
        }
    }

    /// The job is over (its consumer is gone): calls still waiting stop.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.store.inner.pushed.notify_all();
    }

    /// The store.
    pub(crate) fn store(&self) -> &SharedStore {
        &self.store
    }

    /// Task `task` has its final outcome: its record goes.
    pub(crate) fn settle(&self, task: TaskIndex) {
        sync::lock(&self.journal).settle(task);
    }

    /// Answers `call` (to one of the shared interfaces), replaying it if the task's earlier
    /// attempt made it.
    pub(crate) fn answer(&self, call: &HostCall) -> Result<CompactString, HostFault> {
        let attempt = (call.batch, call.position);
        let print = fingerprint(&call.path(), &call.args);
        let place = match sync::lock(&self.journal).step(call.task, attempt, print) {
            Step::Replay(answer) => return answer,
            Step::Run(place) => place,
        };
        let answer = self.run(call).map_err(|message| HostFault {
            message,
            value: None,
        });
        sync::lock(&self.journal).record(call.task, attempt, place, print, &answer);
        answer
    }

    fn run(&self, call: &HostCall) -> Result<CompactString, String> {
        let args: Vec<Json> = serde_json::from_str(&call.args)
            .map_err(|e| format!("the arguments are not JSON: {e}"))?;
        let text = |i: usize| -> Result<&str, String> {
            args.get(i)
                .and_then(Json::as_str)
                .ok_or_else(|| format!("argument {i} is not a string"))
        };
        let maybe = |i: usize| -> Result<Option<&str>, String> {
            match args.get(i) {
                Some(Json::Null) => Ok(None),
                Some(Json::String(s)) => Ok(Some(s)),
                _ => Err(format!("argument {i} is not an option<string>")),
            }
        };
        let number = |i: usize| -> Result<&serde_json::Number, String> {
            match args.get(i) {
                Some(Json::Number(n)) => Ok(n),
                _ => Err(format!("argument {i} is not a number")),
            }
        };
        let limit = self.limits.bytes;
        let too_big = |e: TooBig| self.too_big(e);
        let json = |value: Json| CompactString::from(value.to_string());
        let import = call.import.split('@').next().unwrap_or_default();
        let inner = &self.store.inner;
        match (import, call.function.as_str()) {
            ("mpwasm:shared/kv", "get") => {
                let data = sync::lock(&inner.data);
                Ok(json(data.get(text(0)?).map(|v| v.text()).into()))
            }
            ("mpwasm:shared/kv", "set") => {
                let value = text(1)?.to_string();
                sync::lock(&inner.data)
                    .set(text(0)?, value, limit)
                    .map_err(too_big)?;
                Ok("null".into())
            }
            ("mpwasm:shared/kv", "incr") => {
                let key = text(0)?;
                let delta = number(1)?
                    .as_i64()
                    .ok_or_else(|| "argument 1 is not an s64".to_string())?;
                let result = sync::lock(&inner.data).incr(key, delta, limit);
                match result {
                    Ok(n) => Ok(json(n.into())),
                    Err(IncrError::NotInteger(start)) => Err(format!(
                        "`{key}` holds \"{start}\", which is not an integer, so it cannot be \
                         incremented"
                    )),
                    Err(IncrError::Overflow { old }) => Err(format!(
                        "`{key}` holds {old}: adding {delta} overflows an s64"
                    )),
                    Err(IncrError::TooBig(e)) => Err(too_big(e)),
                }
            }
            ("mpwasm:shared/kv", "delete") => {
                Ok(json(sync::lock(&inner.data).delete(text(0)?).into()))
            }
            ("mpwasm:shared/kv", "compare-and-swap") => {
                let new = maybe(2)?.map(str::to_string);
                let swapped = sync::lock(&inner.data)
                    .compare_and_swap(text(0)?, maybe(1)?, new, limit)
                    .map_err(too_big)?;
                Ok(json(swapped.into()))
            }
            ("mpwasm:shared/kv", "keys") => Ok(json(sync::lock(&inner.data).keys(text(0)?).into())),
            ("mpwasm:shared/queue", "push") => {
                let value = text(1)?.to_string();
                sync::lock(&inner.data)
                    .push(text(0)?, value, limit)
                    .map_err(too_big)?;
                if inner.waiting.load(Ordering::Acquire) > 0 {
                    inner.pushed.notify_all();
                }
                Ok("null".into())
            }
            ("mpwasm:shared/queue", "pop") => {
                let timeout = number(1)?.as_u64().unwrap_or(0);
                let item = self.pop(call, text(0)?, Duration::from_millis(timeout));
                Ok(json(item.into()))
            }
            ("mpwasm:shared/queue", "len") => {
                Ok(json(sync::lock(&inner.data).len(text(0)?).into()))
            }
            ("mpwasm:shared/work", "submit") => {
                let input = text(0)?;
                if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(input) {
                    let start: String = input.chars().take(60).collect();
                    return Err(format!(
                        "the input \"{start}\" is not JSON ({e}); submit an input as one line \
                         of --jsonl would give it"
                    ));
                }
                let spawn = self.spawn.as_ref().ok_or_else(|| {
                    "this task is a single call (apply, `mpwasm call`), which has one result; \
                     only a task of a map (`mpwasm run`, map, imap) may add inputs"
                        .to_string()
                })?;
                let index = spawn.submit(call.task, input.into())?;
                Ok(json(index.0.into()))
            }
            _ => Err(format!(
                "`{}` is not a function of {}; this mpwasm answers {KV}, {QUEUE} and {WORK}",
                call.path(),
                PACKAGE
            )),
        }
    }

    fn too_big(&self, e: TooBig) -> String {
        format!(
            "the shared store would grow to {}, past its limit of {} (--shared-limit); raise \
             the limit or store less",
            format_size(e.would_be),
            format_size(self.limits.bytes)
        )
    }

    /// Takes the oldest item of queue `name`, waiting up to `timeout` while the calling
    /// attempt is still the task's current one (a task that was settled or retried meanwhile
    /// takes nothing).
    fn pop(&self, call: &HostCall, name: &str, timeout: Duration) -> Option<String> {
        let inner = &self.store.inner;
        let deadline = Instant::now().checked_add(timeout);
        loop {
            let mut data = sync::lock(&inner.data);
            if let Some(item) = data.pop(name) {
                return Some(item);
            }
            let left = deadline.map_or(POP_SLICE, |d| d.saturating_duration_since(Instant::now()));
            if left.is_zero() {
                return None;
            }
            inner.waiting.fetch_add(1, Ordering::AcqRel);
            let (mut data, _) = sync::wait_timeout(&inner.pushed, data, left.min(POP_SLICE));
            inner.waiting.fetch_sub(1, Ordering::AcqRel);
            if let Some(item) = data.pop(name) {
                return Some(item);
            }
            drop(data);
            if self.closed.load(Ordering::Acquire)
                || !sync::lock(&self.journal).is_current(call.task, (call.batch, call.position))
            {
                return None;
            }
        }
    }
}
