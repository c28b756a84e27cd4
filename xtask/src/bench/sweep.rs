//! `cargo xtask bench --sweep`: how the cost grows with the work. W1 over 1e3..1e7 items, W8
//! over 1 KiB..1 MiB per input, W6 over 1..N processes and `mpwasm test` over 10..10 000
//! tests, each size run like a workload (contenders interleaved, medians). For each contender
//! the harness fits time = fixed + slope · size (weighted by 1/time², so the small sizes count
//! as much as the large ones) and prints both, then draws each sweep as a line chart.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use anyhow::{Context, Result};

use super::plot::{self, Line};
use super::report::Row;
use super::workloads::{self, Paths, Sizes, Workload};

/// One sweep: its sizes and how to make the workload of one size.
struct Sweep {
    /// Which workload it grows, e.g. `W1`.
    id: &'static str,
    /// What grows, for the chart's x axis and the table.
    x_desc: &'static str,
    /// The unit of the slope, per one of `x`.
    per: &'static str,
    /// How many of `per` one `x` is (1 for items, 1024 for bytes per KiB …).
    per_scale: f64,
    /// The sizes.
    sizes: Vec<u64>,
}

/// The figures of one sweep: per size, the rows of its contenders.
struct Measured {
    sweep: Sweep,
    points: Vec<(u64, Vec<Row>)>,
}

/// A contender's fitted cost: fixed seconds, and seconds per unit of x.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fit {
    /// The fixed cost (s).
    pub fixed: f64,
    /// The cost per unit of x (s).
    pub slope: f64,
}

/// Fits time = fixed + slope · x through `points` by least squares weighted by 1/time²
/// (relative errors: each point counts alike, whatever its size). `None` with fewer than two
/// distinct sizes.
pub fn fit(points: &[(f64, f64)]) -> Option<Fit> {
    let (mut w, mut sx, mut st, mut sxx, mut sxt) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for &(x, t) in points.iter().filter(|(_, t)| *t > 0.0) {
        let weight = 1.0 / (t * t);
        w += weight;
        sx += weight * x;
        st += weight * t;
        sxx += weight * x * x;
        sxt += weight * x * t;
    }
    let det = w * sxx - sx * sx;
    if det.abs() <= f64::EPSILON * w * sxx || w == 0.0 {
        return None;
    }
    let slope = (w * sxt - sx * st) / det;
    Some(Fit {
        fixed: (st - slope * sx) / w,
        slope,
    })
}

/// Runs every sweep (`smoke`: two tiny sizes each, one run) and returns the Markdown of the
/// results; draws the charts into `pictures` (`link` is that directory as the Markdown links
/// it).
///
/// # Errors
/// When a contender fails, its data cannot be made, or a chart cannot be drawn.
pub fn run(paths: &Paths, runs: usize, smoke: bool, pictures: &Path, link: &str) -> Result<String> {
    let pick = |full: Vec<u64>, tiny: Vec<u64>| if smoke { tiny } else { full };
    let sweeps = [
        Sweep {
            id: "W1",
            x_desc: "items mapped (square, results printed)",
            per: "item",
            per_scale: 1.0,
            sizes: pick(
                vec![1_000, 10_000, 100_000, 1_000_000, 10_000_000],
                vec![100, 1_000],
            ),
        },
        Sweep {
            id: "W8",
            x_desc: "bytes per input (100 inputs hashed)",
            per: "KiB of input",
            // x is the bytes of each of the 100 inputs: a KiB of input is 1024 / 100 of x.
            per_scale: 1024.0 / 100.0,
            sizes: pick(
                vec![1 << 10, 16 << 10, 256 << 10, 1 << 20],
                vec![1 << 10, 4 << 10],
            ),
        },
        Sweep {
            id: "W6",
            x_desc: "processes (W2's primes)",
            per: "process",
            per_scale: 1.0,
            sizes: (1..=paths.cores as u64).collect(),
        },
        Sweep {
            id: "W17",
            x_desc: "tests in the binary (`mpwasm test`)",
            per: "test",
            per_scale: 1.0,
            sizes: pick(vec![10, 100, 1_000, 10_000], vec![10, 100]),
        },
    ];
    let base = if smoke { Sizes::SMOKE } else { Sizes::FULL };
    let data = paths.root.join("target").join("bench");
    let mut measured = Vec::new();
    for sweep in sweeps {
        let mut points = Vec::new();
        for &size in &sweep.sizes {
            let workload = point(paths, base, &data, sweep.id, size)?;
            println!("== sweep {} at {size}: {}", sweep.id, workload.title);
            let rows = super::run_workload(&workload, runs)?;
            for row in &rows {
                println!(
                    "   {:<26} median {:>10.4} {}",
                    row.label, row.median, workload.unit
                );
            }
            points.push((size, rows));
        }
        measured.push(Measured { sweep, points });
    }
    let mut out = String::new();
    for m in &measured {
        markdown(&mut out, m, pictures, link)?;
    }
    Ok(out)
}

