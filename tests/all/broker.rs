//! Jobs through a real Redis broker (`redis-server` on a free 127.0.0.1 port, one per test)
//! with real `mpwasm worker` processes: the same output as a local run, nothing lost when a
//! worker is killed, two jobs at once, Ctrl-C of the
//! submitter, the worker's caps, and clear errors for a wrong password or no broker.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mpwasm_test_artifacts::guests;

use crate::common::broker::{Redis, Worker, free_port, three_workers};
use crate::common::{self, children, mpwasm, mpwasm_bin, temp_dir};

/// Starts `mpwasm ARGS` with `env`, no stdin, stdout and stderr piped.
fn start(args: &[&str], env: &[(&str, &str)]) -> Child {
    Command::new(mpwasm_bin())
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mpwasm starts")
}

/// Runs `mpwasm ARGS` and waits at most `limit` for it: a hang fails the test.
fn run_within(args: &[&str], limit: Duration) -> common::Run {
    let child = start(args, &[]);
    let pid = child.id();
    let watchdog = std::thread::spawn(move || {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        true
    });
    let out = child.wait_with_output().expect("mpwasm runs");
    let hung = watchdog.join().unwrap_or(false);
    let run = common::Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(!hung, "mpwasm {args:?} hung for {limit:?}: {run:?}");
    run
}

/// JSON Lines without the `worker` field (a pid, different on every run).
fn without_workers(run: &common::Run) -> Vec<serde_json::Value> {
    let mut lines = run.json_lines();
    for line in &mut lines {
        if let Some(map) = line.as_object_mut() {
            map.remove("worker");
        }
    }
    lines
}

const LIMIT: Duration = Duration::from_secs(90);

#[test]
fn the_output_is_a_local_runs_ordered_unordered_and_jsonl() {
    let redis = Redis::start(&[]);
    let _workers = three_workers(&redis, &[]);
    let url = redis.url();

    let ordered = ["run", guests::SQUARE, "--map", "0..200"];
    let local = mpwasm(&ordered);
    let remote = run_within(&[&ordered[..], &["--broker", &url]].concat(), LIMIT);
    assert_eq!(
        (remote.code, &remote.stdout),
        (0, &local.stdout),
        "{remote:?}"
    );
    assert_eq!(remote.lines().len(), 200);

    let unordered = [
        "run",
        guests::SLEEPY_SQUARE,
        "--map",
        "0..12",
        "--unordered",
    ];
    let local = mpwasm(&unordered);
    let remote = run_within(&[&unordered[..], &["--broker", &url]].concat(), LIMIT);
    let sorted = |run: &common::Run| {
        let mut lines: Vec<String> = run.lines().iter().map(|l| l.to_string()).collect();
        lines.sort();
        lines
    };
    assert_eq!(remote.code, 0, "{remote:?}");
    assert_eq!(sorted(&remote), sorted(&local));

    // Failures too: the same kinds, messages and exit status.
    let input = temp_dir("broker-jsonl").join("pairs.jsonl");
    std::fs::write(&input, "[6, 3]\n[1, 0]\n[-8, 2]\n[\"x\", 1]\n[7, 7]\n").expect("input");
    let jsonl = [
        "run",
        guests::MISBEHAVE,
        "--func",
        "divide",
        "--input",
        input.to_str().expect("utf-8 path"),
        "--format",
        "jsonl",
    ];
    let local = mpwasm(&jsonl);
    let remote = run_within(&[&jsonl[..], &["--broker", &url]].concat(), LIMIT);
    assert_eq!(remote.code, local.code, "{remote:?}");
    assert_eq!(remote.code, 1);
    assert_eq!(without_workers(&remote), without_workers(&local));

    // A WASI program's output, byte for byte.
    let program = [
        "run",
        guests::ECHO_ARGS,
        "--map",
        "0..4",
        "--",
        "hello",
        "{}",
    ];
    let local = mpwasm(&program);
    let remote = run_within(
        &[&program[..4], &["--broker", &url], &program[4..]].concat(),
        LIMIT,
    );
    assert_eq!(
        (remote.code, &remote.stdout),
        (0, &local.stdout),
        "{remote:?}"
    );

    // The job's keys are gone once it is done.
    assert!(
        redis
            .cli(&["KEYS", "mpwasm:job:*"])
            .iter()
            .all(|l| l.is_empty())
    );
    assert!(
        redis
            .cli(&["SMEMBERS", "mpwasm:jobs"])
            .iter()
            .all(|l| l.is_empty())
    );
}

