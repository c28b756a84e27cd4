//! Calls as a plugin host makes them, against real workers: one pool serves every export of
//! its module (`Pool::export`, `Pool::call`), each call may bring its own timeout, fuel and
//! context (`CallOptions`), and a submitted call can be cancelled, queued or running, with
//! the worker living on.

use std::time::{Duration, Instant};

use crossbeam_channel::bounded;
use mpwasm::{CallOptions, Error, ErrorKind, HostCallInfo, HostError, Pool, PoolBuilder};
use mpwasm_test_artifacts::guests;
use serde_json::{Value, json};

use crate::common;

fn builder() -> PoolBuilder {
    Pool::builder().worker_program(common::mpwasm_bin())
}

/// A pool of `misbehave` whose own function is `id`.
fn misbehave(processes: usize) -> PoolBuilder {
    builder().processes(processes).function("id")
}

#[test]
fn one_pool_serves_every_export() {
    let pool = misbehave(1).build(guests::MISBEHAVE).expect("pool starts");
    assert_eq!(pool.apply(vec![json!(5)]).expect("id"), json!(5));
    let divide = pool.export("divide").expect("exported");
    assert_eq!(divide.function().path.name, "divide");
    assert_eq!(
        divide.apply(vec![json!(7), json!(2)]).expect("7/2"),
        json!(3)
    );
    let recurse: Vec<Value> = pool
        .export("recurse")
        .expect("exported")
        .map([1, 2, 3].map(|d| json!(d)))
        .into_iter()
        .map(|r| r.expect("recursed"))
        .collect();
    assert_eq!(recurse, vec![json!(1), json!(2), json!(3)]);
    assert_eq!(pool.call("id", vec![json!(9)]).expect("id"), json!(9));
    // Several exports in flight at once, on the one worker process.
    let mut a = divide.apply_async(vec![json!(9), json!(3)]);
    let mut b = pool.main().apply_async(vec![json!(4)]);
    let (a, b) = (a.wait_outcome(), b.wait_outcome());
    assert_eq!((a.json(), b.json()), (Ok("3"), Ok("4")));
    assert_eq!(a.worker_pid(), b.worker_pid());

    let Err(err) = pool.export("no-such-thing") else {
        panic!("an export that does not exist was found");
    };
    assert!(matches!(err, Error::NoSuchFunction { .. }), "{err}");
    assert!(
        err.to_string().contains("divide"),
        "lists the exports: {err}"
    );
    let err = pool.call("no-such-thing", vec![]).expect_err("no export");
    assert_eq!(err.kind(), ErrorKind::BadInput, "{err}");

    // `init` stays once per instance, and is not a call of its own.
    let counter = builder()
        .processes(1)
        .build(guests::COUNTER)
        .expect("pool starts");
    let Err(err) = counter.export("init") else {
        panic!("init was offered as an export");
    };
    assert!(err.to_string().contains("init"), "{err}");
    assert_eq!(counter.call("next", vec![]).expect("next"), json!(101));
    assert_eq!(counter.apply(vec![]).expect("next"), json!(102));
}

#[test]
fn a_call_brings_its_own_timeout_and_fuel() {
    let pool = misbehave(1).build(guests::MISBEHAVE).expect("pool starts");
    let spin = pool
        .export("spin")
        .expect("exported")
        .with(CallOptions::new().timeout(Duration::from_millis(200)))
        .expect("options");
    let mut stopped = spin.apply_async(vec![json!(1)]);
    let stopped = stopped.wait_outcome();
    let err = stopped.json().expect_err("spins forever");
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(
        err.to_string().contains("200ms"),
        "names its own limit: {err}"
    );
    // The pool has no timeout of its own: the next call runs, in the same worker.
    let mut next = pool.main().apply_async(vec![json!(1)]);
    let next = next.wait_outcome();
    assert_eq!(next.json(), Ok("1"));
    assert_eq!(next.worker_pid(), stopped.worker_pid(), "the worker lived");

    // A timeout too long for the clock is simply no deadline.
    let patient = pool
        .main()
        .with(CallOptions::new().timeout(Duration::MAX))
        .expect("options");
    assert_eq!(patient.apply(vec![json!(4)]).expect("id"), json!(4));

    // Fuel: only in a pool that meters it.
    let Err(err) = pool
        .export("spin")
        .expect("exported")
        .with(CallOptions::new().fuel(1000))
    else {
        panic!("a fuel budget was accepted by a pool without fuel metering");
    };
    assert!(err.to_string().contains("PoolBuilder::fuel"), "{err}");
    let metered = misbehave(1)
        .fuel(10_000_000_000)
        .build(guests::MISBEHAVE)
        .expect("pool starts");
    let err = metered
        .export("spin")
        .expect("exported")
        .with(CallOptions::new().fuel(100_000))
        .expect("options")
        .apply(vec![json!(1)])
        .expect_err("out of fuel");
    assert_eq!(err.kind(), ErrorKind::FuelExhausted, "{err}");
    assert!(
        err.to_string().contains("100000"),
        "names its own budget: {err}"
    );
    assert_eq!(metered.apply(vec![json!(3)]).expect("id"), json!(3));
}

