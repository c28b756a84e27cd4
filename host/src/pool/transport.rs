//! The one seam between scheduling and workers. The dispatcher asks a [`Transport`] for a
//! worker and talks to it through a [`WorkerLink`]; what comes back arrives as
//! [`WorkerReport`]s. [`ProcessTransport`] runs workers as local OS processes (the `mpwasm`
//! binary re-executed as `mpwasm __worker`, talking framed postcard over its stdin/stdout);
//! another transport (e.g. a message broker) can replace it without touching scheduling.

use std::collections::VecDeque;
use std::io::{BufReader, BufWriter, Read, Write};
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::process::{Child, ChildStderr, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Sender, unbounded};

use super::events::{WorkerEvent, WorkerReport};
use super::inbox::Reports;
use crate::error::Error;
use crate::ids::WorkerId;
use crate::sync::lock;
use crate::vocab::Setup;
use crate::wire::frame::{encode_frame, read_frame};
use crate::wire::message::{FromWorker, ToWorkerRef};
use crate::worker::WORKER_SUBCOMMAND;

/// Starts workers.
pub trait Transport: Send {
    /// Starts a worker for `slot` and sends it `setup`; its events go to `events`, tagged with
    /// `slot` and `generation`.
    ///
    /// # Errors
    /// [`Error::Spawn`] when no worker can be started.
    fn start(
        &mut self,
        slot: WorkerId,
        generation: u64,
        setup: &Setup,
        events: Reports,
    ) -> Result<Box<dyn WorkerLink>, Error>;
}

/// The dispatcher's handle on one worker.
pub trait WorkerLink: Send {
    /// Queues one encoded frame ([`encode_frame`]) for the worker; never blocks. A failure
    /// shows up as the worker's exit.
    fn send(&mut self, frame: Vec<u8>);
    /// Stops the worker now (its exit is still reported).
    fn kill(&mut self);
}

/// Workers as local OS processes.
pub struct ProcessTransport {
    program: PathBuf,
    /// Workers started before their setup was known (see [`prespawn`](Self::prespawn)).
    warm: Vec<Child>,
}

impl ProcessTransport {
    /// Workers run `program __worker`.
    pub fn new(program: PathBuf) -> ProcessTransport {
        ProcessTransport {
            program,
            warm: Vec::new(),
        }
    }

    /// Starts `n` worker processes now, before their setup is known, so that their start-up
    /// (exec, loading the binary) overlaps the host's loading of the module; each waits for
    /// its setup on stdin. The first [`start`](Transport::start)s use them; any left unused
    /// are stopped when the transport is dropped. A process that cannot be started here is
    /// simply started (and its error reported) by `start`.
    pub fn prespawn(mut self, n: usize) -> ProcessTransport {
        for _ in 0..n {
            match self.command().spawn() {
                Ok(child) => self.warm.push(child),
                Err(_) => break,
            }
        }
        self
    }

