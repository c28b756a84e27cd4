//! The tasks a module's queue holds ([`Queue`]) and those one batch in flight holds
//! ([`Held`]). A map over a range of integers (`--map 0..1000000`) arrives as runs
//! ([`Run`]): where it starts and how long it is, not a task per integer. A run stays one
//! entry until a batch takes the front of it, and a batch made of a run stays a run, sent to
//! the worker as a [`TaskRange`]; its tasks are made one by one only where one of them needs
//! its own state (a cancel, a retry after its worker died, a stuck task, a shutdown). Every
//! other entry is a task of its own ([`Queued`]). Counts are always of tasks, never entries.

use std::collections::VecDeque;

use super::request::JobId;
use crate::ids::TaskIndex;
use crate::vocab::WireTask;
use crate::wire::message::TaskRange;

/// A task waiting for a worker, or held by one.
pub(super) struct Queued {
    pub job: JobId,
    pub task: WireTask,
    pub attempts: u32,
    /// Its job cancelled it while a worker held it.
    pub cancelled: bool,
    /// Its outcome was delivered already (cancelled before it started): whatever the worker
    /// says of it later is dropped.
    pub answered: bool,
}

impl Queued {
    /// A task not yet tried.
    pub fn new(job: JobId, task: WireTask) -> Queued {
        Queued {
            job,
            task,
            attempts: 0,
            cancelled: false,
            answered: false,
        }
    }
}

/// Tasks of one job over consecutive integers, none of them tried, cancelled or answered yet,
/// each calling the pool's own function under the pool's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Run {
    pub job: JobId,
    pub range: TaskRange,
}

impl Run {
    fn len(&self) -> usize {
        self.range.count as usize
    }

    /// Its tasks, one by one.
    fn tasks(self) -> impl Iterator<Item = Queued> {
        let job = self.job;
        self.range.tasks().map(move |task| Queued::new(job, task))
    }

    /// Splits off the first `n` tasks (0 < `n` < its length): those, and the rest.
    fn split(self, n: u32) -> (Run, Run) {
        let TaskRange {
            index,
            first,
            count,
        } = self.range;
        let front = TaskRange {
            index,
            first,
            count: n,
        };
        let back = TaskRange {
            index: TaskIndex(index.0 + u64::from(n)),
            first: first + i64::from(n),
            count: count - n,
        };
        (
            Run {
                job: self.job,
                range: front,
            },
            Run {
                job: self.job,
                range: back,
            },
        )
    }

    /// It and `next` as one run, when `next` goes on from it (same job, the next index and
    /// input, no more than a range holds).
    fn joined(self, next: Run) -> Option<Run> {
        let r = self.range;
        let follows = next.job == self.job
            && r.index.0.checked_add(u64::from(r.count)) == Some(next.range.index.0)
            && r.first.checked_add(i64::from(r.count)) == Some(next.range.first);
        let count = r.count.checked_add(next.range.count).filter(|_| follows)?;
        Some(Run {
            job: self.job,
            range: TaskRange { count, ..r },
        })
    }

    /// Where task `index` lies in it, if it does.
    fn position(&self, index: TaskIndex) -> Option<u32> {
        let at = index.0.checked_sub(self.range.index.0)?;
        u32::try_from(at).ok().filter(|&at| at < self.range.count)
    }
}

enum Entry {
    One(Queued),
    Run(Run),
}

impl Entry {
    fn len(&self) -> usize {
        match self {
            Entry::One(_) => 1,
            Entry::Run(run) => run.len(),
        }
    }
}

/// The tasks waiting for one module, in order.
#[derive(Default)]
pub(super) struct Queue {
    entries: VecDeque<Entry>,
    /// How many tasks (not entries).
    len: usize,
}

/// What a batch takes from the front of a [`Queue`].
pub(super) enum Held {
    /// Tasks one by one.
    List(Vec<Queued>),
    /// The front of a run.
    Run(Run),
}

impl Queue {
    /// How many tasks wait.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether none does.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds `task` at the back.
    pub fn push_back(&mut self, task: Queued) {
        self.len += 1;
        self.entries.push_back(Entry::One(task));
    }

    /// Adds `run` at the back (joined to the run there when it goes on from it, so a map
    /// submitted a window's worth at a time still leaves in full batches).
    pub fn push_run(&mut self, run: Run) {
        if run.range.count == 0 {
            return;
        }
        self.len += run.len();
        if let Some(Entry::Run(last)) = self.entries.back_mut()
            && let Some(joined) = last.joined(run)
        {
            *last = joined;
            return;
        }
        self.entries.push_back(Entry::Run(run));
    }

