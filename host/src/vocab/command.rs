//! Command mode: how one input becomes one run of a WASI program (a component exporting
//! `wasi:cli/run`, or a core module with `_start`). [`CommandSpec`] holds the argument
//! template; [`CommandSpec::invocation`] fills it in with an input.
//!
//! The rules, in the spirit of GNU parallel:
//! - `{}` in an argument is replaced by the input's text: a string without its JSON quotes,
//!   any other value as JSON; an array's elements joined by spaces. `{1}`, `{2}`, ... are the
//!   elements of an array input (or, for `{1}`, the input itself).
//! - With no placeholder anywhere, the input is appended as the last argument (an array: each
//!   element as its own argument).
//! - With `stdin`, the input's text is the program's standard input and the arguments are
//!   passed as written.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How inputs become program runs (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandSpec {
    /// The program's name, passed as `argv[0]` (the module's file name).
    pub program: String,
    /// The argument template.
    pub args: Vec<String>,
    /// Feed the input on standard input instead of substituting it into the arguments.
    pub stdin: bool,
}

/// What one run of a program produced: the value of its task, as JSON
/// `{"exit":C,"stdout":"..","stderr":".."}`. `exit` is `null` for a run stopped before its end
/// (a limit, a trap). Written by the sandbox; read with [`crate::TaskOutcome::program_run`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgramRun {
    /// The exit status, or `None` when the run was stopped before it exited.
    pub exit: Option<i32>,
    /// Its standard output, as UTF-8 (invalid bytes replaced).
    pub stdout: String,
    /// Its standard error, likewise.
    pub stderr: String,
}

/// One run of a program: its arguments (`argv[0]` first) and its standard input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// `argv`, the program name first.
    pub argv: Vec<String>,
    /// Standard input (empty when not fed).
    pub stdin: Vec<u8>,
}

/// An input's text: a string without quotes, anything else as JSON.
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl CommandSpec {
    /// Whether any argument holds a placeholder (`{}`, `{1}`, ...).
    fn has_placeholder(&self) -> bool {
        self.args.iter().any(|a| placeholders(a).next().is_some())
    }

    /// Builds the run for one input, given as JSON text.
    ///
    /// # Errors
    /// When the input is not JSON, or names an element (`{3}`) the input does not have.
    pub fn invocation(&self, input: &str) -> Result<Invocation, String> {
        let value: Value =
            serde_json::from_str(input).map_err(|e| format!("the input is not JSON: {e}"))?;
        let mut argv = Vec::with_capacity(self.args.len() + 2);
        argv.push(self.program.clone());
        if self.stdin {
            argv.extend(self.args.iter().cloned());
            return Ok(Invocation {
                argv,
                stdin: text(&value).into_bytes(),
            });
        }
        let items: Vec<String> = match &value {
            Value::Array(items) => items.iter().map(text).collect(),
            other => vec![text(other)],
        };
        if !self.has_placeholder() {
            argv.extend(self.args.iter().cloned());
            argv.extend(items);
            return Ok(Invocation {
                argv,
                stdin: Vec::new(),
            });
        }
        let whole = items.join(" ");
        for arg in &self.args {
            argv.push(substitute(arg, &whole, &items)?);
        }
        Ok(Invocation {
            argv,
            stdin: Vec::new(),
        })
    }
}

/// The placeholders in `arg`: `(start, end, n)` with `n == 0` for `{}`.
fn placeholders(arg: &str) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
    let bytes = arg.as_bytes();
    let mut at = 0;
    std::iter::from_fn(move || {
        while let Some(offset) = arg[at..].find('{') {
            let start = at + offset;
            let digits = bytes[start + 1..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count();
            let close = start + 1 + digits;
            at = start + 1;
            if bytes.get(close) == Some(&b'}') {
                let n = if digits == 0 {
                    0
                } else {
                    match arg[start + 1..close].parse::<usize>() {
                        Ok(n) if n > 0 => n,
                        _ => continue,
                    }
                };
                at = close + 1;
                return Some((start, close + 1, n));
            }
        }
        None
    })
}

fn substitute(arg: &str, whole: &str, items: &[String]) -> Result<String, String> {
    let mut out = String::with_capacity(arg.len() + whole.len());
    let mut last = 0;
    for (start, end, n) in placeholders(arg) {
        out.push_str(&arg[last..start]);
        if n == 0 {
            out.push_str(whole);
        } else {
            let item = items.get(n - 1).ok_or_else(|| {
                format!(
                    "the argument `{arg}` uses {{{n}}}, but the input has {} element(s)",
                    items.len()
                )
            })?;
            out.push_str(item);
        }
        last = end;
    }
    out.push_str(&arg[last..]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(args: &[&str], stdin: bool) -> CommandSpec {
        CommandSpec {
            program: "prog.wasm".into(),
            args: args.iter().map(|a| a.to_string()).collect(),
            stdin,
        }
    }

    fn argv(spec: &CommandSpec, input: &str) -> Vec<String> {
        spec.invocation(input).expect("valid").argv
    }

    #[test]
    fn substitution_rules() {
        let s = spec(&["-n", "{}", "x{}y"], false);
        assert_eq!(argv(&s, "\"a b\""), ["prog.wasm", "-n", "a b", "xa by"]);
        assert_eq!(argv(&s, "7"), ["prog.wasm", "-n", "7", "x7y"]);
        assert_eq!(argv(&s, "[1,\"b\"]"), ["prog.wasm", "-n", "1 b", "x1 by"]);
        let numbered = spec(&["{2}-{1}", "{}}"], false);
        assert_eq!(
            argv(&numbered, "[\"a\",\"b\"]"),
            ["prog.wasm", "b-a", "a b}"]
        );
        assert!(numbered.invocation("\"only\"").is_err());
        // No placeholder: appended; an array spreads.
        let plain = spec(&["--flag"], false);
        assert_eq!(argv(&plain, "\"w\""), ["prog.wasm", "--flag", "w"]);
        assert_eq!(argv(&plain, "[\"a\",2]"), ["prog.wasm", "--flag", "a", "2"]);
        assert_eq!(
            argv(&plain, "{\"k\":1}"),
            ["prog.wasm", "--flag", "{\"k\":1}"]
        );
        // Braces that are not placeholders stay.
        let braces = spec(&["{x}", "{0}", "{"], false);
        assert_eq!(argv(&braces, "1"), ["prog.wasm", "{x}", "{0}", "{", "1"]);
    }

    #[test]
    fn stdin_mode_passes_arguments_verbatim() {
        let s = spec(&["{}"], true);
        let run = s.invocation("\"line\\n\"").expect("valid");
        assert_eq!(run.argv, ["prog.wasm", "{}"]);
        assert_eq!(run.stdin, b"line\n");
        assert!(s.invocation("not json").is_err());
    }
}
