//! What a sandbox's `Store` holds: the WASI context (no files, environment or network beyond
//! the grants, output into the capture) and the memory limiter.

use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::MemoryInputPipe;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxView, WasiView};

use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::host_calls::CallScope;
use super::http::HttpPolicy;
use super::limiter::MemoryLimiter;
use super::output::OutputCapture;
use super::stdio::StdStreams;
use crate::vocab::{Grants, Invocation};

/// The host state of one store.
pub struct SandboxState {
    /// WASI for components (p2) and core modules (p1) alike.
    pub wasi: WasiP1Ctx,
    /// Enforces the memory limit and remembers a refused growth.
    pub limiter: MemoryLimiter,
    /// wasi:http settings.
    pub http: WasiHttpCtx,
    /// The outgoing-HTTP allow-list.
    pub http_policy: HttpPolicy,
    /// The task running, for host calls its guest makes.
    pub call: CallScope,
    /// Which stream handles are the guest's stdout and stderr (components only).
    pub stdio: StdStreams,
}

impl SandboxState {
    /// A state granting only `grants`: no other directories, no other environment, no
    /// arguments, no sockets, empty stdin; stdout and stderr go to `output`.
    ///
    /// # Errors
    /// When a granted directory cannot be opened.
    pub fn new(
        memory_limit: u64,
        output: &OutputCapture,
        grants: &Grants,
    ) -> wasmtime::Result<SandboxState> {
        SandboxState::build(memory_limit, output, output, grants, None)
    }

    /// A state for one run of a program: as [`new`](Self::new), but with the program's
    /// arguments and standard input, and its stdout and stderr kept apart.
    ///
    /// # Errors
    /// When a granted directory cannot be opened.
    pub fn for_program(
        memory_limit: u64,
        stdout: &OutputCapture,
        stderr: &OutputCapture,
        grants: &Grants,
        run: &Invocation,
    ) -> wasmtime::Result<SandboxState> {
        SandboxState::build(memory_limit, stdout, stderr, grants, Some(run))
    }

    fn build(
        memory_limit: u64,
        stdout: &OutputCapture,
        stderr: &OutputCapture,
        grants: &Grants,
        run: Option<&Invocation>,
    ) -> wasmtime::Result<SandboxState> {
        let mut builder = WasiCtx::builder();
        if let Some(run) = run {
            builder
                .args(&run.argv)
                .stdin(MemoryInputPipe::new(run.stdin.clone()));
        }
        builder
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        for (name, value) in &grants.env {
            builder.env(name, value);
        }
        for dir in &grants.dirs {
            let perms = if dir.read_only {
                FsPerms::ReadOnly
            } else {
                FsPerms::ReadWrite
            };
            builder.preopened_dir(&dir.host, &dir.guest, perms)?;
        }
        Ok(SandboxState {
            wasi: builder.build_p1(),
            limiter: MemoryLimiter::new(memory_limit),
            http: WasiHttpCtx::new(),
            http_policy: HttpPolicy::new(grants.http.clone()),
            call: CallScope::default(),
            stdio: StdStreams::new(stdout, stderr),
        })
    }
}

impl WasiHttpView for SandboxState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            hooks: &mut self.http_policy,
            table: self.wasi.ctx().table,
            ctx: &mut self.http,
        }
    }
}

impl WasiView for SandboxState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        self.wasi.ctx()
    }
}
