//! A pool of plugins against real workers and real guests: several plugins sharing one set
//! of worker processes (or groups of their own when their grants differ), each with its own
//! limits, the instances a worker keeps, and plugins replaced or removed while calls run,
//! under load and under a kill storm, with no call lost and none run on the wrong version.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mpwasm::{DirGrant, Error, ErrorKind, PluginOptions, PluginPool, Pool, PoolBuilder};
use mpwasm_test_artifacts::guests;
use serde_json::{Value, json};

use crate::common;

fn builder(processes: usize) -> PoolBuilder {
    Pool::builder()
        .worker_program(common::mpwasm_bin())
        .processes(processes)
}

fn options() -> PluginOptions {
    PluginOptions::new()
}

/// The pids of the workers that answered `calls` of `plugin`.
fn pids(pool: &PluginPool, plugin: &str, inputs: &[Value]) -> BTreeSet<u32> {
    let plugin = pool.plugin(plugin).expect("the plugin is there");
    inputs
        .iter()
        .map(|input| {
            let outcome = plugin.apply_async(vec![input.clone()]).wait_outcome();
            assert!(outcome.json().is_ok(), "{:?}", outcome.json());
            outcome.worker_pid().expect("it ran on a worker")
        })
        .collect()
}

/// Primes below `n`, as the `primes` guest counts them.
fn primes_below(n: u64) -> u64 {
    (2..n)
        .filter(|&c| (2..).take_while(|d| d * d <= c).all(|d| c % d != 0))
        .count() as u64
}

#[test]
fn several_plugins_share_one_set_of_workers() {
    let pool = builder(2)
        .plugin("sq", guests::SQUARE, options())
        .plugin("pr", guests::PRIMES, options())
        .build_plugins()
        .expect("the pool starts");
    assert_eq!(pool.plugins(), ["pr", "sq"]);
    assert_eq!((pool.groups(), pool.processes()), (1, 2));
    let sq = pool.plugin("sq").expect("sq");
    let pr = pool.plugin("pr").expect("pr");
    let squares: Vec<Value> = sq
        .map((0..50u64).map(|x| json!(x)))
        .into_iter()
        .map(|r| r.expect("squared"))
        .collect();
    assert_eq!(
        squares,
        (0..50u64).map(|x| json!(x * x)).collect::<Vec<_>>()
    );
    assert_eq!(pr.apply(vec![json!(3000)]).expect("primes"), json!(430));
    let outcome = pr.apply_async(vec![json!(100)]).wait_outcome();
    assert_eq!(outcome.json(), Ok("25"));
    assert_eq!(outcome.plugin_version(), Some(0));
    // Both plugins' calls run in the same two processes.
    let inputs: Vec<Value> = (0..40).map(|x| json!(x)).collect();
    let both = pids(&pool, "sq", &inputs)
        .union(&pids(&pool, "pr", &inputs))
        .count();
    assert!(both <= 2, "{both} processes for two plugins in a pool of 2");
    let Err(err) = pool.plugin("nope") else {
        panic!("a plugin that is not there was found");
    };
    assert!(err.to_string().contains("(it has: pr, sq)"), "{err}");
}