    /// `program __worker` with piped stdio, in a process group of its own.
    fn command(&self) -> Command {
        let mut command = Command::new(&self.program);
        #[cfg(unix)]
        {
            // Its own process group: a terminal's Ctrl-C reaches the host, which decides how the
            // workers stop. A worker whose host dies sees its stdin close and exits.
            use std::os::unix::process::CommandExt;
            command.process_group(0);
        }
        command
            .arg(WORKER_SUBCOMMAND)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    /// The worker program to use when none is configured: `$MPWASM_WORKER_PROGRAM`, this
    /// executable if it is `mpwasm`, an `mpwasm` beside it or one directory up (as in a cargo
    /// target directory), else `mpwasm` on the `PATH`.
    pub fn default_program() -> PathBuf {
        if let Some(p) = std::env::var_os("MPWASM_WORKER_PROGRAM").filter(|p| !p.is_empty()) {
            return PathBuf::from(p);
        }
        let exe_name = format!("mpwasm{}", std::env::consts::EXE_SUFFIX);
        if let Ok(exe) = std::env::current_exe() {
            if exe.file_name().is_some_and(|n| n == exe_name.as_str()) {
                return exe;
            }
            for dir in exe.ancestors().skip(1).take(2) {
                let candidate = dir.join(&exe_name);
                if candidate.is_file() {
                    return candidate;
                }
            }
        }
        PathBuf::from(exe_name)
    }
}

impl Transport for ProcessTransport {
    fn start(
        &mut self,
        slot: WorkerId,
        generation: u64,
        setup: &Setup,
        events: Reports,
    ) -> Result<Box<dyn WorkerLink>, Error> {
        let mut child = match self.warm.pop() {
            Some(child) => child,
            None => self.command().spawn().map_err(|cause| Error::Spawn {
                program: self.program.clone(),
                cause,
            })?,
        };
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Error::Spawn {
                program: self.program.clone(),
                cause: std::io::Error::other("the worker's pipes were not set up"),
            });
        };
        let child = Arc::new(Mutex::new(child));
        let (tx, rx) = unbounded::<Vec<u8>>();
        // A pool answering imports: this worker gets a call socket of its own.
        let calls = match events.calls().filter(|_| setup.wants_calls()) {
            Some(route) => Some((CallSocket::bind()?, route.clone())),
            None => None,
        };
        let setup_frame = match &calls {
            None => encode_frame(&ToWorkerRef::Setup(setup)),
            Some((socket, _)) => {
                let mut setup = setup.clone();
                setup.host_socket = Some(socket.path.clone());
                encode_frame(&ToWorkerRef::Setup(&setup))
            }
        }
        .map_err(|e| Error::WorkersFailed(format!("cannot encode the setup: {e}")))?;
        tx.send(setup_frame)
            .map_err(|_| Error::WorkersFailed("worker writer closed".into()))?;
        if let Some((socket, route)) = calls {
            let child = Arc::clone(&child);
            std::thread::spawn(move || {
                if let Some(stream) = socket.accept(&child) {
                    route.serve(stream);
                }
            });
        }

        // Writer: frames to stdin, flushing whenever the queue runs dry.
        std::thread::spawn(move || {
            let mut out = BufWriter::new(stdin);
            while let Ok(frame) = rx.recv() {
                if out.write_all(&frame).is_err() {
                    return;
                }
                if rx.is_empty() && out.flush().is_err() {
                    return;
                }
            }
            // Dropping `out` closes stdin: the worker exits.
        });

        let stderr_tail = spawn_stderr_tail(stderr);
        let reaper = Arc::clone(&child);
        std::thread::spawn(move || {
            let mut input = BufReader::new(stdout);
            let mut buf = Vec::new();
            let send = |event| {
                events.send(WorkerReport {
                    slot,
                    generation,
                    event,
                });
            };
            loop {
                match read_frame::<_, FromWorker>(&mut input, &mut buf) {
                    Ok(Some(msg)) => send(WorkerEvent::Message(msg)),
                    Ok(None) => break,
                    Err(e) => {
                        send(WorkerEvent::Garbled(e.to_string()));
                        break;
                    }
                }
            }
            // Make sure it is gone (it closed stdout or wrote garbage), then reap it.
            let status = {
                let mut child = lock(&reaper);
                let _ = child.kill();
                child.wait()
            };
            // A grandchild may hold stderr open; do not wait for it long.
            let stderr = stderr_tail
                .recv_timeout(std::time::Duration::from_millis(200))
                .unwrap_or_default();
            let (status, killed) = match status {
                Ok(s) => (describe_status(s), killed_by_sigkill(s)),
                Err(e) => (format!("unknown status ({e})"), false),
            };
            send(WorkerEvent::Exited {
                status,
                killed,
                stderr,
            });
        });
        Ok(Box::new(ProcessLink { tx, child }))
    }
}

/// A Unix socket one worker connects to for its host calls, in a directory only this user
/// can enter.
struct CallSocket {
    listener: UnixListener,
    path: PathBuf,
}

/// How long a worker may take to connect to its call socket.
const CONNECT_PATIENCE: Duration = Duration::from_secs(60);

