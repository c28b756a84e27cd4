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

/// How long before its guest's deadline a waiting `pop` gives up (and answers `none`).
const POP_MARGIN_MS: u64 = 20;

/// Whether `import` is one of the shared interfaces (any version of the package).
pub fn is_shared(import: &str) -> bool {
    import
        .strip_prefix(PACKAGE)
        .is_some_and(|rest| rest.starts_with('/'))
}

/// Whether a module importing `imports` may add inputs to its job (it imports `work`).
pub fn adds_inputs<S: AsRef<str>>(imports: &[S]) -> bool {
    imports
        .iter()
        .any(|i| i.as_ref().starts_with("mpwasm:shared/work@"))
}

/// Checks that `input`, given to `work#submit`, is JSON text; the task's message if not.
pub(crate) fn check_input(input: &str) -> Result<(), String> {
    serde_json::from_str::<serde::de::IgnoredAny>(input)
        .map(drop)
        .map_err(|e| {
            let start: String = input.chars().take(60).collect();
            format!(
                "the input \"{start}\" is not JSON ({e}); submit an input as one line of \
                 --jsonl would give it"
            )
        })
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

    /// Replaces everything in the store with what `json` holds (as [`from_json`](Self::from_json)
    /// takes it).
    ///
    /// # Errors
    /// As [`from_json`](Self::from_json); the store is unchanged then.
    pub(crate) fn replace(&self, json: &Json) -> Result<(), Error> {
        let data = Data::from_json(json, u64::MAX).map_err(Error::Config)?;
        *sync::lock(&self.inner.data) = data;
        Ok(())
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

/// Answers a job's shared calls somewhere else than in this process: on a broker worker, the
/// job's store lives in Redis (`broker/shared.rs`).
pub(crate) trait Backend: Send + Sync {
    /// Answers `call` (to one of the shared interfaces) for the attempt that made it;
    /// `alive` says whether that attempt still runs.
    fn answer(&self, call: &HostCall, alive: &dyn Fn() -> bool)
    -> Result<CompactString, HostFault>;
}

/// A [`Backend`], shared by every job of a pool.
#[derive(Clone)]
pub(crate) struct Remote(pub(crate) Arc<dyn Backend>);

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Remote")
    }
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
    /// Where the calls are answered instead of here, if anywhere.
    remote: Option<Remote>,
}

impl SharedJob {
    /// The state of a job using `store`.
    pub(crate) fn new(
        store: SharedStore,
        limits: SharedLimits,
        spawn: Option<Arc<dyn Spawn>>,
        remote: Option<Remote>,
    ) -> SharedJob {
        SharedJob {
            store,
            journal: Mutex::new(Journal::default()),
            limits,
            spawn,
            closed: AtomicBool::new(false),
            remote,
        }
    }

