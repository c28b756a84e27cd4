//! The imports a task may use: WASI 0.2 (with wasi:http, and stdout and stderr on a short path)
//! for components, WASI preview 1 for core modules, nothing else. The host checks a module
//! against these linkers before any worker starts.

use wasmtime::Engine;

use super::state::SandboxState;

/// The linker for components: WASI 0.2 and wasi:http (synchronous).
///
/// # Errors
/// wasmtime's error if the WASI definitions cannot be added (a bug).
pub fn component(engine: &Engine) -> wasmtime::Result<wasmtime::component::Linker<SandboxState>> {
    let mut linker = wasmtime::component::Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    super::stdio::add_to_linker(&mut linker)?;
    // Always linked, so a module using HTTP loads; requests pass only the allow-list.
    wasmtime_wasi_http::p2::add_only_http_to_linker_sync(&mut linker)?;
    Ok(linker)
}

/// The linker for core modules: WASI preview 1.
///
/// # Errors
/// wasmtime's error if the WASI definitions cannot be added (a bug).
pub fn core(engine: &Engine) -> wasmtime::Result<wasmtime::Linker<SandboxState>> {
    let mut linker = wasmtime::Linker::new(engine);
    wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |state: &mut SandboxState| &mut state.wasi)?;
    Ok(linker)
}
