//! `mpwasm status`: what a broker's workers and jobs are doing ([`mpwasm::broker::Status`]),
//! as two tables or one JSON object, once or every second (`--watch`, redrawn in place on a
//! terminal).

use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::time::Duration;

use anyhow::Result;
use mpwasm::broker::{JobStatus, Status, StatusReader};

use super::ExitCode;
use super::settings::StatusSettings;
use super::signals::Watcher;

/// Runs the command: 0 when shown (or `--watch` was stopped by a signal), 1 when the broker
/// was lost while watching.
///
/// # Errors
/// When the broker cannot be reached or read.
pub fn run(settings: StatusSettings) -> Result<ExitCode> {
    let mut reader = StatusReader::connect(&settings.url)?;
    let show = |status: &Status| -> Result<()> {
        let text = if settings.json {
            format!("{}\n", serde_json::to_string(status)?)
        } else {
            render(status)
        };
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())?;
        out.flush()?;
        Ok(())
    };
    if !settings.watch {
        show(&reader.read()?)?;
        return Ok(ExitCode::Success);
    }
    let (stop, stopped) = crossbeam_channel::bounded::<()>(1);
    let watcher = Watcher::new("mpwasm status");
    watcher.on_first(move || {
        let _ = stop.try_send(());
    })?;
    let redraw = std::io::stdout().is_terminal() && !settings.json;
    loop {
        match reader.read() {
            Ok(status) => {
                if redraw {
                    // Home, then clear: the new tables replace the old ones.
                    print!("\x1b[H\x1b[2J");
                }
                show(&status)?;
            }
            Err(e) => {
                eprintln!("mpwasm status: error: {e}");
                return Ok(ExitCode::Failed);
            }
        }
        if stopped.recv_timeout(Duration::from_secs(1)).is_ok() {
            return Ok(ExitCode::Success);
        }
    }
}

/// The status as a person reads it: the workers, then the jobs, each job's recent failures
/// and take-overs under it.
pub fn render(status: &Status) -> String {
    let mut out = String::new();
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    let _ = writeln!(
        out,
        "broker {}: {} live, {} running",
        status.broker,
        plural(status.workers.len(), "worker"),
        plural(status.jobs.len(), "job"),
    );
    if !status.workers.is_empty() {
        let rows: Vec<Vec<String>> = status
            .workers
            .iter()
            .map(|w| {
                vec![
                    w.name.clone(),
                    w.host.clone(),
                    w.processes.to_string(),
                    if w.jobs.is_empty() {
                        "-".into()
                    } else {
                        w.jobs.join(" ")
                    },
                    w.in_flight.to_string(),
                    w.jobs_served.to_string(),
                    w.inputs_done.to_string(),
                    format!("{:.1}s ago", w.heartbeat_ms_ago as f64 / 1000.0),
                    w.caps.clone(),
                ]
            })
            .collect();
        out.push('\n');
        table(
            &mut out,
            &[
                "WORKER",
                "HOST",
                "PROCS",
                "JOBS",
                "HELD",
                "SERVED",
                "DONE",
                "HEARTBEAT",
                "CAPS",
            ],
            &rows,
        );
    }
    if !status.jobs.is_empty() {
        let rows: Vec<Vec<String>> = status.jobs.iter().map(job_row).collect();
        out.push('\n');
        table(
            &mut out,
            &[
                "JOB",
                "MODULE",
                "SUBMITTER",
                "DONE/TOTAL",
                "FAILED",
                "HELD",
                "TAKEN OVER",
                "RATE",
                "AGE",
                "ETA",
            ],
            &rows,
        );
        for job in &status.jobs {
            for f in job.failures.iter().take(3) {
                let _ = writeln!(
                    out,
                    "  {} failed: input {} {}: {} ({})",
                    job.id, f.index, f.kind, f.message, f.worker
                );
            }
            for t in job.takeovers.iter().take(3) {
                let _ = writeln!(
                    out,
                    "  {} taken over: input {} from {} by {} (delivery {})",
                    job.id,
                    t.index,
                    t.from.as_deref().unwrap_or("a lost worker"),
                    t.by,
                    t.delivery
                );
            }
        }
    }
    out
}

