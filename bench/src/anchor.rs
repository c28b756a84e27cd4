//! The physical anchor for W3: a 16-byte message to a child process and back over two pipes
//! (the child squares the number in it), the least any process pool's `apply` can cost here.

use std::io::{Read, Write};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::{metric, time_rounds};

/// Spawns `mpwasm-bench echo` and times `rounds` round trips after a warm-up; prints `check`
/// as its check line (the one of the workload it anchors).
pub fn pipe_roundtrip(rounds: u32, check: &str) -> Result<()> {
    let exe = std::env::current_exe().context("cannot find this program")?;
    let mut child = Command::new(exe)
        .arg("echo")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("cannot start the echo child")?;
    let (Some(mut to_child), Some(mut from_child)) = (child.stdin.take(), child.stdout.take())
    else {
        bail!("the echo child has no pipes");
    };
    let mut message = [0u8; 16];
    message[..8].copy_from_slice(&3u64.to_le_bytes());
    let per_round = time_rounds(rounds, || {
        to_child.write_all(&message)?;
        let mut back = [0u8; 16];
        from_child.read_exact(&mut back)?;
        if back[..8] != 9u64.to_le_bytes() {
            bail!("the echo child did not answer 9 to 3");
        }
        Ok(())
    })?;
    child.kill().ok();
    child.wait().ok();
    println!("check {rounds} {check}");
    metric("roundtrip", per_round, "us");
    Ok(())
}

/// Answers each 16-byte message from stdin (a little-endian u64 first) with its square, until
/// stdin closes.
pub fn echo() -> Result<()> {
    let mut stdin = std::io::stdin().lock();
    let mut stdout = std::io::stdout().lock();
    let mut message = [0u8; 16];
    while stdin.read_exact(&mut message).is_ok() {
        let mut x = [0u8; 8];
        x.copy_from_slice(&message[..8]);
        let x = u64::from_le_bytes(x);
        message[..8].copy_from_slice(&x.wrapping_mul(x).to_le_bytes());
        stdout.write_all(&message)?;
        stdout.flush()?;
    }
    Ok(())
}