#[test]
fn plugins_granted_different_things_get_workers_of_their_own() {
    let dir = common::temp_dir("plugin-grants");
    std::fs::write(dir.join("note.txt"), "for files only").expect("a file");
    let grant = DirGrant::parse(&format!("{}::/data:ro", dir.display())).expect("a grant");
    let pool = builder(2)
        .plugin(
            "files",
            guests::MISBEHAVE,
            options().function("read-file").dir(grant),
        )
        .plugin("sq", guests::SQUARE, options())
        .plugin(
            "nofiles",
            guests::MISBEHAVE,
            options().function("read-file"),
        )
        .build_plugins()
        .expect("the pool starts");
    assert_eq!(
        pool.groups(),
        2,
        "the granted plugin has workers of its own"
    );
    let read = |plugin: &str| {
        pool.plugin(plugin)
            .expect("there")
            .apply(vec![json!("/data/note.txt")])
            .expect("read-file answers")
    };
    assert_eq!(read("files"), json!({"ok": "for files only"}));
    assert!(
        read("nofiles").get("err").is_some(),
        "a plugin without the grant cannot read it"
    );
    let files = pids(&pool, "files", &vec![json!("/data/note.txt"); 6]);
    let sq = pids(&pool, "sq", &(0..6).map(|x| json!(x)).collect::<Vec<_>>());
    assert!(
        files.is_disjoint(&sq),
        "no process serves both: {files:?} {sq:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn each_plugin_has_its_own_limits() {
    let pool = builder(1)
        .plugin(
            "small",
            guests::MISBEHAVE,
            options().function("grow").memory_limit(32 << 20),
        )
        .plugin(
            "big",
            guests::MISBEHAVE,
            options().function("grow").memory_limit(256 << 20),
        )
        .plugin(
            "spinner",
            guests::MISBEHAVE,
            options()
                .function("spin")
                .timeout(Duration::from_millis(200)),
        )
        .plugin("patient", guests::MISBEHAVE, options().function("sleep-ms"))
        .build_plugins()
        .expect("the pool starts");
    assert_eq!(
        pool.groups(),
        1,
        "limits alone do not need processes of their own"
    );
    let small = pool.plugin("small").expect("small");
    let err = small.apply(vec![json!(64)]).expect_err("over 32 MiB");
    assert_eq!(err.kind(), ErrorKind::MemoryLimit, "{err}");
    assert!(err.message().contains("32 MiB"), "{err}");
    let big = pool.plugin("big").expect("big");
    assert_eq!(
        big.apply(vec![json!(64)]).expect("within 256 MiB"),
        json!(64)
    );
    let spinner = pool.plugin("spinner").expect("spinner");
    let err = spinner.apply(vec![json!(1)]).expect_err("spins forever");
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(err.message().contains("200ms"), "{err}");
    // The other plugins have no timeout: a call may take longer than the spinner's.
    let patient = pool.plugin("patient").expect("patient");
    assert_eq!(patient.apply(vec![json!(400)]).expect("slept"), json!(400));
}

#[test]
fn a_worker_keeps_the_instances_it_used_last_within_its_bound() {
    // One more counter than a worker keeps instances of.
    let kept = mpwasm::pool::KEPT_INSTANCES as usize;
    let names: Vec<String> = (1..=kept + 1).map(|n| format!("c{n}")).collect();
    let mut b = builder(1);
    for name in &names {
        b = b.plugin(name.as_str(), guests::COUNTER, options());
    }
    let pool = b.build_plugins().expect("the pool starts");
    // (count, whether `init` ran first) of one call.
    let next = |name: &str| -> (u64, bool) {
        let outcome = pool
            .plugin(name)
            .expect("there")
            .apply_async(vec![])
            .wait_outcome();
        let count = outcome.json().expect("counted").parse().expect("a number");
        let init = String::from_utf8_lossy(outcome.output()).contains("init ran");
        (count, init)
    };
    // Two plugins in turn: each keeps its instance, and its count goes on.
    for round in 1..=3 {
        assert_eq!(next("c1"), (100 + round, round == 1));
        assert_eq!(next("c2"), (100 + round, round == 1));
    }
    // All the others once: the worker keeps `kept` instances, so c1's (used least recently)
    // goes when the last one comes.
    for name in &names[2..] {
        assert_eq!(next(name), (101, true), "{name}");
    }
    assert_eq!(next("c2"), (104, false), "c2 is among those kept");
    assert_eq!(
        next("c1"),
        (101, true),
        "c1's instance was dropped: it starts again"
    );
}

#[test]
fn calls_running_when_a_plugin_is_replaced_finish_on_the_old_version() {
    let pool = builder(4)
        .plugin("calc", guests::SLEEPY_SQUARE, options())
        .build_plugins()
        .expect("the pool starts");
    let calc = pool.plugin("calc").expect("calc");
    // Each of these sleeps 450 ms, then squares.
    let running: Vec<_> = [8, 18, 28, 38]
        .iter()
        .map(|&x| (x, calc.apply_async(vec![json!(x)])))
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    assert_eq!(pool.replace("calc", guests::PRIMES).expect("replaced"), 1);
    assert!(
        started.elapsed() < Duration::from_millis(400),
        "the switch does not wait for the running calls"
    );
    for (x, mut pending) in running {
        let outcome = pending.wait_outcome();
        assert_eq!(outcome.json(), Ok(format!("{}", x * x).as_str()), "{x}");
        assert_eq!(outcome.plugin_version(), Some(0));
    }
    // Through the old handle and a new one: the new version.
    for handle in [calc, pool.plugin("calc").expect("calc")] {
        let outcome = handle.apply_async(vec![json!(100)]).wait_outcome();
        assert_eq!(outcome.json(), Ok("25"));
        assert_eq!(outcome.plugin_version(), Some(1));
    }
    assert_eq!(pool.plugin("calc").expect("calc").version(), 1);
}

#[test]
fn replacing_and_removing_plugins_under_load_loses_no_call_and_runs_none_on_the_wrong_version() {
    common::alone(
        "plugins::replacing_and_removing_plugins_under_load_loses_no_call_and_runs_none_on_the_wrong_version",
        || {
            under_load(false);
            under_load(true);
        },
    );
}

/// "calc" switches between `square` (even versions) and `primes` (odd versions) every 50-100
/// ms while four threads call it and "other" (`primes`), which is removed halfway; with
/// `storm`, workers are killed every 50 ms too. Every call gets one outcome: the right value
/// for the version that answered it, a version between the last replace done before the call
/// and the last one begun after its answer; or `plugin-removed` for "other"; or, in the
/// storm, `worker-lost`.
fn under_load(storm: bool) {
    let pool = Arc::new(
        builder(2)
            .retries(if storm { 5 } else { 1 })
            .plugin("calc", guests::SQUARE, options())
            .plugin("other", guests::PRIMES, options())
            .build_plugins()
            .expect("the pool starts"),
    );
    let begun = Arc::new(AtomicU32::new(0));
    let done = Arc::new(AtomicU32::new(0));
    let removed = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let replacer = {
        let (pool, begun, done, stop) = (
            Arc::clone(&pool),
            Arc::clone(&begun),
            Arc::clone(&done),
            Arc::clone(&stop),
        );
        std::thread::spawn(move || {
            let mut rng = common::Rng(7);
            while !stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(50 + rng.below(50)));
                let next = begun.fetch_add(1, Ordering::SeqCst) + 1;
                let module = if next.is_multiple_of(2) {
                    guests::SQUARE
                } else {
                    guests::PRIMES
                };
                let version = pool.replace("calc", module).expect("replaced");
                assert_eq!(version, next, "versions count up");
                done.store(version, Ordering::SeqCst);
            }
        })
    };
    let kill_storm =
        storm.then(|| common::KillStorm::start(std::process::id(), Duration::from_millis(50)));
    let checked = Arc::new(Mutex::new((0u64, 0u64, 0u64, 0u64)));
    let other_calls = Arc::new(AtomicU64::new(0));
    let callers: Vec<_> = (0..4)
        .map(|caller| {
            let (pool, begun, done, removed, checked, other_calls) = (
                Arc::clone(&pool),
                Arc::clone(&begun),
                Arc::clone(&done),
                Arc::clone(&removed),
                Arc::clone(&checked),
                Arc::clone(&other_calls),
            );
            std::thread::spawn(move || {
                let check_calc = |x: u64, low: u32, outcome: &mpwasm::TaskOutcome| {
                    let high = begun.load(Ordering::SeqCst);
                    match outcome.json() {
                        Ok(json) => {
                            let version = outcome.plugin_version().expect("a version");
                            assert!(
                                low <= version && version <= high,
                                "calc({x}) ran on version {version}, outside {low}..={high}"
                            );
                            let want = if version.is_multiple_of(2) {
                                x * x
                            } else {
                                primes_below(x)
                            };
                            assert_eq!(json, want.to_string(), "calc({x}) on version {version}");
                        }
                        Err(e) => {
                            assert!(storm && e.kind() == ErrorKind::WorkerLost, "calc({x}): {e}")
                        }
                    }
                };
                let mut rng = common::Rng(100 + caller);
                let mut ran = (0u64, 0u64, 0u64);
                // At least 20 rounds, and on until calc has been replaced 8 times.
                let mut round = 0;
                while round < 20 || (done.load(Ordering::SeqCst) < 8 && round < 5000) {
                    round += 1;
                    let calc = pool.plugin("calc").expect("calc is there");
                    // A stream through `imap`: each input its one outcome, in order, from
                    // one version or the other.
                    let inputs: Vec<u64> = (0..300).map(|_| 1 + rng.below(400)).collect();
                    let results: Vec<_> =
                        calc.main().imap(inputs.iter().map(|&x| json!(x))).collect();
                    assert_eq!(results.len(), inputs.len());
                    for (x, result) in inputs.iter().zip(results) {
                        match result {
                            Ok(value) => {
                                let x = *x;
                                let (square, primes) = (x * x, primes_below(x));
                                assert!(
                                    value == json!(square) || value == json!(primes),
                                    "calc({x}) = {value}"
                                );
                            }
                            Err(e) => {
                                assert!(storm && e.kind() == ErrorKind::WorkerLost, "calc: {e}")
                            }
                        }
                        ran.0 += 1;
                    }
                    // Single calls, each checked against its version.
                    let pending: Vec<_> = (0..20)
                        .map(|_| {
                            let x = 1 + rng.below(400);
                            let low = done.load(Ordering::SeqCst);
                            (x, low, calc.apply_async(vec![json!(x)]))
                        })
                        .collect();
                    for (x, low, mut call) in pending {
                        let outcome = call.wait_outcome();
                        check_calc(x, low, &outcome);
                        ran.1 += 1;
                    }
                    // "other": right, or removed; every call made after its removal
                    // returned is removed, and it is gone only once its removal began.
                    let was_removed = removed.load(Ordering::SeqCst);
                    if let Ok(other) = pool.plugin("other") {
                        let x = 1 + rng.below(400);
                        match other.apply(vec![json!(x)]) {
                            Ok(v) => assert_eq!(v, json!(primes_below(x))),
                            Err(e) => assert!(
                                e.kind() == ErrorKind::PluginRemoved
                                    || (storm && e.kind() == ErrorKind::WorkerLost),
                                "other({x}): {e}"
                            ),
                        }
                        ran.2 += 1;
                        other_calls.fetch_add(1, Ordering::SeqCst);
                    } else {
                        assert!(
                            was_removed || removed.load(Ordering::SeqCst),
                            "other vanished before its removal began"
                        );
                    }
                }
                let mut total = checked.lock().expect("the tally");
                total.0 += ran.0;
                total.1 += ran.1;
                total.2 += ran.2;
                total.3 += round;
            })
        })
        .collect();
    // Once the callers have called it a few times, "other" goes; a handle taken before
    // answers `plugin-removed` after.
    let other = pool.plugin("other").expect("other");
    let deadline = Instant::now() + Duration::from_secs(60);
    while other_calls.load(Ordering::SeqCst) < 4 {
        assert!(Instant::now() < deadline, "the callers never called other");
        std::thread::sleep(Duration::from_millis(10));
    }
    // Set first: a caller waiting on the pool's table of plugins may find "other" gone the
    // moment `remove` lets go of it, before this thread runs again.
    removed.store(true, Ordering::SeqCst);
    pool.remove("other").expect("removed");
    let err = other.apply(vec![json!(10)]).expect_err("it was removed");
    assert_eq!(err.kind(), ErrorKind::PluginRemoved, "{err}");
    assert!(
        err.message().contains("plugin `other` was removed"),
        "{err}"
    );
    assert!(pool.replace("other", guests::PRIMES).is_err());
    for caller in callers {
        caller.join().expect("a caller's checks held");
    }
    stop.store(true, Ordering::SeqCst);
    replacer.join().expect("the replacer's checks held");
    let kills = kill_storm.map(common::KillStorm::stop);
    let (streamed, single, other, rounds) = *checked.lock().expect("the tally");
    assert_eq!((streamed, single), (rounds * 300, rounds * 20));
    assert!(other >= 4);
    assert!(
        begun.load(Ordering::SeqCst) >= 8,
        "calc was replaced while the callers ran"
    );
    if let Some(kills) = kills {
        assert!(kills > 0, "the storm killed workers");
    }
}

