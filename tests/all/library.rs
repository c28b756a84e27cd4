//! The library API (`mpwasm::Pool`) against real guests: map, imap, imap_unordered, starmap,
//! apply, apply_async, typed helpers and `Process`.

use std::collections::BTreeSet;
use std::time::Duration;

use mpwasm::{ErrorKind, Pool, PoolBuilder, Process};
use mpwasm_test_artifacts::guests;
use serde_json::{Value, json};

use crate::common;

fn builder() -> PoolBuilder {
    Pool::builder().worker_program(common::mpwasm_bin())
}

#[test]
fn map_and_imap_keep_input_order() {
    let pool = builder()
        .processes(2)
        .build(guests::SQUARE)
        .expect("pool starts");
    let results = pool.map((0..500).map(|i| json!(i)));
    let want: Vec<Value> = (0u64..500).map(|i| json!(i * i)).collect();
    let got: Vec<Value> = results.into_iter().map(|r| r.expect("ok")).collect();
    assert_eq!(got, want);
    let lazy: Vec<Value> = pool
        .imap((0..50).map(|i| json!(i)))
        .map(|r| r.expect("ok"))
        .collect();
    assert_eq!(lazy, want[..50]);
}

#[test]
fn the_typed_fast_path_wraps_and_still_rejects_what_is_not_a_u64() {
    // square is u64 -> u64, which workers call through a TypedFunc; inputs that are not a
    // plain u64 take the general path, which rejects them.
    let pool = builder()
        .processes(1)
        .build(guests::SQUARE)
        .expect("pool starts");
    let big = (1u64 << 32) + 1;
    let inputs = vec![json!(0), json!(u64::MAX), json!(big), json!(3)];
    let got: Vec<Value> = pool
        .map(inputs)
        .into_iter()
        .map(|r| r.expect("ok"))
        .collect();
    let want = vec![json!(0), json!(1), json!(big.wrapping_mul(big)), json!(9)];
    assert_eq!(got, want);
    for bad in [json!(-1), json!(1.5), json!("3"), json!([3]), json!(1e30)] {
        let err = pool.apply(vec![bad.clone()]).expect_err("not a u64");
        assert_eq!(err.kind(), ErrorKind::BadInput, "{bad}: {err}");
    }
}

#[test]
fn results_queued_behind_a_long_task_are_not_held_back() {
    // One worker holding many tiny batches delays its flushes while more batches wait; a long
    // task after quick ones must not keep the quick ones' results from the caller.
    let pool = builder()
        .processes(1)
        .chunksize(1)
        .function("sleep-ms")
        .build(guests::MISBEHAVE)
        .expect("pool starts");
    let start = std::time::Instant::now();
    // Quick tasks first, so the pool learns they are tiny and queues the rest at once.
    let inputs: Vec<Value> = (0..200).map(|_| json!(0)).chain([json!(3000)]).collect();
    let mut arrivals = Vec::new();
    for (index, result) in pool.imap_unordered(inputs) {
        result.expect("sleeping succeeds");
        arrivals.push((index.0, start.elapsed()));
    }
    let (last_index, last_at) = arrivals.pop().expect("201 results");
    assert_eq!(last_index, 200, "the long task finishes last");
    for (index, at) in &arrivals {
        assert!(
            last_at.saturating_sub(*at) > Duration::from_secs(2),
            "task {index} arrived at {at:?}, with the 3 s task at {last_at:?}"
        );
    }
    assert_eq!(arrivals.len(), 200);
}

#[test]
fn the_window_bounds_input_bytes_as_well_as_tasks() {
    // 64 credits: 64 small inputs, but only a few of 40 KiB (11 credits each) ahead.
    let pool = builder()
        .processes(1)
        .window(64)
        .build(guests::HASH)
        .expect("pool starts");
    let read = std::cell::Cell::new(0u64);
    let big = "x".repeat(40 * 1024);
    let inputs = (0u64..).map(|_| {
        read.set(read.get() + 1);
        json!(big)
    });
    let first: Vec<Value> = pool.imap(inputs).take(3).map(|r| r.expect("ok")).collect();
    assert_eq!(first.len(), 3);
    assert!(
        read.get() <= 3 + 64 / 11 + 2,
        "read {} inputs of 40 KiB ahead with a window of 64",
        read.get()
    );
    // One input larger than the whole window still runs, alone.
    let huge = "y".repeat(64 * 4096 * 2);
    let digest = pool.apply(vec![json!(huge)]).expect("a huge input runs");
    assert_eq!(digest.as_str().map(str::len), Some(64));
}

