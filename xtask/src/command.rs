//! Running the commands of a task: each is printed as `$ program args` before it runs, streams
//! its output, and a failure becomes an error naming the step.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

/// The cargo that runs the xtask (`$CARGO`), or `cargo` from the `PATH`.
pub fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

/// A `cargo` command with the given arguments, to run from the workspace root.
pub fn cargo_command<I, S>(root: &Path, args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut command = Command::new(cargo());
    command.args(args).current_dir(root);
    command
}

/// Prints `command`, runs it with inherited stdio and fails with `step` in the message unless it
/// succeeds.
pub fn run(step: &str, command: &mut Command) -> Result<()> {
    println!("$ {}", display(command));
    let status = command
        .status()
        .with_context(|| format!("{step}: cannot start `{}`", display(command)))?;
    if !status.success() {
        bail!("{step} failed ({status})");
    }
    Ok(())
}

/// Like [`run`], with `lines` (each followed by a newline) on the command's standard input.
pub fn run_with_input(step: &str, command: &mut Command, lines: &[&str]) -> Result<()> {
    let quoted: Vec<String> = lines.iter().map(|line| quote(line)).collect();
    println!(
        "$ printf '%s\\n' {} | {}",
        quoted.join(" "),
        display(command)
    );
    let mut child = command
        .stdin(Stdio::piped())
        .spawn()
        .with_context(|| format!("{step}: cannot start `{}`", display(command)))?;
    if let Some(mut stdin) = child.stdin.take() {
        for line in lines {
            writeln!(stdin, "{line}")
                .with_context(|| format!("{step}: cannot write to its standard input"))?;
        }
    }
    let status = child
        .wait()
        .with_context(|| format!("{step}: cannot wait for it"))?;
    if !status.success() {
        bail!("{step} failed ({status})");
    }
    Ok(())
}

/// Totals of the `test result:` lines of a `cargo test` run.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TestCounts {
    /// Tests that passed.
    pub passed: u64,
    /// Tests that failed.
    pub failed: u64,
    /// Tests that were ignored.
    pub ignored: u64,
}

impl TestCounts {
    /// Adds the counts of one `test result: ok. 3 passed; 0 failed; 1 ignored; ...` line; other
    /// lines are left alone.
    fn add_line(&mut self, line: &str) {
        let Some(result) = line.trim().strip_prefix("test result: ") else {
            return;
        };
        for part in result.split(';') {
            let mut words = part.split_whitespace().rev();
            let (Some(what), Some(count)) = (words.next(), words.next()) else {
                continue;
            };
            let Ok(count) = count.parse::<u64>() else {
                continue;
            };
            match what {
                "passed" => self.passed += count,
                "failed" => self.failed += count,
                "ignored" => self.ignored += count,
                _ => {}
            }
        }
    }
}

/// Like [`run`] for a `cargo test` command: its standard output is passed through line by line
/// and its `test result:` lines are added up.
pub fn run_tests(step: &str, command: &mut Command) -> Result<TestCounts> {
    println!("$ {}", display(command));
    let mut child = command
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("{step}: cannot start `{}`", display(command)))?;
    let mut counts = TestCounts::default();
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines() {
            let line = line.with_context(|| format!("{step}: cannot read its output"))?;
            println!("{line}");
            counts.add_line(&line);
        }
    }
    let status = child
        .wait()
        .with_context(|| format!("{step}: cannot wait for it"))?;
    if !status.success() {
        bail!(
            "{step} failed ({status}): {} passed, {} failed",
            counts.passed,
            counts.failed
        );
    }
    Ok(counts)
}

/// `program args...` as one would type it in a shell: `$CARGO` is shown as `cargo`, and a
/// program inside the command's directory by its relative path.
pub fn display(command: &Command) -> String {
    let program = Path::new(command.get_program());
    let program = match command.get_current_dir() {
        Some(dir) => program.strip_prefix(dir).unwrap_or(program),
        None => program,
    };
    let program = program.to_string_lossy();
    let program = if program == cargo() {
        "cargo".into()
    } else {
        program
    };
    let mut line = quote(&program);
    for arg in command.get_args() {
        line.push(' ');
        line.push_str(&quote(&arg.to_string_lossy()));
    }
    line
}

/// Single-quotes `word` when a shell would otherwise split or expand it.
fn quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_quoted_only_when_needed() {
        let cases = [
            ("target/release/mpwasm", "target/release/mpwasm"),
            ("0..100000:10000", "0..100000:10000"),
            ("the cat and the hat", "'the cat and the hat'"),
            ("\"hello\"", "'\"hello\"'"),
            ("it's", r"'it'\''s'"),
            ("", "''"),
        ];
        for (word, expected) in cases {
            assert_eq!(quote(word), expected);
        }
    }

    #[test]
    fn test_results_are_added_up() {
        let mut counts = TestCounts::default();
        for line in [
            "running 3 tests",
            "test a ... ok",
            "test result: ok. 3 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; \
             finished in 0.01s",
            "test result: FAILED. 1 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out",
            "test result: nonsense",
        ] {
            counts.add_line(line);
        }
        let expected = TestCounts {
            passed: 4,
            failed: 2,
            ignored: 1,
        };
        assert_eq!(counts, expected);
    }

    #[test]
    fn commands_are_displayed_from_their_directory() {
        let mut command = Command::new("/repo/target/release/mpwasm");
        command
            .args(["call", "x.wasm", "the cat"])
            .current_dir("/repo");
        assert_eq!(
            display(&command),
            "target/release/mpwasm call x.wasm 'the cat'"
        );
    }
}
