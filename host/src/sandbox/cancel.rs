//! Cancelled calls inside a worker. The reader thread records each `Cancel` the host sends;
//! the main loop skips a cancelled task that has not started, a running guest is stopped by
//! its store's epoch callback at the next tick, and a host call waiting for the application
//! gives up. A running call that still has not stopped [`STOP_GRACE`] later is blocked in a
//! WASI call nothing can interrupt: the worker's clock then ends the process (the host retries
//! its other tasks). The common case (nothing cancelled) costs one relaxed load, and two
//! relaxed stores per task.

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering, fence};
use std::time::{Duration, Instant};

use crate::ids::BatchId;
use crate::sync::lock;

/// A task's place in the worker's batches, the name a `Cancel` uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CancelKey {
    /// The batch.
    pub batch: BatchId,
    /// The task's position in it.
    pub position: u32,
}

impl CancelKey {
    /// The key of the task at `position` of `batch`.
    pub fn new(batch: BatchId, position: usize) -> CancelKey {
        CancelKey {
            batch,
            position: u32::try_from(position).unwrap_or(u32::MAX),
        }
    }

    /// The key as one number, never 0.
    fn packed(self) -> u64 {
        (self.batch.0 << 24 | u64::from(self.position & 0xff_ffff)).wrapping_add(1)
    }
}

/// How long a running call may take to stop once cancelled before its worker ends itself.
pub const STOP_GRACE: Duration = Duration::from_millis(500);

/// The cancels a worker received and has not finished with.
#[derive(Debug, Default)]
pub struct Cancels {
    keys: Mutex<HashSet<CancelKey>>,
    /// How many keys there are, read without the lock.
    pending: AtomicUsize,
    /// The running task's key, packed (0: none).
    running: AtomicU64,
    /// The last task that started, packed: tasks after it have not.
    last: AtomicU64,
    /// A cancelled running call, and when it must have stopped.
    stop_by: Mutex<Option<(CancelKey, Instant)>>,
}

impl Cancels {
    /// Records that the task at `key` is cancelled; returns whether it had not started yet
    /// (then it never will: the main loop skips it).
    pub fn cancel(&self, key: CancelKey) -> bool {
        let mut keys = lock(&self.keys);
        keys.insert(key);
        self.pending.store(keys.len(), Ordering::Release);
        drop(keys);
        // Pairs with the fence in `started`: either the main loop sees this cancel before it
        // starts the task, or this sees that it started.
        fence(Ordering::SeqCst);
        // Batches run in order, and keys order as they do.
        if key.packed() > self.last.load(Ordering::Acquire) {
            return true;
        }
        if self.running.load(Ordering::Acquire) == key.packed() {
            *lock(&self.stop_by) = Some((key, Instant::now() + STOP_GRACE));
        }
        false
    }

    /// The task at `key` starts running (call [`take_queued`](Self::take_queued) next).
    pub fn started(&self, key: CancelKey) {
        self.last.store(key.packed(), Ordering::Release);
        self.running.store(key.packed(), Ordering::Release);
        // One fence per task, not a locked store each: see `cancel`.
        fence(Ordering::SeqCst);
    }

    /// The running task finished.
    pub fn finished(&self) {
        self.running.store(0, Ordering::Release);
    }

    /// Whether a cancelled call is still running past its [`STOP_GRACE`].
    pub fn overdue(&self) -> bool {
        if self.pending.load(Ordering::Acquire) == 0 {
            return false;
        }
        let stop_by = *lock(&self.stop_by);
        stop_by.is_some_and(|(key, by)| {
            self.running.load(Ordering::Acquire) == key.packed() && Instant::now() >= by
        })
    }

    /// Whether the task at `key` is cancelled.
    pub fn is_cancelled(&self, key: CancelKey) -> bool {
        self.pending.load(Ordering::Acquire) > 0 && lock(&self.keys).contains(&key)
    }

    /// Whether the task at `key`, about to start, is cancelled (then it must not run).
    pub fn take_queued(&self, key: CancelKey) -> bool {
        if self.pending.load(Ordering::Acquire) == 0 {
            return false;
        }
        let mut keys = lock(&self.keys);
        let taken = keys.remove(&key);
        self.pending.store(keys.len(), Ordering::Release);
        taken
    }

    /// Batch `id` was answered: cancels of its tasks (and of earlier batches', which came too
    /// late) are done with.
    pub fn batch_done(&self, id: BatchId) {
        if self.pending.load(Ordering::Acquire) == 0 {
            return;
        }
        let mut keys = lock(&self.keys);
        keys.retain(|k| k.batch > id);
        self.pending.store(keys.len(), Ordering::Release);
    }
}

/// Why a call ended early: the host cancelled it.
#[derive(Debug, thiserror::Error)]
#[error("the call was cancelled while it ran")]
pub struct CallCancelled;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancels_are_found_taken_once_and_dropped_with_their_batch() {
        let cancels = Cancels::default();
        let (a, b, c) = (
            CancelKey::new(BatchId(1), 0),
            CancelKey::new(BatchId(1), 3),
            CancelKey::new(BatchId(2), 0),
        );
        assert!(!cancels.is_cancelled(a) && !cancels.take_queued(a));
        assert!(cancels.cancel(b), "nothing started: b has not");
        cancels.cancel(c);
        assert!(cancels.is_cancelled(b) && !cancels.is_cancelled(a));
        assert!(cancels.take_queued(b));
        assert!(!cancels.take_queued(b), "taken once");
        cancels.cancel(a);
        cancels.batch_done(BatchId(1));
        assert!(!cancels.is_cancelled(a), "its batch is done");
        assert!(cancels.is_cancelled(c), "a later batch's cancel stays");
    }

    #[test]
    fn only_a_cancelled_call_that_keeps_running_is_overdue() {
        let cancels = Cancels::default();
        let (running, queued) = (CancelKey::new(BatchId(4), 1), CancelKey::new(BatchId(5), 0));
        cancels.started(running);
        assert!(cancels.cancel(queued), "a later batch has not started");
        assert!(
            !cancels.overdue(),
            "a queued call is skipped, not waited for"
        );
        assert!(!cancels.cancel(running), "it runs");
        *lock(&cancels.stop_by) = Some((running, Instant::now()));
        assert!(cancels.overdue(), "still running at its deadline");
        cancels.finished();
        assert!(!cancels.overdue(), "it stopped");
    }
}
