//! A job's shared state (`mpwasm:shared`) when the job runs through the broker: the store,
//! the queues and the journal live in Redis under the job's keys, so every worker on every
//! machine sees one store. Each call is one run of [`SHARED_CALL`], atomic on the broker and
//! journaled per input, so an input taken over from a dead worker replays its calls as a
//! local retry does. `work#submit` goes to the submitter, which numbers the input, and the
//! task waits for its answer.
//!
//! The worker's side is [`RedisShared`] (a [`Backend`] of the job's local pool); the
//! submitter's side is the functions at the end: seeding, serving added inputs, settling
//! journals, reading the store back, and the keys to renew and delete.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use compact_str::CompactString;
use serde_json::{Map, Value as Json};

use super::connection::{BrokerUrl, Conn};
use super::error::BrokerError;
use super::keys::JobKeys;
use super::scripts::{SHARED_CALL, SHARED_SETTLE};
use crate::ids::TaskIndex;
use crate::shared::{Backend, QUEUES_KEY, SharedStore};
use crate::sync;
use crate::vocab::{HostCall, HostFault};

/// How often a `pop` finding nothing, or a `submit` waiting for the submitter, asks again.
const POLL: Duration = Duration::from_millis(5);

/// How often a `submit` waiting for the submitter checks that the job still exists.
const JOB_CHECK: Duration = Duration::from_secs(1);

/// How long before its guest's deadline a `pop` gives up, as locally.
const MARGIN: Duration = Duration::from_millis(20);

/// The local indices of a job's inputs on this worker, mapped to their indices in the job.
#[derive(Default)]
pub(crate) struct Indices(Mutex<HashMap<u64, u64>>);

impl Indices {
    /// The local task `local` is the job's input `index`.
    pub(crate) fn insert(&self, local: TaskIndex, index: u64) {
        sync::lock(&self.0).insert(local.0, index);
    }

    /// The local task `local` is done here.
    pub(crate) fn remove(&self, local: TaskIndex) {
        sync::lock(&self.0).remove(&local.0);
    }

    fn get(&self, local: TaskIndex) -> Option<u64> {
        sync::lock(&self.0).get(&local.0).copied()
    }
}

/// Answers a broker job's shared calls on a worker, through Redis.
pub(crate) struct RedisShared {
    url: Arc<BrokerUrl>,
    keys: Arc<JobKeys>,
    /// This worker's name: with the local batch, it names an attempt.
    worker: String,
    indices: Arc<Indices>,
    /// Idle connections (a host-call thread takes one for a call).
    idle: Mutex<Vec<Conn>>,
    script: redis::Script,
}

impl RedisShared {
    /// The backend of job `keys` on worker `worker`, mapping local tasks through `indices`.
    pub(crate) fn new(
        url: Arc<BrokerUrl>,
        keys: Arc<JobKeys>,
        worker: String,
        indices: Arc<Indices>,
    ) -> RedisShared {
        RedisShared {
            url,
            keys,
            worker,
            indices,
            idle: Mutex::new(Vec::new()),
            script: redis::Script::new(SHARED_CALL),
        }
    }

    /// Runs `f` on an idle connection (a new one when none is idle).
    fn with_conn<T>(
        &self,
        f: impl FnOnce(&mut Conn) -> Result<T, BrokerError>,
    ) -> Result<T, BrokerError> {
        let idle = sync::lock(&self.idle).pop();
        let mut con = match idle {
            Some(con) => con,
            None => Conn::open(Arc::clone(&self.url))?,
        };
        let result = f(&mut con);
        sync::lock(&self.idle).push(con);
        result
    }

