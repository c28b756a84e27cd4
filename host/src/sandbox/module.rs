//! A compiled task module mapped into an engine: the host maps the artifact it just compiled
//! (to list exports and check imports), a worker maps the artifact its host names in the
//! setup. Mapping means trusting the file to be wasmtime's own output, hence `unsafe`.

use std::path::Path;

use wasmtime::Engine;

use crate::vocab::ModuleKind;

/// A compiled module in memory.
pub(crate) enum Loaded {
    /// A component.
    Component(wasmtime::component::Component),
    /// A core module.
    Core(wasmtime::Module),
}

/// Maps a precompiled artifact of kind `kind` from `path`.
///
/// # Safety
/// Executable code is mapped from the file as it is: it must be wasmtime's own compiled output
/// (`Engine::precompile_component` / `precompile_module`), written by this program and not
/// replaceable by anyone who could not already run code as this user. wasmtime checks the
/// header, version and configuration, not the code.
///
/// # Errors
/// wasmtime's error if the file is not an artifact of this engine's configuration.
pub(crate) unsafe fn load(
    engine: &Engine,
    kind: ModuleKind,
    path: &Path,
) -> wasmtime::Result<Loaded> {
    // SAFETY: the caller promises the file is this program's own compiled output (see above),
    // which is what `deserialize_file` requires.
    unsafe {
        Ok(match kind {
            ModuleKind::Component => Loaded::Component(
                wasmtime::component::Component::deserialize_file(engine, path)?,
            ),
            ModuleKind::Core => Loaded::Core(wasmtime::Module::deserialize_file(engine, path)?),
        })
    }
}
