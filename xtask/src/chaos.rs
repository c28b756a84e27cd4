//! `cargo xtask chaos [--smoke]`: runs the fault scenarios (the integration tests under
//! `chaos::` and `random_modules::`, one at a time so their figures are their own) at full
//! size, collects the figures each records, and writes RELIABILITY.md. `--smoke` runs them at
//! CI's sizes and writes `target/chaos/RELIABILITY.md`, so the harness cannot rot.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::command::{self, cargo_command};
use crate::setup;

/// Every scenario the report must hold, in the order it shows them, with a heading for each
/// group.
const SCENARIOS: &[(&str, &[&str])] = &[
    (
        "Local pool",
        &[
            "kill_storm_every_index_gets_exactly_one_line",
            "an_endless_input_runs_in_bounded_memory",
            "ctrl_c_and_sigterm_at_random_moments_tear_and_lose_nothing",
            "a_full_disk_stops_the_joblog_whole_and_a_resume_finishes_the_job",
            "a_full_disk_under_shared_out_keeps_every_result_and_the_old_file",
        ],
    ),
    (
        "Hostile guests and bad modules",
        &[
            "a_pool_of_hostile_guests_fails_each_alone_and_serves_the_rest",
            "random_modules_never_panic_inspect_run_or_call",
            "mutated_guests_never_panic_inspect_run_or_call",
        ],
    ),
    (
        "Broker (Redis Streams)",
        &[
            "a_broker_restarted_with_persistence_loses_nothing",
            "a_broker_restarted_empty_fails_each_unanswered_input_clearly",
            "a_broker_frozen_past_the_lease_loses_and_doubles_nothing",
            "connections_cut_every_200_ms_lose_and_double_nothing",
            "workers_killed_at_random_and_restarted_lose_nothing",
            "a_poison_input_fails_alone_and_the_job_finishes",
        ],
    ),
];

/// Module fuzzing's size at full scale (`MPWASM_FUZZ_MODULES`).
const FULL_MODULES: &str = "200";

/// Runs the scenarios and writes the report.
pub fn run(root: &Path, args: &[String]) -> Result<()> {
    let smoke = match args {
        [] => false,
        [flag] if flag == "--smoke" => true,
        [flag] if flag == "--help" || flag == "-h" => {
            println!(
                "usage: cargo xtask chaos [--smoke]\n\n\
                 Runs every fault scenario (kill storms, a broker restarted, frozen and cutting\n\
                 connections, signals at random moments, a full disk, hostile guests, random\n\
                 modules) at full size and writes RELIABILITY.md. --smoke: CI's sizes, into\n\
                 target/chaos/RELIABILITY.md."
            );
            return Ok(());
        }
        other => bail!("unexpected arguments {other:?} (usage: cargo xtask chaos [--smoke])"),
    };
    setup::run(root).context("setup")?;
    let dir = root.join("target").join("chaos");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let figures = dir.join("figures.jsonl");
    let _ = std::fs::remove_file(&figures);

    // The same packages as `cargo xtask test` builds (no `-p`), so that the features, and
    // so the build, are the same.
    let mut test = cargo_command(root, ["test", "--release", "--test", "all", "--"]);
    test.args(["chaos::", "random_modules::", "--test-threads", "1"])
        .env("MPWASM_CHAOS_REPORT", &figures);
    if !smoke {
        test.env("MPWASM_FULL_TESTS", "1")
            .env("MPWASM_FUZZ_MODULES", FULL_MODULES);
    }
    let started = std::time::Instant::now();
    command::run("the chaos scenarios", &mut test)?;
    let took = started.elapsed();

    let text = std::fs::read_to_string(&figures)
        .with_context(|| format!("no scenario recorded its figures in {}", figures.display()))?;
    let mut recorded: BTreeMap<String, Value> = BTreeMap::new();
    for line in text.lines() {
        let value: Value = serde_json::from_str(line)
            .with_context(|| format!("{}: not a JSON line: {line}", figures.display()))?;
        let name = value["scenario"].as_str().unwrap_or_default().to_string();
        recorded.insert(name, value);
    }
    let missing: Vec<&str> = SCENARIOS
        .iter()
        .flat_map(|(_, names)| names.iter().copied())
        .filter(|name| !recorded.contains_key(*name))
        .collect();
    if !missing.is_empty() {
        bail!(
            "these scenarios recorded no figures: {}",
            missing.join(", ")
        );
    }
    let report = render(&recorded, smoke, took);
    let out = if smoke {
        dir.join("RELIABILITY.md")
    } else {
        root.join("RELIABILITY.md")
    };
    std::fs::write(&out, report).with_context(|| format!("cannot write {}", out.display()))?;
    println!("chaos: wrote {}", out.display());
    Ok(())
}

