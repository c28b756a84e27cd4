//! Stdout for results, test lines and listings, with the closed-pipe rule: when stdout is
//! closed (`mpwasm run ... | head`), the write fails with [`StdoutClosed`] and the command
//! stops quietly and exits 0, as any filter does. Nothing here panics on a pipe.

use std::io::{self, Write};

/// Stdout is gone (its reader closed it, or it cannot be written): stop, quietly, exit 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StdoutClosed;

/// Stdout, with a buffer for output collected before it is written.
pub struct Stdout {
    /// Written, in order, before anything else.
    pending: Vec<u8>,
    stdout: io::Stdout,
}

impl Stdout {
    /// Stdout with room for `capacity` bytes of pending output.
    pub fn with_capacity(capacity: usize) -> Stdout {
        Stdout {
            pending: Vec::with_capacity(capacity),
            stdout: io::stdout(),
        }
    }

    /// The output collected to be written by [`write_pending`](Self::write_pending).
    pub fn pending(&mut self) -> &mut Vec<u8> {
        &mut self.pending
    }

    /// How many bytes wait to be written.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Writes the pending output and flushes. What could not be written stays pending.
    ///
    /// # Errors
    /// [`StdoutClosed`] when stdout cannot be written.
    pub fn write_pending(&mut self) -> Result<(), StdoutClosed> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let mut lock = self.stdout.lock();
        lock.write_all(&self.pending)
            .and_then(|()| lock.flush())
            .map_err(|_| StdoutClosed)?;
        self.pending.clear();
        Ok(())
    }

    /// Writes `bytes` now (after the pending output) and flushes.
    ///
    /// # Errors
    /// [`StdoutClosed`] when stdout cannot be written.
    pub fn write_now(&mut self, bytes: &[u8]) -> Result<(), StdoutClosed> {
        self.write_pending()?;
        let mut lock = self.stdout.lock();
        lock.write_all(bytes)
            .and_then(|()| lock.flush())
            .map_err(|_| StdoutClosed)
    }
}