#[test]
fn a_pool_of_plugins_refuses_what_cannot_work_and_says_why() {
    // Plugins start only with build_plugins, and only on this machine.
    let with_plugin = builder(1).plugin("sq", guests::SQUARE, options());
    let Err(err) = with_plugin.clone().build(guests::SQUARE) else {
        panic!("build started a builder holding plugins");
    };
    assert!(
        err.to_string().contains("start it with build_plugins"),
        "{err}"
    );
    // Two of one name, none at all, a module that is not there (named).
    let Err(err) = builder(1)
        .plugin("sq", guests::SQUARE, options())
        .plugin("sq", guests::PRIMES, options())
        .build_plugins()
    else {
        panic!("two plugins of one name");
    };
    assert!(
        err.to_string().contains("two plugins are named `sq`"),
        "{err}"
    );
    assert!(builder(1).build_plugins().is_err());
    let Err(err) = builder(1)
        .plugin("ghost", "/no/such/plugin.wasm", options())
        .build_plugins()
    else {
        panic!("a plugin that cannot be read");
    };
    assert!(matches!(err, Error::Plugin { .. }), "{err}");
    assert!(
        err.to_string().starts_with("plugin `ghost`: cannot read"),
        "{err}"
    );

    let pool = builder(1)
        .plugin("m", guests::MISBEHAVE, options().function("id"))
        .build_plugins()
        .expect("the pool starts");
    // A bad replacement leaves the plugin as it was.
    let Err(err) = pool.replace("m", "/no/such/plugin.wasm") else {
        panic!("replaced by nothing");
    };
    assert!(
        err.to_string().starts_with("plugin `m`: cannot read"),
        "{err}"
    );
    let Err(err) = pool.replace("m", guests::SQUARE) else {
        panic!("a module without the plugin's function took its place");
    };
    assert!(
        err.to_string().contains("no exported function `id`"),
        "{err}"
    );
    let m = pool.plugin("m").expect("m");
    assert_eq!(m.apply(vec![json!(3)]).expect("still misbehave"), json!(3));
    // An export the new version lacks: calls through it say so; the plugin's own function
    // goes on.
    let divide = m.export("divide").expect("misbehave has divide");
    assert_eq!(divide.apply(vec![json!(6), json!(3)]), Ok(json!(2)));
    let only_id = mpwasm::task::TaskSource::Bytes {
        name: "only-id.wasm".into(),
        bytes: wat::parse_str(
            r#"(module (func (export "id") (param i64) (result i64) local.get 0))"#,
        )
        .expect("valid wat"),
    };
    assert_eq!(pool.replace("m", only_id).expect("replaced"), 1);
    assert_eq!(m.apply(vec![json!(4)]).expect("id of version 1"), json!(4));
    let err = divide
        .apply(vec![json!(6), json!(3)])
        .expect_err("the new version has no divide");
    assert_eq!(err.kind(), ErrorKind::BadInput, "{err}");
    assert!(err.message().contains("has no export `divide`"), "{err}");
    pool.remove("m").expect("removed");
    assert!(pool.plugin("m").is_err());
    assert!(pool.remove("m").is_err());
}
