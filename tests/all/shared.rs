//! State shared between tasks (`mpwasm:shared`): word counts over a corpus against the same
//! count made here, exactly-once counts and submits under a storm of worker kills, a job that
//! grows as its tasks add inputs, the store's limits, `--shared-in`/`--shared-out` (also when
//! interrupted), a producer and consumers over a queue, a crawler over a local web site, the
//! library's store handle, and what `inspect` says (through a broker: `shared_broker.rs`). Real worker processes, real
//! guests from `guest-tasks/`.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mpwasm::{CallOptions, ErrorKind, Pool, SharedStore};
use mpwasm_test_artifacts::guests;
use serde_json::{Value, json};

use crate::common::{self, KillStorm, mpwasm, temp_dir};

/// The words of `text` as the word-count guest splits them.
fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split_whitespace()
        .map(|raw| raw.trim_matches(|c: char| !c.is_alphanumeric()))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

/// `n` lines of `per_line` words from a small vocabulary, deterministic, as JSON Lines.
pub(crate) fn corpus(n: usize, per_line: usize) -> (String, BTreeMap<String, i64>) {
    const VOCABULARY: &[&str] = &[
        "The", "cat", "sat,", "on", "the", "mat.", "A", "dog", "ran", "far!", "Pool", "map",
        "imap", "sandbox", "wasm", "(worker)", "queue", "store", "count", "every",
    ];
    let mut text = String::new();
    let mut counts = BTreeMap::new();
    let mut state: u64 = 7;
    for _ in 0..n {
        let mut line = Vec::new();
        for _ in 0..per_line {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            line.push(VOCABULARY[(state >> 33) as usize % VOCABULARY.len()]);
        }
        let line = line.join(" ");
        for word in words(&line) {
            *counts.entry(word).or_insert(0) += 1;
        }
        text.push_str(&serde_json::to_string(&line).expect("a string"));
        text.push('\n');
    }
    (text, counts)
}

pub(crate) fn read_json(path: &std::path::Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("the store is JSON")
}

pub(crate) fn counts_of(store: &Value) -> BTreeMap<String, i64> {
    store
        .as_object()
        .expect("an object")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_i64().expect("a count")))
        .collect()
}