    /// Where tasks' added inputs go (`None`: a job of one call).
    pub(crate) fn spawn(&self) -> Option<&Arc<dyn Spawn>> {
        self.spawn.as_ref()
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
    /// attempt made it. `alive` says whether the calling attempt still runs (its batch is
    /// still with its worker): a `pop` waiting for an item stops when it does not.
    pub(crate) fn answer(
        &self,
        call: &HostCall,
        alive: &dyn Fn() -> bool,
    ) -> Result<CompactString, HostFault> {
        if let Some(remote) = &self.remote {
            return remote.0.answer(call, alive);
        }
        let attempt = (call.batch, call.position);
        let print = fingerprint(&call.path(), &call.args);
        let fault = |message: String| HostFault {
            message,
            value: None,
        };
        let place = match sync::lock(&self.journal).step(call.task, attempt, print) {
            Step::Replay(answer) => return answer,
            Step::Run(place) => place,
            Step::Stale => return Err(fault(GONE.into())),
        };
        let answer = match self.run(call, alive) {
            Ok(answer) => answer.map_err(fault),
            // Nothing happened and nobody waits for the answer: nothing to record.
            Err(Gone) => return Err(fault(GONE.into())),
        };
        sync::lock(&self.journal).record(call.task, attempt, place, print, &answer);
        answer
    }

    fn run(&self, call: &HostCall, alive: &dyn Fn() -> bool) -> Result<Ran, Gone> {
        if call.function == "pop" && call.import.starts_with("mpwasm:shared/queue") {
            let args: Vec<Json> = serde_json::from_str(&call.args).unwrap_or_default();
            let (Some(name), Some(timeout)) = (
                args.first().and_then(Json::as_str),
                args.get(1).and_then(Json::as_u64),
            ) else {
                return Ok(Err("the arguments are not (string, u32)".into()));
            };
            // Stop a little before the guest stops waiting: an item taken then would be lost.
            let timeout = match call.patience_ms {
                Some(patience) => timeout.min(patience.saturating_sub(POP_MARGIN_MS)),
                None => timeout,
            };
            let item = self.pop(call, name, Duration::from_millis(timeout), alive)?;
            return Ok(Ok(CompactString::from(Json::from(item).to_string())));
        }
        Ok(self.run_now(call))
    }

    /// Every call but `pop`: one step under the store's lock.
    fn run_now(&self, call: &HostCall) -> Ran {
        let args: Vec<Json> = serde_json::from_str(&call.args)
            .map_err(|e| format!("the arguments are not JSON: {e}"))?;
        let text = |i: usize| -> Result<&str, String> {
            args.get(i)
                .and_then(Json::as_str)
                .ok_or_else(|| format!("argument {i} is not a string"))
        };
        let key = |i: usize| -> Result<&str, String> {
            let key = text(i)?;
            if key == QUEUES_KEY {
                return Err(format!(
                    "the key `{QUEUES_KEY}` is reserved (--shared-out saves the queues under \
                     it): choose another"
                ));
            }
            Ok(key)
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
                    .set(key(0)?, value, limit)
                    .map_err(too_big)?;
                Ok("null".into())
            }
            ("mpwasm:shared/kv", "incr") => {
                let key = key(0)?;
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
                    .compare_and_swap(key(0)?, maybe(1)?, new, limit)
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
            ("mpwasm:shared/queue", "len") => {
                Ok(json(sync::lock(&inner.data).len(text(0)?).into()))
            }
            ("mpwasm:shared/work", "submit") => {
                let input = text(0)?;
                check_input(input)?;
                let spawn = self.spawn.as_ref().ok_or_else(|| {
                    "this task's job cannot grow: it is a single call (apply, `mpwasm call`) or \
                     a typed map (map_typed), which pairs each input with one result; add inputs \
                     from a task of `mpwasm run`, map or imap"
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

    /// Takes the oldest item of queue `name`, waiting up to `timeout`, only while the calling
    /// attempt is alive and still the task's current one and the job is open: an item is
    /// never handed to an attempt nobody waits for (one taken just as it died goes back to
    /// the front of the queue).
    fn pop(
        &self,
        call: &HostCall,
        name: &str,
        timeout: Duration,
        alive: &dyn Fn() -> bool,
    ) -> Result<Option<String>, Gone> {
        let inner = &self.store.inner;
        let deadline = Instant::now().checked_add(timeout);
        let live = || {
            !self.closed.load(Ordering::Acquire)
                && alive()
                && sync::lock(&self.journal).is_current(call.task, (call.batch, call.position))
        };
        loop {
            if !live() {
                return Err(Gone);
            }
            let mut data = sync::lock(&inner.data);
            let mut item = data.pop(name);
            if item.is_none() {
                let left =
                    deadline.map_or(POP_SLICE, |d| d.saturating_duration_since(Instant::now()));
                if left.is_zero() {
                    return Ok(None);
                }
                inner.waiting.fetch_add(1, Ordering::AcqRel);
                let (woken, _) = sync::wait_timeout(&inner.pushed, data, left.min(POP_SLICE));
                data = woken;
                inner.waiting.fetch_sub(1, Ordering::AcqRel);
                item = data.pop(name);
            }
            drop(data);
            if let Some(item) = item {
                if live() {
                    return Ok(Some(item));
                }
                sync::lock(&inner.data).unpop(name, item);
                return Err(Gone);
            }
        }
    }
}

/// The answer of a call that ran (its error, the message the task fails with).
type Ran = Result<CompactString, String>;

/// A call whose attempt is over (replaced by a retry, or its batch gone): it did nothing.
struct Gone;

/// What such a call is told.
const GONE: &str = "this attempt of the task is over (its worker is gone, or a retry replaced \
                    it)";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::BatchId;

    fn call(function: &str, import: &str, args: &str, batch: u64) -> HostCall {
        HostCall {
            call: 0,
            task: TaskIndex(0),
            batch: BatchId(batch),
            position: 0,
            import: import.into(),
            function: function.into(),
            args: args.into(),
            patience_ms: None,
        }
    }

    fn job() -> SharedJob {
        SharedJob::new(SharedStore::new(), SharedLimits::default(), None, None)
    }

    #[test]
    fn the_queues_key_is_reserved() {
        let job = job();
        let set = call("set", KV, r#"["mpwasm:queues","x"]"#, 1);
        let error = job.answer(&set, &|| true).expect_err("reserved");
        assert!(error.message.contains("reserved"), "{}", error.message);
        assert_eq!(job.store().counts(), (0, 0));
    }

    #[test]
    fn a_pop_of_a_dead_attempt_takes_nothing_and_records_nothing() {
        let job = job();
        job.answer(&call("push", QUEUE, r#"["q","item"]"#, 1), &|| true)
            .expect("pushed");
        let pop = call("pop", QUEUE, r#"["q",1000]"#, 2);
        let error = job.answer(&pop, &|| false).expect_err("its batch is gone");
        assert!(error.message.contains("attempt"), "{}", error.message);
        assert_eq!(job.store().counts(), (0, 1), "the item stays queued");
        // The retry gets it, and a late call of an older attempt is refused.
        let retry = call("pop", QUEUE, r#"["q",1000]"#, 3);
        assert_eq!(job.answer(&retry, &|| true).as_deref(), Ok("\"item\""));
        let late = call("incr", KV, r#"["n",1]"#, 2);
        assert!(job.answer(&late, &|| true).is_err(), "older than the retry");
        assert_eq!(job.store().get("n"), None);
    }

    #[test]
    fn a_single_call_cannot_submit() {
        let job = job();
        let submit = call("submit", WORK, r#"["1"]"#, 1);
        let error = job.answer(&submit, &|| true).expect_err("no spawn");
        assert!(error.message.contains("cannot grow"), "{}", error.message);
        let bad = call("submit", WORK, r#"["{not json"]"#, 1);
        let error = job.answer(&bad, &|| true).expect_err("not JSON");
        assert!(error.message.contains("is not JSON"), "{}", error.message);
    }
}