/// The workload of sweep `id` at `size`: the full-size workload with that one size changed.
fn point(paths: &Paths, base: Sizes, data: &Path, id: &str, size: u64) -> Result<Workload> {
    let mut paths = paths.clone();
    let mut sizes = base;
    let wanted = match id {
        "W1" => {
            sizes.w1_items = size;
            "W1"
        }
        "W8" => {
            sizes.w8_lines = 100;
            sizes.w8_line_bytes = size as usize;
            let file = data.join(format!("strings-100x{size}.jsonl"));
            super::write_strings(&file, 100, size as usize)
                .with_context(|| format!("cannot write {}", file.display()))?;
            paths.w8_inputs = file;
            "W8"
        }
        "W6" => "W6",
        _ => {
            sizes.w17_tests = size as usize;
            paths.many_tests = super::many_tests(data, size as usize)?;
            "W17"
        }
    };
    let mut workload = workloads::all(&paths, sizes)
        .into_iter()
        .find(|w| w.id == wanted)
        .with_context(|| format!("no workload {wanted}"))?;
    match id {
        // One process count: mpwasm -j N and rayon with N threads.
        "W6" => {
            let n = size.to_string();
            let mut ours = workload.contenders[0].clone();
            if let Some(j) = ours.argv.iter().position(|arg| arg == "-j") {
                ours.argv[j + 1] = n.clone();
            }
            ours.label = "mpwasm".to_owned();
            let mut rayon = workload.contenders[2].clone();
            rayon.env = vec![("RAYON_NUM_THREADS".to_owned(), n)];
            rayon.label = "rust+rayon".to_owned();
            workload.contenders = vec![ours, rayon];
        }
        // Here only: the broker's cost is W11's and W12's.
        "W17" => workload.contenders.retain(|c| !c.label.contains("broker")),
        _ => {}
    }
    Ok(workload)
}

/// One sweep's Markdown: a table of medians per size, the fits (or, for W6, the speedups),
/// and its chart.
fn markdown(out: &mut String, m: &Measured, pictures: &Path, link: &str) -> Result<()> {
    let sweep = &m.sweep;
    let labels: Vec<String> = m
        .points
        .first()
        .map(|(_, rows)| rows.iter().map(|r| r.label.clone()).collect())
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "\n### Sweep {}: seconds by {}\n",
        sweep.id, sweep.x_desc
    );
    let _ = writeln!(
        out,
        "| size | {} |\n|---:|{}",
        labels.join(" | "),
        "---:|".repeat(labels.len())
    );
    for (size, rows) in &m.points {
        let cells: Vec<String> = rows.iter().map(|r| format!("{:.4}", r.median)).collect();
        let _ = writeln!(out, "| {size} | {} |", cells.join(" | "));
    }
    let series = |label: &str| -> Vec<(f64, f64)> {
        m.points
            .iter()
            .filter_map(|(size, rows)| {
                rows.iter()
                    .find(|r| r.label == label)
                    .map(|r| (*size as f64, r.median))
            })
            .collect()
    };
    let file = pictures.join(format!("sweep-{}.svg", sweep.id.to_lowercase()));
    if sweep.id == "W6" {
        let _ = writeln!(out);
        let mut lines = Vec::new();
        for label in &labels {
            let points = series(label);
            let one = points.first().map_or(f64::NAN, |p| p.1);
            let speedups: Vec<(f64, f64)> = points.iter().map(|&(n, t)| (n, one / t)).collect();
            let text: Vec<String> = speedups
                .iter()
                .map(|(n, s)| format!("{s:.2} on {n}"))
                .collect();
            let _ = writeln!(out, "- {label}: speedup {}", text.join(", "));
            lines.push(Line {
                label: format!("{label} speedup"),
                points: speedups,
            });
        }
        lines.push(Line {
            label: "goal: 0.9·N".to_owned(),
            points: sweep
                .sizes
                .iter()
                .map(|&n| (n as f64, 0.9 * n as f64))
                .collect(),
        });
        plot::sweep(
            "W6: speedup by processes",
            sweep.x_desc,
            "speedup over 1",
            &lines,
            &file,
        )?;
    } else {
        let _ = writeln!(out);
        let lines: Vec<Line> = labels
            .iter()
            .map(|label| Line {
                label: label.clone(),
                points: series(label),
            })
            .collect();
        for line in &lines {
            let text = match fit(&line.points) {
                Some(f) => format!(
                    "fixed {:.1} ms + {:.3} µs per {}",
                    f.fixed * 1e3,
                    f.slope * sweep.per_scale * 1e6,
                    sweep.per
                ),
                None => "too few sizes to fit".to_owned(),
            };
            let _ = writeln!(out, "- {}: {text}", line.label);
        }
        plot::sweep(
            &format!("{}: seconds by {}", sweep.id, sweep.x_desc),
            sweep.x_desc,
            "seconds (median)",
            &lines,
            &file,
        )?;
    }
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let _ = writeln!(out, "\n![sweep {}]({link}/{name})", sweep.id);
    let _ = fs::metadata(&file).with_context(|| format!("{} was not drawn", file.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::fit;

    #[test]
    fn a_straight_line_is_fitted_exactly() {
        let points: Vec<(f64, f64)> = [10.0, 100.0, 1000.0, 10000.0]
            .iter()
            .map(|&x| (x, 0.02 + 3e-6 * x))
            .collect();
        let f = fit(&points).expect("a fit");
        assert!((f.fixed - 0.02).abs() < 1e-9, "{f:?}");
        assert!((f.slope - 3e-6).abs() < 1e-12, "{f:?}");
    }

    #[test]
    fn one_size_has_no_fit() {
        assert_eq!(fit(&[(5.0, 1.0), (5.0, 1.1)]), None);
    }
}
