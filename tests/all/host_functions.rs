//! Host functions: a plugin (`guest-tasks/host-calls`) calls imports the application answers
//! through `PoolBuilder::host`, in real worker processes: values both ways, the task's index,
//! a handler's error as the guest's `err` or as `host-error`, a panicking handler, a slow
//! handler against the task's timeout (the worker lives, a late reply is dropped), and imports
//! nobody answers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::bounded;
use mpwasm::{ErrorKind, HostCallInfo, HostError, Pool, PoolBuilder, TaskIndex};
use mpwasm_test_artifacts::guests;
use serde_json::{Value, json};

use crate::common;

fn builder() -> PoolBuilder {
    Pool::builder().worker_program(common::mpwasm_bin())
}

/// A builder answering `log` by ignoring it (every pool of the plugin must answer both of its
/// imports, whichever export it calls).
fn plugin() -> PoolBuilder {
    builder().host("log", |_: &HostCallInfo<'_>| Ok(Value::Null))
}

const STORE: &str = "mpwasm:tasks/store";

/// A store handler over a map: `get` fails for a missing key, `put` fails for the key
/// `full`, `echo` answers its argument.
fn store(map: Arc<Mutex<HashMap<String, String>>>) -> impl mpwasm::HostHandler {
    move |call: &HostCallInfo<'_>| -> Result<Value, HostError> {
        let mut map = map.lock().expect("not poisoned");
        match call.function() {
            "get" => {
                let key: String = call.arg(0)?;
                map.get(&key)
                    .map(|v| json!(v))
                    .ok_or_else(|| HostError::new(format!("no key {key}")))
            }
            "put" => {
                let (key, value): (String, String) = (call.arg(0)?, call.arg(1)?);
                if key == "full" {
                    return Err(HostError::new("the store is full"));
                }
                map.insert(key, value);
                Ok(Value::Null)
            }
            "echo" => Ok(call.args()[0].clone()),
            other => Err(HostError::new(format!("no function {other}"))),
        }
    }
}

#[test]
fn a_plugin_calls_the_application_and_gets_its_answers() {
    let map = Arc::new(Mutex::new(HashMap::new()));
    let logged: Arc<Mutex<Vec<(TaskIndex, String)>>> = Arc::default();
    let log = {
        let logged = Arc::clone(&logged);
        move |call: &HostCallInfo<'_>| -> Result<Value, HostError> {
            assert_eq!(call.import(), "log");
            assert_eq!(call.function(), "log");
            assert_eq!(call.context(), &Value::Null);
            let message: String = call.arg(0)?;
            logged
                .lock()
                .expect("not poisoned")
                .push((call.task(), message));
            Ok(Value::Null)
        }
    };
    let echo = plugin()
        .processes(2)
        .host(STORE, store(Arc::clone(&map)))
        .function("echo-through")
        .build(guests::HOST_CALLS)
        .expect("the pool answers the store import");
    let words: Vec<Value> = (0..40).map(|i| json!(format!("wörd {i} ✓"))).collect();
    let got: Vec<Value> = echo
        .map(words.clone())
        .into_iter()
        .map(|r| r.expect("echoed"))
        .collect();
    assert_eq!(got, words);

    let shout = builder()
        .processes(2)
        .host(STORE, store(Arc::clone(&map)))
        .host("log", log)
        .function("shout")
        .build(guests::HOST_CALLS)
        .expect("the pool answers both imports");
    let lengths: Vec<Value> = shout
        .map((0..10).map(|i| json!(format!("message {i}"))))
        .into_iter()
        .map(|r| r.expect("logged"))
        .collect();
    assert_eq!(lengths, vec![json!(9); 10]);
    let mut logged = logged.lock().expect("not poisoned").clone();
    logged.sort();
    let want: Vec<(TaskIndex, String)> = (0..10)
        .map(|i| (TaskIndex(i), format!("message {i}")))
        .collect();
    assert_eq!(logged, want, "each call names the task that made it");
}

#[test]
fn a_handler_error_becomes_the_guests_err_or_fails_the_task_as_host_error() {
    let map = Arc::new(Mutex::new(HashMap::new()));
    let lookup = plugin()
        .processes(1)
        .host(STORE, store(Arc::clone(&map)))
        .function("lookup")
        .build(guests::HOST_CALLS)
        .expect("pool starts");
    map.lock()
        .expect("not poisoned")
        .insert("here".into(), "a value".into());
    assert_eq!(
        lookup.apply(vec![json!("here")]).expect("ok"),
        json!({"ok": "a value"})
    );
    // `get` returns a result: the handler's error is the guest's err, and the task succeeds.
    assert_eq!(
        lookup
            .apply(vec![json!("gone")])
            .expect("the guest got an err"),
        json!({"err": "no key gone"})
    );

    let remember = plugin()
        .processes(1)
        .host(STORE, store(Arc::clone(&map)))
        .function("remember")
        .build(guests::HOST_CALLS)
        .expect("pool starts");
    assert_eq!(
        remember.apply(vec![json!("k"), json!("v")]).expect("ok"),
        json!({"ok": "v"})
    );
    // `put` returns nothing: the error fails the task, naming the function and the message.
    let err = remember
        .apply(vec![json!("full"), json!("v")])
        .expect_err("put failed");
    assert_eq!(err.kind(), ErrorKind::HostError, "{err}");
    let text = err.to_string();
    assert!(text.contains("`mpwasm:tasks/store#put`"), "{text}");
    assert!(text.contains("the store is full"), "{text}");
    // The pool goes on.
    assert_eq!(
        remember.apply(vec![json!("k2"), json!("v2")]).expect("ok"),
        json!({"ok": "v2"})
    );
}

