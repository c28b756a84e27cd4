//! What a sandbox's `Store` holds: the WASI context (no files, no environment, no network,
//! output into the capture) and the memory limiter.

use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::limiter::MemoryLimiter;
use super::output::OutputCapture;

/// The host state of one store.
pub struct SandboxState {
    /// WASI for components (p2) and core modules (p1) alike.
    pub wasi: WasiP1Ctx,
    /// Enforces the memory limit and remembers a refused growth.
    pub limiter: MemoryLimiter,
}

impl SandboxState {
    /// A state granting nothing: no preopened directories, no environment, no arguments, no
    /// sockets, empty stdin; stdout and stderr go to `output`.
    pub fn new(memory_limit: u64, output: &OutputCapture) -> SandboxState {
        let mut builder = WasiCtx::builder();
        builder
            .stdout(output.clone())
            .stderr(output.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        SandboxState {
            wasi: builder.build_p1(),
            limiter: MemoryLimiter::new(memory_limit),
        }
    }
}

impl WasiView for SandboxState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        self.wasi.ctx()
    }
}
