//! A task's outcome as it travels on the result stream: postcard bytes holding the input's
//! index in the submitter's job, the result or failure, the captured output and the worker
//! process that ran it.

use compact_str::CompactString;
use serde::{Deserialize, Serialize};

use crate::error::{ErrorKind, TaskError};
use crate::ids::TaskIndex;
use crate::pool::TaskOutcome;
use crate::vocab::{CapturedOutput, WireFailure};

#[derive(Debug, Serialize, Deserialize)]
struct RemoteOutcome {
    index: u64,
    pid: Option<u32>,
    result: Result<CompactString, Box<WireFailure>>,
    output: CapturedOutput,
    nanos: u64,
}

/// Encodes `outcome` as the result of input `index`.
pub fn encode(outcome: &TaskOutcome, index: u64) -> Vec<u8> {
    let result = match &outcome.result {
        Ok(value) => Ok(value.clone()),
        Err(e) => Err(Box::new(WireFailure {
            kind: e.kind(),
            message: e.message().to_string(),
            value: e.value_json().map(CompactString::from),
        })),
    };
    let remote = RemoteOutcome {
        index,
        pid: outcome.worker_pid,
        result,
        output: outcome.output.clone(),
        nanos: outcome.nanos,
    };
    // Encoding into a Vec fails only on out-of-memory, which aborts anyway.
    postcard::to_stdvec(&remote).unwrap_or_default()
}

/// Encodes a failure of input `index` that never reached a sandbox.
pub fn encode_failure(index: u64, kind: ErrorKind, message: String) -> Vec<u8> {
    let outcome = TaskOutcome::failed(TaskIndex(index), kind, message);
    encode(&outcome, index)
}

/// Decodes a result.
///
/// # Errors
/// A message when the bytes are not a result (another program wrote the stream).
pub fn decode(bytes: &[u8]) -> Result<TaskOutcome, String> {
    let remote: RemoteOutcome =
        postcard::from_bytes(bytes).map_err(|e| format!("an unreadable result: {e}"))?;
    let index = TaskIndex(remote.index);
    Ok(TaskOutcome {
        index,
        worker_pid: remote.pid,
        result: remote
            .result
            .map_err(|f| TaskError::new(index, f.kind, f.message).with_value(f.value)),
        output: remote.output,
        nanos: remote.nanos,
        plugin_version: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_round_trip() {
        let mut ok = TaskOutcome::failed(TaskIndex(3), ErrorKind::Trap, "x");
        ok.result = Ok("49".into());
        ok.worker_pid = Some(12);
        ok.output.bytes = b"hi\n".to_vec();
        let back = decode(&encode(&ok, 70)).expect("decodes");
        assert_eq!(back.index(), TaskIndex(70));
        assert_eq!(back.json().ok(), Some("49"));
        assert_eq!(back.worker_pid(), Some(12));
        assert_eq!(back.output(), b"hi\n");

        let failed =
            decode(&encode_failure(5, ErrorKind::WorkerLost, "gone".into())).expect("decodes");
        let error = failed.json().expect_err("a failure");
        assert_eq!(
            (error.kind(), error.message()),
            (ErrorKind::WorkerLost, "gone")
        );
        assert_eq!(error.index(), TaskIndex(5));
        assert!(decode(b"\xff\xff").is_err());
    }
}
