//! The one `Engine` configuration. The host compiles with it and every worker loads with it,
//! so both sides must build it from the same [`EngineSettings`].

use serde::{Deserialize, Serialize};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig};

use crate::limits::Limits;

/// The settings that change compiled code; host and workers must agree on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineSettings {
    /// Instrument code to count fuel (only when a fuel budget is set: it costs ~5-10%).
    pub fuel: bool,
    /// Initialise a new instance's memory by copying the data segments instead of mapping
    /// the module's memory image copy-on-write. For a new instance per task (`--fresh`) with
    /// the small data segments tasks have, copying into pages that stay mapped beats the
    /// page faults of a fresh copy-on-write mapping (measured: 100 000 `square` tasks in
    /// 0.47 s instead of 0.58 s); an instance kept for many tasks keeps the shared image.
    pub copy_init: bool,
}

impl EngineSettings {
    /// The settings a pool with the given limits needs, keeping instances between tasks.
    pub fn for_limits(limits: &Limits) -> EngineSettings {
        EngineSettings::for_pool(limits, false)
    }

    /// The settings a pool with the given limits needs; `fresh` when it makes a new instance
    /// for every task.
    pub fn for_pool(limits: &Limits, fresh: bool) -> EngineSettings {
        EngineSettings {
            fuel: limits.fuel.is_some(),
            copy_init: fresh,
        }
    }
}

/// Builds the engine. Epoch interruption is always compiled in (it is nearly free), so a
/// timeout never needs a different artifact.
///
/// # Errors
/// wasmtime's error if the configuration is refused (it should not be on supported hosts).
pub fn build(settings: EngineSettings) -> wasmtime::Result<Engine> {
    Engine::new(&config(settings))
}

/// The engine of a worker process: [`build`]'s, plus wasmtime's pooling instance allocator, so
/// a new instance (every task with `--fresh`, or after a failure) takes a slot reserved at
/// start-up, whose memory is reset between instances, instead of mapping and unmapping fresh
/// memory each time. A worker runs one instance at a time (the old one is
/// dropped before the next is made), so a handful of slots is plenty; each memory slot
/// reserves address space only. The allocation strategy is not part of the compiled code: a
/// worker loads what the host compiled with [`build`].
///
/// # Errors
/// As [`build`].
pub fn build_for_worker(settings: EngineSettings) -> wasmtime::Result<Engine> {
    let mut pooling = PoolingAllocationConfig::new();
    pooling
        // Instances alive at once: the running one, and a replacement being made.
        .total_component_instances(WORKER_INSTANCE_SLOTS)
        // A wasm32-wasip2 component holds a few core instances (the program, the WASI adapter
        // and its shims); leave room for much larger compositions. Slots only reserve address
        // space until used.
        .total_core_instances(WORKER_INSTANCE_SLOTS * 128)
        .total_memories(WORKER_INSTANCE_SLOTS * 16)
        .total_tables(WORKER_INSTANCE_SLOTS * 128)
        // No async, so no fiber stacks: the default 1000 each cost a guard-page mprotect when
        // the worker starts (a third of a small job's start-up, measured).
        .total_stacks(0)
        .max_memories_per_module(4)
        .max_tables_per_module(8)
        // No memory is kept resident between instances: a slot's pages are given back and
        // fault in again when used. Keeping some resident was measured slower for `--fresh`
        // with square (1 MiB: 2.4x slower, as wasmtime then resets it by hand; 64 KiB: no gain).
        .linear_memory_keep_resident(0);
    let mut config = config(settings);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
    Engine::new(&config)
}

/// Instance slots of a worker's pooling allocator.
const WORKER_INSTANCE_SLOTS: u32 = 2;

fn config(settings: EngineSettings) -> Config {
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .consume_fuel(settings.fuel)
        .cranelift_opt_level(OptLevel::Speed)
        // Synchronous calls only: async task tracking triples the cost of a call.
        .concurrency_support(false);
    if settings.copy_init {
        config.memory_init_cow(false);
    }
    config
}