    /// Puts `tasks` at the front, in their order.
    pub fn push_front(&mut self, tasks: Vec<Queued>) {
        self.len += tasks.len();
        for q in tasks.into_iter().rev() {
            self.entries.push_front(Entry::One(q));
        }
    }

    /// The input lengths of the tasks in order (a run's integers count 20 bytes, the most
    /// an i64 takes), for [`super::chunking::fitting`].
    pub fn input_lengths(&self) -> impl Iterator<Item = usize> + '_ {
        self.entries.iter().flat_map(|e| match e {
            Entry::One(q) => std::iter::repeat_n(q.task.input.len(), 1),
            Entry::Run(run) => std::iter::repeat_n(20, run.len()),
        })
    }

    /// Takes up to `take` tasks from the front: the front of a run when the queue starts with
    /// one (never more than that run holds), else tasks one by one up to the next run.
    pub fn take_front(&mut self, take: usize) -> Held {
        let take = take.min(self.len);
        if let Some(Entry::Run(run)) = self.entries.front() {
            let run = *run;
            let n = u32::try_from(take).unwrap_or(u32::MAX).max(1);
            let taken = if n < run.range.count {
                let (front, back) = run.split(n);
                self.entries[0] = Entry::Run(back);
                front
            } else {
                self.entries.pop_front();
                run
            };
            self.len -= taken.len();
            return Held::Run(taken);
        }
        let mut tasks = Vec::with_capacity(take);
        while tasks.len() < take {
            match self.entries.front() {
                Some(Entry::One(_)) => {
                    if let Some(Entry::One(q)) = self.entries.pop_front() {
                        tasks.push(q);
                    }
                }
                _ => break,
            }
        }
        self.len -= tasks.len();
        Held::List(tasks)
    }

    /// Removes every task of `job`; returns how many.
    pub fn remove_job(&mut self, job: JobId) -> usize {
        let before = self.len;
        self.entries.retain(|e| match e {
            Entry::One(q) => q.job != job,
            Entry::Run(run) => run.job != job,
        });
        self.len = self.entries.iter().map(Entry::len).sum();
        before - self.len
    }

    /// Removes task `index` of `job`, if it waits here (splitting the run it lies in).
    pub fn remove(&mut self, job: JobId, index: TaskIndex) -> bool {
        let found = self.entries.iter().position(|e| match e {
            Entry::One(q) => q.job == job && q.task.index == index,
            Entry::Run(run) => run.job == job && run.position(index).is_some(),
        });
        let Some(at) = found else {
            return false;
        };
        match self.entries.remove(at) {
            Some(Entry::Run(run)) => {
                let p = run.position(index).unwrap_or(0);
                let mut rest = Vec::with_capacity(2);
                let after = if p > 0 {
                    let (before, after) = run.split(p);
                    rest.push(before);
                    after
                } else {
                    run
                };
                if after.range.count > 1 {
                    rest.push(after.split(1).1);
                }
                for (k, part) in rest.into_iter().enumerate() {
                    self.entries.insert(at + k, Entry::Run(part));
                }
            }
            Some(Entry::One(_)) | None => {}
        }
        self.len -= 1;
        true
    }

    /// Takes every task, one by one.
    pub fn drain(&mut self) -> Vec<Queued> {
        let mut tasks = Vec::with_capacity(self.len);
        for entry in self.entries.drain(..) {
            match entry {
                Entry::One(q) => tasks.push(q),
                Entry::Run(run) => tasks.extend(run.tasks()),
            }
        }
        self.len = 0;
        tasks
    }
}

impl Held {
    /// How many tasks.
    pub fn len(&self) -> usize {
        match self {
            Held::List(tasks) => tasks.len(),
            Held::Run(run) => run.len(),
        }
    }

    /// The tasks one by one, to change one of them (a run is made into them first).
    pub fn list(&mut self) -> &mut Vec<Queued> {
        if let Held::Run(run) = *self {
            *self = Held::List(run.tasks().collect());
        }
        match self {
            Held::List(tasks) => tasks,
            Held::Run(_) => unreachable!("made into a list above"),
        }
    }

    /// The tasks one by one.
    pub fn into_vec(self) -> Vec<Queued> {
        match self {
            Held::List(tasks) => tasks,
            Held::Run(run) => run.tasks().collect(),
        }
    }

