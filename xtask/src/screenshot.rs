//! `cargo xtask screenshot`: makes the README's picture of the dashboard (`docs/dashboard.png`)
//! the way its test does: a real redis-server, two workers, a job, the page in headless
//! Chromium. It runs that one test with the picture's path in `$MPWASM_DASHBOARD_SCREENSHOT`,
//! and requires the browser (Debian's `chromium` and `chromium-driver`).

use std::path::Path;

use anyhow::{Context, Result};

use crate::command::{self, cargo_command};
use crate::setup;

/// The test that drives the dashboard in a browser.
const TEST: &str = "dashboard::status_metrics_and_the_page_show_the_cluster_and_a_killed_workers_inputs_taken_over";

/// Writes `docs/dashboard.png`.
pub fn run(root: &Path) -> Result<()> {
    setup::run(root).context("setup")?;
    let picture = root.join("docs").join("dashboard.png");
    std::fs::create_dir_all(root.join("docs")).context("cannot create docs/")?;
    let mut test = cargo_command(
        root,
        ["test", "--release", "--test", "all", "--", TEST, "--exact"],
    );
    test.env("MPWASM_DASHBOARD_SCREENSHOT", &picture)
        .env("MPWASM_REQUIRE_BROWSER", "1");
    command::run("the dashboard's test", &mut test)?;
    let bytes = std::fs::metadata(&picture)
        .with_context(|| format!("the test wrote no {}", picture.display()))?
        .len();
    println!("wrote {} ({} KiB)", picture.display(), bytes / 1024);
    Ok(())
}