#[test]
fn a_panicking_handler_fails_only_the_task_that_called_it() {
    let panicky = |call: &HostCallInfo<'_>| -> Result<Value, HostError> {
        let text: String = call.arg(0)?;
        assert!(text != "boom", "the handler gives up on {text}");
        Ok(json!(text))
    };
    let pool = plugin()
        .processes(2)
        .host(STORE, panicky)
        .function("echo-through")
        .build(guests::HOST_CALLS)
        .expect("pool starts");
    let inputs = ["a", "boom", "b", "c", "boom", "d"];
    let results = pool.map(inputs.iter().map(|s| json!(s)));
    for (input, result) in inputs.iter().zip(&results) {
        match (*input, result) {
            ("boom", Err(e)) => {
                assert_eq!(e.kind(), ErrorKind::HostError, "{e}");
                assert!(e.to_string().contains("the handler panicked"), "{e}");
                assert!(e.to_string().contains("gives up on boom"), "{e}");
            }
            (ok, Ok(value)) if ok != "boom" => assert_eq!(value, &json!(ok)),
            (input, other) => panic!("{input}: unexpected {other:?}"),
        }
    }
}

#[test]
fn a_slow_handler_times_out_its_task_and_the_worker_lives_and_drops_the_late_reply() {
    // The first call's handler blocks until the second call releases it, so its late reply
    // reaches the worker while the second call waits: the worker must not take it for the
    // second call's answer.
    let (release, released) = bounded::<()>(1);
    let handler = move |call: &HostCallInfo<'_>| -> Result<Value, HostError> {
        let text: String = call.arg(0)?;
        if text == "slow" {
            let _ = released.recv_timeout(Duration::from_secs(30));
            return Ok(json!("late"));
        }
        let _ = release.try_send(());
        std::thread::sleep(Duration::from_millis(100));
        Ok(json!(text))
    };
    let pool = plugin()
        .processes(1)
        .timeout(Duration::from_millis(500))
        .host(STORE, handler)
        .function("echo-through")
        .build(guests::HOST_CALLS)
        .expect("pool starts");
    let mut slow = pool.apply_async(vec![json!("slow")]);
    let slow = slow.wait_outcome();
    let err = slow.json().expect_err("timed out");
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(
        err.to_string()
            .contains("waiting for host function `mpwasm:tasks/store#echo`"),
        "{err}"
    );
    let mut fast = pool.apply_async(vec![json!("fast")]);
    let fast = fast.wait_outcome();
    assert_eq!(fast.json(), Ok("\"fast\""), "the late reply was dropped");
    assert_eq!(
        fast.worker_pid(),
        slow.worker_pid(),
        "the same worker process ran both: a timeout in a host call does not kill it"
    );
}

#[test]
fn imports_nobody_answers_are_refused_at_load_naming_each_one() {
    let Err(err) = builder()
        .processes(1)
        .function("echo-through")
        .build(guests::HOST_CALLS)
    else {
        panic!("nothing answers the imports, yet the pool started");
    };
    let text = err.to_string();
    assert!(text.contains("`mpwasm:tasks/store`"), "{text}");
    assert!(text.contains("`log`"), "{text}");
    assert!(text.contains("PoolBuilder::host"), "{text}");

    let Err(err) = builder()
        .processes(1)
        .host(STORE, |_: &HostCallInfo<'_>| Ok(Value::Null))
        .function("echo-through")
        .build(guests::HOST_CALLS)
    else {
        panic!("nothing answers `log`, yet the pool started");
    };
    let text = err.to_string();
    assert!(text.contains("`log`"), "{text}");
    assert!(!text.contains("`mpwasm:tasks/store`"), "{text}");

    // The CLI has no handlers: it refuses the module with the same message, and exit 2.
    let run = common::mpwasm(&[
        "run",
        guests::HOST_CALLS,
        "--func",
        "echo-through",
        "--map",
        "0..1",
    ]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("`mpwasm:tasks/store`"),
        "{}",
        run.stderr
    );

    // `inspect` shows the module anyway, and which imports the application must answer.
    let inspect = common::mpwasm(&["inspect", guests::HOST_CALLS]);
    assert_eq!(inspect.code, 0, "{}", inspect.stderr);
    for import in ["mpwasm:tasks/store", "log"] {
        let line = inspect
            .lines()
            .into_iter()
            .find(|l| l.trim_start().starts_with(&format!("{import} ")))
            .unwrap_or_else(|| panic!("no line for {import}:\n{}", inspect.stdout));
        assert!(line.contains("PoolBuilder::host"), "{line}");
    }
    assert!(
        inspect
            .stdout
            .contains("echo-through: func(text: string) -> string"),
        "{}",
        inspect.stdout
    );
}

#[test]
fn a_pool_with_host_functions_is_refused_by_the_broker_before_anything_is_sent() {
    // Nothing listens on port 1: the refusal must come first, naming the handlers.
    let url = std::sync::Arc::new(
        mpwasm::broker::connection::BrokerUrl::parse("redis://127.0.0.1:1").expect("a URL"),
    );
    let settings = plugin().host(STORE, |_: &HostCallInfo<'_>| Ok(Value::Null));
    let Err(err) = mpwasm::broker::submit::submit(
        &url,
        std::path::Path::new(guests::HOST_CALLS),
        settings,
        mpwasm::broker::submit::SubmitOptions::default(),
    ) else {
        panic!("a pool with host functions was put on a broker");
    };
    let text = err.to_string();
    assert!(text.contains("runs only locally"), "{text}");
    assert!(text.contains("mpwasm:tasks/store"), "{text}");
}
