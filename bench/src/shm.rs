//! What a shared-memory channel between a worker and its host would cost, for W13's report: a
//! round trip through two atomics in a page both processes map (`shm-roundtrip`), the child
//! (`shm-child`) spinning for each request and answering it. Spinning is the fastest handoff
//! there is and costs a core per waiting side; a futex handoff instead would pay the same
//! kernel wake-up a pipe does.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result, bail};

use crate::{metric, time_rounds};

/// The bytes mapped: one page.
const SIZE: usize = 4096;

/// A page of a file mapped shared, holding the two words of the channel.
struct Shared {
    ptr: *mut libc::c_void,
}

impl Shared {
    fn map(file: &File) -> Result<Shared> {
        file.set_len(SIZE as u64)
            .context("cannot size the shared file")?;
        // SAFETY: a fresh shared mapping of SIZE bytes of an open file, which mmap validates;
        // the pointer is checked for MAP_FAILED before any use, and unmapped only in Drop.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                SIZE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            bail!("mmap failed: {}", std::io::Error::last_os_error());
        }
        Ok(Shared { ptr })
    }

    /// Word `i` (0: requests, 8: replies, a cache line apart).
    fn word(&self, i: usize) -> &AtomicU64 {
        assert!(i * 8 + 8 <= SIZE);
        // SAFETY: the mapping is SIZE bytes, page-aligned, so `ptr + 8 i` is 8-byte aligned and
        // in bounds (asserted); it lives as long as `self`. Other processes touch it only
        // through atomic operations too, which is what AtomicU64 requires of shared memory.
        unsafe { &*(self.ptr.cast::<u8>().add(i * 8).cast::<AtomicU64>()) }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from a successful mmap of SIZE bytes, and no reference made by
        // `word` outlives `self`.
        unsafe {
            libc::munmap(self.ptr, SIZE);
        }
    }
}

/// Waits, spinning, until `word` is no longer `old`; returns the new value.
fn spin_while(word: &AtomicU64, old: u64) -> u64 {
    let mut spins = 0u32;
    loop {
        let now = word.load(Ordering::Acquire);
        if now != old {
            return now;
        }
        spins += 1;
        if spins.is_multiple_of(1024) {
            std::thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
    }
}

/// Times `rounds` round trips through shared memory to a spinning child.
pub fn roundtrip(rounds: u32, check: &str) -> Result<()> {
    let path = std::env::temp_dir().join(format!("mpwasm-bench-shm-{}", std::process::id()));
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    let shared = Shared::map(&file)?;
    let exe = std::env::current_exe().context("cannot find this program")?;
    let mut child = Command::new(exe)
        .arg("shm-child")
        .arg(&path)
        .stdin(Stdio::null())
        .spawn()
        .context("cannot start the shm child")?;
    let (requests, replies) = (shared.word(0), shared.word(8));
    let mut sequence = 0u64;
    let result = time_rounds(rounds, || {
        sequence += 1;
        requests.store(sequence, Ordering::Release);
        let reply = spin_while(replies, sequence - 1);
        if reply != sequence {
            bail!("the shm child answered {reply} to {sequence}");
        }
        Ok(())
    });
    requests.store(u64::MAX, Ordering::Release);
    child.wait().ok();
    std::fs::remove_file(&path).ok();
    let per_round = result?;
    println!("check {rounds} {check}");
    metric("roundtrip", per_round, "us");
    Ok(())
}

/// Answers each request in the shared file at `path` until told to stop (`u64::MAX`).
pub fn echo(path: &Path) -> Result<()> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    let shared = Shared::map(&file)?;
    let (requests, replies) = (shared.word(0), shared.word(8));
    let mut seen = 0u64;
    loop {
        seen = spin_while(requests, seen);
        if seen == u64::MAX {
            return Ok(());
        }
        replies.store(seen, Ordering::Release);
    }
}
