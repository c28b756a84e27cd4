//! Turning samples into the report: medians with min and max per contender, the ratios
//! mpwasm / contender, each goal's verdict, and the Markdown that goes into BENCHMARKS.md
//! (between its generated-section markers, leaving the hand-written analysis alone).

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use anyhow::{Context, Result};

use super::workloads::{Medians, Verdict, Workload};

/// Marks the start of the part of BENCHMARKS.md this harness rewrites.
pub const BEGIN: &str = "<!-- cargo xtask bench: generated from here -->";
/// Marks its end.
pub const END: &str = "<!-- cargo xtask bench: generated up to here -->";
/// Marks the start of the part `cargo xtask bench --sweep` rewrites.
pub const SWEEP_BEGIN: &str = "<!-- cargo xtask bench --sweep: generated from here -->";
/// Marks its end.
pub const SWEEP_END: &str = "<!-- cargo xtask bench --sweep: generated up to here -->";

/// The figures of one contender.
#[derive(Debug, Clone)]
pub struct Row {
    /// Its label.
    pub label: String,
    /// Its exact command.
    pub command: String,
    /// Median, min and max of its figure.
    pub median: f64,
    /// See `median`.
    pub min: f64,
    /// See `median`.
    pub max: f64,
    /// Largest peak RSS over its runs, in KiB.
    pub peak_rss_kib: u64,
}

/// The result of one workload.
pub struct Outcome<'w> {
    /// The workload.
    pub workload: &'w Workload,
    /// One row per contender that ran, mpwasm first.
    pub rows: Vec<Row>,
    /// The goal's verdict.
    pub verdict: Option<Verdict>,
}

impl Row {
    /// Summarises `values` (one per run) of a contender.
    pub fn new(label: &str, command: String, values: &[f64], peak_rss_kib: u64) -> Row {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let median = match sorted.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => sorted[n / 2],
            n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
        };
        Row {
            label: label.to_owned(),
            command,
            median,
            min: sorted.first().copied().unwrap_or(f64::NAN),
            max: sorted.last().copied().unwrap_or(f64::NAN),
            peak_rss_kib,
        }
    }
}

impl Outcome<'_> {
    /// Medians by label, for the verdict.
    pub fn medians(rows: &[Row]) -> Medians {
        rows.iter()
            .map(|row| (row.label.clone(), row.median))
            .collect()
    }
}

/// The report as Markdown: the machine, the runs, the verdicts, the `charts` (alt text and path
/// from the repository root), one table per workload, and every command.
pub fn markdown(
    machine: &str,
    runs: usize,
    outcomes: &[Outcome<'_>],
    charts: &[(&str, &str)],
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{machine}\n");
    let _ = writeln!(
        out,
        "Each figure is the median of {runs} runs (min–max beside it); contenders ran \
         interleaved, round by round. Ratio is mpwasm / contender: below 1 mpwasm is faster \
         (or smaller). Peak RSS is the largest process of the contender's tree as the kernel \
         reports it, which starts at the harness's own few MiB.\n"
    );
    let _ = writeln!(out, "| id | goal | verdict |\n|---|---|---|");
    for outcome in outcomes {
        let w = outcome.workload;
        let verdict = match (&w.skipped, &outcome.verdict) {
            (Some(why), _) => format!("not run: {why}"),
            (None, Some((true, figure))) => format!("**met**: {figure}"),
            (None, Some((false, figure))) => format!("**not met**: {figure}"),
            (None, None) => "no verdict: a contender it needs did not run".to_owned(),
        };
        let _ = writeln!(out, "| {} | {} | {verdict} |", w.id, w.goal);
    }
    for (alt, path) in charts {
        let _ = writeln!(out, "\n![{alt}]({path})");
    }
    for outcome in outcomes {
        let w = outcome.workload;
        let _ = writeln!(out, "\n### {}: {}\n", w.id, w.title);
        if let Some(why) = &w.skipped {
            let _ = writeln!(out, "Not run: {why}.");
            continue;
        }
        let _ = writeln!(
            out,
            "| contender | median ({unit}) | min–max | ratio | peak RSS |\n|---|---:|---:|---:|---:|",
            unit = w.unit
        );
        let reference = outcome.rows.first().map_or(f64::NAN, |row| row.median);
        for row in &outcome.rows {
            let _ = writeln!(
                out,
                "| {} | {} | {}–{} | {:.3} | {:.1} MiB |",
                row.label,
                figure(row.median),
                figure(row.min),
                figure(row.max),
                reference / row.median,
                row.peak_rss_kib as f64 / 1024.0
            );
        }
        let _ = writeln!(out, "\n```");
        for row in &outcome.rows {
            let _ = writeln!(out, "{}", row.command);
        }
        let _ = writeln!(out, "```");
    }
    out
}

/// A figure with about four significant digits.
fn figure(value: f64) -> String {
    match value.abs() {
        v if v >= 100.0 => format!("{value:.1}"),
        v if v >= 1.0 => format!("{value:.3}"),
        _ => format!("{value:.4}"),
    }
}

/// Replaces the generated section of `path` (between [`BEGIN`] and [`END`]) with `section`,
/// creating the file, or appending the section, when there is none.
pub fn write_into(path: &Path, section: &str) -> Result<()> {
    write_between(path, BEGIN, END, section)
}

/// Writes `section` into the file at `path` between the markers `begin` and `end`, replacing
/// what was there (or appending it with the markers when they are missing).
///
/// # Errors
/// When the file cannot be written.
pub fn write_between(path: &Path, begin: &str, end: &str, section: &str) -> Result<()> {
    let old = fs::read_to_string(path).unwrap_or_default();
    let block = format!("{begin}\n{section}\n{end}");
    let new = match (old.find(begin), old.find(end)) {
        (Some(start), Some(stop)) if start < stop => {
            format!("{}{block}{}", &old[..start], &old[stop + end.len()..])
        }
        _ if old.is_empty() => format!("# Benchmarks\n\n{block}\n"),
        _ => format!("{}\n{block}\n", old.trim_end()),
    };
    fs::write(path, new).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_summarise_runs_by_their_median() {
        let odd = Row::new("a", String::new(), &[3.0, 1.0, 2.0], 0);
        assert_eq!((odd.median, odd.min, odd.max), (2.0, 1.0, 3.0));
        let even = Row::new("b", String::new(), &[4.0, 1.0, 3.0, 2.0], 0);
        assert_eq!(even.median, 2.5);
        assert!(Row::new("c", String::new(), &[], 0).median.is_nan());
    }

    #[test]
    fn only_the_generated_section_is_rewritten() {
        let dir = std::env::temp_dir().join(format!("xtask-bench-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("BENCHMARKS.md");
        let _ = fs::remove_file(&file);

        write_into(&file, "first").expect("creates the file");
        let created = fs::read_to_string(&file).expect("readable");
        assert!(
            created.contains(&format!("{BEGIN}\nfirst\n{END}")),
            "{created}"
        );

        let analysis = "\n\n## Analysis\nwritten by hand\n";
        fs::write(&file, format!("# Intro\n\n{BEGIN}\nold\n{END}{analysis}")).expect("write");
        write_into(&file, "new").expect("rewrites");
        let rewritten = fs::read_to_string(&file).expect("readable");
        assert_eq!(
            rewritten,
            format!("# Intro\n\n{BEGIN}\nnew\n{END}{analysis}")
        );
        fs::remove_dir_all(&dir).ok();
    }
}
