//! Where a `run` job runs: a local pool of worker processes, or a broker's workers. Both give a
//! submitter for the inputs and the outcomes to print; this file starts either and ends it.

use std::path::Path;
use std::thread::JoinHandle;

use anyhow::Result;
use mpwasm::broker::{BrokerJob, SubmitOptions, submit};
use mpwasm::pool::{Outcomes, Submitter, Terminator};
use mpwasm::{Pool, PoolBuilder, Task};

use crate::cli::output::compiling;
use crate::cli::settings::Target;

/// A started job's runner.
pub enum Running {
    /// A pool on this machine.
    Local(Box<Pool>),
    /// A job on a broker, and the thread printing what workers say of it.
    Broker(BrokerJob, JoinHandle<()>),
}

impl Running {
    /// Starts `task` on `target` with `pool`'s settings, results in input order when
    /// `ordered`; `total` is how many inputs there will be, when known (a broker shows the
    /// job's progress against it); `check` looks at the loaded module first.
    ///
    /// # Errors
    /// When the module cannot be loaded, has no such function, or the broker refuses the job.
    pub fn start(
        target: &Target,
        task: &Path,
        pool: PoolBuilder,
        ordered: bool,
        total: Option<u64>,
        check: &dyn Fn(&Task) -> Result<()>,
    ) -> Result<(Running, Submitter, Outcomes)> {
        Ok(match target {
            Target::Local => {
                let pool = pool.build_checked(task, check);
                compiling::done();
                let pool = pool?;
                let (submitter, outcomes) = pool.job(ordered);
                (Running::Local(Box::new(pool)), submitter, outcomes)
            }
            Target::Broker { url, lease } => {
                let loaded = pool.load(task);
                compiling::done();
                check(&loaded?)?;
                let options = SubmitOptions {
                    ordered,
                    lease: *lease,
                    total,
                    ..SubmitOptions::default()
                };
                let (job, submitter, outcomes) = submit(url, task, pool, options)?;
                let notes = job.notes();
                let printer = std::thread::spawn(move || {
                    for note in notes {
                        eprintln!("mpwasm: {note}");
                    }
                });
                (Running::Broker(job, printer), submitter, outcomes)
            }
        })
    }

    /// Whether every task runs the module as a WASI program.
    pub fn is_program(&self) -> bool {
        match self {
            Running::Local(pool) => pool.is_program(),
            Running::Broker(job, _) => job.is_program(),
        }
    }

    /// Whether the job's tasks may add inputs to it (the module imports `work`): their
    /// indices then interleave with the inputs read.
    pub fn grows(&self) -> bool {
        match self {
            Running::Local(pool) => mpwasm::shared::adds_inputs(pool.task().imports()),
            Running::Broker(..) => false,
        }
    }

    /// A handle that stops the job from another thread.
    pub fn terminator(&self) -> Terminator {
        match self {
            Running::Local(pool) => pool.terminator(),
            Running::Broker(job, _) => job.terminator(),
        }
    }

    /// Ends the job: a local pool's workers stop; a broker job's keys are deleted and the
    /// workers' last notes printed.
    pub fn finish(self) {
        match self {
            Running::Local(pool) => drop(pool),
            Running::Broker(job, printer) => {
                drop(job);
                let _ = printer.join();
            }
        }
    }
}
