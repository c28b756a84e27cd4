//! The one `Engine` configuration. The host compiles with it and every worker loads with it,
//! so both sides must build it from the same [`EngineSettings`].

use serde::{Deserialize, Serialize};
use wasmtime::{Config, Engine, OptLevel};

use crate::limits::Limits;

/// The settings that change compiled code; host and workers must agree on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineSettings {
    /// Instrument code to count fuel (only when a fuel budget is set: it costs ~5-10%).
    pub fuel: bool,
}

impl EngineSettings {
    /// The settings the given limits need.
    pub fn for_limits(limits: &Limits) -> EngineSettings {
        EngineSettings {
            fuel: limits.fuel.is_some(),
        }
    }
}

/// Builds the engine. Epoch interruption is always compiled in (it is nearly free), so a
/// timeout never needs a different artifact.
///
/// # Errors
/// wasmtime's error if the configuration is refused (it should not be on supported hosts).
pub fn build(settings: EngineSettings) -> wasmtime::Result<Engine> {
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .consume_fuel(settings.fuel)
        .cranelift_opt_level(OptLevel::Speed)
        // Synchronous calls only: async task tracking triples the cost of a call.
        .concurrency_support(false);
    Engine::new(&config)
}
