//! Random input files through the CLI's readers, end to end (issue 19's fuzzing of the
//! parsers): JSON Lines with junk, numbers, invalid UTF-8, CRLF and blank lines; CSV with
//! quoted fields, line breaks inside quotes, stray spaces, ragged rows and invalid UTF-8.
//! Whatever the file, mpwasm never panics; every input it reads gets exactly one outcome, the
//! right one; a bad input fails alone as `bad-input` naming its line; and a file it cannot read
//! past ends the run with exit 1 naming the file, after the outcomes of every row before.
//! Seeded: a failure names the seed that repeats it; `MPWASM_FUZZ_INPUTS=N` runs N files of
//! each kind instead of the default.

use std::path::Path;

use mpwasm_test_artifacts::guests;

use crate::common::{self, Rng, temp_dir};

fn cases() -> u64 {
    std::env::var("MPWASM_FUZZ_INPUTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(24)
}

/// What one line of a random JSON Lines file must become.
#[derive(Debug)]
enum Expect {
    /// The string it holds, echoed.
    Echo(String),
    /// `bad-input`, naming the line (1-based, in the file).
    Bad(u64),
}

/// A random string of awkward characters, as the guest must echo it.
fn awkward(rng: &mut Rng) -> String {
    const PIECES: [&str; 10] = ["a", "é", "\"", "\\", "\t", "𝄞", " ", ",", "\u{7f}", "ß"];
    (0..rng.below(8))
        .map(|_| PIECES[rng.below(PIECES.len() as u64) as usize])
        .collect()
}

/// A JSON Lines file and what each of its inputs must become.
fn json_lines(rng: &mut Rng) -> (Vec<u8>, Vec<Expect>) {
    let mut file = Vec::new();
    let mut expect = Vec::new();
    let lines = 1 + rng.below(40);
    for number in 1..=lines {
        let text: Vec<u8> = match rng.below(7) {
            0 | 1 => {
                let s = awkward(rng);
                expect.push(Expect::Echo(s.clone()));
                serde_json::to_string(&s).expect("JSON").into_bytes()
            }
            // A blank line is skipped: no input.
            2 => [&b""[..], b"  ", b"\t"][rng.below(3) as usize].to_vec(),
            3 => {
                expect.push(Expect::Bad(number));
                rng.below(1 << 40).to_string().into_bytes()
            }
            4 => {
                expect.push(Expect::Bad(number));
                [&b"{"[..], b"[1,", b"\"open", b"nul", b"}{", b"\"a\" \"b\""][rng.below(6) as usize]
                    .to_vec()
            }
            5 => {
                expect.push(Expect::Bad(number));
                vec![0xff, b'x', 0xc3]
            }
            _ => {
                expect.push(Expect::Bad(number));
                br#"{"not": "a string"}"#.to_vec()
            }
        };
        file.extend_from_slice(&text);
        if number < lines || rng.below(2) == 0 {
            file.extend_from_slice(if rng.below(3) == 0 { b"\r\n" } else { b"\n" });
        }
    }
    (file, expect)
}

/// Runs `mpwasm run kitchen.wasm --func FUNC FLAG FILE --format jsonl`.
fn run(func: &str, flag: &str, file: &Path) -> common::Run {
    common::mpwasm(&[
        "run",
        guests::KITCHEN,
        "--func",
        func,
        flag,
        file.to_str().expect("utf-8"),
        "--format",
        "jsonl",
        "-j",
        "1",
    ])
}

/// Checks that a run ended honestly: no panic, an exit status of 0, 1 or 2.
fn honest(what: &str, run: &common::Run) {
    assert!(
        matches!(run.code, 0..=2),
        "{what}: exit {}: {}",
        run.code,
        run.stderr
    );
    assert!(
        !run.stderr.contains("panicked"),
        "{what}: panicked: {}",
        run.stderr
    );
}

#[test]
fn random_json_lines_get_one_right_outcome_each() {
    let dir = temp_dir("random-jsonl");
    for case in 0..cases() {
        let seed = 0x150_0000 + case;
        let what = format!("seed {seed:#x}");
        let (bytes, expect) = json_lines(&mut Rng(seed));
        let file = dir.join(format!("{seed:x}.jsonl"));
        std::fs::write(&file, &bytes).expect("write");
        let run = run("mpwasm:tasks/types#echo-string", "--input", &file);
        honest(&what, &run);
        let lines = run.json_lines();
        assert_eq!(lines.len(), expect.len(), "{what}: {run:?}");
        for (i, (line, want)) in lines.iter().zip(&expect).enumerate() {
            assert_eq!(line["index"], i, "{what}: {line}");
            match want {
                Expect::Echo(s) => assert_eq!(line["value"], *s, "{what}: {line}"),
                Expect::Bad(number) => {
                    assert_eq!(line["error"]["kind"], "bad-input", "{what}: {line}");
                    let message = line["error"]["message"].as_str().unwrap_or_default();
                    assert!(
                        message.contains(&format!("line {number}")),
                        "{what}: the message does not name line {number}: {line}"
                    );
                }
            }
        }
        let failed = expect.iter().any(|e| matches!(e, Expect::Bad(_)));
        assert_eq!(run.code, i32::from(failed), "{what}: {}", run.stderr);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// One field of a random CSV row for `add(a: s32, b: s32)`: its text, and its number when
/// mpwasm must take it as an `s32`.
fn csv_field(rng: &mut Rng) -> (String, Option<i32>) {
    let n = rng.below(2000) as i32 - 1000;
    match rng.below(9) {
        0..=2 => (n.to_string(), Some(n)),
        3 => (format!(" {n} "), Some(n)),
        4 => (format!("\"{n}\""), Some(n)),
        5 => ("3000000000".into(), None),
        6 => ("1.5".into(), None),
        7 => ("\"a, \"\"b\"\"\nc\"".into(), None),
        _ => (String::new(), None),
    }
}

#[test]
fn random_csv_gets_one_right_outcome_per_row_or_a_clear_stop() {
    let dir = temp_dir("random-csv");
    for case in 0..cases() {
        let seed = 0xc5_0000 + case;
        let what = format!("seed {seed:#x}");
        let mut rng = Rng(seed);
        let mut file = b"a,b\n".to_vec();
        // Each row's sum, or None when it must fail as bad-input; rows up to the first one
        // the CSV reader cannot read (a ragged row, invalid UTF-8), where the run stops.
        let mut expect: Vec<Option<i32>> = Vec::new();
        let mut stops = false;
        for _ in 0..1 + rng.below(30) {
            match rng.below(12) {
                0 if !stops => {
                    file.extend_from_slice(b"1,2,3\n");
                    stops = true;
                }
                1 if !stops => {
                    file.extend_from_slice(b"\xff\xfe,1\n");
                    stops = true;
                }
                2 => file.extend_from_slice(b"\n"),
                _ => {
                    let (a, x) = csv_field(&mut rng);
                    let (b, y) = csv_field(&mut rng);
                    file.extend_from_slice(format!("{a},{b}\n").as_bytes());
                    if !stops {
                        expect.push(x.zip(y).map(|(x, y)| x + y));
                    }
                }
            }
        }
        let path = dir.join(format!("{seed:x}.csv"));
        std::fs::write(&path, &file).expect("write");
        let run = run("add", "--csv", &path);
        honest(&what, &run);
        let lines = run.json_lines();
        assert_eq!(lines.len(), expect.len(), "{what}: {run:?}");
        for (i, (line, want)) in lines.iter().zip(&expect).enumerate() {
            assert_eq!(line["index"], i, "{what}: {line}");
            match want {
                Some(sum) => assert_eq!(line["value"], *sum, "{what}: {line}"),
                None => assert_eq!(line["error"]["kind"], "bad-input", "{what}: {line}"),
            }
        }
        if stops {
            // An input that cannot be read to its end: exit 1, as for a failed task.
            assert_eq!(run.code, 1, "{what}: {}", run.stderr);
            assert!(
                run.stderr.contains("CSV") && run.stderr.contains(path.to_str().expect("utf-8")),
                "{what}: {}",
                run.stderr
            );
        } else {
            let failed = expect.iter().any(Option::is_none);
            assert_eq!(run.code, i32::from(failed), "{what}: {}", run.stderr);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
