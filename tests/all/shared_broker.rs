//! State shared between tasks through a real Redis broker (`redis-server` on a free port, one
//! per test) and real `mpwasm worker` processes: word counts equal to a local run's (seeded
//! with `--shared-in`, saved with `--shared-out`, the job's keys gone afterwards), exact counts
//! when a worker is killed mid-job, a job growing with `submit` (a tree and the crawler), and a
//! producer with its consumers on two machines' worth of workers.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use mpwasm_test_artifacts::guests;
use serde_json::Value;

use crate::common::broker::{Redis, Worker};
use crate::common::{self, mpwasm, temp_dir};
use crate::shared::{Site, corpus, counts_of, read_json};

fn two_workers(redis: &Redis, extra: &[&str]) -> Vec<Worker> {
    (0..2).map(|_| Worker::start(&redis.url(), extra)).collect()
}

/// The job's keys left on the broker.
fn job_keys(redis: &Redis) -> Vec<String> {
    redis
        .cli(&["KEYS", "mpwasm:job:*"])
        .into_iter()
        .filter(|line| !line.is_empty())
        .collect()
}

#[test]
fn word_counts_through_the_broker_are_a_local_runs_and_nothing_is_left_behind() {
    let redis = Redis::start(&[]);
    let _workers = two_workers(&redis, &[]);
    let dir = temp_dir("shared-broker-words");
    let (text, mut expected) = corpus(3_000, 6);
    let input = dir.join("corpus.jsonl");
    std::fs::write(&input, text).expect("write the corpus");
    let seed = dir.join("seed.json");
    std::fs::write(&seed, r#"{"the": 1000000, "note": "seeded"}"#).expect("write the seed");
    *expected.entry("the".into()).or_insert(0) += 1_000_000;
    let out = dir.join("counts.json");
    let url = redis.url();
    let run = mpwasm(&[
        "run",
        guests::SHARED_WORDCOUNT,
        "--input",
        input.to_str().expect("utf-8"),
        "--broker",
        &url,
        "--shared-in",
        seed.to_str().expect("utf-8"),
        "--shared-out",
        out.to_str().expect("utf-8"),
        "-q",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.lines().len(), 3_000);
    let mut saved = read_json(&out);
    assert_eq!(saved["note"], "seeded");
    saved.as_object_mut().expect("an object").remove("note");
    assert_eq!(counts_of(&saved), expected);
    assert_eq!(
        job_keys(&redis),
        Vec::<String>::new(),
        "the job's keys are gone"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_worker_killed_mid_job_leaves_every_count_exact() {
    let redis = Redis::start(&[]);
    let mut workers = two_workers(&redis, &[]);
    let dir = temp_dir("shared-broker-kill");
    let (text, expected) = corpus(1_500, 60);
    let input = dir.join("corpus.jsonl");
    std::fs::write(&input, text).expect("write the corpus");
    let out = dir.join("counts.json");
    let url = redis.url();
    let mut child = common::spawn(&[
        "run",
        guests::SHARED_WORDCOUNT,
        "--input",
        input.to_str().expect("utf-8"),
        "--broker",
        &url,
        "--lease",
        "500ms",
        "--shared-out",
        out.to_str().expect("utf-8"),
        "--format",
        "jsonl",
        "-q",
    ]);
    // Kill one worker once both have answered part of the job.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let answered = workers
            .iter()
            .all(|w| w.log().contains("shared_wordcount.wasm from"));
        if answered {
            std::thread::sleep(Duration::from_millis(300));
            break;
        }
        assert!(Instant::now() < deadline, "the workers never took the job");
        std::thread::sleep(Duration::from_millis(20));
    }
    workers[0].kill();
    let status = child.wait().expect("exits");
    let stderr = common::read_stderr(&mut child);
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert_eq!(
        counts_of(&read_json(&out)),
        expected,
        "the inputs taken over replayed their calls: {}",
        workers[1].log()
    );
    assert!(
        workers[1].log().contains("took over"),
        "nobody took over: {}",
        workers[1].log()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_job_grows_through_the_broker_as_its_tasks_submit() {
    let redis = Redis::start(&[]);
    let _workers = two_workers(&redis, &[]);
    let url = redis.url();
    let run = mpwasm(&[
        "run",
        guests::SHARED_PROBE,
        "--func",
        "tree",
        "--map",
        "6..7",
        "--broker",
        &url,
        "--format",
        "jsonl",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    let indices: Vec<u64> = run
        .json_lines()
        .iter()
        .map(|l| l["index"].as_u64().expect("index"))
        .collect();
    assert_eq!(indices, (0..127).collect::<Vec<_>>(), "in order, each once");
    let run = mpwasm(&[
        "run",
        guests::SHARED_PROBE,
        "--func",
        "fan",
        "--map",
        "3..4",
        "--broker",
        &url,
        "--max-submitted",
        "2",
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .contains("past its limit of 2 added inputs (--max-submitted)"),
        "{}",
        run.stderr
    );
    assert_eq!(job_keys(&redis), Vec::<String>::new());
}

#[test]
fn the_crawler_walks_a_site_through_the_broker_fetching_each_page_once() {
    let link = |href: &str| format!("<a href=\"{href}\">x</a> ");
    let mut pages: HashMap<&'static str, String> = HashMap::new();
    pages.insert("/", [link("/a.html"), link("/b.html")].concat());
    pages.insert(
        "/a.html",
        [link("/b.html"), link("/c.html"), link("/")].concat(),
    );
    pages.insert("/b.html", [link("/a.html"), link("/c.html")].concat());
    pages.insert("/c.html", link("/"));
    let site = Site::serve(pages);
    let redis = Redis::start(&[]);
    let _workers = two_workers(&redis, &["--allow-http"]);
    let url = redis.url();
    let root = format!("\"http://{}/\"\n", site.addr);
    let run = common::run_jsonl(
        guests::CRAWLER,
        "crawl",
        &["--broker", &url, "--allow-http", &site.addr],
        &root,
    );
    assert_eq!(run.code, 0, "{run:?}");
    let fetched = site.fetched.lock().expect("lock").clone();
    for path in ["/", "/a.html", "/b.html", "/c.html"] {
        assert_eq!(fetched.get(path), Some(&1), "{path}: {fetched:?}");
    }
    assert_eq!(fetched.len(), 4, "{fetched:?}");
    assert_eq!(run.json_lines().len(), 4, "{run:?}");
}

#[test]
fn a_producer_and_its_consumers_share_a_queue_through_the_broker() {
    let redis = Redis::start(&[]);
    let _workers = two_workers(&redis, &[]);
    let url = redis.url();
    let run = common::run_jsonl(
        guests::PIPELINE,
        "work",
        &["--broker", &url],
        "\"produce 500 2\"\n\"consume\"\n\"consume\"\n",
    );
    assert_eq!(run.code, 0, "{run:?}");
    let values: Vec<u64> = run
        .json_lines()
        .iter()
        .map(|l| l["value"]["ok"].as_u64().expect("ok"))
        .collect();
    assert_eq!(values[0], 500);
    assert_eq!(values[1] + values[2], 125_250, "every number popped once");
}

#[test]
fn the_store_limit_holds_through_the_broker_and_the_store_is_saved() {
    let redis = Redis::start(&[]);
    let _workers = two_workers(&redis, &[]);
    let url = redis.url();
    let dir = temp_dir("shared-broker-limit");
    let out = dir.join("store.json");
    let run = common::run_jsonl(
        guests::SHARED_PROBE,
        "fill",
        &[
            "--broker",
            &url,
            "--shared-limit",
            "1KiB",
            "--shared-out",
            out.to_str().expect("utf-8"),
        ],
        "[\"small\", 100]\n[\"big\", 2000]\n",
    );
    assert_eq!(run.code, 1, "{run:?}");
    let lines = run.json_lines();
    let failed: Vec<&Value> = lines.iter().filter(|l| !l["error"].is_null()).collect();
    assert_eq!(failed.len(), 1, "{run:?}");
    assert!(
        failed[0]["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("(--shared-limit)")),
        "{run:?}"
    );
    let store = read_json(&out);
    assert_eq!(store["blob:small"].as_str().map(str::len), Some(100));
    assert!(store.get("blob:big").is_none());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_shared_call_script_replays_resent_calls_and_refuses_replaced_attempts() {
    let redis = Redis::start(&[]);
    redis.cli(&["SET", "job", "record", "PX", "60000"]);
    let script = mpwasm::broker::scripts::SHARED_CALL;
    // `incr("n", 1)` by `attempt` with call number `nonce`.
    let incr = |attempt: &str, nonce: &str| -> String {
        let mut args = vec!["EVAL", script, "8"];
        args.extend([
            "kv", "ints", "meta", "journal", "queues", "kv", "added", "job",
        ]);
        args.extend(["incr", "7", attempt, nonce, "fp-incr-n", "n", "1"]);
        redis.cli(&args).join("\n")
    };
    assert_eq!(incr("a/1/0", "1"), "o1");
    assert_eq!(
        incr("a/1/0", "1"),
        "o1",
        "a call sent twice is answered once"
    );
    assert_eq!(incr("a/1/0", "2"), "o2");
    // Another worker takes the input over: its calls replay the first attempt's.
    assert_eq!(incr("b/5/0", "9"), "o1");
    assert_eq!(incr("b/5/0", "10"), "o2");
    assert_eq!(incr("b/5/0", "11"), "o3", "past the record, calls run");
    assert_eq!(redis.cli(&["HGET", "kv", "n"]), ["3"]);
    // A late call of the replaced attempt is refused, and changes nothing.
    assert_eq!(incr("a/1/0", "3"), "s");
    assert_eq!(redis.cli(&["HGET", "kv", "n"]), ["3"]);
    // Every key the script made expires with the job's record.
    for key in ["kv", "ints", "meta", "journal"] {
        let ttl: i64 = redis.cli(&["PTTL", key])[0].parse().expect("a number");
        assert!(ttl > 0, "{key} has no TTL ({ttl})");
    }
    // Once the job is over, nothing runs.
    redis.cli(&["DEL", "job"]);
    assert_eq!(incr("c/1/0", "1"), "s");
}
