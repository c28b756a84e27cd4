//! JUnit XML for `mpwasm test --junit PATH`, the format CI systems read: one `<testsuite>` per
//! test binary, one `<testcase>` per test, `<failure>` with the reason and the output,
//! `<skipped>` with the reason (should_panic and ignored tests included), and as properties the
//! worker process that ran the test and whether it was flaky. A retried test keeps each failed
//! attempt as Maven Surefire's (and cargo-nextest's) elements do: `<flakyFailure>` when it
//! passed in the end, `<rerunFailure>` when it failed every time, each with the attempt's
//! reason, time and output.

use std::fmt::Write as _;
use std::time::Duration;

use super::libtest::{Status, Verdict};
use crate::cli::output::duration::seconds;

/// One finished test for the report.
pub struct Case {
    /// The test's name.
    pub name: String,
    /// Its final verdict.
    pub verdict: Verdict,
    /// The verdicts of its earlier runs, which failed and were retried, oldest first.
    pub earlier: Vec<Verdict>,
}

impl Case {
    /// Whether it passed after failing first.
    pub fn is_flaky(&self) -> bool {
        self.verdict.status == Status::Pass && !self.earlier.is_empty()
    }
}

/// The JUnit `type` of a failed verdict; `None` for a pass or a skip.
fn failure_kind(status: &Status) -> Option<&'static str> {
    match status {
        Status::Pass | Status::Skip(_) => None,
        Status::Fail => Some("failure"),
        Status::Timeout => Some("timeout"),
        Status::Memory => Some("memory-limit"),
    }
}

/// One binary's tests.
pub struct Suite {
    /// The crate name.
    pub name: String,
    /// Its tests, in name order.
    pub cases: Vec<Case>,
}

/// Escapes text for XML content and attributes, dropping characters XML 1.0 cannot hold.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

/// The document for these suites.
pub fn render(suites: &[Suite], total_time: Duration) -> String {
    let count = |suite: &Suite, pred: fn(&Status) -> bool| {
        suite
            .cases
            .iter()
            .filter(|c| pred(&c.verdict.status))
            .count()
    };
    let failed = |s: &Status| matches!(s, Status::Fail | Status::Timeout | Status::Memory);
    let skipped = |s: &Status| matches!(s, Status::Skip(_));
    let tests: usize = suites.iter().map(|s| s.cases.len()).sum();
    let failures: usize = suites.iter().map(|s| count(s, failed)).sum();
    let skips: usize = suites.iter().map(|s| count(s, skipped)).sum();
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    // `write!` into a String cannot fail.
    let _ = writeln!(
        xml,
        "<testsuites name=\"mpwasm\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" \
         skipped=\"{skips}\" time=\"{}\">",
        seconds(total_time)
    );
    for suite in suites {
        let time: Duration = suite.cases.iter().map(|c| c.verdict.duration).sum();
        let _ = writeln!(
            xml,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\" \
             time=\"{}\">",
            escape(&suite.name),
            suite.cases.len(),
            count(suite, failed),
            count(suite, skipped),
            seconds(time)
        );
        for case in &suite.cases {
            case_xml(&mut xml, &suite.name, case);
        }
        xml.push_str("  </testsuite>\n");
    }
    xml.push_str("</testsuites>\n");
    xml
}

fn case_xml(xml: &mut String, suite: &str, case: &Case) {
    let v = &case.verdict;
    let _ = write!(
        xml,
        "    <testcase name=\"{}\" classname=\"{}\" time=\"{}\">",
        escape(&case.name),
        escape(suite),
        seconds(v.duration)
    );
    if let Some(kind) = failure_kind(&v.status) {
        let _ = write!(
            xml,
            "\n      <failure type=\"{kind}\" message=\"{}\">{}</failure>",
            escape(&v.reason),
            escape(&format!("{}\n{}{}", v.reason, v.stdout, v.stderr))
        );
    }
    let element = if v.status == Status::Pass {
        "flakyFailure"
    } else {
        "rerunFailure"
    };
    for attempt in &case.earlier {
        let kind = failure_kind(&attempt.status).unwrap_or("failure");
        let _ = write!(
            xml,
            "\n      <{element} type=\"{kind}\" message=\"{}\" time=\"{}\">\
             <stackTrace>{}</stackTrace>",
            escape(&attempt.reason),
            seconds(attempt.duration),
            escape(&attempt.reason)
        );
        if !attempt.stdout.is_empty() {
            let _ = write!(xml, "<system-out>{}</system-out>", escape(&attempt.stdout));
        }
        if !attempt.stderr.is_empty() {
            let _ = write!(xml, "<system-err>{}</system-err>", escape(&attempt.stderr));
        }
        let _ = write!(xml, "</{element}>");
    }
    if let Status::Skip(reason) = &v.status {
        let _ = write!(xml, "\n      <skipped message=\"{}\"/>", escape(reason));
    }
    let mut properties = String::new();
    if let Some(pid) = v.worker {
        let _ = write!(properties, "<property name=\"worker\" value=\"{pid}\"/>");
    }
    if case.is_flaky() {
        let _ = write!(
            properties,
            "<property name=\"flaky\" value=\"passed after {} failed attempt(s)\"/>",
            case.earlier.len()
        );
    }
    if !properties.is_empty() {
        let _ = write!(xml, "\n      <properties>{properties}</properties>");
    }
    if !v.stdout.is_empty() {
        let _ = write!(
            xml,
            "\n      <system-out>{}</system-out>",
            escape(&v.stdout)
        );
    }
    if !v.stderr.is_empty() {
        let _ = write!(
            xml,
            "\n      <system-err>{}</system-err>",
            escape(&v.stderr)
        );
    }
    xml.push_str("\n    </testcase>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_control_characters() {
        assert_eq!(escape("a<b>&\"'\u{1}\n"), "a&lt;b&gt;&amp;&quot;&apos;\n");
    }
}