#[test]
fn a_worker_killed_mid_job_loses_nothing() {
    const ITEMS: u64 = 40;
    let mut redis = Redis::start(&[]);
    let mut workers = three_workers(&redis, &[]);
    let run = job_with_trouble(&mut redis, ITEMS, &[], |_| workers[0].kill());
    assert_eq!(run.code, 0, "{run:?}");
    let mut seen = BTreeMap::new();
    for line in run.json_lines() {
        let index = line["index"].as_u64().expect("index");
        assert_eq!(line["value"].as_u64(), Some(index * index), "{line}");
        *seen.entry(index).or_insert(0) += 1;
    }
    assert_eq!(seen.len() as u64, ITEMS, "{run:?}");
    assert!(seen.values().all(|&n| n == 1), "{seen:?}");
    let logs: String = workers[1..].iter().map(Worker::log).collect();
    assert!(
        logs.contains("took over"),
        "nobody took the killed worker's inputs:\n{logs}"
    );
}

#[test]
fn two_jobs_at_once_share_the_workers() {
    let redis = Redis::start(&[]);
    let url = redis.url();
    let workers = three_workers(&redis, &[]);
    let a = [
        "run",
        guests::SLEEPY_SQUARE,
        "--map",
        "0..24",
        "--broker",
        &url,
    ];
    let b = [
        "run",
        guests::PRIMES,
        "--map",
        "0..3000:100",
        "--broker",
        &url,
    ];
    let (a_local, b_local) = (mpwasm(&a[..4]), mpwasm(&b[..4]));
    let (a_remote, b_remote) = std::thread::scope(|s| {
        let a = s.spawn(|| run_within(&a, LIMIT));
        let b = s.spawn(|| run_within(&b, LIMIT));
        (a.join().expect("job a"), b.join().expect("job b"))
    });
    assert_eq!(
        (a_remote.code, &a_remote.stdout),
        (0, &a_local.stdout),
        "{a_remote:?}"
    );
    assert_eq!(
        (b_remote.code, &b_remote.stdout),
        (0, &b_local.stdout),
        "{b_remote:?}"
    );
    // Every worker took part in both jobs.
    for worker in &workers {
        let log = worker.log();
        assert!(
            log.contains("sleepy_square.wasm") && log.contains("primes.wasm"),
            "{log}"
        );
    }
}