/// A count or a duration from the figures.
fn number(value: &Value, key: &str) -> u64 {
    value[key].as_u64().unwrap_or(0)
}

/// Milliseconds as seconds, or `-` for none.
fn seconds(ms: u64) -> String {
    if ms == 0 {
        "-".into()
    } else {
        format!("{:.2} s", ms as f64 / 1000.0)
    }
}

/// KiB as MiB, or `-` when not measured.
fn mib(kib: u64) -> String {
    if kib == 0 {
        "-".into()
    } else {
        format!("{:.1} MiB", kib as f64 / 1024.0)
    }
}

/// What ran on this machine, for the report's head.
fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let memory = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map_or_else(String::new, |kib| {
            format!(", {:.0} GiB", kib as f64 / 1048576.0)
        });
    format!("{cores} cores{memory}, Linux {}", kernel.trim())
}

fn render(recorded: &BTreeMap<String, Value>, smoke: bool, took: std::time::Duration) -> String {
    let mut out = String::new();
    let size = if smoke {
        "CI's sizes (`cargo xtask chaos --smoke`)"
    } else {
        "full size (`cargo xtask chaos`)"
    };
    let _ = writeln!(
        out,
        "# Reliability, measured\n\n\
         Written by `cargo xtask chaos` from the figures its scenarios record: each scenario is \
         an integration test (`tests/all/chaos/`, `tests/all/random_modules.rs`) that injects \
         its faults for real, against real worker processes and a real redis-server, and \
         asserts that every input got exactly one outcome (or a named error) and that nothing \
         hung. CI runs the same tests at smaller sizes on every change. The goal for *lost*, \
         *doubled* and *wrong* is zero everywhere.\n\n\
         This run: {size}, on {}, in {:.0} s.\n\n\
         - **lost**: inputs that got no outcome; **doubled**: outcomes past the first for one \
         input; **wrong**: results with a wrong value (or a torn line).\n\
         - **named outcomes**: failures by error kind, each with its reason (for the module \
         scenarios: commands by exit status). Where a scenario expects them (a broker \
         restarted empty, a poison input, a hostile call), they are the right answer.\n\
         - **recovery**: the longest time without an outcome after the first fault (for the \
         signals: the longest time from the signal to the host's exit).\n\
         - **peak host memory**: the host (or submitter) process's peak resident memory.\n",
        machine(),
        took.as_secs_f64()
    );
    for (group, names) in SCENARIOS {
        let _ = writeln!(out, "## {group}\n");
        let _ = writeln!(
            out,
            "| scenario | load | faults injected | inputs | lost | doubled | wrong | named \
             outcomes | recovery | peak host memory | time |\n|---|---|---|---|---|---|---|---|---|---|---|"
        );
        for name in *names {
            let Some(f) = recorded.get(*name) else {
                continue;
            };
            let failed = f["failed"]
                .as_object()
                .filter(|m| !m.is_empty())
                .map_or_else(
                    || "none".to_string(),
                    |m| {
                        m.iter()
                            .map(|(k, v)| format!("{k}: {v}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    },
                );
            let _ = writeln!(
                out,
                "| `{name}` | {} | {} | {} | {} | {} | {} | {failed} | {} | {} | {} |",
                f["load"].as_str().unwrap_or_default(),
                f["faults"].as_str().unwrap_or_default(),
                number(f, "inputs"),
                number(f, "lost"),
                number(f, "doubled"),
                number(f, "wrong"),
                seconds(number(f, "recovery_ms")),
                mib(number(f, "peak_host_kib")),
                seconds(number(f, "elapsed_ms")),
            );
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "Run it again with `cargo xtask chaos` (about five minutes on 2 cores; the sizes are in \
         the tests, `MPWASM_FULL_TESTS=1` picks the full ones), or one scenario with \
         `MPWASM_FULL_TESTS=1 cargo test --release --test all -- chaos::broker::NAME`."
    );
    out
}
