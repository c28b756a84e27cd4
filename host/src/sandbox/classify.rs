//! Turns a wasmtime error from a task into an [`ErrorKind`] and a message that names the
//! cause and the limit: memory-limit (from the limiter's record, not the message text),
//! timeout (epoch interrupt), fuel, and traps (with a Rust guest's panic message when the
//! guest printed one, a Python task's exception, or a JavaScript task's uncaught exception), and the ends of host calls (a deadline passed while waiting for the
//! application is a timeout; a handler's error with nowhere to go is `host-error`).

use wasmtime::Trap;

use super::cancel::CallCancelled;
use super::host_calls::HostCallError;

use crate::error::ErrorKind;
use crate::limits::{Limits, format_duration, format_size};
use crate::vocab::WireFailure;

/// Classifies `error`, raised while running a task (or instantiating for it).
///
/// `refused` is the limiter's record of a refused growth; `output` is what the guest printed
/// during the task (a panic message is taken from it).
pub fn classify(
    error: &wasmtime::Error,
    refused: Option<u64>,
    limits: &Limits,
    output: &[u8],
) -> WireFailure {
    if let Some(wanted) = refused {
        return WireFailure::new(
            ErrorKind::MemoryLimit,
            format!(
                "the task tried to grow its memory to {}, over the limit of {} (--memory)",
                format_size(wanted),
                format_size(limits.memory)
            ),
        );
    }
    if error.downcast_ref::<CallCancelled>().is_some() {
        return WireFailure::new(ErrorKind::Cancelled, CallCancelled.to_string());
    }
    if let Some(wasmtime_wasi::I32Exit(status)) = error.downcast_ref::<wasmtime_wasi::I32Exit>() {
        // WASI 0.2's exit carries only success or failure: a failing status arrives as 1.
        let which = match status {
            0 => "status 0".to_string(),
            1 => "a failing status (WASI 0.2 tells only success from failure)".to_string(),
            n => format!("status {n}"),
        };
        return WireFailure::new(
            ErrorKind::Exit,
            format!(
                "the task exited with {which} instead of returning a result (sys.exit() in \
                 Python, std::process::exit in Rust): a task function returns its result, or \
                 raises or panics to fail"
            ),
        );
    }
    if let Some(host) = error.downcast_ref::<HostCallError>() {
        let kind = match host {
            HostCallError::TimedOut { .. } => ErrorKind::Timeout,
            _ => ErrorKind::HostError,
        };
        return WireFailure::new(kind, host.to_string());
    }
    let trap = error.downcast_ref::<Trap>().copied();
    let (kind, message) = match trap {
        Some(Trap::Interrupt) => (
            ErrorKind::Timeout,
            match limits.timeout {
                Some(t) => format!(
                    "the task ran longer than the limit of {} (--timeout) and was stopped",
                    format_duration(t)
                ),
                None => "the task was interrupted".to_string(),
            },
        ),
        Some(Trap::OutOfFuel) => (
            ErrorKind::FuelExhausted,
            format!(
                "the task used up its fuel budget of {} (--fuel)",
                limits.fuel.unwrap_or(0)
            ),
        ),
        Some(Trap::StackOverflow) => (
            ErrorKind::Trap,
            "stack overflow: the task's call stack grew past the wasm stack limit (deep \
             recursion?)"
                .to_string(),
        ),
        Some(Trap::UnreachableCodeReached) => match panic_message(output) {
            Some(panic) if panic.starts_with(PYTHON_PANIC) => match python_exception(output) {
                Some(raised) => (ErrorKind::Trap, format!("the task raised {raised}")),
                None => (ErrorKind::Trap, format!("the task panicked: {panic}")),
            },
            Some(panic) if let Some(error) = python_conversion(&panic) => (
                ErrorKind::Trap,
                format!(
                    "a Python value does not fit its WIT type (the function's result, \
                     usually): {error}"
                ),
            ),
            Some(panic) => (ErrorKind::Trap, format!("the task panicked: {panic}")),
            None if let Some(thrown) = js_exception(output) => {
                (ErrorKind::Trap, format!("the task threw {thrown}"))
            }
            None => (
                ErrorKind::Trap,
                "wasm `unreachable` instruction executed (the guest aborted)".to_string(),
            ),
        },
        Some(Trap::MemoryOutOfBounds) => (
            ErrorKind::Trap,
            "out of bounds memory access (in a Rust guest this is usually its stack \
             overflowing through deep recursion)"
                .to_string(),
        ),
        Some(other) => (ErrorKind::Trap, strip_prefix(&other.to_string())),
        None => (ErrorKind::Trap, first_line(&format!("{error:#}"))),
    };
    WireFailure::new(kind, message)
}

