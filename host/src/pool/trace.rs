//! Plugin output into `tracing`: with [`PoolBuilder::output_to_tracing`](super::PoolBuilder::output_to_tracing),
//! each line a task wrote to stdout or stderr becomes one event of target `mpwasm::plugin`
//! (fields `plugin`, `export`, `task`, `worker`), so an application's own subscriber shows
//! its plugins' logs. The captured bytes stay in the outcome as well.

use super::outcome::TaskOutcome;

/// The target every plugin-output event has.
pub const TARGET: &str = "mpwasm::plugin";

/// Where a job's output events come from: the plugin and the export its tasks call.
#[derive(Debug)]
pub(crate) struct OutputTrace {
    /// The plugin's name.
    pub(crate) plugin: String,
    /// The export (`name` or `interface#name`).
    pub(crate) export: String,
}

impl OutputTrace {
    /// Sends each line of `outcome`'s captured output as an event, and says how much was
    /// dropped past the output cap.
    pub(crate) fn emit(&self, outcome: &TaskOutcome) {
        let output = &outcome.output;
        if output.bytes.is_empty() && output.dropped == 0 {
            return;
        }
        let task = outcome.index.0;
        // Recorded only when known (an outcome answered without a worker has no pid).
        let worker = outcome.worker_pid;
        let text = String::from_utf8_lossy(&output.bytes);
        for line in text.lines() {
            tracing::info!(
                target: TARGET,
                plugin = %self.plugin,
                export = %self.export,
                task,
                worker,
                "{line}"
            );
        }
        if output.dropped > 0 {
            tracing::warn!(
                target: TARGET,
                plugin = %self.plugin,
                export = %self.export,
                task,
                worker,
                "{} more bytes of output were dropped past the output limit",
                output.dropped
            );
        }
    }
}
