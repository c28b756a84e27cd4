//! The summary line every run ends with, built the same way for `run`
//! (`1000 tasks: 998 ok, 2 failed (1 memory-limit, 1 timeout) in 3.2 s`) and `test`
//! (`Summary [   2.350s] 11 tests run: 5 passed, 6 failed (1 timed out), 2 skipped`): a head,
//! then counts after `: ` and `, `, each with its breakdown in parentheses, then a tail.

/// `1 task`, `2 tasks`.
pub fn count(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A summary line being built.
pub struct SummaryLine {
    text: String,
    parts: usize,
}

impl SummaryLine {
    /// Starts the line with what it sums up (`1000 tasks`).
    pub fn new(head: impl Into<String>) -> SummaryLine {
        SummaryLine {
            text: head.into(),
            parts: 0,
        }
    }

    /// Adds a count (`998 ok`), with its breakdown in parentheses when there is one
    /// (`2 failed (1 timeout, 1 memory-limit)`).
    pub fn part(mut self, text: &str, breakdown: &[String]) -> SummaryLine {
        self.text
            .push_str(if self.parts == 0 { ": " } else { ", " });
        self.text.push_str(text);
        if !breakdown.is_empty() {
            self.text.push_str(" (");
            self.text.push_str(&breakdown.join(", "));
            self.text.push(')');
        }
        self.parts += 1;
        self
    }

    /// Ends the line with `tail` (` in 3.2 s`, or nothing).
    pub fn end(mut self, tail: &str) -> String {
        self.text.push_str(tail);
        self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_head_counts_and_tail() {
        let line = SummaryLine::new(count(2u64, "task", "tasks"))
            .part("1 ok", &[])
            .part("1 failed", &["1 timeout".to_string()])
            .end(" in 0.1 s");
        assert_eq!(line, "2 tasks: 1 ok, 1 failed (1 timeout) in 0.1 s");
        assert_eq!(count(1u64, "test", "tests"), "1 test");
    }
}
