//! What a task module is and where its functions are: [`ModuleKind`] (component or core
//! module) and [`FunctionPath`] (`square`, or `interface#name` inside an exported interface).

use std::fmt;

use serde::{Deserialize, Serialize};

/// Whether a task module is a component (WIT types) or a core module (numbers only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ModuleKind {
    /// A Wasm component (e.g. `cargo build --target wasm32-wasip2`).
    Component,
    /// A core Wasm module (e.g. a `wasm32-unknown-unknown` cdylib).
    Core,
}

impl fmt::Display for ModuleKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ModuleKind::Component => "component",
            ModuleKind::Core => "core module",
        })
    }
}

/// Where an exported function lives: top level (`square`) or inside an exported interface
/// (`mpwasm:tasks/types#echo-u8`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FunctionPath {
    /// The exported interface (instance) holding the function, if any.
    pub interface: Option<String>,
    /// The function's name.
    pub name: String,
}

impl FunctionPath {
    /// Parses `interface#func` or `func`.
    pub fn parse(text: &str) -> FunctionPath {
        match text.rsplit_once('#') {
            Some((interface, name)) => FunctionPath {
                interface: Some(interface.to_string()),
                name: name.to_string(),
            },
            None => FunctionPath {
                interface: None,
                name: text.to_string(),
            },
        }
    }
}

impl fmt::Display for FunctionPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.interface {
            Some(interface) => write!(f, "{interface}#{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}
