//! The one `Engine` configuration. The host compiles with it and every worker loads with it,
//! so both sides must build it from the same [`EngineSettings`].

use serde::{Deserialize, Serialize};
use std::sync::Arc;

use wasmtime::{
    CacheStore, Config, Engine, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig,
};

use crate::limits::Limits;

/// The settings of a pool that change compiled code; host and workers must agree on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineSettings {
    /// Instrument code to count fuel (only when a fuel budget is set: it costs ~5-10%).
    pub fuel: bool,
}

impl EngineSettings {
    /// The settings a pool with the given limits needs. Whether it keeps instances or makes a
    /// new one per task (`--fresh`) does not matter: one artifact serves both.
    pub fn for_limits(limits: &Limits) -> EngineSettings {
        EngineSettings {
            fuel: limits.fuel.is_some(),
        }
    }
}

/// How a new instance's linear memory gets the module's data: a property of the module,
/// chosen when it is loaded ([`crate::task::Task::memory_init`]) from how much data it
/// initialises, never of the pool's instance mode, so kept and fresh instances share one
/// compiled artifact. It changes compiled code (wasmtime builds the copy-on-write image
/// into the artifact), so the host and its workers build their engines with the same one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MemoryInit {
    /// Map the module's memory image copy-on-write: a new instance costs the pages it
    /// touches, whatever the image's size. wasmtime's default.
    CopyOnWrite,
    /// Copy the data segments into pages that stay mapped: cheaper for a module with only a
    /// few KiB of data, whose fresh copy-on-write mapping costs more in page faults than the
    /// copy does.
    Copy,
}

/// Builds the engine. Epoch interruption is always compiled in (it is nearly free), so a
/// timeout never needs a different artifact.
///
/// # Errors
/// wasmtime's error if the configuration is refused (it should not be on supported hosts).
pub fn build(settings: EngineSettings, init: MemoryInit) -> wasmtime::Result<Engine> {
    Engine::new(&config(settings, init))
}

/// [`build`]'s engine, compiling through Cranelift's incremental cache `functions` (a
/// function found there is not compiled again). The cache does not change compiled code.
///
/// # Errors
/// As [`build`].
pub fn build_caching(
    settings: EngineSettings,
    init: MemoryInit,
    functions: Arc<dyn CacheStore>,
) -> wasmtime::Result<Engine> {
    let mut config = config(settings, init);
    config.enable_incremental_compilation(functions)?;
    Engine::new(&config)
}

/// The engine of a worker process: [`build`]'s, plus wasmtime's pooling instance allocator, so
/// a new instance (every task with `--fresh`, or after a failure) takes a slot reserved at
/// start-up, whose memory is reset between instances, instead of mapping and unmapping fresh
/// memory each time. A worker keeps at most `kept` instances alive (one per module, of the
/// modules it ran last) and makes one more at a time, so `kept + 1` slots are plenty; each
/// memory slot reserves address space only. The allocation strategy is not part of the
/// compiled code: a worker loads what the host compiled with [`build`].
///
/// # Errors
/// As [`build`].
pub fn build_for_worker(
    settings: EngineSettings,
    init: MemoryInit,
    kept: u32,
) -> wasmtime::Result<Engine> {
    // Instances alive at once: the kept ones, and a replacement being made.
    let slots = kept.max(1) + 1;
    let mut pooling = PoolingAllocationConfig::new();
    pooling
        .total_component_instances(slots)
        // A wasm32-wasip2 component holds a few core instances (the program, the WASI adapter
        // and its shims); leave room for much larger compositions. Slots only reserve address
        // space until used.
        .total_core_instances(slots * 128)
        // Components rarely hold more than a couple of memories each (at most 4, below).
        .total_memories((slots * 4).max(32))
        .total_tables(slots * 128)
        // No async, so no fiber stacks: the default 1000 each cost a guard-page mprotect when
        // the worker starts (a third of a small job's start-up, measured).
        .total_stacks(0)
        .max_memories_per_module(4)
        .max_tables_per_module(8)
        // A GC heap per store only for modules with GC objects (exceptions thrown with
        // exception handling): a slot per instance, not wasmtime's default 1000.
        .total_gc_heaps(slots * 2)
        // No memory is kept resident between instances: a slot's pages are given back and
        // fault in again when used. Keeping some resident was measured slower for `--fresh`
        // with square (1 MiB: 2.4x slower, as wasmtime then resets it by hand; 64 KiB: no gain).
        .linear_memory_keep_resident(0);
    let mut config = config(settings, init);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
    Engine::new(&config)
}

fn config(settings: EngineSettings, init: MemoryInit) -> Config {
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .consume_fuel(settings.fuel)
        .cranelift_opt_level(OptLevel::Speed)
        // Synchronous calls only: async task tracking triples the cost of a call.
        .concurrency_support(false);
    if init == MemoryInit::Copy {
        config.memory_init_cow(false);
    }
    config
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::{Instance, Module, Store};

    /// A module using wasm exception handling (as a test binary built with panic=unwind does):
    /// it throws a tag carrying 42 and catches it.
    const THROWS_AND_CATCHES: &str = r#"
        (module
          (tag $e (param i32))
          (func (export "run") (result i32)
            (block $caught (result i32)
              (try_table (catch $e $caught)
                (throw $e (i32.const 42)))
              (unreachable))))
    "#;

    #[test]
    fn modules_with_exception_handling_compile_and_run_on_host_and_worker_engines() {
        let settings = EngineSettings { fuel: false };
        let host = build(settings, MemoryInit::CopyOnWrite).expect("the host's engine");
        let worker = build_for_worker(settings, MemoryInit::CopyOnWrite, 1).expect("a worker's");
        let module = Module::new(&host, THROWS_AND_CATCHES).expect("exceptions compile");
        let compiled = module.serialize().expect("serialised");
        // SAFETY: `compiled` was made just above by `Module::serialize` with an engine of the
        // same configuration (only the allocation strategy differs, which is not part of the
        // compiled code), so it is a valid artifact for `worker`.
        let loaded = unsafe { Module::deserialize(&worker, &compiled) }.expect("it loads");
        let mut store = Store::new(&worker, ());
        // (The engines interrupt on epochs; nothing advances them here.)
        store.set_epoch_deadline(1);
        let instance = Instance::new(&mut store, &loaded, &[]).expect("it instantiates");
        let run = instance
            .get_typed_func::<(), i32>(&mut store, "run")
            .expect("run");
        assert_eq!(run.call(&mut store, ()).expect("it returns"), 42);
    }
}