#[test]
fn imap_streams_an_endless_input() {
    // The input never ends; taking 20 results must not read it all.
    let pool = builder()
        .processes(2)
        .window(64)
        .build(guests::SQUARE)
        .expect("pool starts");
    let read = std::cell::Cell::new(0u64);
    let inputs = (0u64..).map(|i| {
        read.set(read.get() + 1);
        json!(i)
    });
    let first: Vec<Value> = pool.imap(inputs).take(20).map(|r| r.expect("ok")).collect();
    assert_eq!(first[19], json!(361));
    assert!(
        read.get() <= 20 + 64 + 1,
        "read {} inputs ahead",
        read.get()
    );
}

#[test]
fn imap_unordered_returns_every_index_once() {
    let pool = builder()
        .processes(2)
        .chunksize(1)
        .build(guests::SQUARE)
        .expect("pool starts");
    let mut seen = BTreeSet::new();
    for (index, result) in pool.imap_unordered((0..300).map(|i| json!(i))) {
        assert_eq!(result.expect("ok"), json!(index.0 * index.0));
        assert!(seen.insert(index.0), "index {index} twice");
    }
    assert_eq!(seen, (0..300).collect());
}

#[test]
fn apply_async_and_starmap() {
    let pool = builder()
        .processes(2)
        .function("add")
        .build(guests::KITCHEN)
        .expect("pool starts");
    let pending: Vec<_> = (0..10)
        .map(|i| pool.apply_async(vec![json!(i), json!(100)]))
        .collect();
    for (i, mut handle) in pending.into_iter().enumerate() {
        // try_get never blocks; wait does.
        let _ = handle.try_get();
        assert_eq!(handle.wait().expect("ok"), json!(i + 100));
    }
    let sums = pool.starmap(vec![vec![json!(1), json!(2)], vec![json!(-5), json!(5)]]);
    let sums: Vec<Value> = sums.into_iter().map(|r| r.expect("ok")).collect();
    assert_eq!(sums, [json!(3), json!(0)]);
    let bad = pool
        .apply(vec![json!(1)])
        .expect_err("one argument is too few");
    assert_eq!(bad.kind(), ErrorKind::BadInput);
}

#[test]
fn typed_helpers() {
    let pool = builder()
        .processes(1)
        .build(guests::SQUARE)
        .expect("pool starts");
    let squares: Vec<u64> = pool
        .map_typed::<u64, u64, _>(0..5)
        .into_iter()
        .collect::<Result<_, _>>()
        .expect("ok");
    assert_eq!(squares, [0, 1, 4, 9, 16]);
    let nine: u64 = pool.apply_typed(3u64).expect("ok");
    assert_eq!(nine, 9);
}

#[test]
fn limits_apply_through_the_library() {
    let pool = builder()
        .processes(1)
        .function("spin")
        .timeout(Duration::from_millis(200))
        .build(guests::MISBEHAVE)
        .expect("pool starts");
    let err = pool.apply(vec![json!(1)]).expect_err("spins");
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert_eq!(
        pool.apply(vec![json!(0)]).expect("next task runs"),
        json!(0)
    );
}

#[test]
fn process_runs_one_call_and_captures_output() {
    let process = Process::spawn_with(
        Pool::builder().worker_program(common::mpwasm_bin()),
        guests::GREETER,
        vec![json!(3)],
    )
    .expect("starts");
    let outcome = process.join();
    assert_eq!(outcome.json().expect("ok"), "null");
    assert_eq!(
        String::from_utf8_lossy(outcome.output()),
        "Starting worker 3\nFinished worker 3\n"
    );
    assert!(
        outcome
            .worker_pid()
            .is_some_and(|p| p != std::process::id())
    );
}