fn job_row(job: &JobStatus) -> Vec<String> {
    let progress = match job.total {
        Some(total) if total > 0 => format!(
            "{}/{} {}%",
            job.done,
            total,
            (job.done.min(total) * 100) / total
        ),
        Some(total) => format!("{}/{total}", job.done),
        None => format!("{}/{}+", job.done, job.submitted),
    };
    let failed = if job.failed.is_empty() {
        "0".to_string()
    } else {
        job.failed
            .iter()
            .map(|(kind, n)| format!("{kind} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    vec![
        job.id.clone(),
        job.module_name.clone(),
        job.submitter.clone(),
        progress,
        failed,
        job.in_flight.to_string(),
        job.taken_over.to_string(),
        format!("{:.0}/s", job.inputs_per_s),
        seconds(job.age_s),
        job.eta_s.map_or_else(|| "-".into(), seconds),
    ]
}

/// `12.3s`, `4m05s`, `2h03m`.
fn seconds(s: f64) -> String {
    let whole = s.max(0.0) as u64;
    match whole {
        0..60 => format!("{s:.1}s"),
        60..3600 => format!("{}m{:02}s", whole / 60, whole % 60),
        _ => format!("{}h{:02}m", whole / 3600, (whole % 3600) / 60),
    }
}

/// Left-aligned columns, two spaces apart.
fn table(out: &mut String, header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |out: &mut String, cells: &mut dyn Iterator<Item = &str>| {
        let mut text = String::new();
        for (cell, width) in cells.zip(&widths) {
            let _ = write!(text, "{cell:<width$}  ");
        }
        let _ = writeln!(out, "{}", text.trim_end());
    };
    line(out, &mut header.iter().copied());
    for row in rows {
        line(out, &mut row.iter().map(String::as_str));
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use mpwasm::broker::{Failure, Takeover, WorkerStatus};

    use super::*;

    #[test]
    fn a_status_reads_as_two_tables_with_each_jobs_failures_under_them() {
        let status = Status {
            broker: "redis://broker:6379".into(),
            at_ms: 0,
            workers: vec![WorkerStatus {
                name: "vm-7".into(),
                host: "vm".into(),
                processes: 2,
                prefetch: 4,
                caps: "defaults".into(),
                jobs: vec!["abc".into()],
                in_flight: 3,
                jobs_served: 1,
                inputs_done: 40,
                heartbeat_ms_ago: 250,
                up_s: 9.0,
            }],
            jobs: vec![JobStatus {
                id: "abc".into(),
                module_name: "square.wasm".into(),
                module_hash: "00".into(),
                submitter: "vm-9".into(),
                done: 40,
                total: Some(160),
                submitted: 60,
                failed: BTreeMap::from([("trap".to_string(), 2)]),
                in_flight: 3,
                taken_over: 1,
                lease_expiries: 1,
                age_s: 125.0,
                inputs_per_s: 0.32,
                eta_s: Some(375.0),
                failures: vec![Failure {
                    index: 7,
                    kind: "trap".into(),
                    message: "the task panicked: boom".into(),
                    worker: "vm-7".into(),
                    at_ms: 0,
                }],
                takeovers: vec![Takeover {
                    index: 9,
                    from: Some("vm-8".into()),
                    by: "vm-7".into(),
                    delivery: 2,
                    at_ms: 0,
                }],
            }],
        };
        let text = render(&status);
        assert!(
            text.starts_with("broker redis://broker:6379: 1 worker live, 1 job running\n"),
            "{text}"
        );
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[2].starts_with("WORKER") && lines[2].contains("HEARTBEAT"),
            "{text}"
        );
        assert!(
            lines[3].contains("vm-7") && lines[3].contains("0.2s ago"),
            "{text}"
        );
        assert!(
            text.contains("40/160 25%") && text.contains("trap 2") && text.contains("2m05s"),
            "{text}"
        );
        assert!(
            text.contains("abc failed: input 7 trap: the task panicked: boom (vm-7)")
                && text.contains("abc taken over: input 9 from vm-8 by vm-7 (delivery 2)"),
            "{text}"
        );
    }
}
