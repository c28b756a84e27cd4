//! Test hooks that prove the second wall holds from *outside* the wasm sandbox: after a worker
//! confined itself (Landlock and seccomp), host code in it tries what a wasmtime escape would,
//! reports the result on stderr and exits, before any guest runs.
//!
//! - `MPWASM_WORKER_SELF_TEST_OPEN=PATH` opens PATH;
//! - `MPWASM_WORKER_SELF_TEST_SYSCALL=NAME` makes one forbidden (or allowed) kind of syscall:
//!   `udp`, `tcp` (to 127.0.0.1:9), `spawn` (a new process), `exec-memory` (a new executable
//!   mapping), `thread` (allowed), or `execve`, `ptrace`, `unshare`, which kill the worker.

/// The exit code of a worker that ran a self-test.
const SELF_TESTED: i32 = 4;

/// Runs the self-test asked for, if any; returns the exit code then.
pub fn run() -> Option<i32> {
    if let Some(path) = std::env::var_os("MPWASM_WORKER_SELF_TEST_OPEN") {
        let verdict = match std::fs::File::open(&path) {
            Ok(_) => "allowed".to_string(),
            Err(e) => format!("refused ({e})"),
        };
        eprintln!(
            "self-test: open {}: {verdict}",
            std::path::Path::new(&path).display()
        );
        return Some(SELF_TESTED);
    }
    let name = std::env::var("MPWASM_WORKER_SELF_TEST_SYSCALL").ok()?;
    // Said first: a syscall that kills the worker leaves only this line.
    eprintln!("self-test: trying {name}");
    let result = syscall(&name);
    let verdict = match result {
        Ok(()) => "allowed".to_string(),
        Err(e) => format!("failed ({e})"),
    };
    eprintln!("self-test: {name}: {verdict}");
    Some(SELF_TESTED)
}

fn syscall(name: &str) -> std::io::Result<()> {
    use std::io::Error;
    match name {
        "udp" => std::net::UdpSocket::bind("127.0.0.1:0").map(drop),
        "tcp" => std::net::TcpStream::connect("127.0.0.1:9").map(drop),
        "spawn" => std::process::Command::new("/bin/true").status().map(drop),
        "thread" => std::thread::spawn(|| 1)
            .join()
            .map(drop)
            .map_err(|_| Error::other("the thread panicked")),
        #[cfg(unix)]
        "execve" => {
            use std::os::unix::process::CommandExt;
            Err(std::process::Command::new("/bin/true").exec())
        }
        #[cfg(target_os = "linux")]
        "exec-memory" => {
            // SAFETY: an anonymous private mapping at an address the kernel picks overlaps no
            // memory this process uses; it is unmapped at once if it was made.
            let page = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    4096,
                    libc::PROT_READ | libc::PROT_EXEC,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                )
            };
            if page == libc::MAP_FAILED {
                return Err(Error::last_os_error());
            }
            // SAFETY: `page` is the 4096-byte mapping made just above, used by nothing.
            unsafe { libc::munmap(page, 4096) };
            Ok(())
        }
        #[cfg(target_os = "linux")]
        "ptrace" => {
            // SAFETY: PTRACE_TRACEME takes no pointers (address and data are ignored).
            let rc = unsafe {
                libc::ptrace(
                    libc::PTRACE_TRACEME,
                    0,
                    std::ptr::null_mut::<libc::c_void>(),
                    std::ptr::null_mut::<libc::c_void>(),
                )
            };
            if rc == -1 {
                Err(Error::last_os_error())
            } else {
                Ok(())
            }
        }
        #[cfg(target_os = "linux")]
        "unshare" => {
            // SAFETY: unshare takes a flag word, no memory.
            if unsafe { libc::unshare(libc::CLONE_NEWUSER) } == -1 {
                Err(Error::last_os_error())
            } else {
                Ok(())
            }
        }
        other => Err(Error::other(format!("no self-test named {other:?}"))),
    }
}