/// The lines `line 1` .. `line N`, as `chatter-stderr` and `chatter-stdout` print them.
fn chatter_lines(n: u32) -> String {
    (1..=n).map(|line| format!("line {line}\n")).collect()
}

#[test]
fn stdout_and_stderr_written_a_line_at_a_time_arrive_whole_in_order_and_capped() {
    // Rust's stderr is unbuffered (several writes per line) and its stdout line-buffered: both
    // take the short path to the capture, which must keep every byte in order, interleaved
    // with the other stream as written, and count what passes the cap.
    let pool = builder()
        .processes(1)
        .function("chatter-stderr")
        .build(guests::MISBEHAVE)
        .expect("pool starts");
    for (export, n) in [("chatter-stderr", 20_000), ("chatter-stdout", 20_000)] {
        let outcome = pool
            .export(export)
            .expect("exported")
            .apply_async(vec![json!(n)])
            .wait_outcome();
        assert_eq!(outcome.json(), Ok(n.to_string().as_str()), "{export}");
        assert_eq!(outcome.output_dropped(), 0, "{export}");
        assert!(
            String::from_utf8_lossy(outcome.output()) == chatter_lines(n),
            "{export}: {} bytes, not the {} expected",
            outcome.output().len(),
            chatter_lines(n).len()
        );
    }
    // `chatty` writes stdout through a lock, then one line on stderr: one stream after the
    // other, in that order.
    let outcome = pool
        .export("chatty")
        .expect("exported")
        .apply_async(vec![json!(3)])
        .wait_outcome();
    assert_eq!(
        String::from_utf8_lossy(outcome.output()),
        "line 1\nline 2\nline 3\nchatty: printed 3 lines\n"
    );

    let capped = builder()
        .processes(1)
        .output_limit(1000)
        .function("chatter-stderr")
        .build(guests::MISBEHAVE)
        .expect("pool starts");
    let outcome = capped.apply_async(vec![json!(5000)]).wait_outcome();
    assert_eq!(outcome.json(), Ok("5000"));
    let all = chatter_lines(5000);
    assert_eq!(outcome.output(), &all.as_bytes()[..1000]);
    assert_eq!(outcome.output_dropped(), all.len() as u64 - 1000);
}

#[test]
fn a_missing_worker_program_is_an_error_not_a_hang() {
    let err = Pool::builder()
        .worker_program("/no/such/mpwasm")
        .build(guests::SQUARE)
        .err()
        .expect("cannot start");
    assert!(err.to_string().contains("/no/such/mpwasm"), "{err}");
}

/// Kills the worker that answered first while it still holds queued tasks.
fn kill_first_worker(retries: u32) -> Vec<mpwasm::TaskOutcome> {
    let pool = builder()
        .processes(2)
        .chunksize(1)
        .retries(retries)
        .function("sleep-ms")
        .build(guests::MISBEHAVE)
        .expect("pool starts");
    let (mut submitter, outcomes) = pool.job(true);
    for _ in 0..12 {
        submitter
            .push("50".to_string())
            .expect("room in the window");
    }
    submitter.finish();
    let mut outcomes = outcomes;
    let first = outcomes.next_blocking().expect("a first outcome");
    let pid = first.worker_pid().expect("ran on a worker");
    let status = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let mut all = vec![first];
    all.extend(outcomes);
    all
}

#[test]
fn a_killed_worker_is_replaced_and_its_tasks_retried() {
    let all = kill_first_worker(1);
    let indices: Vec<u64> = all.iter().map(|o| o.index().0).collect();
    assert_eq!(
        indices,
        (0..12).collect::<Vec<_>>(),
        "every index exactly once, in order"
    );
    for o in &all {
        assert_eq!(o.json().expect("retried on a new worker"), "50");
    }
    let pids: BTreeSet<u32> = all.iter().filter_map(|o| o.worker_pid()).collect();
    assert!(pids.len() >= 3, "a replacement worker ran tasks: {pids:?}");
}