impl CallSocket {
    /// A fresh socket under the temporary directory.
    fn bind() -> Result<CallSocket, Error> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let failed = |what: &str, e: std::io::Error| {
            Error::WorkersFailed(format!(
                "cannot make a call socket for a worker ({what}): {e}"
            ))
        };
        let dir = std::env::temp_dir().join(format!("mpwasm-calls-{}", std::process::id()));
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true).mode(0o700);
        let path = dir.join(format!("{}.sock", NEXT.fetch_add(1, Ordering::Relaxed)));
        let mut tries = 0;
        let listener = loop {
            tries += 1;
            // Another pool's worker may take the last socket and remove the directory at any
            // moment: while creating it (which then fails with `AlreadyExists`, the directory
            // gone before it could be checked) or before this bind (`NotFound`). Try again.
            match builder.create(&dir) {
                Ok(()) => {}
                Err(_) if tries < 5 => continue,
                Err(e) => return Err(failed("directory", e)),
            }
            match UnixListener::bind(&path) {
                Ok(listener) => break listener,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && tries < 5 => {}
                // A leftover of a dead process that had this id: it is nobody's now.
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && tries < 5 => {
                    let _ = std::fs::remove_file(&path);
                }
                Err(e) => return Err(failed("bind", e)),
            }
        };
        listener
            .set_nonblocking(true)
            .map_err(|e| failed("nonblocking", e))?;
        Ok(CallSocket { listener, path })
    }

    /// Waits for the worker `child` to connect (until it exits, or for [`CONNECT_PATIENCE`]),
    /// then removes the socket's name.
    fn accept(self, child: &Mutex<Child>) -> Option<UnixStream> {
        let started = Instant::now();
        let stream = loop {
            match self.listener.accept() {
                Ok((stream, _)) => break Some(stream),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    let exited = lock(child).try_wait().map_or(true, |s| s.is_some());
                    if exited || started.elapsed() > CONNECT_PATIENCE {
                        break None;
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(_) => break None,
            }
        };
        let _ = std::fs::remove_file(&self.path);
        if let Some(dir) = self.path.parent() {
            let _ = std::fs::remove_dir(dir); // the last socket's removes it
        }
        let stream = stream?;
        stream.set_nonblocking(false).ok()?;
        Some(stream)
    }
}

impl Drop for ProcessTransport {
    fn drop(&mut self) {
        // Unused warm workers: closing their stdin would end them, but they must be reaped too.
        for mut child in self.warm.drain(..) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

struct ProcessLink {
    tx: Sender<Vec<u8>>,
    child: Arc<Mutex<Child>>,
}

impl WorkerLink for ProcessLink {
    fn send(&mut self, frame: Vec<u8>) {
        let _ = self.tx.send(frame);
    }

    fn kill(&mut self) {
        let _ = lock(&self.child).kill();
    }
}

/// Keeps the last 4 KiB a worker wrote to stderr, for the message when it dies.
fn spawn_stderr_tail(mut stderr: ChildStderr) -> crossbeam_channel::Receiver<String> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    std::thread::spawn(move || {
        const KEEP: usize = 4096;
        let mut tail: VecDeque<u8> = VecDeque::with_capacity(KEEP);
        let mut chunk = [0u8; 4096];
        while let Ok(n) = stderr.read(&mut chunk) {
            if n == 0 {
                break;
            }
            for &b in &chunk[..n] {
                if tail.len() == KEEP {
                    tail.pop_front();
                }
                tail.push_back(b);
            }
        }
        let bytes: Vec<u8> = tail.into_iter().collect();
        let _ = tx.send(String::from_utf8_lossy(&bytes).trim().to_string());
    });
    rx
}

/// Whether the process ended by SIGKILL.
fn killed_by_sigkill(status: ExitStatus) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        status.signal() == Some(9)
    }
    #[cfg(not(unix))]
    {
        let _ = status;
        false
    }
}

/// `exit status 1` or `killed by signal 9 (SIGKILL)`.
fn describe_status(status: ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            let name = match signal {
                1 => " (SIGHUP)",
                2 => " (SIGINT)",
                6 => " (SIGABRT)",
                9 => " (SIGKILL)",
                11 => " (SIGSEGV)",
                15 => " (SIGTERM)",
                31 => " (SIGSYS: a syscall its seccomp filter forbids)",
                _ => "",
            };
            return format!("killed by signal {signal}{name}");
        }
    }
    match status.code() {
        Some(code) => format!("exit status {code}"),
        None => status.to_string(),
    }
}
