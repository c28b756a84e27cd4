//! Local chaos on one machine: a storm of worker kills, an endless input with the host's
//! memory sampled, Ctrl-C and SIGTERM at random moments, a full disk under `--joblog` and
//! `--shared-out`, and a pool of hostile guests. Every input gets exactly one outcome (or a
//! named error), nothing hangs, and nothing printed is torn or wrong.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mpwasm::{ErrorKind, Pool};
use mpwasm_test_artifacts::guests;
use serde_json::json;

use super::{Figures, Tally, observe, peak_kib, rss_kib, sized};
use crate::common::{self, KillStorm, Rng, alive, temp_dir};

/// No scenario may take longer than this.
const LIMIT: Duration = Duration::from_secs(300);

/// `mpwasm ARGS` with stdin closed and stdout and stderr piped.
fn host(args: &[&str]) -> Command {
    let mut command = Command::new(common::mpwasm_bin());
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

#[test]
fn kill_storm_every_index_gets_exactly_one_line() {
    let items = 100_000;
    let input = temp_dir("chaos-storm").join("in.jsonl");
    std::fs::write(&input, "3000\n".repeat(items as usize)).expect("write input");
    let mut command = host(&["run", guests::PRIMES, "-j", "2", "--format", "jsonl"]);
    command.arg("--input").arg(&input);
    under_kill_storm(
        command,
        items,
        "kill_storm_every_index_gets_exactly_one_line",
        format!("primes(3000) over {items} inputs, 2 worker processes"),
        |_, v| v == 430,
    );
    let _ = std::fs::remove_dir_all(input.parent().expect("a dir"));
}

/// Runs `command` (a job of `items` inputs, `jsonl` output) while a worker is SIGKILLed every
/// 100 ms, records its figures as `scenario` under `load`, and checks that every input got
/// exactly one outcome, `right` by its index, or failed `worker-lost` (killed more often than
/// its retries allow), and that the exit status says whether any failed.
fn under_kill_storm(
    mut command: Command,
    items: u64,
    scenario: &'static str,
    load: String,
    right: impl Fn(u64, &serde_json::Value) -> bool,
) {
    let child = command.spawn().expect("mpwasm starts");
    let started = Instant::now();
    let storm = KillStorm::start(child.id(), Duration::from_millis(100));
    let run = observe(child, LIMIT, |_| {});
    let kills = storm.stop();
    let tally = Tally::of(&run.lines, items, right);
    Figures {
        scenario,
        load,
        faults: format!("a worker SIGKILLed every 100 ms: {kills} kills"),
        inputs: items,
        ..Figures::of_run(&run, Some(started))
    }
    .with(&tally)
    .record();
    tally.assert_exactly_once(&["worker-lost"], scenario);
    assert!(kills >= 3, "the storm killed {kills} workers");
    let failed = tally.failed.values().sum::<u64>();
    assert_eq!(run.code, if failed == 0 { 0 } else { 1 });
}

#[test]
fn kill_storm_over_a_range_every_index_gets_exactly_one_line() {
    // A map over a range travels as runs (where it starts, how long it is) until a worker
    // dies holding one: then its tasks are retried one by one.
    let (first, items) = (20_000u64, 10_000u64);
    let below: Vec<u64> = {
        let end = (first + items) as usize;
        let mut composite = vec![false; end];
        let mut count = 0;
        let mut below = Vec::with_capacity(end);
        for n in 0..end {
            below.push(count);
            if n >= 2 && !composite[n] {
                count += 1;
                (n * n..end).step_by(n).for_each(|m| composite[m] = true);
            }
        }
        below
    };
    let range = format!("{first}..{}", first + items);
    let mut command = host(&["run", guests::PRIMES, "-j", "2", "--format", "jsonl"]);
    command.args(["--map", &range]);
    under_kill_storm(
        command,
        items,
        "kill_storm_over_a_range_every_index_gets_exactly_one_line",
        format!("primes(n) for n in {range}, 2 worker processes"),
        |index, v| v.as_u64() == Some(below[(first + index) as usize]),
    );
}

#[test]
fn an_endless_input_runs_in_bounded_memory() {
    let items = sized(3_000_000, 10_000_000);
    let mut child = Command::new(common::mpwasm_bin())
        .args(["run", guests::SQUARE, "--input", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("mpwasm starts");
    let started = Instant::now();
    let pid = child.id();
    let mut stdin = BufWriter::new(child.stdin.take().expect("piped"));
    // `yes 3`: an input that never ends.
    let feeder = std::thread::spawn(
        move || {
            while stdin.write_all(b"3\n3\n3\n3\n3\n3\n3\n3\n").is_ok() {}
        },
    );
    let mut out = BufReader::new(child.stdout.take().expect("piped"));
    let mut line = String::new();
    let mut samples = Vec::new();
    let mut wrong = 0;
    for n in 1..=items {
        line.clear();
        out.read_line(&mut line).expect("a line");
        wrong += u64::from(line != "9\n");
        if n % 100_000 == 0 {
            samples.push(rss_kib(pid));
        }
        assert!(started.elapsed() < LIMIT, "{n} lines after {LIMIT:?}");
    }
    let peak = peak_kib(pid);
    let _ = child.kill();
    let _ = child.wait();
    drop(out);
    let _ = feeder.join();
    let (early, late) = (samples[0], samples[samples.len() - 1]);
    let most = samples.iter().copied().max().unwrap_or(0);
    Figures {
        scenario: "an_endless_input_runs_in_bounded_memory",
        load: format!("square over an endless stdin, read for {items} results"),
        faults: format!(
            "none: the host's RSS sampled every 100 000 results: {early} KiB at first, \
             {most} KiB at most, {late} KiB at the end"
        ),
        inputs: items,
        wrong,
        peak_host_kib: peak,
        elapsed: started.elapsed(),
        ..Figures::default()
    }
    .record();
    assert_eq!(wrong, 0);
    assert!(early > 0 && late > 0);
    assert!(late < 2 * early, "RSS grew from {early} KiB to {late} KiB");
    assert!(late < 200 * 1024, "RSS {late} KiB");
}

#[test]
fn ctrl_c_and_sigterm_at_random_moments_tear_and_lose_nothing() {
    let rounds = sized(8, 60);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64 | 1);
    let mut moments = Rng(seed);
    let (mut printed, mut stragglers, mut longest_exit) = (0u64, 0usize, Duration::ZERO);
    let (mut wrong, mut peak) = (0u64, 0u64);
    let started = Instant::now();
    for round in 0..rounds {
        let (signal, code) = if round % 2 == 0 {
            ("-INT", 130)
        } else {
            ("-TERM", 143)
        };
        let child = host(&[
            "run",
            guests::SLEEPY_SQUARE,
            "--map",
            "0..1000000",
            "-j",
            "2",
            "--format",
            "jsonl",
        ])
        .spawn()
        .expect("mpwasm starts");
        let pid = child.id();
        let wait = Duration::from_millis(moments.below(1500));
        let killer = std::thread::spawn(move || {
            std::thread::sleep(wait);
            let workers = common::children(pid);
            let sent = Instant::now();
            let _ = Command::new("kill")
                .args([signal, &pid.to_string()])
                .status();
            (workers, sent)
        });
        let run = observe(child, Duration::from_secs(60), |_| {});
        let ended = Instant::now();
        let (workers, sent) = killer.join().expect("the signal thread");
        longest_exit = longest_exit.max(ended.saturating_duration_since(sent));
        // Each line whole and right, each input once: in order until the signal, then what
        // had finished out of order.
        let mut seen = BTreeSet::new();
        for line in &run.lines {
            let index = line["index"].as_u64().unwrap_or(u64::MAX);
            let right = seen.insert(index) && line["value"] == json!(index.wrapping_mul(index));
            wrong += u64::from(!right);
        }
        printed += run.lines.len() as u64;
        peak = peak.max(run.peak_kib);
        // The host's last word counts what it printed.
        let last_word = run.stderr.lines().find(|l| l.contains("interrupted by"));
        if let Some(said) = last_word.and_then(|line| {
            let (head, _) = line.split_once(" results printed")?;
            head.rsplit(' ').next()?.parse::<usize>().ok()
        }) {
            assert_eq!(
                said,
                run.lines.len(),
                "round {round}: {}",
                run.stderr_tail()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
        stragglers += workers.iter().filter(|&&w| alive(w)).count();
        // A signal before the host set its handlers ends it the default way: by the signal.
        let by_signal = run.signal == Some(code - 128);
        assert!(
            run.code == code || by_signal,
            "round {round}: exit {} (seed {seed}, {signal} after {wait:?}): {}",
            run.code,
            run.stderr_tail()
        );
    }
    Figures {
        scenario: "ctrl_c_and_sigterm_at_random_moments_tear_and_lose_nothing",
        load: format!(
            "{rounds} runs of sleepy-square over 0..1000000 (ordered, 2 workers), \
             seed {seed}"
        ),
        faults: format!(
            "SIGINT or SIGTERM (in turn) at a random moment in the first 1.5 s of each run: \
             {printed} results printed in all, {stragglers} workers left behind"
        ),
        inputs: printed,
        wrong,
        recovery: longest_exit,
        peak_host_kib: peak,
        elapsed: started.elapsed(),
        ..Figures::default()
    }
    .record();
    assert_eq!(wrong, 0, "seed {seed}");
    assert_eq!(stragglers, 0, "workers outlived their host (seed {seed})");
}

/// Runs the shell `script` in a mount namespace of its own, where `dir` is a tmpfs of
/// `size` (so nothing else on the machine sees the full disk); `$MPWASM` in the script is the
/// binary under test. Fails, saying why, where namespaces or tmpfs mounts are not allowed.
fn on_a_small_disk(dir: &Path, size: &str, script: &str) -> std::process::Child {
    let dir = dir.to_str().expect("utf-8");
    let script = format!("mount -t tmpfs -o size={size} tmpfs '{dir}' || exit 99\n{script}");
    Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .env("MPWASM", common::mpwasm_bin())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("unshare (util-linux) runs")
}

/// The joblog's indices recorded `ok` on a whole line (of six fields).
fn logged_ok(joblog: &str) -> BTreeSet<u64> {
    joblog
        .lines()
        .skip(1)
        .filter(|l| l.split('\t').count() == 6 && l.split('\t').nth(4) == Some("ok"))
        .filter_map(|l| l.split('\t').next()?.parse().ok())
        .collect()
}

#[test]
fn a_full_disk_stops_the_joblog_whole_and_a_resume_finishes_the_job() {
    let items = 200_000u64;
    let dir = temp_dir("chaos-full-disk");
    let (small, kept) = (dir.join("small"), dir.join("kept"));
    std::fs::create_dir_all(&small).expect("mount point");
    std::fs::create_dir_all(&kept).expect("a dir");
    let log = small.join("job.log");
    let copy = kept.join("job.log");
    // The joblog fills the 64 KiB disk long before the job ends.
    let script = format!(
        "\"$MPWASM\" run '{square}' --map 0..{items} --format jsonl --joblog '{log}'\n\
         code=$?\ncp '{log}' '{copy}'\nexit $code",
        square = guests::SQUARE,
        log = log.display(),
        copy = copy.display(),
    );
    let started = Instant::now();
    let first = observe(on_a_small_disk(&small, "64k", &script), LIMIT, |_| {});
    assert_ne!(
        first.code, 99,
        "cannot mount a tmpfs here: {}",
        first.stderr
    );
    assert_eq!(first.code, 2, "{}", first.stderr_tail());
    assert!(
        first.stderr.contains("cannot write the joblog") && first.stderr.contains("No space"),
        "{}",
        first.stderr_tail()
    );
    // It says how many results it printed and could not record.
    let said: u64 = first
        .stderr
        .split_once("(the last ")
        .and_then(|(_, rest)| rest.split(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no count of unrecorded results: {}", first.stderr_tail()));
    let joblog = std::fs::read_to_string(&copy).expect("the joblog was copied out");
    let ok = logged_ok(&joblog);
    assert!(!ok.is_empty() && (ok.len() as u64) < items, "{}", ok.len());
    // On a disk with room again, the resumed run does the rest.
    let second = observe(
        host(&["run", guests::SQUARE, "--map", &format!("0..{items}")])
            .args(["--format", "jsonl", "--resume", "--joblog"])
            .arg(&copy)
            .spawn()
            .expect("mpwasm starts"),
        LIMIT,
        |_| {},
    );
    assert_eq!(second.code, 0, "{}", second.stderr_tail());
    let both: Vec<serde_json::Value> = first.lines.iter().chain(&second.lines).cloned().collect();
    let tally = Tally::of(&both, items, |i, v| v.as_u64() == Some(i * i));
    // What the full disk kept from the joblog: the results printed after its last whole line
    // run again, and only they.
    let printed_first: BTreeSet<u64> = first
        .lines
        .iter()
        .filter_map(|l| l["index"].as_u64())
        .collect();
    let unrecorded = printed_first.difference(&ok).count() as u64;
    let figures = Figures {
        scenario: "a_full_disk_stops_the_joblog_whole_and_a_resume_finishes_the_job",
        load: format!("square over 0..{items} with --joblog on a 64 KiB tmpfs, then --resume"),
        faults: format!(
            "the joblog's disk full after {} results; the {unrecorded} printed but not \
             recorded (as the error says) run again in the resume, and are not counted as \
             doubled",
            ok.len()
        ),
        inputs: items,
        peak_host_kib: first.peak_kib.max(second.peak_kib),
        elapsed: started.elapsed(),
        ..Figures::default()
    }
    .with(&tally);
    Figures {
        doubled: tally.doubled.saturating_sub(unrecorded),
        ..figures
    }
    .record();
    assert_eq!((tally.lost, tally.wrong), (0, 0), "{tally:?}");
    assert!(tally.failed.is_empty(), "{tally:?}");
    assert_eq!(
        tally.doubled, unrecorded,
        "only the unrecorded results run twice"
    );
    assert_eq!(said, unrecorded, "the error counts what it did not record");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_full_disk_under_shared_out_keeps_every_result_and_the_old_file() {
    let dir = temp_dir("chaos-shared-out");
    let small = dir.join("small");
    std::fs::create_dir_all(&small).expect("mount point");
    let input = dir.join("corpus.jsonl");
    let lines = sized(2_000, 50_000);
    std::fs::write(&input, "\"a b c d\"\n".repeat(lines as usize)).expect("input");
    let out = small.join("counts.json");
    // The disk holds an older store's file and is then filled to the brim.
    let script = format!(
        "echo '{{\"old\": 1}}' > '{out}'\n\
         dd if=/dev/zero of='{filler}' bs=4k 2>/dev/null\n\
         \"$MPWASM\" run '{module}' -j 2 --format jsonl --input '{input}' --shared-out '{out}'\n\
         code=$?\necho \"kept: $(cat '{out}')\" >&2\necho \"left: $(ls -A '{small}')\" >&2\nexit $code",
        out = out.display(),
        filler = small.join("filler").display(),
        small = small.display(),
        module = guests::SHARED_WORDCOUNT,
        input = input.display(),
    );
    let run = observe(on_a_small_disk(&small, "256k", &script), LIMIT, |_| {});
    assert_ne!(run.code, 99, "cannot mount a tmpfs here: {}", run.stderr);
    let tally = Tally::of(&run.lines, lines, |_, v| v == 4);
    Figures {
        scenario: "a_full_disk_under_shared_out_keeps_every_result_and_the_old_file",
        load: format!("shared-wordcount over {lines} lines, 2 workers, --shared-out"),
        faults: "--shared-out's disk full when the store is written".into(),
        inputs: lines,
        ..Figures::of_run(&run, None)
    }
    .with(&tally)
    .record();
    tally.assert_exactly_once(&[], "a full disk under --shared-out");
    assert_eq!(run.code, 2, "{}", run.stderr_tail());
    assert!(
        run.stderr.contains(&out.display().to_string()) && run.stderr.contains("No space"),
        "{}",
        run.stderr_tail()
    );
    // Nothing half-written is left beside it.
    assert!(
        run.stderr.contains("left: counts.json\nfiller\n")
            || run.stderr.contains("left: counts.json filler"),
        "{}",
        run.stderr_tail()
    );
    assert!(
        run.stderr.contains("kept: {\"old\": 1}"),
        "the old file was not kept whole: {}",
        run.stderr_tail()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_pool_of_hostile_guests_fails_each_alone_and_serves_the_rest() {
    let calls = sized(300, 3_000);
    let pool = Pool::builder()
        .worker_program(common::mpwasm_bin())
        .processes(2)
        .memory_limit(64 << 20)
        .timeout(Duration::from_millis(500))
        .retries(0)
        .function("id")
        .build(guests::MISBEHAVE)
        .expect("pool starts");
    // Each hostile call, and the kind it must end as.
    let hostile: [(&str, serde_json::Value, ErrorKind); 6] = [
        ("grow", json!([1024]), ErrorKind::MemoryLimit),
        ("spin", json!([1]), ErrorKind::Timeout),
        ("boom", json!(["hostile"]), ErrorKind::Trap),
        ("divide", json!([1, 0]), ErrorKind::Trap),
        ("unreachable-trap", json!([]), ErrorKind::Trap),
        ("recurse", json!([100_000_000]), ErrorKind::Trap),
    ];
    let started = Instant::now();
    let mut pending = Vec::new();
    for i in 0..calls {
        let (name, args, kind) = match i % 4 {
            0 => {
                let (name, args, kind) = &hostile[(i / 4) as usize % hostile.len()];
                (*name, args.clone(), Some(*kind))
            }
            _ => ("id", json!([i]), None),
        };
        let args = args.as_array().cloned().unwrap_or_default();
        let export = pool.export(name).expect("exported");
        pending.push((i, name, kind, export.apply_async(args)));
    }
    let mut failed: BTreeMap<String, u64> = BTreeMap::new();
    let mut wrong = 0u64;
    for (i, name, kind, mut call) in pending {
        match (kind, call.wait_outcome().into_value()) {
            (None, Ok(value)) => wrong += u64::from(value != json!(i)),
            (Some(kind), Err(e)) => {
                *failed.entry(e.kind().to_string()).or_default() += 1;
                wrong += u64::from(e.kind() != kind);
                if e.kind() != kind {
                    eprintln!("call {i} ({name}) ended as {}: {e}", e.kind());
                }
            }
            (_, other) => {
                eprintln!("call {i} ({name}) ended as {other:?}");
                wrong += 1;
            }
        }
    }
    Figures {
        scenario: "a_pool_of_hostile_guests_fails_each_alone_and_serves_the_rest",
        load: format!(
            "{calls} calls to one pool of misbehave (2 processes, 64 MiB, 500 ms): 3 of 4 `id`"
        ),
        faults: "every 4th call hostile, in turn: a memory bomb, an endless loop, a panic, a \
                 division by zero, unreachable, a stack overflow"
            .into(),
        inputs: calls,
        wrong,
        failed,
        elapsed: started.elapsed(),
        ..Figures::default()
    }
    .record();
    assert_eq!(wrong, 0, "a call did not end as it should (see above)");
}