fn strip_prefix(text: &str) -> String {
    text.strip_prefix("wasm trap: ").unwrap_or(text).to_string()
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or(text).trim().to_string()
}

/// What componentize-py's runtime panics with when a Python function raises.
const PYTHON_PANIC: &str = "Python function threw an unexpected exception";

/// Finds the last Python traceback in guest output and returns its exception with where it
/// was raised: `ValueError: boom (at app.py, line 8, in boom)`. The whole traceback stays in
/// the task's output.
pub fn python_exception(output: &[u8]) -> Option<String> {
    const HEADER: &str = "Traceback (most recent call last):";
    let text = String::from_utf8_lossy(output);
    let start = text.rfind(HEADER)? + HEADER.len();
    let block: Vec<&str> = text[start..]
        .lines()
        .skip(1)
        .take_while(|l| !l.trim().is_empty() && !l.starts_with("thread '"))
        .collect();
    let last_frame = block
        .iter()
        .rev()
        .find_map(|l| l.trim_start().strip_prefix("File "))
        .map(|frame| frame.replacen('"', "", 2));
    // The exception: the lines after the frames and their source lines (which are indented).
    let raised: Vec<&str> = block
        .iter()
        .skip_while(|l| l.starts_with(' '))
        .map(|l| l.trim())
        .collect();
    let raised = raised.join(" ");
    if raised.is_empty() {
        return None;
    }
    Some(match last_frame {
        Some(frame) => format!("{raised} (at {frame})"),
        None => raised,
    })
}

/// What componentize-js's runtime prints when an uncaught exception makes it abort.
const JS_ABORT: &str = "Redirecting call to abort() to mozalloc_abort";

/// Finds the uncaught JavaScript exception before componentize-js's abort in guest output:
/// the thrown value's message, then `Stack:` and frames (`boom@app.js:2:23`) →
/// `bad thing (at boom, app.js:2:23)`; a thrown value without a stack (a string) is printed
/// alone. JavaScript prints no error type here, only the message.
pub fn js_exception(output: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(output);
    let before = text[..text.rfind(JS_ABORT)?].trim_end();
    let (message, frame) = match before.rfind("\nStack:\n") {
        Some(at) => {
            let message = before[..at].lines().next_back()?;
            let frame = before[at + "\nStack:\n".len()..]
                .lines()
                .next()
                .map(str::trim);
            (message, frame)
        }
        None => (before.lines().next_back()?, None),
    };
    let message = message.trim();
    if message.is_empty() {
        return None;
    }
    Some(match frame.and_then(|f| f.split_once('@')) {
        Some((function, place)) if !function.is_empty() => {
            format!("{message} (at {function}, {place})")
        }
        Some((_, place)) => format!("{message} (at {place})"),
        None => message.to_string(),
    })
}

/// The Python error in a panic of componentize-py's runtime on a value it could not convert:
/// `...PyErr { type: <class 'TypeError'>, value: TypeError("'str' object ..."), ... }` →
/// `TypeError: 'str' object ...`.
fn python_conversion(panic: &str) -> Option<String> {
    let rest = &panic[panic.find("PyErr { type: <class '")? + "PyErr { type: <class '".len()..];
    let (name, rest) = rest.split_once("'>")?;
    let value = rest.split_once("value: ")?.1;
    let value = value.split_once(", traceback:").map_or(value, |(v, _)| v);
    let message = value
        .strip_prefix(name)
        .and_then(|v| v.strip_prefix('('))
        .and_then(|v| v.strip_suffix(')'))
        .unwrap_or(value);
    let message = message
        .strip_prefix('"')
        .and_then(|m| m.strip_suffix('"'))
        .unwrap_or(message);
    Some(format!("{name}: {message}"))
}

