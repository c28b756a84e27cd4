//! The second wall's other half: a seccomp-bpf filter, installed after Landlock and before any
//! guest code runs, so a wasmtime escape can make only the syscalls a worker needs. Landlock
//! holds files, TCP ports, signals and abstract sockets; this holds what Landlock does not see.
//!
//! Three filters are stacked (the kernel applies the strictest answer of all of them):
//! 1. **Allow-list**: the syscalls wasmtime, the worker's threads and WASI need (found by tracing
//!    every worker of the test suite after it confined itself); everything else fails with
//!    `EPERM`. Some are allowed only with certain arguments: new threads but no new processes,
//!    no memory mapped or made executable (the compiled code was mapped before the filter), a
//!    few harmless `ioctl`s and `prctl`s, signals only to the worker itself, and sockets only
//!    with `--allow-http` (TCP, and UDP for name lookups).
//! 2. **Kill-list**: syscalls no worker ever makes and an attacker wants (`execve`, `ptrace`,
//!    `mount`, namespaces, `bpf`, `perf_event_open`, the keyring, modules, `io_uring`, ...)
//!    kill the worker with `SIGSYS`, which the host reports.
//! 3. `clone3` answers `ENOSYS`, so the C library falls back to `clone`, whose flags the
//!    allow-list can see (a `clone3` argument is a pointer a filter cannot read).
//!
//! The crate is `seccompiler` (rust-vmm's, Firecracker's filter compiler): pure Rust, no C
//! library to install, argument conditions, and it is maintained for a sandbox of this kind.

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

use crate::vocab::Grants;

/// What the filter enforces, for the worker's confinement summary.
pub const SUMMARY: &str = "seccomp: only the syscalls a worker needs (no new processes, no new \
                           executable memory, sockets only for --allow-http); exec, ptrace, \
                           mount, namespaces, bpf and the like kill the worker";

/// Installs the filters on every thread of this process; returns what they enforce.
///
/// # Errors
/// A sentence saying why the filter is not in force (no seccomp in this kernel, an architecture
/// without a filter).
pub fn install(grants: &Grants) -> Result<&'static str, String> {
    let arch = TargetArch::try_from(std::env::consts::ARCH)
        .map_err(|_| format!("no seccomp filter for {}", std::env::consts::ARCH))?;
    let programs = filters(grants, arch).map_err(|e| format!("cannot build the filter: {e}"))?;
    for program in &programs {
        seccompiler::apply_filter_all_threads(program)
            .map_err(|e| format!("the kernel refused the filter: {e}"))?;
    }
    Ok(SUMMARY)
}

/// The three filters (see the module docs), in the order they are installed.
fn filters(
    grants: &Grants,
    arch: TargetArch,
) -> Result<Vec<BpfProgram>, seccompiler::BackendError> {
    let allow = SeccompFilter::new(
        allowed(grants)?,
        SeccompAction::Errno(libc::EPERM as u32),
        SeccompAction::Allow,
        arch,
    )?;
    let kill = SeccompFilter::new(
        KILLED.iter().map(|&n| (n, Vec::new())).collect(),
        SeccompAction::Allow,
        SeccompAction::KillProcess,
        arch,
    )?;
    let clone3 = SeccompFilter::new(
        [(libc::SYS_clone3, Vec::new())].into_iter().collect(),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
        arch,
    )?;
    // The allow-list goes last: installing a filter takes `prctl` and `seccomp`, which it refuses.
    [clone3, kill, allow]
        .into_iter()
        .map(BpfProgram::try_from)
        .collect()
}

