//! `cargo xtask test`: everything CI checks, in order, stopping at the first failure: the wasm
//! targets, rustfmt, clippy on the host crates and on the guests, then `cargo test --release`.

use std::path::Path;

use anyhow::{Context, Result};

use crate::command::{self, cargo_command};
use crate::guests;
use crate::setup;

/// Runs every check; the error names the step that failed.
pub fn run(root: &Path) -> Result<()> {
    setup::run(root).context("setup")?;
    let discovered = guests::discover(root).context("cannot list guest-tasks/")?;

    command::run(
        "rustfmt check",
        &mut cargo_command(root, ["fmt", "--all", "--", "--check"]),
    )?;

    // The guests build only for wasm targets, so the host-side clippy leaves them out.
    let mut clippy = cargo_command(
        root,
        ["clippy", "--release", "--workspace", "--all-targets"],
    );
    for guest in &discovered {
        clippy.args(["--exclude", &guest.name]);
    }
    clippy.args(["--", "-D", "warnings"]);
    command::run("clippy (host crates)", &mut clippy)?;

    for target in guests::targets(&discovered) {
        let group = guests::for_target(&discovered, target);
        if group.is_empty() {
            continue;
        }
        // `--all-targets`: a test-suite guest's tests are its code.
        let mut clippy = cargo_command(
            root,
            ["clippy", "--release", "--all-targets", "--target", target],
        );
        for guest in group {
            clippy.args(["-p", &guest.name]);
        }
        clippy.args(["--", "-D", "warnings"]);
        command::run(&format!("clippy ({target} guests)"), &mut clippy)?;
    }

    // The integration tests are mpwasm's own `all` test and find the binary through
    // `CARGO_BIN_EXE_mpwasm`: `cargo test` builds the current one for them.
    let counts = command::run_tests(
        "cargo test",
        &mut cargo_command(root, ["test", "--release"]),
    )?;
    // A plain closing line with the totals: the last `test result:` line cargo prints is often
    // a doc-test run with nothing in it.
    println!(
        "summary: {} passed, {} failed, {} skipped",
        counts.passed, counts.failed, counts.ignored
    );
    Ok(())
}