    /// One run of the script for `call` of input `index`, with the operation's arguments.
    fn invoke(
        &self,
        call: &HostCall,
        index: u64,
        op: &str,
        queue: Option<&str>,
        args: &[String],
    ) -> Result<String, BrokerError> {
        let print = crate::shared::journal::fingerprint(&call.path(), &call.args).to_string();
        let keys = &self.keys;
        let queue_key = queue.map_or_else(|| keys.kv.clone(), |name| keys.queue(name));
        self.with_conn(|con| {
            con.run("a shared call", |c| {
                let mut invocation = self.script.prepare_invoke();
                invocation
                    .key(&keys.kv)
                    .key(&keys.ints)
                    .key(&keys.shared_meta)
                    .key(&keys.journal)
                    .key(&keys.queues)
                    .key(&queue_key)
                    .key(&keys.added)
                    .key(&keys.record)
                    .arg(op)
                    .arg(index)
                    .arg(format!(
                        "{}/{}/{}",
                        self.worker, call.batch.0, call.position
                    ))
                    .arg(call.call)
                    .arg(&print);
                for arg in args {
                    invocation.arg(arg);
                }
                invocation.invoke::<String>(c)
            })
        })
    }

    fn run(
        &self,
        call: &HostCall,
        alive: &dyn Fn() -> bool,
    ) -> Result<Result<CompactString, String>, String> {
        let index = self
            .indices
            .get(call.task)
            .ok_or_else(|| "this task is no longer held by this worker".to_string())?;
        let args: Vec<Json> = serde_json::from_str(&call.args)
            .map_err(|e| format!("the arguments are not JSON: {e}"))?;
        let text = |i: usize| -> Result<String, String> {
            args.get(i)
                .and_then(Json::as_str)
                .map(str::to_string)
                .ok_or_else(|| format!("argument {i} is not a string"))
        };
        let maybe = |i: usize| -> Result<(String, String), String> {
            match args.get(i) {
                Some(Json::Null) => Ok(("0".into(), String::new())),
                Some(Json::String(s)) => Ok(("1".into(), s.clone())),
                _ => Err(format!("argument {i} is not an option<string>")),
            }
        };
        let number = |i: usize| -> Result<String, String> {
            match args.get(i) {
                Some(Json::Number(n)) => Ok(n.to_string()),
                _ => Err(format!("argument {i} is not a number")),
            }
        };
        let broker = |e: BrokerError| e.to_string();
        let import = call.import.split('@').next().unwrap_or_default();
        let (op, queue, op_args): (&str, Option<String>, Vec<String>) =
            match (import, call.function.as_str()) {
                ("mpwasm:shared/kv", f @ ("get" | "delete" | "keys")) => (f, None, vec![text(0)?]),
                ("mpwasm:shared/kv", f @ ("set" | "incr")) => {
                    let second = if f == "set" { text(1)? } else { number(1)? };
                    (f, None, vec![text(0)?, second])
                }
                ("mpwasm:shared/kv", "compare-and-swap") => {
                    let (has_expected, expected) = maybe(1)?;
                    let (has_new, new) = maybe(2)?;
                    (
                        "compare-and-swap",
                        None,
                        vec![text(0)?, has_expected, expected, has_new, new],
                    )
                }
                ("mpwasm:shared/queue", "push") => {
                    ("push", Some(text(0)?), vec![text(0)?, text(1)?])
                }
                ("mpwasm:shared/queue", "len") => ("len", Some(text(0)?), vec![text(0)?]),
                ("mpwasm:shared/queue", "pop") => {
                    let name = text(0)?;
                    let wait = args.get(1).and_then(Json::as_u64).unwrap_or(0);
                    return self.pop(call, index, &name, wait, alive);
                }
                ("mpwasm:shared/work", "submit") => {
                    let input = text(0)?;
                    if let Err(message) = crate::shared::check_input(&input) {
                        return Ok(Err(message));
                    }
                    let answer = self
                        .invoke(call, index, "submit", None, &[input])
                        .map_err(broker)?;
                    return self.submitted(call, &answer, alive);
                }
                _ => {
                    return Ok(Err(format!(
                        "`{}` is not a function of mpwasm:shared",
                        call.path()
                    )));
                }
            };
        let answer = self
            .invoke(call, index, op, queue.as_deref(), &op_args)
            .map_err(broker)?;
        if op == "keys" {
            // Sorted here, by bytes (the script's order would follow the server's locale).
            return Ok(decode(&answer).map(|json| {
                let mut keys: Vec<String> = serde_json::from_str(&json).unwrap_or_default();
                keys.sort();
                Json::from(keys).to_string().into()
            }));
        }
        Ok(decode(&answer))
    }

