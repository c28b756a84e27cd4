//! Turns a wasmtime error from a task into an [`ErrorKind`] and a message that names the
//! cause and the limit: memory-limit (from the limiter's record, not the message text),
//! timeout (epoch interrupt), fuel, and traps (with a Rust guest's panic message when the
//! guest printed one), and the ends of host calls (a deadline passed while waiting for the
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
            Some(panic) => (ErrorKind::Trap, format!("the task panicked: {panic}")),
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
}
