//! Broker chaos against a real redis-server and real `mpwasm worker` processes: the server
//! restarted mid-job with and without persistence, frozen past the lease, cutting every
//! connection every 200 ms; the workers killed at random and restarted; a poison input that
//! kills whichever worker holds it. Each job's every index is answered exactly once (or with
//! a named error), and nothing hangs.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use mpwasm_test_artifacts::guests;

use super::{Figures, Observed, Tally, observe, sized};
use crate::common::broker::{Redis, Worker};
use crate::common::{mpwasm_bin, temp_dir};

/// No scenario may take longer than this.
const LIMIT: Duration = Duration::from_secs(240);

/// Starts `mpwasm run square.wasm --map 0..ITEMS --unordered --format jsonl` on the broker at
/// `redis`, with lease 1 s and `extra`.
fn squares(redis: &Redis, items: u64, extra: &[&str]) -> Child {
    Command::new(mpwasm_bin())
        .args(["run", guests::SQUARE, "--map", &format!("0..{items}")])
        .args(["--unordered", "--format", "jsonl", "--lease", "1s"])
        .args(["--broker", &redis.url()])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mpwasm starts")
}

fn square_is_right(index: u64, value: &serde_json::Value) -> bool {
    value.as_u64() == Some(index * index)
}

/// `n` workers of one process each on the broker at `url`.
fn workers_at(url: &str, n: usize) -> Vec<Worker> {
    (0..n).map(|_| Worker::start(url, &[])).collect()
}

/// The workers' logs, for a failure's message.
fn logs(workers: &[Worker]) -> String {
    workers.iter().map(Worker::log).collect()
}

/// Runs `items` squares over `n` workers, calling `fault` once when `at` results are in;
/// returns what was observed and when the fault began.
fn with_fault(
    redis: &mut Redis,
    n: usize,
    items: u64,
    at: usize,
    fault: impl FnOnce(&mut Redis),
) -> (Observed, Vec<Worker>, Option<Instant>) {
    let workers = workers_at(&redis.url(), n);
    let mut fault = Some(fault);
    let mut began = None;
    let observed = observe(squares(redis, items, &[]), LIMIT, |count| {
        if count == at
            && let Some(fault) = fault.take()
        {
            began = Some(Instant::now());
            fault(redis);
        }
    });
    assert!(began.is_some(), "the job ended before the fault");
    (observed, workers, began)
}