    /// A `pop`: asks again every [`POLL`] until an item comes, `wait` ms pass, the guest's
    /// deadline nears or the attempt is over; the last ask is final (journaled even if empty).
    fn pop(
        &self,
        call: &HostCall,
        index: u64,
        name: &str,
        wait: u64,
        alive: &dyn Fn() -> bool,
    ) -> Result<Result<CompactString, String>, String> {
        let started = Instant::now();
        let mut limit = Duration::from_millis(wait);
        if let Some(patience) = call.patience_ms {
            limit = limit.min(Duration::from_millis(patience).saturating_sub(MARGIN));
        }
        loop {
            if !alive() {
                return Err("this attempt of the task is over".into());
            }
            let last = started.elapsed() >= limit;
            let args = [name.to_string(), if last { "1" } else { "0" }.to_string()];
            let answer = self
                .invoke(call, index, "pop", Some(name), &args)
                .map_err(|e| e.to_string())?;
            if answer != "w" {
                return Ok(decode(&answer));
            }
            std::thread::sleep(POLL.min(limit.saturating_sub(started.elapsed())));
        }
    }

    /// A `submit` was recorded as request `answer` (`r` + id): waits for the submitter's
    /// index.
    fn submitted(
        &self,
        call: &HostCall,
        answer: &str,
        alive: &dyn Fn() -> bool,
    ) -> Result<Result<CompactString, String>, String> {
        let Some(request) = answer.strip_prefix('r') else {
            return Ok(decode(answer));
        };
        let patience = call.patience_ms.map(Duration::from_millis);
        let started = Instant::now();
        let mut next_check = started + JOB_CHECK;
        loop {
            let reply: Option<String> = self
                .with_conn(|con| {
                    con.run("HGET", |c| {
                        redis::cmd("HGET")
                            .arg(&self.keys.added_replies)
                            .arg(request)
                            .query(c)
                    })
                })
                .map_err(|e| e.to_string())?;
            if let Some(reply) = reply {
                return Ok(decode(&reply));
            }
            if !alive() {
                return Err("this attempt of the task is over".into());
            }
            if patience.is_some_and(|p| started.elapsed() >= p) {
                return Ok(Err(
                    "the task's time ran out while the submitter numbered its added input".into(),
                ));
            }
            if Instant::now() >= next_check {
                next_check = Instant::now() + JOB_CHECK;
                let exists: bool = self
                    .with_conn(|con| {
                        con.run("EXISTS", |c| {
                            redis::cmd("EXISTS").arg(&self.keys.record).query(c)
                        })
                    })
                    .map_err(|e| e.to_string())?;
                if !exists {
                    return Err("the job is over: its submitter is gone".into());
                }
            }
            std::thread::sleep(POLL);
        }
    }
}

/// The script's answer as the guest's: `o` + JSON, or `e` + the message; `s` is a call of a
/// replaced attempt.
fn decode(answer: &str) -> Result<CompactString, String> {
    match answer.split_at_checked(1) {
        Some(("o", json)) => Ok(json.into()),
        Some(("e", message)) => Err(message.to_string()),
        Some(("s", _)) => {
            Err("this attempt of the task is over (a retry replaced it, or the job ended)".into())
        }
        _ => Err(format!("the broker answered {answer:?} to a shared call")),
    }
}

impl Backend for RedisShared {
    fn answer(
        &self,
        call: &HostCall,
        alive: &dyn Fn() -> bool,
    ) -> Result<CompactString, HostFault> {
        let fault = |message: String| HostFault {
            message,
            value: None,
        };
        match self.run(call, alive) {
            Ok(answer) => answer.map_err(fault),
            Err(message) => Err(fault(format!("the shared store on the broker: {message}"))),
        }
    }
}

// The submitter's side.

