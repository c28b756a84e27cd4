//! What a long `mpwasm run` shows and keeps: the progress bar under a real pseudo-terminal
//! (util-linux `script`), the summary line, `--quiet`, colour and `NO_COLOR`, the joblog and a
//! `--resume` after the run was SIGKILLed, and CSV inputs.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mpwasm_test_artifacts::guests;

use crate::common::{mpwasm, mpwasm_bin, mpwasm_with_stdin, temp_dir};

/// Runs `mpwasm ARGS` under a pseudo-terminal made by `script`, stdout redirected to a file;
/// returns what the terminal showed and the file.
fn under_terminal(args: &[&str], env: &[(&str, &str)], dir: &std::path::Path) -> (String, String) {
    let out = dir.join("stdout.txt");
    let typescript = dir.join("typescript.txt");
    let command = format!(
        "{} {} > {}",
        mpwasm_bin().display(),
        args.join(" "),
        out.display()
    );
    let status = Command::new("script")
        .args(["-qfec", &command])
        .arg(&typescript)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .expect("`script` (util-linux) runs");
    assert!(status.success(), "{command}: {status}");
    (
        std::fs::read_to_string(&typescript).expect("typescript"),
        std::fs::read_to_string(&out).expect("stdout file"),
    )
}

#[test]
fn the_progress_bar_shows_on_a_terminal_and_never_mixes_with_results() {
    let dir = temp_dir("progress");
    let args = [
        "run",
        guests::MISBEHAVE,
        "--func",
        "sleep-ms",
        "--map",
        "40..60",
        "-j",
        "2",
    ];
    let (terminal, stdout) = under_terminal(&args, &[], &dir);
    // The bar was drawn, with done/total, and the summary followed it.
    assert!(terminal.contains("20/20"), "{terminal}");
    assert!(terminal.contains("ETA"), "{terminal}");
    assert!(terminal.contains("20 tasks: "), "{terminal}");
    assert!(terminal.contains("20 ok"), "{terminal}");
    // Colour on a terminal; none with NO_COLOR.
    assert!(terminal.contains("\x1b[1;32m20 ok\x1b[0m"), "{terminal}");
    let (plain, _) = under_terminal(&args, &[("NO_COLOR", "1")], &dir);
    assert!(!plain.contains("\x1b[1;32m"), "{plain}");
    // Results went to stdout untouched, in order.
    let want: Vec<String> = (40..60).map(|i| i.to_string()).collect();
    assert_eq!(stdout.lines().collect::<Vec<_>>(), want);
    // --quiet: no bar, no summary.
    let mut quiet_args = args.to_vec();
    quiet_args.push("--quiet");
    let (quiet, _) = under_terminal(&quiet_args, &[], &dir);
    assert!(
        !quiet.contains("20/20") && !quiet.contains("tasks:"),
        "{quiet}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn no_bar_into_a_pipe_unless_forced() {
    let args = ["run", guests::SQUARE, "--map", "0..3"];
    let plain = mpwasm(&args);
    assert_eq!(plain.code, 0, "{plain:?}");
    assert_eq!(plain.stderr.trim_end().lines().count(), 1, "{plain:?}");
    assert!(plain.stderr.starts_with("3 tasks: 3 ok in "), "{plain:?}");
    let mut forced_args = args.to_vec();
    forced_args.push("--progress");
    let forced = mpwasm(&forced_args);
    assert!(forced.stderr.contains("3/3"), "{forced:?}");
    assert_eq!(forced.lines(), ["0", "1", "4"], "{forced:?}");
}

#[test]
fn the_summary_counts_failures_by_kind_and_colour_can_be_forced() {
    let run = mpwasm_with_stdin(
        &[
            "run",
            guests::MISBEHAVE,
            "--func",
            "sleep-ms",
            "--input",
            "-",
            "--timeout",
            "300ms",
            "--color",
            "always",
        ],
        "1\n\"x\"\n2\n2000\n",
    );
    assert_eq!(run.code, 1, "{run:?}");
    let summary = run.stderr.lines().last().expect("a summary line");
    assert!(
        summary
            .starts_with("4 tasks: 2 ok, \x1b[1;31m2 failed\x1b[0m (1 bad-input, 1 timeout) in "),
        "{run:?}"
    );
    assert!(run.stderr.contains("\x1b[1;31mbad-input\x1b[0m"), "{run:?}");
}

/// The `index` of every jsonl line of `text`, counted.
fn indices(text: &str) -> BTreeMap<u64, usize> {
    let mut seen = BTreeMap::new();
    for line in text.lines() {
        let value: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        *seen
            .entry(value["index"].as_u64().expect("an index"))
            .or_default() += 1;
    }
    seen
}

#[test]
fn a_killed_run_resumes_from_its_joblog_with_every_result_exactly_once() {
    let dir = temp_dir("resume");
    let joblog = dir.join("joblog.tsv");
    let joblog_arg = joblog.to_str().expect("utf-8 path");
    let args = [
        "run",
        guests::MISBEHAVE,
        "--func",
        "sleep-ms",
        "--map",
        "100..140",
        "-j",
        "2",
        "--format",
        "jsonl",
        "--joblog",
        joblog_arg,
    ];
    let first_out = dir.join("first.jsonl");
    let mut child = Command::new(mpwasm_bin())
        .args(args)
        .stdout(std::fs::File::create(&first_out).expect("output file"))
        .stderr(Stdio::null())
        .spawn()
        .expect("mpwasm starts");
    // Kill it (SIGKILL: no chance to tidy up) once a few results are logged.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let logged = std::fs::read_to_string(&joblog)
            .map(|t| t.lines().count())
            .unwrap_or(0);
        if logged > 4 || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().expect("killed");
    let _ = child.wait();
    let first = std::fs::read_to_string(&first_out).expect("first output");
    let first_indices = indices(&first);
    assert!(
        !first_indices.is_empty() && first_indices.len() < 40,
        "the first run should be cut in the middle: {first}"
    );
    // Every logged `ok` is a printed result, and the other way round.
    let logged = std::fs::read_to_string(&joblog).expect("joblog");
    let logged_ok: Vec<u64> = logged
        .lines()
        .skip(1)
        .filter(|l| l.split('\t').nth(4) == Some("ok"))
        .map(|l| {
            l.split('\t')
                .next()
                .and_then(|i| i.parse().ok())
                .expect("index")
        })
        .collect();
    assert_eq!(
        logged_ok,
        first_indices.keys().copied().collect::<Vec<_>>(),
        "{logged}"
    );

    let mut resume_args = args.to_vec();
    resume_args.push("--resume");
    let second = mpwasm(&resume_args);
    assert_eq!(second.code, 0, "{second:?}");
    let mut all = first_indices;
    for (index, count) in indices(&second.stdout) {
        *all.entry(index).or_default() += count;
    }
    let want: BTreeMap<u64, usize> = (0..40).map(|i| (i, 1)).collect();
    assert_eq!(all, want, "first:\n{first}\nsecond:\n{}", second.stdout);
    // The values are the inputs' own: index i slept 100 + i ms.
    for line in second.stdout.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("JSON");
        assert_eq!(v["value"].as_u64(), v["index"].as_u64().map(|i| 100 + i));
    }
    // A second resume has nothing left to do.
    let third = mpwasm(&resume_args);
    assert_eq!(third.code, 0, "{third:?}");
    assert_eq!(third.stdout, "", "{third:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn csv_rows_become_records_or_tuples() {
    let with_header = mpwasm_with_stdin(
        &["run", guests::KITCHEN, "--func", "add", "--csv", "-"],
        "b,a\n2,3\n10,-4\n",
    );
    assert_eq!(with_header.code, 0, "{with_header:?}");
    assert_eq!(with_header.lines(), ["5", "6"], "{with_header:?}");
    let tuples = mpwasm_with_stdin(
        &[
            "run",
            guests::KITCHEN,
            "--func",
            "add",
            "--csv",
            "-",
            "--no-header",
        ],
        "1,2\n\"3\",x\n",
    );
    assert_eq!(tuples.code, 1, "{tuples:?}");
    assert_eq!(tuples.lines(), ["3"], "{tuples:?}");
    assert!(
        tuples.stderr.contains("task 1: bad-input") && tuples.stderr.contains("(line 2 of stdin)"),
        "{tuples:?}"
    );
}

#[test]
fn a_file_input_gets_a_total_for_the_bar() {
    let dir = temp_dir("count");
    let input = dir.join("inputs.jsonl");
    // 12 inputs and two blank lines, which are not inputs.
    let lines: String = (0..12)
        .map(|i| format!("{}\n{}", 30 + i, if i % 6 == 0 { "\n" } else { "" }))
        .collect();
    std::fs::write(&input, lines).expect("input written");
    let run = mpwasm(&[
        "run",
        guests::MISBEHAVE,
        "--func",
        "sleep-ms",
        "--input",
        input.to_str().expect("utf-8"),
        "-j",
        "2",
        "--progress",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("12/12"), "{run:?}");
    assert!(run.stderr.contains("ETA"), "{run:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