#[test]
fn ctrl_c_of_the_submitter_stops_the_job_everywhere() {
    let redis = Redis::start(&[]);
    let workers = three_workers(&redis, &[]);
    let mut submitter = start(
        &[
            "run",
            guests::MISBEHAVE,
            "--func",
            "sleep-ms",
            "--map",
            "60000..60030",
            "--broker",
            &redis.url(),
        ],
        &[],
    );
    // Wait until every worker runs the job in its local pool.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !workers.iter().all(|w| !children(w.pid()).is_empty()) {
        assert!(
            Instant::now() < deadline,
            "the workers never started the job"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    let _ = Command::new("kill")
        .args(["-INT", &submitter.id().to_string()])
        .status();
    let stopped = Instant::now();
    while submitter.try_wait().expect("wait").is_none() {
        assert!(
            stopped.elapsed() < Duration::from_secs(10),
            "Ctrl-C hangs the submitter"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = submitter.wait_with_output().expect("output");
    assert_eq!(out.status.code(), Some(130));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("30 tasks stopped before finishing"),
        "{stderr}"
    );
    // A few seconds later nothing of the job runs anywhere, and its keys are gone.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let busy: Vec<u32> = workers.iter().flat_map(|w| children(w.pid())).collect();
        let keys = redis.cli(&["KEYS", "mpwasm:job:*"]);
        if busy.is_empty() && keys.iter().all(|k| k.is_empty()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still running: {busy:?}, keys {keys:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    for worker in &workers {
        assert!(worker.log().contains("ended"), "{}", worker.log());
    }
}

#[test]
fn the_workers_caps_override_a_jobs_larger_limits() {
    let redis = Redis::start(&[]);
    let url = redis.url();
    let _worker = Worker::start(&url, &["--max-memory", "32MiB", "--max-timeout", "1s"]);
    let grow = run_within(
        &[
            "run",
            guests::MISBEHAVE,
            "--func",
            "grow",
            "--map",
            "100..101",
            "--memory",
            "1GiB",
            "--format",
            "jsonl",
            "--broker",
            &url,
        ],
        LIMIT,
    );
    assert_eq!(grow.code, 1, "{grow:?}");
    let line = &grow.json_lines()[0];
    assert_eq!(line["error"]["kind"], "memory-limit", "{line}");
    assert!(
        grow.stderr.contains("--memory 1 GiB lowered to 32 MiB"),
        "{grow:?}"
    );

    let started = Instant::now();
    let spin = run_within(
        &[
            "run",
            guests::MISBEHAVE,
            "--func",
            "spin",
            "--map",
            "1..2",
            "--timeout",
            "60s",
            "--format",
            "jsonl",
            "--broker",
            &url,
        ],
        LIMIT,
    );
    assert_eq!(spin.code, 1, "{spin:?}");
    assert_eq!(spin.json_lines()[0]["error"]["kind"], "timeout", "{spin:?}");
    assert!(started.elapsed() < Duration::from_secs(30), "{spin:?}");

    // A directory the operator did not allow: the job is refused, with what would allow it.
    let dir = temp_dir("broker-grant");
    let refused = run_within(
        &[
            "run",
            guests::MISBEHAVE,
            "--func",
            "id",
            "--map",
            "0..3",
            "--dir",
            dir.to_str().expect("utf-8"),
            "--broker",
            &url,
        ],
        LIMIT,
    );
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(
        refused.stderr.contains("task 0: refused: every worker"),
        "{refused:?}"
    );
    // The same broker-wide failure is printed once, then counted (jsonl keeps every line).
    assert!(
        refused
            .stderr
            .contains("2 more tasks failed with the same refused error"),
        "{refused:?}"
    );
    assert!(refused.stderr.contains("(3 refused)"), "{refused:?}");
}

#[test]
fn a_wrong_password_and_an_unreachable_broker_are_clear_errors() {
    let redis = Redis::start(&["--requirepass", "s3cret"]);
    let port = redis.port;
    let base = ["run", guests::SQUARE, "--map", "0..3", "--broker"];
    for (url, want) in [
        (
            format!("redis://:wrongpw@127.0.0.1:{port}"),
            "refused to let us in",
        ),
        (format!("redis://127.0.0.1:{port}"), "refused to let us in"),
        (
            format!("redis://127.0.0.1:{}", free_port()),
            "cannot reach the broker",
        ),
        ("http://127.0.0.1:6379".to_string(), "invalid broker URL"),
    ] {
        let run = run_within(&[&base[..], &[url.as_str()]].concat(), LIMIT);
        assert_eq!(run.code, 2, "{url}: {run:?}");
        assert!(run.stderr.contains(want), "{url}: {run:?}");
        assert!(
            !run.stderr.contains("wrongpw"),
            "the password is printed: {run:?}"
        );
        let worker = run_within(&["worker", "--broker", &url], LIMIT);
        assert_eq!(worker.code, 2, "{url}: {worker:?}");
        assert!(worker.stderr.contains(want), "{url}: {worker:?}");
    }
    // The right password works.
    let _worker = Worker::start(&format!("redis://:s3cret@127.0.0.1:{port}"), &[]);
    let run = run_within(
        &[
            &base[..],
            &[format!("redis://:s3cret@127.0.0.1:{port}").as_str()],
        ]
        .concat(),
        LIMIT,
    );
    assert_eq!((run.code, run.stdout.as_str()), (0, "0\n1\n4\n"), "{run:?}");
}

/// Runs a jsonl job of sleepy squares over 0..`items` (lease 1 s) on the broker's workers,
/// calling `trouble` once five results are in; returns the submitter's run.
fn job_with_trouble(
    redis: &mut Redis,
    items: u64,
    env: &[(&str, &str)],
    trouble: impl FnOnce(&mut Redis),
) -> common::Run {
    let mut submitter = start(
        &[
            "run",
            guests::SLEEPY_SQUARE,
            "--map",
            &format!("0..{items}"),
            "--format",
            "jsonl",
            "--broker",
            &redis.url(),
            "--lease",
            "1s",
        ],
        env,
    );
    let started = Instant::now();
    let stdout = submitter.stdout.take().expect("piped");
    let mut lines = Vec::new();
    let mut trouble = Some(trouble);
    for line in BufReader::new(stdout).lines() {
        lines.push(line.expect("a line"));
        if lines.len() == 5
            && let Some(trouble) = trouble.take()
        {
            trouble(redis);
        }
        assert!(started.elapsed() < LIMIT, "the job hangs");
    }
    while submitter.try_wait().expect("wait").is_none() {
        assert!(started.elapsed() < LIMIT, "the submitter hangs: {lines:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = submitter.wait_with_output().expect("output");
    common::Run {
        code: out.status.code().unwrap_or(-1),
        stdout: lines.join("\n"),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn a_lost_broker_is_a_clear_error_not_a_hang() {
    let mut redis = Redis::start(&[]);
    let patience = [("MPWASM_BROKER_PATIENCE", "2s")];
    let mut workers: Vec<Worker> = (0..3)
        .map(|_| Worker::start_with_env(&redis.url(), &[], &patience))
        .collect();
    let run = job_with_trouble(&mut redis, 200, &patience, |redis| {
        redis.server.kill();
    });
    assert_eq!(run.code, 1, "{run:?}");
    // Every input has its line: a result, or why there is none.
    let lines = run.json_lines();
    let lost = lines
        .iter()
        .filter(|l| l["error"]["kind"] == "broker-lost")
        .count();
    assert!(lost > 0, "{run:?}");
    assert!(
        run.stdout.contains("lost the broker at redis://127.0.0.1"),
        "{run:?}"
    );
    assert!(
        run.stderr.contains("failed (") && run.stderr.contains("broker-lost"),
        "{run:?}"
    );
    // Every worker gives up too, with the reason, and exit status 1.
    for worker in &mut workers {
        let status = worker.wait_exit("a worker hangs");
        assert_eq!(status.code(), Some(1), "{}", worker.log());
        assert!(worker.log().contains("lost the broker"), "{}", worker.log());
    }
}

#[test]
fn tls_brokers_are_verified_against_the_named_ca() {
    let dir = temp_dir("broker-tls");
    let openssl = |args: &[&str]| {
        let status = Command::new("openssl")
            .args(args)
            .current_dir(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("openssl runs (it makes the test's certificates)");
        assert!(status.success(), "openssl {args:?}");
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=mpwasm test CA",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    std::fs::write(dir.join("ext.cnf"), "subjectAltName=IP:127.0.0.1\n").expect("ext");
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
    let file = |name: &str| dir.join(name).to_str().expect("utf-8").to_string();
    let tls_port = free_port();
    let _redis = Redis::start(&[
        "--tls-port",
        &tls_port.to_string(),
        "--tls-cert-file",
        &file("server.pem"),
        "--tls-key-file",
        &file("server.key"),
        "--tls-ca-cert-file",
        &file("ca.pem"),
        "--tls-auth-clients",
        "no",
    ]);
    let url = format!("rediss://127.0.0.1:{tls_port}");
    let ca = [("MPWASM_BROKER_CA", file("ca.pem"))];
    let ca: Vec<(&str, &str)> = ca.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let _worker = Worker::start_with_env(&url, &[], &ca);
    let mut submit = Command::new(mpwasm_bin());
    submit
        .args(["run", guests::SQUARE, "--map", "0..4", "--broker", &url])
        .envs(ca.iter().copied());
    let out = submit.output().expect("mpwasm runs");
    assert_eq!(
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).as_ref()
        ),
        (Some(0), "0\n1\n4\n9\n"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Without the CA, the certificate is not trusted, and the message says what to do.
    let run = run_within(
        &["run", guests::SQUARE, "--map", "0..4", "--broker", &url],
        LIMIT,
    );
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("failed TLS verification"), "{run:?}");
    assert!(run.stderr.contains("MPWASM_BROKER_CA"), "{run:?}");
}

#[test]
fn inputs_longer_than_the_lease_keep_it_and_run_once() {
    let redis = Redis::start(&[]);
    let workers: Vec<Worker> = (0..2).map(|_| Worker::start(&redis.url(), &[])).collect();
    // Each input runs 2.5 s, the lease is 0.5 s: only renewals keep other workers off them.
    let run = run_within(
        &[
            "run",
            guests::MISBEHAVE,
            "--func",
            "sleep-ms",
            "--map",
            "2500..2504",
            "--broker",
            &redis.url(),
            "--lease",
            "500ms",
        ],
        LIMIT,
    );
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, "2500\n2501\n2502\n2503\n"),
        "{run:?}"
    );
    let logs: String = workers.iter().map(Worker::log).collect();
    assert!(
        !logs.contains("took over"),
        "a running input was taken over:\n{logs}"
    );
}

#[test]
fn a_later_job_is_not_queued_behind_an_earlier_one() {
    let redis = Redis::start(&[]);
    let url = redis.url();
    // One worker with one process: the two jobs must share it.
    let _worker = Worker::start(&url, &[]);
    let mut long = start(
        &[
            "run",
            guests::MISBEHAVE,
            "--func",
            "sleep-ms",
            "--map",
            "200..230",
            "--broker",
            &url,
            "-q",
        ],
        &[],
    );
    let mut first = String::new();
    BufReader::new(long.stdout.as_mut().expect("piped"))
        .read_line(&mut first)
        .expect("a first result");
    // 30 inputs of ~0.2 s: about 6 s alone. The short job's 4 inputs take about 0.8 s alone,
    // ~1.6 s when sharing, and ~6 s if they had to wait for the long job.
    let short = run_within(
        &[
            "run",
            guests::MISBEHAVE,
            "--func",
            "sleep-ms",
            "--map",
            "200..204",
            "--broker",
            &url,
        ],
        LIMIT,
    );
    assert_eq!(short.code, 0, "{short:?}");
    assert!(
        long.try_wait().expect("wait").is_none(),
        "the short job finished only after the long one"
    );
    assert_eq!(long.wait().expect("long job").code(), Some(0));
}

#[test]
fn a_worker_stops_on_ctrl_c_or_sigterm_with_status_0() {
    let redis = Redis::start(&[]);
    for name in ["INT", "TERM"] {
        let mut worker = Worker::start(&redis.url(), &[]);
        let deadline = Instant::now() + Duration::from_secs(30);
        while !worker.log().contains("serving") {
            assert!(
                Instant::now() < deadline,
                "the worker does not serve: {}",
                worker.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let status = Command::new("kill")
            .args([&format!("-{name}"), &worker.pid().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let status = worker.wait_exit(&format!("SIG{name}: the worker does not stop"));
        assert_eq!(status.code(), Some(0), "SIG{name}: {}", worker.log());
        assert!(
            worker.log().contains("mpwasm worker: stopped"),
            "SIG{name}: {}",
            worker.log()
        );
    }
}

#[test]
fn a_job_of_chatty_tasks_keeps_every_outcome_and_its_output() {
    // The local case of 300 tasks printing 1 MiB each with --chunksize 300 (see reliability),
    // through a broker: every input gets its outcome and, as a broker worker holds few inputs
    // at once, its whole output.
    let redis = Redis::start(&[]);
    let url = redis.url();
    let _worker = Worker::start(&url, &[]);
    let input = temp_dir("broker-chatty").join("mib.jsonl");
    std::fs::write(&input, "1048576\n".repeat(300)).expect("input");
    let run = run_within(
        &[
            "run",
            guests::MISBEHAVE,
            "--func",
            "shout",
            "--input",
            input.to_str().expect("utf-8"),
            "--chunksize",
            "300",
            "--output-limit",
            "2MiB",
            "--retries",
            "0",
            "--format",
            "jsonl",
            "--broker",
            &url,
        ],
        LIMIT,
    );
    assert_eq!(run.code, 0, "{}", run.stderr.lines().last().unwrap_or(""));
    let lines = run.json_lines();
    assert_eq!(lines.len(), 300);
    let mut seen: Vec<u64> = lines
        .iter()
        .map(|l| {
            assert_eq!(l["value"], 1_048_576, "{l}");
            l["index"].as_u64().expect("an index")
        })
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..300).collect::<Vec<_>>());
    assert!(run.stderr.len() >= 300 * 1_048_576, "{}", run.stderr.len());
    let _ = std::fs::remove_dir_all(input.parent().expect("a dir"));
}
