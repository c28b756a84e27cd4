//! Task modules on the host side: reading a `.wasm` file, compiling it once into a cached
//! artifact ([`artifact`]) through Cranelift's cache of compiled functions
//! ([`function_cache`]), checking it ([`loaded`]), choosing how its instances' memory is
//! initialised ([`memory_init`]) and the function to call ([`choose`]). Workers load the
//! artifact the host wrote; they never compile.

pub mod artifact;
pub mod choose;
pub mod function_cache;
pub mod loaded;
pub mod memory_init;

pub use crate::sandbox::exports::ExportedFunction;
pub use loaded::{Task, TaskSource};
