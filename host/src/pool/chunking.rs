//! How many tasks go into one batch, and how many batches a worker may hold.
//!
//! With no fixed `--chunksize`, batches aim at ~2 ms of work, measured as the pool runs (an
//! average of the time per task the workers report): trivial tasks travel by the thousand, a
//! task of seconds travels alone, so long tasks still balance over the workers. A worker holds
//! enough batches to cover a pipe round trip, and at least two, so it never waits for the host.
//! Whatever the count, a batch's inputs stay within half a frame ([`fitting`]).

use std::time::Duration;

use crate::wire::frame::MAX_FRAME;

/// The input bytes one batch carries at most: half a frame, so a batch of many inputs always
/// fits one (a job's window holds ~64 MiB of input by default, but an application may widen
/// it). An input larger by itself travels alone.
pub const BATCH_INPUT_BUDGET: usize = MAX_FRAME as usize / 2;
/// What a task costs in a batch's frame beyond its input (index, call, lengths), at most.
const TASK_OVERHEAD: usize = 64;

/// How many of the next `take` tasks, whose inputs are `lengths` bytes long, one batch carries:
/// as many as fit [`BATCH_INPUT_BUDGET`], and always at least one.
pub fn fitting(lengths: impl IntoIterator<Item = usize>, take: usize) -> usize {
    let mut bytes = 0usize;
    lengths
        .into_iter()
        .take(take)
        .position(|len| {
            bytes = bytes.saturating_add(len.saturating_add(TASK_OVERHEAD));
            bytes > BATCH_INPUT_BUDGET
        })
        .map_or(take, |at| at.max(1))
}

const TARGET_BATCH: Duration = Duration::from_millis(2);
const COVER_ROUND_TRIP: Duration = Duration::from_micros(300);
const MAX_CHUNK: usize = 1024;
const MAX_DEPTH: usize = 256;

/// The chunk-size policy and its running measurement.
#[derive(Debug, Clone)]
pub struct ChunkPolicy {
    fixed: Option<usize>,
    nanos_per_task: Option<f64>,
}

impl ChunkPolicy {
    /// A policy with a fixed chunk size, or an adaptive one.
    pub fn new(fixed: Option<usize>) -> ChunkPolicy {
        ChunkPolicy {
            fixed: fixed.map(|n| n.max(1)),
            nanos_per_task: None,
        }
    }

    /// Feeds in a finished batch: `tasks` tasks took `busy` on the worker.
    pub fn observe(&mut self, tasks: usize, busy: Duration) {
        if tasks == 0 {
            return;
        }
        let per_task = busy.as_nanos() as f64 / tasks as f64;
        self.nanos_per_task = Some(match self.nanos_per_task {
            Some(avg) => 0.7 * avg + 0.3 * per_task,
            None => per_task,
        });
    }

    /// What it learned one task costs (the moving average), in nanoseconds; `None` before the
    /// first batch.
    pub fn nanos_per_task(&self) -> Option<f64> {
        self.nanos_per_task
    }

    /// The size of the next batch, when `queued` tasks wait and `workers` workers may each
    /// hold `depth` batches: never so large that one worker takes more than its share.
    pub fn chunk(&self, queued: usize, workers: usize) -> usize {
        let wanted = match (self.fixed, self.nanos_per_task) {
            (Some(n), _) => return n,
            (None, None) => 1,
            (None, Some(per_task)) => {
                ((TARGET_BATCH.as_nanos() as f64 / per_task.max(1.0)) as usize).clamp(1, MAX_CHUNK)
            }
        };
        let share = queued.div_ceil(workers.max(1) * 2).max(1);
        wanted.min(share)
    }

    /// How many batches of `chunk` tasks one worker may hold at once.
    pub fn depth(&self, chunk: usize) -> usize {
        match self.nanos_per_task {
            None => 2,
            Some(per_task) => {
                let batch = per_task.max(1.0) * chunk.max(1) as f64;
                ((COVER_ROUND_TRIP.as_nanos() as f64 / batch).ceil() as usize).clamp(2, MAX_DEPTH)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_of_inputs_fits_half_a_frame() {
        const MIB: usize = 1 << 20;
        assert_eq!(fitting([10, 20, 30], 3), 3, "small inputs go together");
        assert_eq!(fitting([10, 20, 30], 2), 2, "never more than asked");
        assert_eq!(
            fitting([90 * MIB; 3], 3),
            1,
            "three of 90 MiB would pass a frame"
        );
        assert_eq!(fitting([60 * MIB, 60 * MIB, 60 * MIB], 3), 2);
        assert_eq!(fitting([300 * MIB, 1], 2), 1, "one too large goes alone");
        assert_eq!(
            fitting([1, 300 * MIB], 2),
            1,
            "and does not take others with it"
        );
        assert_eq!(fitting(std::iter::empty(), 0), 0);
    }

    #[test]
    fn adapts_to_task_time() {
        let mut policy = ChunkPolicy::new(None);
        assert_eq!(policy.chunk(1000, 2), 1, "unknown cost: start small");
        policy.observe(100, Duration::from_micros(100)); // 1 µs per task
        assert_eq!(policy.chunk(1_000_000, 2), MAX_CHUNK);
        assert_eq!(policy.chunk(10, 2), 3, "a short queue is shared");
        let mut slow = ChunkPolicy::new(None);
        slow.observe(1, Duration::from_millis(50));
        assert_eq!(slow.chunk(1000, 2), 1);
        assert_eq!(slow.depth(1), 2);
        assert_eq!(ChunkPolicy::new(Some(7)).chunk(1, 2), 7);
    }
}