/// Puts `seed` (a JSON object as [`SharedStore::from_json`] takes it) and the store's
/// `limit` on the broker, before any input is.
pub(crate) fn seed(
    con: &mut Conn,
    keys: &JobKeys,
    seed: Option<&Json>,
    limit: u64,
    ttl_ms: u64,
) -> Result<(), BrokerError> {
    let store = match seed {
        Some(json) => SharedStore::from_json(json).unwrap_or_default(),
        None => SharedStore::new(),
    };
    let Json::Object(object) = store.to_json() else {
        return Ok(());
    };
    con.run("seed the shared store", |c| {
        let mut pipe = redis::pipe();
        pipe.atomic();
        pipe.cmd("HSET")
            .arg(&keys.shared_meta)
            .arg("limit")
            .arg(limit)
            .arg("bytes")
            .arg(store.bytes())
            .ignore();
        for (key, value) in &object {
            if key == QUEUES_KEY {
                let Some(queues) = value.as_object() else {
                    continue;
                };
                for (name, items) in queues {
                    let items: Vec<&str> = items
                        .as_array()
                        .map(|a| a.iter().filter_map(Json::as_str).collect())
                        .unwrap_or_default();
                    if items.is_empty() {
                        continue;
                    }
                    pipe.cmd("RPUSH").arg(keys.queue(name)).arg(&items).ignore();
                    pipe.cmd("SADD").arg(&keys.queues).arg(name).ignore();
                }
                continue;
            }
            let text = match value {
                Json::String(text) => text.clone(),
                Json::Number(n) => {
                    pipe.cmd("SADD").arg(&keys.ints).arg(key).ignore();
                    n.to_string()
                }
                _ => continue,
            };
            pipe.cmd("HSET").arg(&keys.kv).arg(key).arg(text).ignore();
        }
        for key in keys.shared() {
            pipe.cmd("PEXPIRE").arg(key).arg(ttl_ms).ignore();
        }
        pipe.query::<()>(c)
    })
}

/// The job's store as it is on the broker now, as a JSON object.
pub(crate) fn read_back(con: &mut Conn, keys: &JobKeys) -> Result<Json, BrokerError> {
    con.run("read the shared store", |c| {
        let (kv, ints, names): (HashMap<String, String>, Vec<String>, Vec<String>) = redis::pipe()
            .cmd("HGETALL")
            .arg(&keys.kv)
            .cmd("SMEMBERS")
            .arg(&keys.ints)
            .cmd("SMEMBERS")
            .arg(&keys.queues)
            .query(c)?;
        let mut object = Map::new();
        let mut sorted: Vec<(String, String)> = kv.into_iter().collect();
        sorted.sort();
        for (key, value) in sorted {
            let json = match value.parse::<i64>() {
                Ok(n) if ints.contains(&key) => Json::from(n),
                _ => Json::String(value),
            };
            object.insert(key, json);
        }
        let mut queues = Map::new();
        for name in names {
            let items: Vec<String> = redis::cmd("LRANGE")
                .arg(keys.queue(&name))
                .arg(0)
                .arg(-1)
                .query(c)?;
            if !items.is_empty() {
                queues.insert(name, Json::from(items));
            }
        }
        if !queues.is_empty() {
            object.insert(QUEUES_KEY.to_string(), Json::Object(queues));
        }
        Ok(Json::Object(object))
    })
}

/// Forgets the journals of these inputs (each has its final outcome).
pub(crate) fn settle(con: &mut Conn, keys: &JobKeys, indices: &[u64]) -> Result<(), BrokerError> {
    if indices.is_empty() {
        return Ok(());
    }
    let script = redis::Script::new(SHARED_SETTLE);
    con.run("settle shared journals", |c| {
        let mut invocation = script.prepare_invoke();
        invocation.key(&keys.journal);
        for index in indices {
            invocation.arg(*index);
        }
        invocation.invoke::<i64>(c)
    })
    .map(drop)
}

/// The queues' lists of the job, to renew or delete with its other keys.
pub(crate) fn queue_keys(
    c: &mut redis::Connection,
    keys: &JobKeys,
) -> redis::RedisResult<Vec<String>> {
    let names: Vec<String> = redis::cmd("SMEMBERS").arg(&keys.queues).query(c)?;
    Ok(names.iter().map(|name| keys.queue(name)).collect())
}