/// Finds a Rust panic in guest output: `panicked at src/lib.rs:3:5:\nMESSAGE` →
/// `MESSAGE (at src/lib.rs:3:5)`.
pub fn panic_message(output: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(output);
    let start = text.find("panicked at ")?;
    let rest = &text[start + "panicked at ".len()..];
    let (location, after) = rest.split_once('\n')?;
    let location = location.trim_end_matches(':');
    let message: Vec<&str> = after
        .lines()
        .take_while(|l| !l.starts_with("note: "))
        .collect();
    let message = message.join("\n");
    let message = message.trim();
    Some(if message.is_empty() {
        format!("(at {location})")
    } else {
        format!("{message} (at {location})")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_panic_messages() {
        let out = b"hello\nthread '<unnamed>' panicked at src/lib.rs:9:5:\nboom: it broke\nnote: run with `RUST_BACKTRACE=1`\n";
        assert_eq!(
            panic_message(out).as_deref(),
            Some("boom: it broke (at src/lib.rs:9:5)")
        );
        assert_eq!(panic_message(b"no panic here"), None);
    }

    #[test]
    fn finds_the_last_python_exception_and_where_it_was_raised() {
        let out = b"working\nTraceback (most recent call last):\n  File \"/0/app.py\", line 3, in f\n    g()\nKeyError: 'a'\n\nDuring handling of the above exception, another exception occurred:\n\nTraceback (most recent call last):\n  File \"/0/app.py\", line 5, in f\n    g()\n  File \"/0/lib.py\", line 9, in g\n    raise ValueError(msg)\nValueError: bad\nthing\n\nthread '<unnamed>' (1) panicked at runtime/src/lib.rs:1280:25:\nPython function threw an unexpected exception\n";
        assert_eq!(
            python_exception(out).as_deref(),
            Some("ValueError: bad thing (at /0/lib.py, line 9, in g)")
        );
        assert_eq!(
            python_exception(b"Traceback (most recent call last):\n"),
            None
        );
        assert_eq!(python_exception(b"no traceback"), None);
    }

    #[test]
    fn finds_the_javascript_exception_before_the_abort() {
        let out = b"working\nbad thing 2\nStack:\n  boom@app.js:2:23\n  export_boom@/tmp/x/sources/initializer.js:26:15\n\nRedirecting call to abort() to mozalloc_abort\n\n";
        assert_eq!(
            js_exception(out).as_deref(),
            Some("bad thing 2 (at boom, app.js:2:23)")
        );
        let string = b"\"a string\"\nRedirecting call to abort() to mozalloc_abort\n";
        assert_eq!(js_exception(string).as_deref(), Some("\"a string\""));
        let anonymous =
            b"oops\nStack:\n  @app.js:1:1\n\nRedirecting call to abort() to mozalloc_abort\n";
        assert_eq!(
            js_exception(anonymous).as_deref(),
            Some("oops (at app.js:1:1)")
        );
        assert_eq!(js_exception(b"bad thing\nStack:\n  f@a.js:1:1\n"), None);
        assert_eq!(
            js_exception(b"Redirecting call to abort() to mozalloc_abort\n"),
            None
        );
    }

    #[test]
    fn reads_the_python_error_of_a_value_that_did_not_convert() {
        let panic = "called `Result::unwrap()` on an `Err` value: PyErr { type: <class \
                     'TypeError'>, value: TypeError(\"'str' object cannot be interpreted as an \
                     integer\"), traceback: None } (at runtime/src/lib.rs:1456:67)";
        assert_eq!(
            python_conversion(panic).as_deref(),
            Some("TypeError: 'str' object cannot be interpreted as an integer")
        );
        assert_eq!(python_conversion("index out of bounds"), None);
    }
}
