//! How durations read in what mpwasm prints: `run`'s summary (`0.012 s`, `3.2 s`, `1 m 05 s`),
//! `test`'s aligned column (`[   0.052s]`) and JUnit's plain seconds (`0.052`).

use std::time::Duration;

/// For people: `0.012 s`, `3.2 s`, `1 m 05 s`.
pub fn human(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 1.0 {
        format!("{s:.3} s")
    } else if s < 60.0 {
        format!("{s:.1} s")
    } else {
        format!("{} m {:02} s", d.as_secs() / 60, d.as_secs() % 60)
    }
}

/// For a column of test lines: seconds with three decimals, right-aligned (`   0.052s`).
pub fn column(d: Duration) -> String {
    format!("{:>8.3}s", d.as_secs_f64())
}

/// For machines: seconds with three decimals (`0.052`).
pub fn seconds(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_before() {
        let cases: &[(u64, &str, &str, &str)] = &[
            (12, "0.012 s", "   0.012s", "0.012"),
            (3200, "3.2 s", "   3.200s", "3.200"),
            (65_000, "1 m 05 s", "  65.000s", "65.000"),
        ];
        for &(millis, want_human, want_column, want_seconds) in cases {
            let d = Duration::from_millis(millis);
            assert_eq!(human(d), want_human);
            assert_eq!(column(d), want_column);
            assert_eq!(seconds(d), want_seconds);
        }
    }
}