/// Syscalls allowed whatever their arguments.
const ALWAYS: &[i64] = &[
    // Files and descriptors (Landlock decides which paths).
    libc::SYS_read,
    libc::SYS_write,
    libc::SYS_readv,
    libc::SYS_writev,
    libc::SYS_pread64,
    libc::SYS_pwrite64,
    libc::SYS_preadv,
    libc::SYS_pwritev,
    libc::SYS_preadv2,
    libc::SYS_pwritev2,
    libc::SYS_close,
    libc::SYS_lseek,
    libc::SYS_fstat,
    libc::SYS_newfstatat,
    libc::SYS_statx,
    libc::SYS_fstatfs,
    libc::SYS_getdents64,
    libc::SYS_openat,
    libc::SYS_openat2,
    libc::SYS_faccessat,
    libc::SYS_faccessat2,
    libc::SYS_readlinkat,
    libc::SYS_mkdirat,
    libc::SYS_unlinkat,
    libc::SYS_renameat2,
    libc::SYS_linkat,
    libc::SYS_symlinkat,
    libc::SYS_utimensat,
    libc::SYS_ftruncate,
    libc::SYS_fallocate,
    libc::SYS_fsync,
    libc::SYS_fdatasync,
    libc::SYS_fadvise64,
    libc::SYS_fcntl,
    libc::SYS_dup,
    libc::SYS_dup3,
    // Memory (mmap and mprotect are conditional, below).
    libc::SYS_munmap,
    libc::SYS_madvise,
    libc::SYS_mremap,
    libc::SYS_brk,
    libc::SYS_membarrier,
    // Threads, time and randomness.
    libc::SYS_futex,
    libc::SYS_set_robust_list,
    libc::SYS_rseq,
    libc::SYS_sched_yield,
    libc::SYS_sched_getaffinity,
    libc::SYS_getrandom,
    libc::SYS_clock_gettime,
    libc::SYS_clock_getres,
    libc::SYS_clock_nanosleep,
    libc::SYS_nanosleep,
    libc::SYS_gettimeofday,
    libc::SYS_gettid,
    libc::SYS_getpid,
    libc::SYS_exit,
    libc::SYS_exit_group,
    libc::SYS_restart_syscall,
    // Signals: wasmtime's trap handlers, and each thread's alternate stack.
    libc::SYS_rt_sigaction,
    libc::SYS_rt_sigprocmask,
    libc::SYS_rt_sigreturn,
    libc::SYS_sigaltstack,
    // Waiting on descriptors (the WASI and HTTP runtimes).
    libc::SYS_epoll_create1,
    libc::SYS_epoll_ctl,
    libc::SYS_epoll_pwait,
    libc::SYS_epoll_pwait2,
    libc::SYS_eventfd2,
    libc::SYS_ppoll,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_epoll_wait,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_poll,
    // Sockets already open (the host-call socket) or allowed by `socket` below.
    libc::SYS_recvfrom,
    libc::SYS_sendto,
    libc::SYS_recvmsg,
    libc::SYS_sendmsg,
    libc::SYS_recvmmsg,
    libc::SYS_sendmmsg,
    libc::SYS_connect,
    libc::SYS_shutdown,
    libc::SYS_getsockopt,
    libc::SYS_setsockopt,
    libc::SYS_getsockname,
    libc::SYS_getpeername,
];

/// Syscalls that kill the worker (see the module docs).
const KILLED: &[i64] = &[
    libc::SYS_execve,
    libc::SYS_execveat,
    libc::SYS_ptrace,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
    libc::SYS_bpf,
    libc::SYS_perf_event_open,
    libc::SYS_keyctl,
    libc::SYS_add_key,
    libc::SYS_request_key,
    libc::SYS_mount,
    libc::SYS_umount2,
    libc::SYS_fsopen,
    libc::SYS_fsconfig,
    libc::SYS_fsmount,
    libc::SYS_fspick,
    libc::SYS_move_mount,
    libc::SYS_open_tree,
    libc::SYS_pivot_root,
    libc::SYS_chroot,
    libc::SYS_unshare,
    libc::SYS_setns,
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_delete_module,
    libc::SYS_kexec_load,
    libc::SYS_kexec_file_load,
    libc::SYS_reboot,
    libc::SYS_swapon,
    libc::SYS_swapoff,
    libc::SYS_userfaultfd,
    libc::SYS_io_uring_setup,
    libc::SYS_io_uring_enter,
    libc::SYS_io_uring_register,
    libc::SYS_name_to_handle_at,
    libc::SYS_open_by_handle_at,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_iopl,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_ioperm,
];

