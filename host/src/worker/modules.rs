//! The modules of a worker process and the instances it keeps alive. A pool of one module has
//! one [`Sandbox`]; a pool of plugins has one per plugin, all on the process's one engine. An
//! instance is made on a module's first task and kept for the next ones, within a bound: at
//! most the setup's `kept_instances` at once, whose memories together stay within the largest
//! memory limit of the modules; past either, the instance used least recently is dropped (its
//! module makes a new one, and runs `init` again, when it is next called).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use crate::sandbox::Sandbox;
use crate::sandbox::cancel::Cancels;
use crate::sandbox::host_calls::HostLine;
use crate::vocab::Setup;

/// Every module of the process, by number, and which of them hold an instance.
pub(crate) struct Modules {
    sandboxes: Vec<Option<Sandbox>>,
    /// Modules whose sandbox may hold an instance, least recently used first.
    recent: VecDeque<u32>,
    /// The most instances kept at once.
    kept: usize,
    /// The most bytes of memory the kept instances may hold together (the largest memory
    /// limit of the modules).
    memory_budget: u64,
}

impl Modules {
    /// Loads every module of `setup` on `engine`.
    ///
    /// # Errors
    /// A message naming the module that could not be loaded, and why.
    pub(crate) fn load(
        setup: &Setup,
        engine: &wasmtime::Engine,
        tick: Duration,
        line: Option<&Arc<HostLine>>,
        cancels: &Arc<Cancels>,
    ) -> Result<Modules, String> {
        let several = setup.modules.len() > 1;
        let mut sandboxes = Vec::with_capacity(setup.modules.len());
        for slot in &setup.modules {
            let Some(module) = slot else {
                sandboxes.push(None);
                continue;
            };
            let sandbox = Sandbox::new(
                engine,
                module,
                &setup.grants,
                tick,
                line.cloned(),
                Arc::clone(cancels),
            )
            .map_err(|e| {
                if several {
                    format!("{}: {e}", module.artifact.display())
                } else {
                    e
                }
            })?;
            sandboxes.push(Some(sandbox));
        }
        let memory_budget = setup
            .present()
            .map(|(_, m)| m.limits.memory)
            .max()
            .unwrap_or(0);
        Ok(Modules {
            sandboxes,
            recent: VecDeque::new(),
            kept: (setup.kept_instances as usize).max(1),
            memory_budget,
        })
    }

    /// The sandbox of module `number`, ready for a batch: when it has no instance and the
    /// bound is reached, the least recently used instance of another module is dropped first,
    /// so the new one has a slot. `None` when the process has no such module.
    pub(crate) fn prepare(&mut self, number: u32) -> Option<&mut Sandbox> {
        if self.sandboxes.len() > 1 {
            self.recent.retain(|&m| {
                self.sandboxes[m as usize]
                    .as_ref()
                    .is_some_and(Sandbox::has_instance)
            });
            let cold = !self.sandbox(number)?.has_instance();
            while cold && self.recent.len() >= self.kept {
                let Some(oldest) = self.recent.pop_front() else {
                    break;
                };
                if let Some(sandbox) = self.sandboxes[oldest as usize].as_mut() {
                    sandbox.drop_instance();
                }
            }
        }
        self.sandboxes.get_mut(number as usize)?.as_mut()
    }

    /// Module `number` ran a batch: it is now the most recently used, and instances of others
    /// are dropped, least recently used first, while the kept memories pass the budget.
    pub(crate) fn ran(&mut self, number: u32) {
        if self.sandboxes.len() <= 1 {
            return;
        }
        self.recent.retain(|&m| m != number);
        if self.sandbox(number).is_some_and(Sandbox::has_instance) {
            self.recent.push_back(number);
        }
        let held = |modules: &Modules| -> u64 {
            modules
                .recent
                .iter()
                .filter_map(|&m| modules.sandboxes[m as usize].as_ref())
                .map(Sandbox::instance_bytes)
                .sum()
        };
        while self.recent.len() > 1 && held(self) > self.memory_budget {
            let Some(oldest) = self.recent.pop_front() else {
                break;
            };
            if let Some(sandbox) = self.sandboxes[oldest as usize].as_mut() {
                sandbox.drop_instance();
            }
        }
    }

    fn sandbox(&self, number: u32) -> Option<&Sandbox> {
        self.sandboxes.get(number as usize)?.as_ref()
    }
}
