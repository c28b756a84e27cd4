//! `square(x: i64) -> i64` as a plain core WebAssembly module: no component model, no WASI, no
//! wit-bindgen. Shows how the host treats a module that is not a component.

/// Returns `x * x`, wrapping on overflow.
// SAFETY: `no_mangle` is unsafe because the symbol could clash with another one of the same
// name; `square` is the only symbol of that name in this module.
#[unsafe(no_mangle)]
pub extern "C" fn square(x: i64) -> i64 {
    x.wrapping_mul(x)
}