#[test]
fn a_broker_restarted_with_persistence_loses_nothing() {
    let items = sized(5_000, 50_000);
    let dir = temp_dir("chaos-aof");
    let dir_arg = dir.to_str().expect("utf-8").to_string();
    let mut redis = Redis::start(&[
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--dir",
        &dir_arg,
    ]);
    let (run, workers, began) = with_fault(&mut redis, 3, items, items as usize / 5, |redis| {
        redis.restart()
    });
    let tally = Tally::of(&run.lines, items, square_is_right);
    Figures {
        scenario: "a_broker_restarted_with_persistence_loses_nothing",
        load: format!("square over 0..{items}, 3 broker workers, lease 1 s"),
        faults: "redis-server killed and restarted once (AOF, appendfsync always)".into(),
        inputs: items,
        ..Figures::of_run(&run, began)
    }
    .with(&tally)
    .record();
    tally.assert_exactly_once(&[], "restart with AOF");
    assert_eq!(run.code, 0, "{}\n{}", run.stderr_tail(), logs(&workers));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_broker_restarted_empty_fails_each_unanswered_input_clearly() {
    let items = sized(20_000, 100_000);
    let mut redis = Redis::start(&[]);
    let (run, workers, began) = with_fault(&mut redis, 3, items, 1_000, |redis| redis.restart());
    // The inputs sent before the broker lost the job each got one outcome; the rest were not
    // read, and the host says how many.
    let sent = run.lines.len() as u64;
    let tally = Tally::of(&run.lines, sent, square_is_right);
    let not_run = items - sent;
    let mut figures = Figures {
        scenario: "a_broker_restarted_empty_fails_each_unanswered_input_clearly",
        load: format!("square over 0..{items}, 3 broker workers, lease 1 s"),
        faults: format!(
            "redis-server killed and restarted once, without persistence: the {sent} inputs \
             sent had their outcome, the other {not_run} were not read, as the host said"
        ),
        inputs: items,
        ..Figures::of_run(&run, began)
    }
    .with(&tally);
    figures.failed.insert("not run (said so)".into(), not_run);
    figures.record();
    // What was answered before is right; every other input sent says why it has no result.
    tally.assert_exactly_once(&["broker-lost"], "restart without persistence");
    assert!(
        tally.failed.get("broker-lost").is_some_and(|&n| n > 0),
        "{tally:?}"
    );
    assert!(
        tally.messages.values().all(|m| m.contains("vanished")),
        "{:?}",
        tally.messages.values().next()
    );
    assert!(
        not_run > 0
            && run
                .stderr
                .contains(&format!("{not_run} of {items} inputs were not run")),
        "{}",
        run.stderr_tail()
    );
    assert_eq!(run.code, 1, "{}", run.stderr_tail());
    // The workers live on and serve the next job.
    let next = observe(squares(&redis, 100, &[]), LIMIT, |_| {});
    let again = Tally::of(&next.lines, 100, square_is_right);
    again.assert_exactly_once(&[], "the next job");
    assert_eq!(next.code, 0, "{}\n{}", next.stderr_tail(), logs(&workers));
}

#[test]
fn a_broker_frozen_past_the_lease_loses_and_doubles_nothing() {
    let items = sized(5_000, 50_000);
    let frozen = Duration::from_secs(sized(3, 8));
    let mut redis = Redis::start(&[]);
    let (run, workers, began) = with_fault(&mut redis, 3, items, items as usize / 5, |redis| {
        redis.freeze(frozen)
    });
    let tally = Tally::of(&run.lines, items, square_is_right);
    Figures {
        scenario: "a_broker_frozen_past_the_lease_loses_and_doubles_nothing",
        load: format!("square over 0..{items}, 3 broker workers, lease 1 s"),
        faults: format!(
            "redis-server frozen (SIGSTOP) for {} s, then resumed",
            frozen.as_secs()
        ),
        inputs: items,
        ..Figures::of_run(&run, began)
    }
    .with(&tally)
    .record();
    tally.assert_exactly_once(&[], "a frozen broker");
    assert_eq!(run.code, 0, "{}\n{}", run.stderr_tail(), logs(&workers));
}

#[test]
fn connections_cut_every_200_ms_lose_and_double_nothing() {
    let items = 20_000;
    let redis = Redis::start(&[]);
    let workers = workers_at(&redis.url(), 3);
    let done = Arc::new(AtomicBool::new(false));
    let cuts = Arc::new(AtomicU32::new(0));
    let port = redis.port;
    let cutter = {
        let (done, cuts) = (Arc::clone(&done), Arc::clone(&cuts));
        std::thread::spawn(move || {
            while !done.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(200));
                let cut = Command::new("redis-cli")
                    .args(["-p", &port.to_string(), "CLIENT", "KILL", "TYPE", "normal"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success());
                cuts.fetch_add(u32::from(cut), Ordering::SeqCst);
            }
        })
    };
    let started = Instant::now();
    let run = observe(squares(&redis, items, &[]), LIMIT, |_| {});
    done.store(true, Ordering::SeqCst);
    let _ = cutter.join();
    let cuts = cuts.load(Ordering::SeqCst);
    let tally = Tally::of(&run.lines, items, square_is_right);
    Figures {
        scenario: "connections_cut_every_200_ms_lose_and_double_nothing",
        load: format!("square over 0..{items}, 3 broker workers, lease 1 s"),
        faults: format!("every client connection cut (CLIENT KILL) every 200 ms: {cuts} times"),
        inputs: items,
        ..Figures::of_run(&run, Some(started))
    }
    .with(&tally)
    .record();
    tally.assert_exactly_once(&[], "connections cut");
    assert!(
        cuts >= 3,
        "only {cuts} cuts: the job was too short to prove anything"
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stderr_tail(), logs(&workers));
}

