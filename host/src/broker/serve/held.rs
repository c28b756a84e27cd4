//! [`Held`]: the inputs a broker worker holds — read from a job's stream and not yet answered
//! on the broker. An input is held from the moment the owner hands it to a local pool (or
//! decides its result itself) until the writer reports its result stored, or until the owner
//! gives it up (the pool cancelled it; it stays pending for another worker). So
//! `held = dispatched − stored − given up`, kept in this one type, touched only by the owner.
//! An input is *running* while its local pool has it, and *storing* once the pool finished it
//! (or the owner answered it itself) until the writer reports it stored. The prefetch window
//! counts running inputs (and caps all of them), the lone run of a taken-over input and the
//! lease renewal read the rest.

use std::collections::HashMap;

use crate::ids::TaskIndex;

/// One held input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Item {
    /// Its entry id in the job's input stream.
    pub(super) entry: String,
    /// Its index in the submitter's job.
    pub(super) index: u64,
    /// Taken over from a worker that was lost: it runs alone here.
    pub(super) suspect: bool,
}

/// The inputs one job has here.
#[derive(Debug, Default)]
struct JobHeld {
    /// Entry id → the input.
    items: HashMap<String, Item>,
    /// The local pool's task index → entry id, for inputs running in the pool.
    running: HashMap<TaskIndex, String>,
}

/// Every held input, by job (see the module docs).
#[derive(Debug, Default)]
pub(super) struct Held {
    jobs: HashMap<String, JobHeld>,
    count: usize,
    running: usize,
    suspects: usize,
}

impl Held {
    /// How many inputs are held, over all jobs.
    pub(super) fn count(&self) -> usize {
        self.count
    }

    /// How many held inputs are in a local pool (queued or running there).
    pub(super) fn running(&self) -> usize {
        self.running
    }

    /// Whether nothing is held.
    pub(super) fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// How many held inputs were taken over from a lost worker.
    pub(super) fn suspects(&self) -> usize {
        self.suspects
    }

    /// `item` of `job` is held from now on; `local` is its task index in the job's pool, or
    /// `None` when the owner answers it itself. Returns false (and holds nothing) if that
    /// entry is held already.
    pub(super) fn hold(&mut self, job: &str, item: Item, local: Option<TaskIndex>) -> bool {
        let held = self.jobs.entry(job.to_string()).or_default();
        if held.items.contains_key(&item.entry) {
            return false;
        }
        if let Some(local) = local {
            held.running.insert(local, item.entry.clone());
            self.running += 1;
        }
        self.count += 1;
        self.suspects += usize::from(item.suspect);
        held.items.insert(item.entry.clone(), item);
        true
    }

    /// The local pool finished task `local` of `job`: the input it was, still held until its
    /// result is stored. `None` if the job or the task is not held (the job was let go).
    pub(super) fn finished(&mut self, job: &str, local: TaskIndex) -> Option<&Item> {
        let held = self.jobs.get_mut(job)?;
        let entry = held.running.remove(&local)?;
        self.running -= 1;
        held.items.get(&entry)
    }

    /// Gives up task `local` of `job` without a result (its pool cancelled it): it stays
    /// pending on the broker, for this or another worker. Returns the input given up.
    pub(super) fn give_up(&mut self, job: &str, local: TaskIndex) -> Option<Item> {
        let held = self.jobs.get_mut(job)?;
        let entry = held.running.remove(&local)?;
        self.running -= 1;
        let item = held.items.remove(&entry)?;
        self.forget(&item);
        Some(item)
    }

    /// The result of `entry` of `job` is stored: it is no longer held. Returns it, if it was.
    pub(super) fn stored(&mut self, job: &str, entry: &str) -> Option<Item> {
        let held = self.jobs.get_mut(job)?;
        let item = held.items.remove(entry)?;
        let before = held.running.len();
        held.running.retain(|_, e| e != entry);
        self.running -= before - held.running.len();
        self.forget(&item);
        Some(item)
    }

    /// Lets go of everything `job` holds (the job ended here); returns how many inputs.
    pub(super) fn drop_job(&mut self, job: &str) -> usize {
        let Some(held) = self.jobs.remove(job) else {
            return 0;
        };
        for item in held.items.values() {
            self.forget(item);
        }
        self.running -= held.running.len();
        held.items.len()
    }

    fn forget(&mut self, item: &Item) {
        self.count -= 1;
        self.suspects -= usize::from(item.suspect);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(entry: &str, index: u64, suspect: bool) -> Item {
        Item {
            entry: entry.into(),
            index,
            suspect,
        }
    }

    #[test]
    fn an_input_is_held_until_stored_or_given_up() {
        let mut held = Held::default();
        assert!(held.hold("a", item("1-0", 0, false), Some(TaskIndex(0))));
        assert!(held.hold("a", item("2-0", 1, true), Some(TaskIndex(1))));
        assert!(held.hold("b", item("1-0", 7, false), None));
        assert!(!held.hold("a", item("1-0", 0, false), None), "held twice");
        assert_eq!((held.count(), held.running(), held.suspects()), (3, 2, 1));

        // Finished is not stored: still held (but no longer running), and finished only once.
        assert_eq!(held.finished("a", TaskIndex(0)).map(|i| i.index), Some(0));
        assert_eq!(held.finished("a", TaskIndex(0)), None);
        assert_eq!((held.count(), held.running()), (3, 1));
        assert_eq!(held.stored("a", "1-0").map(|i| i.index), Some(0));
        assert_eq!(held.stored("a", "1-0"), None, "stored twice");
        assert_eq!(held.count(), 2);

        // A cancelled task is given up: no longer held, and its result can never be stored.
        assert_eq!(
            held.give_up("a", TaskIndex(1)).map(|i| i.suspect),
            Some(true)
        );
        assert_eq!((held.count(), held.suspects()), (1, 0));
        assert_eq!(held.stored("a", "2-0"), None);

        // An input the owner answers itself has no local task.
        assert_eq!(held.finished("b", TaskIndex(0)), None);
        assert_eq!(held.stored("b", "1-0").map(|i| i.index), Some(7));
        assert!(held.is_empty());
    }

    #[test]
    fn letting_a_job_go_forgets_what_it_held() {
        let mut held = Held::default();
        held.hold("a", item("1-0", 0, true), Some(TaskIndex(0)));
        held.hold("a", item("2-0", 1, false), None);
        held.hold("b", item("3-0", 2, false), Some(TaskIndex(0)));
        assert_eq!(held.drop_job("a"), 2);
        assert_eq!(held.drop_job("a"), 0);
        assert_eq!((held.count(), held.running(), held.suspects()), (1, 1, 0));
        // Late news of the job that was let go changes nothing.
        assert_eq!(held.finished("a", TaskIndex(0)), None);
        assert_eq!(held.stored("a", "2-0"), None);
        assert_eq!(held.count(), 1);
    }
}
