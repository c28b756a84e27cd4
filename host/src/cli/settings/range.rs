//! `--map RANGE`: an integer range `A..B`, `A..=B` or `A..B:STEP`, checked once and then
//! generated lazily, however large it is.

use anyhow::{Context, Result, bail};

/// An integer range `A..B`, `A..=B` or `A..B:STEP`, as a finite sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntRange {
    /// The first value.
    pub start: i64,
    /// The bound, exclusive.
    pub end_exclusive: i128,
    /// The step (non-zero; negative counts down).
    pub step: i64,
}

impl IntRange {
    /// How many values there are, without generating them.
    pub fn len(self) -> u64 {
        let span = self.end_exclusive - i128::from(self.start);
        let step = i128::from(self.step);
        let count = if (span > 0) == (step > 0) && span != 0 {
            // Ceiling division of two numbers with the same sign.
            (span + step - step.signum()) / step
        } else {
            0
        };
        u64::try_from(count).unwrap_or(u64::MAX)
    }

    /// The values, lazily.
    pub fn values(self) -> impl Iterator<Item = i64> {
        let mut next = i128::from(self.start);
        std::iter::from_fn(move || {
            let more = if self.step > 0 {
                next < self.end_exclusive
            } else {
                next > self.end_exclusive
            };
            if !more {
                return None;
            }
            let value = next as i64;
            next += i128::from(self.step);
            Some(value)
        })
    }
}

/// Parses `A..B`, `A..=B`, `A..B:STEP`, `A..=B:STEP`.
pub fn parse_range(text: &str) -> Result<IntRange> {
    let usage = "expected A..B, A..=B or A..B:STEP with integers, e.g. 0..10, 1..=5, 0..100:10";
    let (range, step) = match text.split_once(':') {
        Some((r, s)) => (r, Some(s)),
        None => (text, None),
    };
    let Some((start, end)) = range.split_once("..") else {
        bail!("invalid --map range `{text}`: {usage}");
    };
    let (end, inclusive) = match end.strip_prefix('=') {
        Some(e) => (e, true),
        None => (end, false),
    };
    let number = |s: &str, what: &str| -> Result<i64> {
        s.trim().parse::<i64>().with_context(|| {
            format!("invalid --map range `{text}`: {what} `{s}` is not an integer; {usage}")
        })
    };
    let start = number(start, "start")?;
    let end = number(end, "end")?;
    let step = match step {
        Some(s) => number(s, "step")?,
        None => 1,
    };
    if step == 0 {
        bail!("invalid --map range `{text}`: the step must not be 0");
    }
    let end_exclusive = match (inclusive, step > 0) {
        (false, _) => i128::from(end),
        (true, true) => i128::from(end) + 1,
        (true, false) => i128::from(end) - 1,
    };
    Ok(IntRange {
        start,
        end_exclusive,
        step,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let cases: &[(&str, Option<Vec<i64>>)] = &[
            ("0..5", Some(vec![0, 1, 2, 3, 4])),
            ("1..=3", Some(vec![1, 2, 3])),
            ("0..10:4", Some(vec![0, 4, 8])),
            ("5..0:-2", Some(vec![5, 3, 1])),
            ("3..=1:-1", Some(vec![3, 2, 1])),
            ("-2..1", Some(vec![-2, -1, 0])),
            ("4..4", Some(vec![])),
            ("0..5:0", None),
            ("a..5", None),
            ("0-5", None),
        ];
        for (text, want) in cases {
            let got = parse_range(text).ok();
            assert_eq!(got.map(|r| r.values().collect::<Vec<_>>()), *want, "{text}");
        }
        let top = parse_range("9223372036854775806..=9223372036854775807").expect("parses");
        assert_eq!(top.values().count(), 2);
        assert_eq!(top.len(), 2);
    }

    proptest::proptest! {
        #[test]
        fn range_parser_never_panics(text in ".{0,30}") {
            if let Ok(range) = parse_range(&text) {
                // Take a few values: even a huge range is lazy.
                let _ = range.values().take(3).count();
            }
        }

        #[test]
        fn ranges_have_the_right_values(a in -1000i64..1000, b in -1000i64..1000, step in 1i64..50) {
            let got: Vec<i64> = parse_range(&format!("{a}..{b}:{step}"))
                .map(|r| r.values().collect())
                .unwrap_or_default();
            let want: Vec<i64> = (a..b).step_by(step as usize).collect();
            let len = parse_range(&format!("{a}..{b}:{step}")).map(|r| r.len()).unwrap_or(0);
            proptest::prop_assert_eq!(len, want.len() as u64);
            proptest::prop_assert_eq!(got, want);
            let down: Vec<i64> = parse_range(&format!("{b}..{a}:-{step}"))
                .map(|r| r.values().collect())
                .unwrap_or_default();
            let down_len = parse_range(&format!("{b}..{a}:-{step}")).map(|r| r.len()).unwrap_or(0);
            proptest::prop_assert_eq!(down_len, down.len() as u64);
        }
    }
}