#[test]
fn without_retries_a_killed_worker_s_tasks_are_worker_lost() {
    let all = kill_first_worker(0);
    assert_eq!(all.len(), 12);
    let lost: Vec<_> = all.iter().filter_map(|o| o.json().err()).collect();
    assert!(!lost.is_empty(), "the killed worker held a task");
    for e in lost {
        assert_eq!(e.kind(), ErrorKind::WorkerLost, "{e}");
        assert!(e.message().contains("SIGKILL"), "{e}");
    }
    // The run went on: the other tasks succeeded.
    assert!(all.iter().filter(|o| o.json().is_ok()).count() >= 6);
}

#[test]
fn workers_that_cannot_start_fail_the_tasks_with_a_reason_instead_of_spinning() {
    let dir = std::env::temp_dir().join(format!("mpwasm-fake-workers-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let garbage = dir.join("garbage-worker");
    std::fs::write(
        &garbage,
        "#!/bin/sh\nprintf 'this is not a frame at all'\nsleep 5\n",
    )
    .expect("write");
    let quitter = dir.join("quitting-worker");
    std::fs::write(&quitter, "#!/bin/sh\necho 'no wasm for you' >&2\nexit 3\n").expect("write");
    for script in [&garbage, &quitter] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    for (program, want) in [(&garbage, "garbage"), (&quitter, "no wasm for you")] {
        let started = std::time::Instant::now();
        let pool = Pool::builder()
            .worker_program(program)
            .processes(2)
            .build(guests::SQUARE)
            .expect("the first spawn works");
        let results = pool.map((0..5).map(|i| json!(i)));
        assert_eq!(results.len(), 5);
        for r in results {
            let e = r.expect_err("no worker can run it");
            assert_eq!(e.kind(), ErrorKind::WorkerLost, "{e}");
            assert!(
                e.message().contains("cannot start") && e.message().contains(want),
                "{e}"
            );
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "it gave up promptly"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_slow_head_task_does_not_make_ordered_imap_read_ahead_without_bound() {
    let pool = builder()
        .processes(2)
        .window(32)
        .function("sleep-ms")
        .build(guests::MISBEHAVE)
        .expect("pool starts");
    let read = std::cell::Cell::new(0u64);
    // The first task sleeps; every later one is instant, and the input never ends.
    let inputs = (0u64..).map(|i| {
        read.set(read.get() + 1);
        json!(if i == 0 { 700 } else { 0 })
    });
    let mut results = pool.imap(inputs);
    assert_eq!(
        results.next().expect("a first result").expect("ok"),
        json!(700)
    );
    assert!(
        read.get() <= 33 + 1,
        "read {} inputs while the head was slow",
        read.get()
    );
}

#[test]
fn a_program_runs_once_per_input_through_the_library() {
    let pool = builder()
        .program_args(vec!["x={}".into(), "exit={}".into()], false)
        .build(guests::ECHO_ARGS)
        .expect("the program loads");
    assert!(pool.is_program());
    let results = pool.map([json!(0), json!(1)]);
    assert_eq!(
        results[0].as_ref().expect("exit 0 succeeds"),
        &json!({"exit": 0, "stdout": "x=0\nexit=0\n", "stderr": ""})
    );
    let failure = results[1].as_ref().expect_err("exit 1 fails");
    assert_eq!(failure.kind(), ErrorKind::Exit);
    let value: Value =
        serde_json::from_str(failure.value_json().expect("the run's value")).expect("JSON");
    assert_eq!(value["stdout"], "x=1\nexit=1\n");
    // A function module is not a program: program arguments are refused.
    let refused = builder()
        .program_args(vec!["x".into()], false)
        .build(guests::SQUARE);
    assert!(
        matches!(refused, Err(mpwasm::Error::NotAProgram { .. })),
        "{:?}",
        refused.err()
    );
    let functions = builder().build(guests::SQUARE).expect("square loads");
    assert!(!functions.is_program());
}