#[test]
fn a_cancelled_spinning_call_ends_and_its_worker_lives() {
    let pool = misbehave(1).build(guests::MISBEHAVE).expect("pool starts");
    let spin = pool.export("spin").expect("exported");
    let mut running = spin.apply_async(vec![json!(1)]);
    // Let it start spinning in the worker.
    std::thread::sleep(Duration::from_millis(300));
    assert!(!running.ready(), "spin(1) never returns by itself");
    let asked = Instant::now();
    running.cancel();
    let outcome = running.wait_outcome();
    let latency = asked.elapsed();
    eprintln!("cancel to outcome: {latency:?}");
    let err = outcome.json().expect_err("cancelled");
    assert_eq!(err.kind(), ErrorKind::Cancelled, "{err}");
    assert!(err.to_string().contains("while it ran"), "{err}");
    let mut next = pool.main().apply_async(vec![json!(2)]);
    let next = next.wait_outcome();
    assert_eq!(next.json(), Ok("2"));
    assert_eq!(
        next.worker_pid(),
        outcome.worker_pid(),
        "stopped at an epoch check: the worker was not killed"
    );
}

#[test]
fn a_queued_call_cancelled_never_runs() {
    let pool = misbehave(1).build(guests::MISBEHAVE).expect("pool starts");
    // The only worker spins; the second call waits behind it.
    let spinning = pool
        .export("spin")
        .expect("exported")
        .apply_async(vec![json!(1)]);
    let mut queued = pool
        .export("shout")
        .expect("exported")
        .apply_async(vec![json!(10)]);
    std::thread::sleep(Duration::from_millis(200));
    queued.cancel();
    let outcome = queued.wait_outcome();
    let err = outcome.json().expect_err("cancelled");
    assert_eq!(err.kind(), ErrorKind::Cancelled, "{err}");
    assert!(err.to_string().contains("before it started"), "{err}");
    assert!(outcome.output().is_empty(), "it never ran: nothing printed");
    spinning.cancel();
    let err = spinning.wait().expect_err("cancelled");
    assert_eq!(err.kind(), ErrorKind::Cancelled, "{err}");
    assert_eq!(
        pool.apply(vec![json!(1)]).expect("the pool goes on"),
        json!(1)
    );
}

#[test]
fn a_call_blocked_in_a_host_function_is_cancelled_without_killing_the_worker() {
    let (entered_tx, entered) = bounded::<()>(1);
    let handler = move |call: &HostCallInfo<'_>| -> Result<Value, HostError> {
        let text: String = call.arg(0)?;
        if text == "block" {
            let _ = entered_tx.try_send(());
            std::thread::sleep(Duration::from_secs(3));
        }
        Ok(json!(text))
    };
    let pool = builder()
        .processes(1)
        .host("mpwasm:tasks/store", handler)
        .host("log", |_: &HostCallInfo<'_>| Ok(Value::Null))
        .function("echo-through")
        .build(guests::HOST_CALLS)
        .expect("pool starts");
    let mut blocked = pool.apply_async(vec![json!("block")]);
    entered
        .recv_timeout(Duration::from_secs(30))
        .expect("the handler was called");
    blocked.cancel();
    let outcome = blocked.wait_outcome();
    let err = outcome.json().expect_err("cancelled");
    assert_eq!(err.kind(), ErrorKind::Cancelled, "{err}");
    let mut next = pool.apply_async(vec![json!("next")]);
    let next = next.wait_outcome();
    assert_eq!(next.json(), Ok("\"next\""));
    assert_eq!(next.worker_pid(), outcome.worker_pid(), "the worker lived");
}

#[test]
fn the_context_reaches_the_host_functions_of_its_call_only() {
    let handler = |call: &HostCallInfo<'_>| -> Result<Value, HostError> {
        let text: String = call.arg(0)?;
        let user = call.context()["user"]
            .as_str()
            .unwrap_or("nobody")
            .to_string();
        Ok(json!(format!("{user}: {text}")))
    };
    let pool = builder()
        .processes(2)
        .host("mpwasm:tasks/store", handler)
        .host("log", |_: &HostCallInfo<'_>| Ok(Value::Null))
        .function("echo-through")
        .build(guests::HOST_CALLS)
        .expect("pool starts");
    let for_user = |user: &str| {
        pool.main()
            .with(CallOptions::new().context(json!({ "user": user })))
            .expect("options")
    };
    let (ann, bob) = (for_user("ann"), for_user("bob"));
    let inputs: Vec<Value> = (0..20).map(|i| json!(i.to_string())).collect();
    let ann_calls = ann.imap(inputs.clone());
    let bob_calls = bob.imap(inputs.clone());
    for (i, (a, b)) in ann_calls.zip(bob_calls).enumerate() {
        assert_eq!(a.expect("ok"), json!(format!("ann: {i}")));
        assert_eq!(b.expect("ok"), json!(format!("bob: {i}")));
    }
    assert_eq!(
        pool.apply(vec![json!("x")]).expect("ok"),
        json!("nobody: x"),
        "a call without a context sees null"
    );
}

#[test]
fn a_cancelled_call_blocked_in_wasi_costs_only_its_worker_process() {
    let pool = misbehave(1).build(guests::MISBEHAVE).expect("pool starts");
    let mut sleeping = pool
        .export("sleep-ms")
        .expect("exported")
        .apply_async(vec![json!(20_000)]);
    let behind = pool.main().apply_async(vec![json!(7)]);
    std::thread::sleep(Duration::from_millis(300));
    sleeping.cancel();
    let outcome = sleeping.wait_outcome();
    let err = outcome.json().expect_err("cancelled");
    assert_eq!(err.kind(), ErrorKind::Cancelled, "{err}");
    assert!(err.to_string().contains("could not stop it"), "{err}");
    // The call queued behind it runs on the replacement worker.
    assert_eq!(behind.wait().expect("ran elsewhere"), json!(7));
}