#[test]
fn workers_killed_at_random_and_restarted_lose_nothing() {
    let items = 50_000;
    let redis = Redis::start(&[]);
    let url = redis.url();
    let done = Arc::new(AtomicBool::new(false));
    let storm = {
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            let mut workers = workers_at(&url, 4);
            let (mut turn, mut kills) = (0usize, 0u32);
            while !done.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(300));
                turn = turn.wrapping_mul(31).wrapping_add(7);
                let victim = turn % workers.len();
                workers[victim].kill();
                kills += 1;
                workers[victim] = Worker::start(&url, &[]);
            }
            (kills, workers)
        })
    };
    let started = Instant::now();
    // Each input may be held by a worker that dies several times before one answers it.
    let run = observe(squares(&redis, items, &["--retries", "20"]), LIMIT, |_| {});
    done.store(true, Ordering::SeqCst);
    let (kills, workers) = storm.join().expect("the storm thread");
    let tally = Tally::of(&run.lines, items, square_is_right);
    Figures {
        scenario: "workers_killed_at_random_and_restarted_lose_nothing",
        load: format!("square over 0..{items}, 4 broker workers, lease 1 s, --retries 20"),
        faults: format!("a random worker SIGKILLed every 300 ms and restarted: {kills} kills"),
        inputs: items,
        ..Figures::of_run(&run, Some(started))
    }
    .with(&tally)
    .record();
    tally.assert_exactly_once(&[], "a kill storm of broker workers");
    assert!(
        kills >= 3,
        "only {kills} kills: the job was too short to prove anything"
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stderr_tail(), logs(&workers));
}

#[test]
fn a_poison_input_fails_alone_and_the_job_finishes() {
    // Input 7 kills any worker that takes it (the test plays the machine's OOM killer: it
    // kills whichever worker holds it); it fails alone after its delivery limit.
    let items = sized(200, 2_000);
    const POISON: &str = "600000";
    let redis = Redis::start(&[]);
    let url = redis.url();
    let mut workers = workers_at(&redis.url(), 3);
    let input = temp_dir("chaos-poison").join("ms.jsonl");
    let mut lines = vec!["1"; items as usize];
    lines[7] = POISON;
    std::fs::write(&input, lines.join("\n") + "\n").expect("input");
    let submitter = Command::new(mpwasm_bin())
        .args([
            "run",
            guests::MISBEHAVE,
            "--func",
            "sleep-ms",
            "--unordered",
        ])
        .args(["--format", "jsonl", "--retries", "1", "--lease", "1s"])
        .args(["--broker", &url, "--input", input.to_str().expect("utf-8")])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mpwasm starts");
    let done = Arc::new(AtomicBool::new(false));
    let killer = {
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            let mut kills = 0u32;
            while !done.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(100));
                if let Some(pid) = holder_of(&redis, POISON)
                    && let Some(at) = workers.iter().position(|w| w.pid() == pid)
                {
                    workers[at].kill();
                    kills += 1;
                    workers[at] = Worker::start(&url, &[]);
                }
            }
            (kills, workers, redis)
        })
    };
    let run = observe(submitter, LIMIT, |_| {});
    done.store(true, Ordering::SeqCst);
    let (kills, workers, _redis) = killer.join().expect("the killer thread");
    let tally = Tally::of(&run.lines, items, |_, v| v == 1);
    Figures {
        scenario: "a_poison_input_fails_alone_and_the_job_finishes",
        load: format!("sleep-ms 1 over {items} inputs, 3 broker workers, lease 1 s, --retries 1"),
        faults: format!("input 7 kills the worker holding it: {kills} kills"),
        inputs: items,
        ..Figures::of_run(&run, None)
    }
    .with(&tally)
    .record();
    tally.assert_exactly_once(&["worker-lost"], "a poison input");
    assert_eq!(tally.failed.get("worker-lost"), Some(&1), "{tally:?}");
    let why = tally.messages.get(&7).expect("input 7 failed");
    assert!(why.contains("delivered 3 times"), "{why}");
    assert_eq!(kills, 2, "{}", logs(&workers));
    assert_eq!(run.code, 1, "{}", run.stderr_tail());
    let _ = std::fs::remove_dir_all(input.parent().expect("a dir"));
}

/// The pid of the worker holding the input whose text is `input`, if one holds it now.
fn holder_of(redis: &Redis, input: &str) -> Option<u32> {
    let jobs = redis.cli(&["SMEMBERS", "mpwasm:jobs"]);
    let job = jobs.iter().find(|j| !j.is_empty())?;
    let stream = format!("mpwasm:job:{job}:in");
    let pending = redis.cli(&["XPENDING", &stream, "workers", "-", "+", "100"]);
    pending.chunks_exact(4).find_map(|entry| {
        let (id, consumer) = (&entry[0], &entry[1]);
        let fields = redis.cli(&["XRANGE", &stream, id, id]);
        if !fields.iter().any(|f| f == input) {
            return None;
        }
        consumer.rsplit('-').next()?.parse().ok()
    })
}
