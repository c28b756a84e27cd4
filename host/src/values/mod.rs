//! The value mapping between JSON and WIT: inputs arrive as JSON text and become typed
//! component values checked against the function's real signature ([`from_json`]); results go
//! back as JSON text ([`to_json`]); types print in WIT syntax for messages ([`wit_type`]).
//!
//! Core modules use the same path: their `i32`/`i64`/`f32`/`f64` are `s32`/`s64`/`f32`/`f64`.

pub mod from_json;
#[cfg(test)]
mod fuzz;
pub mod to_json;
pub mod wit_type;

pub use from_json::{BadInput, params_from_json, single_integer};
pub use to_json::results_to_json;
pub use wit_type::{signature, type_name};