#[test]
fn word_counts_across_a_corpus_are_exactly_those_of_one_process() {
    let dir = temp_dir("shared-words");
    let (text, expected) = corpus(100_000, 4);
    let input = dir.join("corpus.jsonl");
    std::fs::write(&input, text).expect("write the corpus");
    let out = dir.join("counts.json");
    let run = mpwasm(&[
        "run",
        guests::SHARED_WORDCOUNT,
        "-j",
        "2",
        "--input",
        input.to_str().expect("utf-8"),
        "--shared-out",
        out.to_str().expect("utf-8"),
        "-q",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.lines().len(), 100_000);
    assert!(
        run.lines().iter().all(|l| *l == "4"),
        "every line has 4 words"
    );
    assert_eq!(counts_of(&read_json(&out)), expected);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs `args` while killing one of its workers every `every`; the run's output and the
/// number of kills.
fn under_kill_storm(args: &[&str], every: Duration) -> (common::Run, u32) {
    let mut child = Command::new(common::mpwasm_bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mpwasm starts");
    let storm = KillStorm::start(child.id(), every);
    let mut stdout = String::new();
    let mut stderr = String::new();
    let mut out = child.stdout.take().expect("piped");
    let mut err = child.stderr.take().expect("piped");
    let errs = std::thread::spawn(move || {
        let _ = err.read_to_string(&mut stderr);
        stderr
    });
    let _ = out.read_to_string(&mut stdout);
    let status = child.wait().expect("exits");
    let kills = storm.stop();
    let run = common::Run {
        code: status.code().unwrap_or(-1),
        stdout,
        stderr: errs.join().expect("stderr"),
    };
    (run, kills)
}

#[test]
fn a_kill_storm_counts_every_word_once() {
    let dir = temp_dir("shared-storm");
    // Long lines: each task makes ~20 calls, so kills land in the middle of tasks.
    let (text, expected) = corpus(6_000, 60);
    let input = dir.join("corpus.jsonl");
    std::fs::write(&input, text).expect("write the corpus");
    let out = dir.join("counts.json");
    let (run, kills) = under_kill_storm(
        &[
            "run",
            guests::SHARED_WORDCOUNT,
            "-j",
            "2",
            "--retries",
            "50",
            "--format",
            "jsonl",
            "--input",
            input.to_str().expect("utf-8"),
            "--shared-out",
            out.to_str().expect("utf-8"),
            "-q",
        ],
        Duration::from_millis(60),
    );
    assert_eq!(run.code, 0, "every task succeeds in the end: {run:?}");
    assert!(kills >= 3, "the storm killed {kills} workers");
    let mut seen = vec![false; 6_000];
    for line in run.json_lines() {
        let index = line["index"].as_u64().expect("an index") as usize;
        assert!(!std::mem::replace(&mut seen[index], true), "{index} twice");
    }
    assert!(seen.iter().all(|s| *s), "every index once");
    assert_eq!(
        counts_of(&read_json(&out)),
        expected,
        "retried tasks replayed their calls: no word counted twice ({kills} kills)"
    );
    eprintln!("shared kill storm: {kills} kills");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_kill_storm_never_duplicates_a_submitted_input() {
    let dir = temp_dir("shared-tree-storm");
    let out = dir.join("store.json");
    // A binary tree of depth 12: 8 191 tasks, all but the first submitted by a task.
    let (run, kills) = under_kill_storm(
        &[
            "run",
            guests::SHARED_PROBE,
            "--func",
            "tree",
            "--map",
            "12..13",
            "-j",
            "2",
            "--retries",
            "50",
            "--chunksize",
            "4",
            "--format",
            "jsonl",
            "--shared-out",
            out.to_str().expect("utf-8"),
            "-q",
        ],
        Duration::from_millis(25),
    );
    assert_eq!(run.code, 0, "{run:?}");
    let lines = run.json_lines();
    assert_eq!(lines.len(), 8_191, "no submit ran twice, none was lost");
    let mut depths: HashMap<i64, usize> = HashMap::new();
    let mut indices: Vec<u64> = lines
        .iter()
        .map(|l| l["index"].as_u64().expect("index"))
        .collect();
    for line in &lines {
        *depths
            .entry(line["value"].as_i64().expect("a depth"))
            .or_default() += 1;
    }
    indices.sort_unstable();
    assert_eq!(indices, (0..8_191).collect::<Vec<_>>());
    for depth in 0..=12 {
        assert_eq!(depths[&depth], 1 << (12 - depth), "depth {depth}");
    }
    assert_eq!(read_json(&out)["nodes"], 8_191, "each node counted once");
    eprintln!("shared tree storm: {kills} kills");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_growing_job_ends_when_no_task_is_left_and_prints_added_inputs_in_index_order() {
    let run = mpwasm(&[
        "run",
        guests::SHARED_PROBE,
        "--func",
        "tree",
        "--map",
        "6..7",
        "-j",
        "2",
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
    assert!(run.stderr.contains("127 tasks: 127 ok"), "{}", run.stderr);

    // `fan` returns the indices its inputs got: after the inputs read before them.
    let run = mpwasm(&[
        "run",
        guests::SHARED_PROBE,
        "--func",
        "fan",
        "--map",
        "3..4",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.lines(), ["[1,2,3]", "[]", "[]", "[]"]);
}

#[test]
fn the_store_limit_and_the_submit_limit_fail_the_task_that_crosses_them() {
    let dir = temp_dir("shared-limits");
    let out = dir.join("store.json");
    let run = common::run_jsonl(
        guests::SHARED_PROBE,
        "fill",
        &[
            "-j",
            "1",
            "--shared-limit",
            "1KiB",
            "--shared-out",
            out.to_str().expect("utf-8"),
        ],
        "[\"small\", 100]\n[\"big\", 2000]\n[\"after\", 10]\n",
    );
    assert_eq!(run.code, 1, "{run:?}");
    let lines = run.json_lines();
    assert_eq!(lines[1]["error"]["kind"], "host-error", "{run:?}");
    let message = lines[1]["error"]["message"].as_str().expect("a message");
    assert!(
        message.contains("past its limit of 1 KiB (--shared-limit)"),
        "{message}"
    );
    assert!(lines[0]["error"].is_null() && lines[2]["error"].is_null());
    let store = read_json(&out);
    assert_eq!(store["blob:small"].as_str().map(str::len), Some(100));
    assert_eq!(store["blob:after"].as_str().map(str::len), Some(10));
    assert!(
        store.get("blob:big").is_none(),
        "the refused write left nothing"
    );
    assert!(run.stderr.contains("1 task failed"), "{}", run.stderr);

    let run = mpwasm(&[
        "run",
        guests::SHARED_PROBE,
        "--func",
        "fan",
        "--map",
        "3..4",
        "--max-submitted",
        "2",
        "--format",
        "jsonl",
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    let lines = run.json_lines();
    assert_eq!(
        lines.len(),
        3,
        "the two inputs added before the limit ran: {run:?}"
    );
    let message = lines[0]["error"]["message"]
        .as_str()
        .expect("task 0 failed");
    assert!(
        message.contains("past its limit of 2 added inputs (--max-submitted)"),
        "{message}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn shared_in_seeds_the_store_and_bad_seeds_are_refused_by_name() {
    let dir = temp_dir("shared-in");
    let seed = dir.join("seed.json");
    std::fs::write(&seed, r#"{"counter": 40, "note": "kept"}"#).expect("write");
    let out = dir.join("out.json");
    let run = mpwasm(&[
        "run",
        guests::SHARED_PROBE,
        "--func",
        "bump",
        "--map",
        "1..3",
        "--shared-in",
        seed.to_str().expect("utf-8"),
        "--shared-out",
        out.to_str().expect("utf-8"),
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(read_json(&out), json!({"counter": 43, "note": "kept"}));

    std::fs::write(&seed, r#"{"ok": "1", "bad": [1, 2]}"#).expect("write");
    let run = mpwasm(&[
        "run",
        guests::SHARED_PROBE,
        "--func",
        "bump",
        "--map",
        "1..3",
        "--shared-in",
        seed.to_str().expect("utf-8"),
    ]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("--shared-in") && run.stderr.contains("key `bad` holds an array"),
        "{}",
        run.stderr
    );
    let run = mpwasm(&[
        "run",
        guests::SQUARE,
        "--map",
        "1..3",
        "--shared-out",
        out.to_str().expect("utf-8"),
    ]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("imports no shared interface"),
        "{}",
        run.stderr
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_interrupted_run_still_writes_its_store_and_says_so() {
    let dir = temp_dir("shared-interrupted");
    let out = dir.join("out.json");
    let mut child = common::spawn(&[
        "run",
        guests::SHARED_PROBE,
        "--func",
        "bump",
        // From 1: `bump(0)` writes nothing, so a signal right after the first answer would
        // find the store empty.
        "--map",
        "1..100000000",
        "--shared-out",
        out.to_str().expect("utf-8"),
    ]);
    let mut stdout = child.stdout.take().expect("piped");
    // Wait for the first results: the store is being written to.
    let mut first = [0u8; 64];
    let _ = stdout.read(&mut first);
    let drain = std::thread::spawn(move || {
        let mut rest = Vec::new();
        let _ = stdout.read_to_end(&mut rest);
    });
    let pid = child.id().to_string();
    Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill runs");
    let status = child.wait().expect("exits");
    let stderr = common::read_stderr(&mut child);
    drain.join().expect("drain");
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("wrote the shared store") && stderr.contains("interrupted by SIGINT"),
        "{stderr}"
    );
    let counter = read_json(&out)["counter"].as_i64().expect("a counter");
    assert!(counter > 0, "the writes made before the signal are kept");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_producer_and_its_consumers_share_a_queue() {
    for processes in ["1", "2"] {
        let run = common::run_jsonl(
            guests::PIPELINE,
            "work",
            &["-j", processes],
            "\"produce 1000 3\"\n\"consume\"\n\"consume\"\n\"consume\"\n",
        );
        assert_eq!(run.code, 0, "{run:?}");
        let values: Vec<u64> = run
            .json_lines()
            .iter()
            .map(|l| l["value"]["ok"].as_u64().expect("ok"))
            .collect();
        assert_eq!(values[0], 1000);
        assert_eq!(
            values[1..].iter().sum::<u64>(),
            500_500,
            "every number popped once (-j {processes})"
        );
    }
}

#[test]
fn a_pop_waits_until_its_timeout_or_just_before_its_deadline_and_loses_nothing() {
    let run = common::run_jsonl(guests::SHARED_PROBE, "take", &[], "50\n");
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json_lines()[0]["value"], Value::Null, "nothing came");
    // A pop that would wait a minute in a task with 300 ms gives up before its deadline.
    let run = common::run_jsonl(
        guests::SHARED_PROBE,
        "take",
        &["--timeout", "300ms"],
        "60000\n",
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json_lines()[0]["value"], Value::Null, "{run:?}");

    // What is pushed after a pop gave up waits for the next pop.
    let pool = Pool::builder()
        .worker_program(common::mpwasm_bin())
        .processes(2)
        .function("take")
        .build(guests::SHARED_PROBE)
        .expect("the pool starts");
    let store = SharedStore::new();
    let options = CallOptions::new().shared(store.clone());
    let waiting = pool
        .main()
        .with(options.clone().timeout(Duration::from_millis(300)))
        .expect("options")
        .apply(vec![json!(60_000)]);
    assert_eq!(waiting.expect("it gave up in time"), Value::Null);
    let give = pool
        .export("give")
        .expect("give")
        .with(options.clone())
        .expect("options");
    give.apply(vec![json!("kept")]).expect("pushed");
    std::thread::sleep(Duration::from_millis(100));
    let take = pool.main().with(options).expect("options");
    assert_eq!(take.apply(vec![json!(0)]).expect("taken"), json!("kept"));
}

/// A small web site on 127.0.0.1: every page fetched is counted by path.
pub(crate) struct Site {
    pub(crate) addr: String,
    pub(crate) fetched: Arc<Mutex<HashMap<String, usize>>>,
    stop: Arc<AtomicBool>,
}

impl Site {
    pub(crate) fn serve(pages: HashMap<&'static str, String>) -> Site {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        listener.set_nonblocking(true).expect("nonblocking");
        let fetched: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (seen, done) = (Arc::clone(&fetched), Arc::clone(&stop));
        std::thread::spawn(move || {
            while !done.load(Ordering::SeqCst) {
                let Ok((mut stream, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(2));
                    continue;
                };
                stream.set_nonblocking(false).expect("blocking");
                let mut buf = [0u8; 4096];
                let n = stream.read(&mut buf).unwrap_or(0);
                let request = String::from_utf8_lossy(&buf[..n]);
                let path = request.split_whitespace().nth(1).unwrap_or("/").to_string();
                *seen.lock().expect("lock").entry(path.clone()).or_default() += 1;
                let (status, body) = match pages.get(path.as_str()) {
                    Some(body) => ("200 OK", body.clone()),
                    None => ("404 Not Found", "gone".to_string()),
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Site {
            addr,
            fetched,
            stop,
        }
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

#[test]
fn a_crawler_fetches_every_reachable_page_exactly_once() {
    let link = |href: &str| format!("<a href=\"{href}\">x</a> ");
    let mut pages: HashMap<&'static str, String> = HashMap::new();
    // A root linking to sections, which link to each other, back up, to pages and to a
    // missing one; one page is linked from nowhere.
    pages.insert(
        "/",
        [link("/a/"), link("/b/"), link("http://elsewhere.example/x")].concat(),
    );
    pages.insert(
        "/a/",
        [link("one.html"), link("two.html"), link("../b/"), link("/")].concat(),
    );
    pages.insert(
        "/b/",
        [
            link("/a/one.html"),
            link("three.html#top"),
            link("missing.html"),
        ]
        .concat(),
    );
    pages.insert(
        "/a/one.html",
        [link("two.html"), link("/b/three.html")].concat(),
    );
    pages.insert("/a/two.html", link("./one.html"));
    pages.insert("/b/three.html", link("/"));
    pages.insert("/hidden.html", link("/"));
    let site = Site::serve(pages);
    let root = format!("\"http://{}/\"\n", site.addr);
    let run = common::run_jsonl(
        guests::CRAWLER,
        "crawl",
        &["-j", "2", "--allow-http", &site.addr],
        &root,
    );
    assert_eq!(run.code, 0, "{run:?}");
    let fetched = site.fetched.lock().expect("lock").clone();
    let reachable = [
        "/",
        "/a/",
        "/b/",
        "/a/one.html",
        "/a/two.html",
        "/b/three.html",
        "/b/missing.html",
    ];
    for path in reachable {
        assert_eq!(
            fetched.get(path),
            Some(&1),
            "{path} fetched once: {fetched:?}"
        );
    }
    assert_eq!(fetched.len(), reachable.len(), "nothing else: {fetched:?}");
    assert_eq!(run.json_lines().len(), reachable.len(), "{run:?}");
    assert!(run.stdout.contains("missing.html 404"), "{}", run.stdout);
}

#[test]
fn the_library_gives_a_job_its_store_and_refuses_submit_from_a_single_call() {
    let pool = Pool::builder()
        .worker_program(common::mpwasm_bin())
        .processes(2)
        .shared_in(json!({"counter": 100}))
        .function("bump")
        .build(guests::SHARED_PROBE)
        .expect("the pool starts");
    // Without a store of its own, each job starts from the pool's seed.
    let results = pool.map([json!(1), json!(1)]);
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let again = pool.apply(vec![json!(1)]).expect("bump");
    assert_eq!(again, json!(101), "a fresh store from the seed");

    let store = SharedStore::new();
    store.set("counter", "5");
    let export = pool
        .main()
        .with(CallOptions::new().shared(store.clone()))
        .expect("options");
    let results = export.map((0..10).map(|_| json!(3)));
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(store.get("counter").as_deref(), Some("35"));
    assert_eq!(store.to_json(), json!({"counter": 35}));

    let fan = pool.export("fan").expect("fan");
    let error = fan
        .apply(vec![json!(1)])
        .expect_err("a single call cannot add inputs");
    assert_eq!(error.kind(), ErrorKind::HostError);
    assert!(error.message().contains("cannot grow"), "{error}");
    let added = fan.map([json!(2)]);
    assert_eq!(added.len(), 3, "a map grows: {added:?}");
    let typed = fan.map_typed::<u32, Vec<u64>, _>([1]);
    assert!(
        typed[0]
            .as_ref()
            .is_err_and(|e| e.message().contains("cannot grow")),
        "a typed map pairs each input with one result: {typed:?}"
    );
    let typed: Result<Vec<u64>, _> = fan.apply_typed(1u32);
    assert!(typed.is_err_and(|e| e.kind() == ErrorKind::HostError));
}

#[test]
fn inspect_names_the_shared_interfaces() {
    let run = mpwasm(&["inspect", guests::SHARED_PROBE]);
    assert_eq!(run.code, 0, "{run:?}");
    for line in [
        "mpwasm:shared/kv@0.1.0",
        "shared store: keys and counters of the job",
        "mpwasm:shared/work@0.1.0",
        "adds inputs to the running job",
    ] {
        assert!(run.stdout.contains(line), "{line}: {}", run.stdout);
    }
}
