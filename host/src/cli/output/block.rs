//! Guest output as one block per task: what the guest printed, ended with a line break, and a
//! note when `--output-limit` cut it; and the single write to stderr that keeps one task's
//! block from interleaving with another's.

use std::io::{self, Write};

use mpwasm::TaskIndex;

/// Whether `text` needs a line break added to end its last line (an empty text does not).
pub fn lacks_final_newline(text: &[u8]) -> bool {
    !text.is_empty() && !text.ends_with(b"\n")
}

/// A task's captured output as a block: the bytes, a line break when they lack one, and
/// `[mpwasm: task I: output cut, N more bytes dropped (--output-limit, ...)]` when `dropped`
/// bytes were cut (past a task's limit, or past what one batch may carry). `None` when there is nothing to show.
pub fn guest_output(index: TaskIndex, output: &[u8], dropped: u64) -> Option<Vec<u8>> {
    if output.is_empty() && dropped == 0 {
        return None;
    }
    let mut block = Vec::with_capacity(output.len() + 100);
    block.extend_from_slice(output);
    if lacks_final_newline(&block) {
        block.push(b'\n');
    }
    if dropped > 0 {
        block.extend_from_slice(
            format!(
                "[mpwasm: task {index}: output cut, {dropped} more bytes dropped (--output-limit; \
                 a batch of tasks keeps 128 MiB in all, see --chunksize)]\n",
            )
            .as_bytes(),
        );
    }
    Some(block)
}

/// Writes `block` to stderr in one call, ending it with a line break when it lacks one, so
/// blocks never interleave. Errors are ignored: stderr is where they would be reported.
pub fn write_stderr(block: &[u8]) {
    let mut err = io::stderr().lock();
    if lacks_final_newline(block) {
        let mut owned = Vec::with_capacity(block.len() + 1);
        owned.extend_from_slice(block);
        owned.push(b'\n');
        let _ = err.write_all(&owned);
    } else {
        let _ = err.write_all(block);
    }
    let _ = err.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_end_their_last_line_and_note_what_was_cut() {
        let cases: &[(&[u8], u64, Option<&str>)] = &[
            (b"", 0, None),
            (b"hi", 0, Some("hi\n")),
            (b"hi\n", 0, Some("hi\n")),
            (
                b"hi",
                7,
                Some(
                    "hi\n[mpwasm: task 3: output cut, 7 more bytes dropped (--output-limit; a \
                     batch of tasks keeps 128 MiB in all, see --chunksize)]\n",
                ),
            ),
            (
                b"",
                7,
                Some(
                    "[mpwasm: task 3: output cut, 7 more bytes dropped (--output-limit; a batch \
                     of tasks keeps 128 MiB in all, see --chunksize)]\n",
                ),
            ),
        ];
        for (output, dropped, want) in cases {
            let got = guest_output(TaskIndex(3), output, *dropped);
            let got = got
                .as_deref()
                .map(|b| std::str::from_utf8(b).expect("utf-8"));
            assert_eq!(got, *want, "{output:?} {dropped}");
        }
    }
}