    /// Whether task `index` of `job` is among them.
    pub fn contains(&self, job: JobId, index: TaskIndex) -> bool {
        match self {
            Held::List(tasks) => tasks.iter().any(|q| q.job == job && q.task.index == index),
            Held::Run(run) => run.job == job && run.position(index).is_some(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(job: JobId, index: u64, first: i64, count: u32) -> Run {
        Run {
            job,
            range: TaskRange {
                index: TaskIndex(index),
                first,
                count,
            },
        }
    }

    fn one(job: JobId, index: u64, input: &str) -> Queued {
        Queued::new(
            job,
            WireTask {
                index: TaskIndex(index),
                input: input.into(),
                call: None,
            },
        )
    }

    /// (job, index, input) of every task, in order.
    fn tasks(queued: Vec<Queued>) -> Vec<(JobId, u64, String)> {
        queued
            .into_iter()
            .map(|q| (q.job, q.task.index.0, q.task.input.to_string()))
            .collect()
    }

    #[test]
    fn a_run_is_taken_from_the_front_in_batches_and_counts_its_tasks() {
        let mut queue = Queue::default();
        queue.push_run(run(1, 0, -2, 5));
        queue.push_back(one(2, 0, "\"x\""));
        assert_eq!(queue.len(), 6);
        let Held::Run(first) = queue.take_front(3) else {
            panic!("the front is a run")
        };
        assert_eq!(first, run(1, 0, -2, 3));
        assert_eq!(queue.len(), 3);
        let Held::Run(rest) = queue.take_front(10) else {
            panic!("the rest of the run")
        };
        assert_eq!(rest, run(1, 3, 1, 2), "never more than the run holds");
        let Held::List(list) = queue.take_front(10) else {
            panic!("a task of its own")
        };
        assert_eq!(tasks(list), vec![(2, 0, "\"x\"".to_string())]);
        assert!(queue.is_empty());
    }

    #[test]
    fn runs_that_go_on_from_each_other_are_one() {
        let mut queue = Queue::default();
        queue.push_run(run(1, 0, 5, 3));
        queue.push_run(run(1, 3, 8, 2));
        queue.push_run(run(2, 5, 10, 2)); // another job
        queue.push_run(run(2, 8, 13, 1)); // a gap in the indices
        assert_eq!(queue.len(), 8);
        assert!(matches!(queue.take_front(100), Held::Run(r) if r == run(1, 0, 5, 5)));
        assert!(matches!(queue.take_front(100), Held::Run(r) if r == run(2, 5, 10, 2)));
        assert!(matches!(queue.take_front(100), Held::Run(r) if r == run(2, 8, 13, 1)));
        assert!(queue.is_empty());
    }

    #[test]
    fn tasks_one_by_one_stop_at_a_run() {
        let mut queue = Queue::default();
        queue.push_back(one(1, 0, "1"));
        queue.push_back(one(1, 1, "2"));
        queue.push_run(run(1, 2, 3, 4));
        let held = queue.take_front(5);
        assert!(matches!(held, Held::List(ref l) if l.len() == 2));
        assert_eq!(queue.len(), 4);
    }

    #[test]
    fn a_task_removed_from_a_run_leaves_the_rest_in_order() {
        let mut queue = Queue::default();
        queue.push_run(run(7, 10, 100, 5));
        assert!(!queue.remove(8, TaskIndex(11)), "another job's");
        assert!(!queue.remove(7, TaskIndex(15)), "past the run");
        assert!(queue.remove(7, TaskIndex(12)));
        assert!(queue.remove(7, TaskIndex(10)), "the first");
        assert!(queue.remove(7, TaskIndex(14)), "the last");
        assert_eq!(queue.len(), 2);
        assert_eq!(
            tasks(queue.drain()),
            vec![(7, 11, "101".to_string()), (7, 13, "103".to_string())]
        );
        assert!(queue.is_empty());
    }

    #[test]
    fn a_jobs_tasks_go_whole_and_others_stay() {
        let mut queue = Queue::default();
        queue.push_run(run(1, 0, 0, 4));
        queue.push_back(one(2, 0, "5"));
        queue.push_run(run(1, 4, 4, 2));
        assert_eq!(queue.remove_job(1), 6);
        assert_eq!(queue.len(), 1);
        queue.push_front(vec![one(3, 0, "a"), one(3, 1, "b")]);
        assert_eq!(
            queue.input_lengths().collect::<Vec<_>>(),
            vec![1, 1, 1],
            "put back in front, in order"
        );
        assert_eq!(tasks(queue.drain())[0], (3, 0, "a".to_string()));
    }

    #[test]
    fn a_held_run_becomes_its_tasks_when_one_must_change() {
        let mut held = Held::Run(run(4, 20, -1, 3));
        assert!(held.contains(4, TaskIndex(22)));
        assert!(!held.contains(4, TaskIndex(23)));
        assert!(!held.contains(5, TaskIndex(21)));
        held.list()[1].cancelled = true;
        let tasks = held.into_vec();
        assert_eq!(
            tasks
                .iter()
                .map(|q| (q.task.index.0, q.task.input.as_str(), q.cancelled))
                .collect::<Vec<_>>(),
            vec![(20, "-1", false), (21, "0", true), (22, "1", false)]
        );
    }
}
