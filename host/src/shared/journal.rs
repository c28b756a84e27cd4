//! What makes a retried task's shared-state calls exactly-once: every call a task makes is
//! recorded, in order, with its answer, until the task's outcome is final. When the task runs
//! again (its worker died; the retry comes in another batch), each call that matches the
//! earlier attempt's call at the same place (same function, same arguments) gets the recorded
//! answer and changes nothing. From the first call that differs on, calls run for real (and
//! the rest of the old record is dropped): a task that does the same thing again writes once,
//! one that takes another path writes what the new path writes. A call from an attempt older
//! than the task's current one (a dead worker's last call, arriving late) is refused.

use std::collections::HashMap;

use compact_str::CompactString;

use crate::ids::{BatchId, TaskIndex};
use crate::vocab::HostFault;

/// Calls recorded per task at most; a task making more runs the rest unrecorded (a retry
/// repeats their writes).
pub(crate) const RECORDED_CALLS: usize = 1 << 16;

/// Bytes of answers recorded per task at most (past it, as past [`RECORDED_CALLS`]).
pub(crate) const RECORDED_BYTES: usize = 8 << 20;

/// An answer as the guest gets it.
pub(crate) type Answer = Result<CompactString, HostFault>;

/// The record of one task.
struct Record {
    /// The attempt making calls now: its batch and position.
    attempt: (BatchId, u32),
    /// Where the attempt is in `calls`.
    cursor: usize,
    /// Each call's fingerprint and answer, in order.
    calls: Vec<(u64, Answer)>,
    /// Bytes of the answers in `calls`.
    bytes: usize,
}

/// Every task's record, for the tasks of one job without a final outcome.
#[derive(Default)]
pub(crate) struct Journal {
    tasks: HashMap<u64, Record>,
}

/// What to do with a call.
pub(crate) enum Step {
    /// The earlier attempt made this call: give it this answer.
    Replay(Answer),
    /// Run it, then [`Journal::record`] its answer at this place of the task's record.
    Run(usize),
    /// The call comes from an attempt older than the task's current one: refuse it.
    Stale,
}

impl Journal {
    /// Whether the call `fingerprint` of `task`'s attempt `attempt` is a replay.
    pub(crate) fn step(
        &mut self,
        task: TaskIndex,
        attempt: (BatchId, u32),
        fingerprint: u64,
    ) -> Step {
        let record = self.tasks.entry(task.0).or_insert_with(|| Record {
            attempt,
            cursor: 0,
            calls: Vec::new(),
            bytes: 0,
        });
        if attempt.0 < record.attempt.0 {
            return Step::Stale;
        }
        if record.attempt != attempt {
            record.attempt = attempt;
            record.cursor = 0;
        }
        match record.calls.get(record.cursor) {
            Some((recorded, answer)) if *recorded == fingerprint => {
                record.cursor += 1;
                Step::Replay(answer.clone())
            }
            Some(_) => {
                // The attempt took another path: the old record cannot be replayed further.
                for (_, dropped) in record.calls.drain(record.cursor..) {
                    record.bytes -= answer_size(&dropped);
                }
                Step::Run(record.cursor)
            }
            None => Step::Run(record.cursor),
        }
    }

    /// Records the answer of the call just run at `place` (what [`step`](Self::step) said),
    /// if its attempt is still the task's current one.
    pub(crate) fn record(
        &mut self,
        task: TaskIndex,
        attempt: (BatchId, u32),
        place: usize,
        fingerprint: u64,
        answer: &Answer,
    ) {
        let Some(record) = self.tasks.get_mut(&task.0) else {
            return; // settled meanwhile
        };
        if record.attempt != attempt || record.cursor != place {
            return;
        }
        record.cursor += 1;
        let size = answer_size(answer);
        if place == record.calls.len()
            && place < RECORDED_CALLS
            && record.bytes + size <= RECORDED_BYTES
        {
            record.calls.push((fingerprint, answer.clone()));
            record.bytes += size;
        }
    }

    /// `task` has its final outcome: it will never run again.
    pub(crate) fn settle(&mut self, task: TaskIndex) {
        self.tasks.remove(&task.0);
    }

    /// Whether `attempt` is the attempt of `task` making calls now (not settled, not
    /// replaced by a retry).
    pub(crate) fn is_current(&self, task: TaskIndex, attempt: (BatchId, u32)) -> bool {
        self.tasks
            .get(&task.0)
            .is_some_and(|record| record.attempt == attempt)
    }

    /// Tasks with a record.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.tasks.len()
    }
}

fn answer_size(answer: &Answer) -> usize {
    match answer {
        Ok(text) => text.len(),
        Err(fault) => fault.message.len(),
    }
}

/// A call's fingerprint: its function and arguments, FNV-1a (stable across machines and
/// Rust releases: a broker's journal compares fingerprints made on different workers).
pub(crate) fn fingerprint(function: &str, args: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in function.bytes().chain([0]).chain(args.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Answer {
        Ok(text.into())
    }

    #[test]
    fn a_retry_replays_what_matches_and_runs_the_rest() {
        let mut journal = Journal::default();
        let task = TaskIndex(3);
        let first = (BatchId(1), 0);
        let (a, b, c) = (fingerprint("incr", "a"), fingerprint("incr", "b"), 9);
        for (f, answer) in [(a, "1"), (b, "2")] {
            let Step::Run(place) = journal.step(task, first, f) else {
                panic!("a first attempt runs every call");
            };
            journal.record(task, first, place, f, &ok(answer));
        }
        // The worker died; the retry makes the same two calls, then a third.
        let retry = (BatchId(7), 2);
        assert!(matches!(journal.step(task, retry, a), Step::Replay(r) if r == ok("1")));
        assert!(matches!(journal.step(task, retry, b), Step::Replay(r) if r == ok("2")));
        assert!(matches!(journal.step(task, retry, c), Step::Run(2)));
        journal.record(task, retry, 2, c, &ok("3"));
        // A third attempt that differs at its second call runs from there on.
        let third = (BatchId(9), 0);
        assert!(matches!(journal.step(task, third, a), Step::Replay(_)));
        assert!(matches!(journal.step(task, third, c), Step::Run(1)));
        journal.record(task, third, 1, c, &ok("4"));
        let fourth = (BatchId(10), 0);
        assert!(matches!(journal.step(task, fourth, a), Step::Replay(_)));
        assert!(matches!(journal.step(task, fourth, c), Step::Replay(r) if r == ok("4")));
        journal.settle(task);
        assert_eq!(journal.len(), 0);
    }

    #[test]
    fn a_late_call_of_a_replaced_attempt_is_refused_and_records_nothing() {
        let mut journal = Journal::default();
        let task = TaskIndex(0);
        let (dead, retry) = ((BatchId(1), 0), (BatchId(2), 0));
        let a = fingerprint("incr", "a");
        let Step::Run(place) = journal.step(task, dead, a) else {
            panic!("runs");
        };
        // The retry starts while the dead attempt's call is still being answered.
        assert!(matches!(journal.step(task, retry, a), Step::Run(0)));
        journal.record(task, dead, place, a, &ok("stale"));
        journal.record(task, retry, 0, a, &ok("1"));
        assert!(!journal.is_current(task, dead));
        assert!(matches!(journal.step(task, dead, a), Step::Stale));
        let third = (BatchId(3), 0);
        assert!(
            matches!(journal.step(task, third, a), Step::Replay(r) if r == ok("1")),
            "only the current attempt's answer was recorded"
        );
    }
}