/// `ioctl` requests a worker may make: non-blocking and close-on-exec switches, bytes waiting,
/// and "is this a terminal" (never `TIOCSTI`, which types into a terminal).
// The request constants are `c_ulong` with glibc but `c_int` with musl, hence the casts.
#[allow(clippy::unnecessary_cast)]
const IOCTLS: &[u64] = &[
    libc::FIONBIO as u64,
    libc::FIOCLEX as u64,
    libc::FIONCLEX as u64,
    libc::FIONREAD as u64,
    libc::TCGETS as u64,
    libc::TIOCGWINSZ as u64,
];

/// The allow-list: every syscall with the rules under which it passes (none: always).
fn allowed(grants: &Grants) -> Result<BTreeMap<i64, Vec<SeccompRule>>, seccompiler::BackendError> {
    use SeccompCmpArgLen::{Dword, Qword};
    let arg = |index: u8, len: SeccompCmpArgLen, op: SeccompCmpOp, value: u64| {
        SeccompCondition::new(index, len, op, value)
    };
    let one = |conditions: Vec<SeccompCondition>| SeccompRule::new(conditions);
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> =
        ALWAYS.iter().map(|&n| (n, Vec::new())).collect();
    // Threads, never processes: `clone` must share the address space as a thread.
    let thread = libc::CLONE_THREAD as u64;
    rules.insert(
        libc::SYS_clone,
        vec![one(vec![arg(
            0,
            Qword,
            SeccompCmpOp::MaskedEq(thread),
            thread,
        )?])?],
    );
    // `clone3` passes here; the third filter answers it `ENOSYS`.
    rules.insert(libc::SYS_clone3, Vec::new());
    // No new executable memory: wasmtime maps the compiled code while loading, before this.
    let exec = libc::PROT_EXEC as u64;
    let not_exec = || -> Result<Vec<SeccompRule>, seccompiler::BackendError> {
        Ok(vec![one(vec![arg(
            2,
            Dword,
            SeccompCmpOp::MaskedEq(exec),
            0,
        )?])?])
    };
    rules.insert(libc::SYS_mmap, not_exec()?);
    rules.insert(libc::SYS_mprotect, not_exec()?);
    rules.insert(
        libc::SYS_ioctl,
        IOCTLS
            .iter()
            .map(|&request| one(vec![arg(1, Dword, SeccompCmpOp::Eq, request)?]))
            .collect::<Result<_, _>>()?,
    );
    rules.insert(
        libc::SYS_prctl,
        [libc::PR_SET_NAME, libc::PR_GET_NAME]
            .into_iter()
            .map(|option| one(vec![arg(0, Dword, SeccompCmpOp::Eq, option as u64)?]))
            .collect::<Result<_, _>>()?,
    );
    // Signals only to this process (abort raises SIGABRT on itself).
    let pid = u64::from(std::process::id());
    rules.insert(
        libc::SYS_tgkill,
        vec![one(vec![arg(0, Dword, SeccompCmpOp::Eq, pid)?])?],
    );
    if !grants.http.is_empty() {
        // Outgoing HTTP: TCP to the server, UDP to the name server, IPv4 or IPv6.
        let mut sockets = Vec::new();
        for domain in [libc::AF_INET, libc::AF_INET6] {
            for kind in [libc::SOCK_STREAM, libc::SOCK_DGRAM] {
                sockets.push(one(vec![
                    arg(0, Dword, SeccompCmpOp::Eq, domain as u64)?,
                    arg(1, Dword, SeccompCmpOp::MaskedEq(0xf), kind as u64)?,
                ])?);
            }
        }
        rules.insert(libc::SYS_socket, sockets);
    }
    Ok(rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filters_compile_with_and_without_http() {
        let arch = TargetArch::try_from(std::env::consts::ARCH).expect("a supported target");
        let plain = filters(&Grants::default(), arch).expect("compiles");
        let mut grants = Grants::default();
        grants.http.push(crate::vocab::HttpGrant {
            host: "localhost".into(),
            port: Some(8080),
        });
        let http = filters(&grants, arch).expect("compiles");
        assert_eq!(plain.len(), 3);
        // The socket rules make the allow-list longer.
        assert!(http[2].len() > plain[2].len());
    }

    #[test]
    fn no_syscall_is_both_allowed_and_killed() {
        for n in KILLED {
            assert!(!ALWAYS.contains(n), "syscall {n} is in both lists");
        }
    }
}
