//! [`IndexShift`]: a monotone map of task indices, made of runs. The input reader uses it to
//! turn input indices into file lines (skipped blank lines, a header), and a resumed run to
//! turn its job's indices into input indices (skipped inputs).

use std::sync::Mutex;

/// A monotone index map made of runs: `record(at, total)` says that from index `at` on, `total`
/// has to be added. It maps input indices to file lines (skipped blank lines) and a resumed
/// job's indices to input indices (skipped inputs), in memory proportional to the runs.
#[derive(Debug, Default)]
pub struct IndexShift {
    /// `(first index of a run, shift from there on)`, by index.
    runs: Mutex<Vec<(u64, u64)>>,
}

impl IndexShift {
    /// From index `at` on, the shift is `total` (`at` never decreases between calls).
    pub fn record(&self, at: u64, total: u64) {
        let mut runs = self.runs.lock().unwrap_or_else(|p| p.into_inner());
        match runs.last_mut() {
            Some(last) if last.0 == at => last.1 = total,
            _ => runs.push((at, total)),
        }
    }

    /// `index` plus its shift.
    pub fn apply(&self, index: u64) -> u64 {
        let runs = self.runs.lock().unwrap_or_else(|p| p.into_inner());
        let at = runs.partition_point(|(i, _)| *i <= index);
        index + if at == 0 { 0 } else { runs[at - 1].1 }
    }
}
