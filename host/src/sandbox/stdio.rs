//! A short path for a component's stdout and stderr. wasi-libc turns every `write` into three
//! calls (`check-write`, `write`, `blocking-flush`), and Rust's unbuffered stderr makes several
//! writes per `eprintln!`; wasmtime-wasi serves each through its generic stream table, with a
//! copy of the bytes and a trip into tokio for the flush. The streams this sandbox hands out as
//! stdout and stderr are always its [`OutputCapture`]s, never blocking and never failing, so
//! here those calls go straight to the capture: the bytes are appended from the guest's memory
//! and the flush is nothing. Every other output stream (a file, a socket, an HTTP body) still
//! takes wasmtime-wasi's path. The definitions shadow wasmtime-wasi's own in the linker.

use wasmtime::StoreContextMut;
use wasmtime::component::{Linker, Resource, ResourceType, WasmList};
use wasmtime_wasi::WasiView;
use wasmtime_wasi::p2::bindings::sync::io::streams::{
    self, Host as _, HostOutputStream as Generic, OutputStream,
};

use super::output::OutputCapture;
use super::state::SandboxState;

/// The WASI 0.2 version wasmtime-wasi 48 defines (a guest importing any 0.2.x links to it).
const STREAMS: &str = "wasi:io/streams@0.2.12";
/// The stdout interface, same version.
const STDOUT: &str = "wasi:cli/stdout@0.2.12";
/// The stderr interface, same version.
const STDERR: &str = "wasi:cli/stderr@0.2.12";

/// The captures behind a sandbox's stdout and stderr, and which handles in its resource table
/// are them.
#[derive(Debug, Clone)]
pub struct StdStreams {
    stdout: OutputCapture,
    stderr: OutputCapture,
    /// Table handles (reps) handed out by `get-stdout` / `get-stderr` and not dropped yet,
    /// with the capture each one is. A guest asks once or twice, so a short list.
    open: Vec<(u32, OutputCapture)>,
}

impl StdStreams {
    /// The streams of a sandbox whose stdout and stderr go to these captures.
    pub fn new(stdout: &OutputCapture, stderr: &OutputCapture) -> StdStreams {
        StdStreams {
            stdout: stdout.clone(),
            stderr: stderr.clone(),
            open: Vec::new(),
        }
    }

    /// The capture a stream handle is, when it is a stdout or stderr handed out here.
    fn capture(&self, rep: u32) -> Option<&OutputCapture> {
        self.open
            .iter()
            .find_map(|(open, capture)| (*open == rep).then_some(capture))
    }
}

/// Shadows wasmtime-wasi's `get-stdout`, `get-stderr`, the output stream's destructor and its
/// writing methods with ones that serve this sandbox's captures directly (and pass every other
/// stream to wasmtime-wasi's own code). Call after `wasmtime_wasi::p2::add_to_linker_sync`.
///
/// # Errors
/// wasmtime's error if a definition cannot be added (a bug: a name or type that does not match
/// wasmtime-wasi's).
pub fn add_to_linker(linker: &mut Linker<SandboxState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let added = define(linker);
    linker.allow_shadowing(false);
    added
}

fn define(linker: &mut Linker<SandboxState>) -> wasmtime::Result<()> {
    linker
        .instance(STDOUT)?
        .func_wrap("get-stdout", |store, (): ()| open(store, false))?;
    linker
        .instance(STDERR)?
        .func_wrap("get-stderr", |store, (): ()| open(store, true))?;

    let mut streams = linker.instance(STREAMS)?;
    streams.resource(
        "output-stream",
        ResourceType::host::<OutputStream>(),
        |mut store, rep| {
            let state = store.data_mut();
            state.stdio.open.retain(|(open, _)| *open != rep);
            Generic::drop(state.ctx().table, Resource::new_own(rep))
        },
    )?;
    streams.func_wrap(
        "[method]output-stream.check-write",
        |mut store: StoreContextMut<'_, SandboxState>, (this,): (Resource<OutputStream>,)| {
            let state = store.data_mut();
            if let Some(capture) = state.stdio.capture(this.rep()) {
                return Ok((Ok(capture.room()),));
            }
            let table = state.ctx().table;
            let result = Generic::check_write(table, this);
            Ok((settle(table, result)?,))
        },
    )?;
    streams.func_wrap(
        "[method]output-stream.write",
        |store: StoreContextMut<'_, SandboxState>,
         (this, bytes): (Resource<OutputStream>, WasmList<u8>)| {
            write(store, this, &bytes, false)
        },
    )?;
    streams.func_wrap(
        "[method]output-stream.blocking-write-and-flush",
        |store: StoreContextMut<'_, SandboxState>,
         (this, bytes): (Resource<OutputStream>, WasmList<u8>)| {
            write(store, this, &bytes, true)
        },
    )?;
    streams.func_wrap(
        "[method]output-stream.blocking-flush",
        |mut store: StoreContextMut<'_, SandboxState>, (this,): (Resource<OutputStream>,)| {
            let state = store.data_mut();
            if state.stdio.capture(this.rep()).is_some() {
                return Ok((Ok(()),));
            }
            let table = state.ctx().table;
            let result = Generic::blocking_flush(table, this);
            Ok((settle(table, result)?,))
        },
    )?;
    Ok(())
}

/// `get-stdout` / `get-stderr`: a new handle on the capture, remembered as one.
fn open(
    mut store: StoreContextMut<'_, SandboxState>,
    stderr: bool,
) -> wasmtime::Result<(Resource<OutputStream>,)> {
    let state = store.data_mut();
    let capture = if stderr {
        state.stdio.stderr.clone()
    } else {
        state.stdio.stdout.clone()
    };
    let stream: OutputStream = Box::new(capture.clone());
    let handle = state.ctx().table.push(stream)?;
    state.stdio.open.push((handle.rep(), capture));
    Ok((handle,))
}

/// `write` and `blocking-write-and-flush`: a capture takes the bytes straight from the guest's
/// memory; any other stream gets a copy through wasmtime-wasi.
fn write(
    mut store: StoreContextMut<'_, SandboxState>,
    this: Resource<OutputStream>,
    bytes: &WasmList<u8>,
    flush: bool,
) -> wasmtime::Result<(Result<(), streams::StreamError>,)> {
    if let Some(capture) = store.data().stdio.capture(this.rep()) {
        capture.append(bytes.as_le_slice(&store));
        return Ok((Ok(()),));
    }
    let copy = bytes.as_le_slice(&store).to_vec();
    let table = store.data_mut().ctx().table;
    let result = if flush {
        Generic::blocking_write_and_flush(table, this, copy)
    } else {
        Generic::write(table, this, copy)
    };
    Ok((settle(table, result)?,))
}

/// A stream call's result as the guest sees it: a stream error becomes the WIT `stream-error`
/// (or a trap, when wasmtime-wasi says it is one).
fn settle<T>(
    table: &mut wasmtime::component::ResourceTable,
    result: wasmtime_wasi::p2::StreamResult<T>,
) -> wasmtime::Result<Result<T, streams::StreamError>> {
    match result {
        Ok(value) => Ok(Ok(value)),
        Err(error) => Ok(Err(table.convert_stream_error(error)?)),
    }
}
