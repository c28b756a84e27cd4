//! The second wall's other half: a seccomp-bpf filter, installed after Landlock and before any
//! guest code runs, so a wasmtime escape can make only the syscalls a worker needs. Landlock
//! holds files, TCP ports, signals and abstract sockets; this holds what Landlock does not see.
//!
//! The policy, in the tables below:
//! - **Allowed**: the syscalls wasmtime, the worker's threads and WASI need (found by tracing
//!   every worker of the test suite after it confined itself). Some only with certain
//!   arguments: new threads but no new processes, no memory mapped or made executable (the
//!   compiled code was mapped before the filter), a few harmless `ioctl`s and `prctl`s, signals
//!   only to the worker itself, and sockets only with `--allow-http` (TCP, and UDP for name
//!   lookups).
//! - **Killed**: syscalls no worker makes and an attacker wants (`execve`, `ptrace`, `mount`,
//!   namespaces, `bpf`, `perf_event_open`, the keyring, modules, `io_uring`, ...) kill the
//!   worker with `SIGSYS`, which the host reports.
//! - `clone3` answers `ENOSYS`, so the C library falls back to `clone`, whose flags a filter can
//!   see (a `clone3` argument is a pointer a filter cannot read).
//! - Everything else fails with `EPERM`.
//!
//! The filter is installed with `seccompiler` (rust-vmm's, Firecracker's: pure Rust, no C
//! library to install, maintained for sandboxes of this kind), which also compiles the policy
//! as three stacked filters. That compilation is the *reference*: the program installed is a
//! compact one compiled here (one comparison per syscall, one filter), because loading a filter
//! costs time per instruction on some kernels (about 0.6 µs here, 0.45 ms per worker for the
//! three), and a unit test checks that both give the same answer for every syscall number and
//! argument that matters.

use seccompiler::sock_filter;

use crate::vocab::Grants;

/// What the filter enforces, for the worker's confinement summary.
pub const SUMMARY: &str = "seccomp: only the syscalls a worker needs (no new processes, no new \
                           executable memory, sockets only for --allow-http); exec, ptrace, \
                           mount, namespaces, bpf and the like kill the worker";

/// Installs the filter on every thread of this process; returns what it enforces.
///
/// # Errors
/// A sentence saying why the filter is not in force (no seccomp in this kernel, an architecture
/// without a filter).
pub fn install(grants: &Grants) -> Result<&'static str, String> {
    let arch = audit_arch().ok_or_else(|| {
        format!(
            "no seccomp filter for {} (only x86_64 and aarch64)",
            std::env::consts::ARCH
        )
    })?;
    let program = compact(grants, arch).map_err(|e| format!("cannot build the filter: {e}"))?;
    seccompiler::apply_filter_all_threads(&program)
        .map_err(|e| format!("the kernel refused the filter: {e}"))?;
    Ok(SUMMARY)
}

/// The kernel's name for this architecture in `seccomp_data.arch`.
fn audit_arch() -> Option<u32> {
    // EM_X86_64 and EM_AARCH64, 64-bit, little-endian (linux/audit.h).
    const BITS64_LE: u32 = 0x8000_0000 | 0x4000_0000;
    match std::env::consts::ARCH {
        "x86_64" => Some(62 | BITS64_LE),
        "aarch64" => Some(183 | BITS64_LE),
        _ => None,
    }
}

/// One condition on a syscall argument: `args[arg] & mask == value`, on the low 32 bits (every
/// argument the policy looks at is an `int` or flag word the kernel truncates to 32 bits).
#[derive(Debug, Clone, Copy)]
struct Cond {
    arg: u8,
    mask: u32,
    value: u32,
}

impl Cond {
    fn eq(arg: u8, value: u32) -> Cond {
        Cond {
            arg,
            mask: u32::MAX,
            value,
        }
    }
}

/// A syscall allowed when any of its alternatives holds (each: all of its conditions).
type Conditional = (i64, Vec<Vec<Cond>>);

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

/// The syscalls allowed only with certain arguments (see the module docs).
fn conditional(grants: &Grants) -> Vec<Conditional> {
    let thread = libc::CLONE_THREAD as u32;
    let exec = libc::PROT_EXEC as u32;
    let no_exec = || {
        vec![vec![Cond {
            arg: 2,
            mask: exec,
            value: 0,
        }]]
    };
    let mut rules: Vec<Conditional> = vec![
        // Threads, never processes: `clone` must share the address space as a thread.
        (
            libc::SYS_clone,
            vec![vec![Cond {
                arg: 0,
                mask: thread,
                value: thread,
            }]],
        ),
        // No new executable memory: wasmtime maps the compiled code while loading, before this.
        (libc::SYS_mmap, no_exec()),
        (libc::SYS_mprotect, no_exec()),
        (
            libc::SYS_ioctl,
            IOCTLS
                .iter()
                .map(|&r| vec![Cond::eq(1, r as u32)])
                .collect(),
        ),
        (
            libc::SYS_prctl,
            [libc::PR_SET_NAME, libc::PR_GET_NAME]
                .into_iter()
                .map(|option| vec![Cond::eq(0, option as u32)])
                .collect(),
        ),
        // Signals only to this process (abort raises SIGABRT on itself).
        (
            libc::SYS_tgkill,
            vec![vec![Cond::eq(0, std::process::id())]],
        ),
    ];
    if !grants.http.is_empty() {
        // Outgoing HTTP: TCP to the server, UDP to the name server, IPv4 or IPv6.
        let mut sockets = Vec::new();
        for domain in [libc::AF_INET, libc::AF_INET6] {
            for kind in [libc::SOCK_STREAM, libc::SOCK_DGRAM] {
                sockets.push(vec![
                    Cond::eq(0, domain as u32),
                    Cond {
                        arg: 1,
                        mask: 0xf,
                        value: kind as u32,
                    },
                ]);
            }
        }
        rules.push((libc::SYS_socket, sockets));
    }
    rules
}

/// Where a conditional jump goes: the next instruction or a label.
#[derive(Clone, Copy)]
enum To {
    Next,
    Label(usize),
}

/// One instruction before its jumps are resolved.
enum Insn {
    Stmt(u32, u32),
    /// A conditional jump (offsets in `jt` and `jf`, at most 255).
    Jump(u32, u32, To, To),
    /// An unconditional jump (its offset in `k`).
    Always(usize),
}

/// A tiny assembler for classic BPF with forward jumps to labels.
#[derive(Default)]
struct Asm {
    code: Vec<Insn>,
    labels: Vec<Option<usize>>,
}

impl Asm {
    fn label(&mut self) -> usize {
        self.labels.push(None);
        self.labels.len() - 1
    }
    fn bind(&mut self, label: usize) {
        self.labels[label] = Some(self.code.len());
    }
    fn stmt(&mut self, code: u32, k: u32) {
        self.code.push(Insn::Stmt(code, k));
    }
    fn jump(&mut self, code: u32, k: u32, yes: To, no: To) {
        self.code.push(Insn::Jump(code, k, yes, no));
    }
    fn goto(&mut self, label: usize) {
        self.code.push(Insn::Always(label));
    }
    fn finish(self) -> Result<Vec<sock_filter>, String> {
        let distance = |at: usize, label: usize| -> Result<usize, String> {
            let target = self.labels[label].ok_or("a label never bound")?;
            target
                .checked_sub(at + 1)
                .ok_or_else(|| format!("a jump from {at} back to {target}"))
        };
        let short = |at: usize, to: To| -> Result<u8, String> {
            match to {
                To::Next => Ok(0),
                To::Label(label) => u8::try_from(distance(at, label)?)
                    .map_err(|_| format!("the jump at {at} is longer than 255")),
            }
        };
        let mut out = Vec::with_capacity(self.code.len());
        for (at, insn) in self.code.iter().enumerate() {
            let (code, jt, jf, k) = match *insn {
                Insn::Stmt(code, k) => (code, 0, 0, k),
                Insn::Jump(code, k, yes, no) => (code, short(at, yes)?, short(at, no)?, k),
                Insn::Always(label) => (
                    libc::BPF_JMP | libc::BPF_JA,
                    0,
                    0,
                    u32::try_from(distance(at, label)?).map_err(|e| e.to_string())?,
                ),
            };
            out.push(sock_filter {
                code: code as u16,
                jt,
                jf,
                k,
            });
        }
        Ok(out)
    }
}

/// Offsets in `struct seccomp_data`: the syscall number, the architecture, and the low word of
/// argument `i` (little-endian).
const NR: u32 = 0;
const ARCH: u32 = 4;
fn arg_low(i: u8) -> u32 {
    16 + 8 * u32::from(i)
}

/// The policy as one compact program (see the module docs).
fn compact(grants: &Grants, arch: u32) -> Result<Vec<sock_filter>, String> {
    use libc::{BPF_ABS, BPF_ALU, BPF_AND, BPF_JEQ, BPF_JMP, BPF_K, BPF_LD, BPF_RET, BPF_W};
    let load = BPF_LD | BPF_W | BPF_ABS;
    let jeq = BPF_JMP | BPF_JEQ | BPF_K;
    let mut asm = Asm::default();
    let [allow, deny, kill, enosys] = [asm.label(), asm.label(), asm.label(), asm.label()];
    // Another architecture's syscall numbers mean other syscalls: kill.
    asm.stmt(load, ARCH);
    asm.jump(jeq, arch, To::Next, To::Label(kill));
    asm.stmt(load, NR);
    for &nr in ALWAYS {
        asm.jump(jeq, nr as u32, To::Label(allow), To::Next);
    }
    for &nr in KILLED {
        asm.jump(jeq, nr as u32, To::Label(kill), To::Next);
    }
    asm.jump(jeq, libc::SYS_clone3 as u32, To::Label(enosys), To::Next);
    for (nr, alternatives) in conditional(grants) {
        let skip = asm.label();
        asm.jump(jeq, nr as u32, To::Next, To::Label(skip));
        for conds in alternatives {
            let next = asm.label();
            for cond in conds {
                asm.stmt(load, arg_low(cond.arg));
                if cond.mask != u32::MAX {
                    asm.stmt(BPF_ALU | BPF_AND | BPF_K, cond.mask);
                }
                asm.jump(jeq, cond.value, To::Next, To::Label(next));
            }
            asm.goto(allow);
            asm.bind(next);
        }
        asm.goto(deny);
        asm.bind(skip);
    }
    asm.bind(deny);
    asm.stmt(
        BPF_RET | BPF_K,
        libc::SECCOMP_RET_ERRNO | libc::EPERM as u32,
    );
    asm.bind(allow);
    asm.stmt(BPF_RET | BPF_K, libc::SECCOMP_RET_ALLOW);
    asm.bind(kill);
    asm.stmt(BPF_RET | BPF_K, libc::SECCOMP_RET_KILL_PROCESS);
    asm.bind(enosys);
    asm.stmt(
        BPF_RET | BPF_K,
        libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32,
    );
    asm.finish()
}

#[cfg(test)]
mod tests {
    use seccompiler::{
        BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
        SeccompRule, TargetArch,
    };

    use super::*;

    /// The policy compiled by seccompiler as three stacked filters, in install order.
    fn reference(grants: &Grants) -> Vec<BpfProgram> {
        let arch = TargetArch::try_from(std::env::consts::ARCH).expect("a supported target");
        let rule = |conds: &[Cond]| {
            let conditions = conds
                .iter()
                .map(|c| {
                    let op = if c.mask == u32::MAX {
                        SeccompCmpOp::Eq
                    } else {
                        SeccompCmpOp::MaskedEq(u64::from(c.mask))
                    };
                    SeccompCondition::new(c.arg, SeccompCmpArgLen::Dword, op, u64::from(c.value))
                        .expect("a condition")
                })
                .collect();
            SeccompRule::new(conditions).expect("a rule")
        };
        let mut allowed: std::collections::BTreeMap<i64, Vec<SeccompRule>> =
            ALWAYS.iter().map(|&n| (n, Vec::new())).collect();
        allowed.insert(libc::SYS_clone3, Vec::new());
        for (nr, alternatives) in conditional(grants) {
            allowed.insert(nr, alternatives.iter().map(|a| rule(a)).collect());
        }
        let filter = |rules, mismatch, matched| {
            BpfProgram::try_from(
                SeccompFilter::new(rules, mismatch, matched, arch).expect("a filter"),
            )
            .expect("compiles")
        };
        vec![
            filter(
                [(libc::SYS_clone3, Vec::new())].into_iter().collect(),
                SeccompAction::Allow,
                SeccompAction::Errno(libc::ENOSYS as u32),
            ),
            filter(
                KILLED.iter().map(|&n| (n, Vec::new())).collect(),
                SeccompAction::Allow,
                SeccompAction::KillProcess,
            ),
            filter(
                allowed,
                SeccompAction::Errno(libc::EPERM as u32),
                SeccompAction::Allow,
            ),
        ]
    }

    /// A classic-BPF interpreter for what seccomp programs use.
    fn run(program: &[sock_filter], data: &[u8; 64]) -> u32 {
        use libc::{
            BPF_ABS, BPF_ALU, BPF_AND, BPF_JA, BPF_JEQ, BPF_JGE, BPF_JGT, BPF_JMP, BPF_JSET, BPF_K,
            BPF_LD, BPF_RET, BPF_W,
        };
        let (mut a, mut pc) = (0u32, 0usize);
        loop {
            let insn = &program[pc];
            pc += 1;
            let k = insn.k;
            let (jt, jf) = (usize::from(insn.jt), usize::from(insn.jf));
            let branch = |taken: bool| if taken { jt } else { jf };
            match u32::from(insn.code) {
                c if c == BPF_LD | BPF_W | BPF_ABS => {
                    let at = k as usize;
                    a = u32::from_le_bytes(data[at..at + 4].try_into().expect("4 bytes"));
                }
                c if c == BPF_ALU | BPF_AND | BPF_K => a &= k,
                c if c == BPF_JMP | BPF_JEQ | BPF_K => pc += branch(a == k),
                c if c == BPF_JMP | BPF_JGE | BPF_K => pc += branch(a >= k),
                c if c == BPF_JMP | BPF_JGT | BPF_K => pc += branch(a > k),
                c if c == BPF_JMP | BPF_JSET | BPF_K => pc += branch(a & k != 0),
                c if c == BPF_JMP | BPF_JA => pc += k as usize,
                c if c == BPF_RET | BPF_K => return k,
                other => panic!("opcode {other:#x} is not interpreted"),
            }
        }
    }

    /// What the kernel answers for stacked filters: the strictest action, the newest on a tie.
    fn stacked(filters: &[BpfProgram], data: &[u8; 64]) -> u32 {
        let action = |ret: u32| (ret & 0xffff_0000) as i32;
        let mut ret = libc::SECCOMP_RET_ALLOW;
        for filter in filters.iter().rev() {
            let this = run(filter, data);
            if action(this) < action(ret) {
                ret = this;
            }
        }
        ret
    }

    fn data(arch: u32, nr: u32, args: [u64; 6]) -> [u8; 64] {
        let mut d = [0u8; 64];
        d[0..4].copy_from_slice(&nr.to_le_bytes());
        d[4..8].copy_from_slice(&arch.to_le_bytes());
        for (i, arg) in args.iter().enumerate() {
            d[16 + 8 * i..24 + 8 * i].copy_from_slice(&arg.to_le_bytes());
        }
        d
    }

    /// Argument vectors that meet, and just miss, every condition of the policy.
    fn probes(grants: &Grants) -> Vec<[u64; 6]> {
        let mut out = vec![[0; 6], [u64::MAX; 6], [u64::from(u32::MAX); 6]];
        for (_, alternatives) in conditional(grants) {
            for conds in &alternatives {
                let mut meets = [0u64; 6];
                for c in conds {
                    meets[usize::from(c.arg)] = u64::from(c.value);
                }
                out.push(meets);
                // High bits set: both look only at the low word.
                out.push(meets.map(|a| a | 0xffff_ffff_0000_0000));
                for c in conds {
                    let mut misses = meets;
                    let bit = c.mask & c.mask.wrapping_neg();
                    misses[usize::from(c.arg)] = u64::from(c.value ^ bit);
                    out.push(misses);
                }
            }
        }
        out
    }

    fn http() -> Grants {
        let mut grants = Grants::default();
        grants.http.push(crate::vocab::HttpGrant {
            host: "localhost".into(),
            port: Some(8080),
        });
        grants
    }

    #[test]
    fn the_compact_program_answers_as_seccompilers_filters_do() {
        let arch = audit_arch().expect("a supported target");
        for grants in [Grants::default(), http()] {
            let program = compact(&grants, arch).expect("compiles");
            let reference = reference(&grants);
            let numbers = (0..=600u32).chain([0x4000_0000 | 59, 0x4000_0000, u32::MAX]);
            for nr in numbers {
                for args in probes(&grants) {
                    let d = data(arch, nr, args);
                    assert_eq!(
                        run(&program, &d),
                        stacked(&reference, &d),
                        "syscall {nr} with {args:x?}"
                    );
                }
            }
            // Another architecture is killed by both.
            let foreign = data(arch ^ 1, libc::SYS_read as u32, [0; 6]);
            assert_eq!(run(&program, &foreign), libc::SECCOMP_RET_KILL_PROCESS);
            assert_eq!(
                stacked(&reference, &foreign),
                libc::SECCOMP_RET_KILL_PROCESS
            );
            // And it is the point: a fraction of the length.
            let long: usize = reference.iter().map(Vec::len).sum();
            assert!(program.len() * 3 < long, "{} vs {long}", program.len());
        }
    }

    #[test]
    fn the_policy_says_what_the_docs_say() {
        let arch = audit_arch().expect("a supported target");
        let ask = |grants: &Grants, nr: i64, args: [u64; 6]| {
            let program = compact(grants, arch).expect("compiles");
            run(&program, &data(arch, nr as u32, args))
        };
        let none = Grants::default();
        let eperm = libc::SECCOMP_RET_ERRNO | libc::EPERM as u32;
        let allow = libc::SECCOMP_RET_ALLOW;
        let kill = libc::SECCOMP_RET_KILL_PROCESS;
        assert_eq!(ask(&none, libc::SYS_read, [0; 6]), allow);
        assert_eq!(ask(&none, libc::SYS_execve, [0; 6]), kill);
        assert_eq!(ask(&none, libc::SYS_ptrace, [0; 6]), kill);
        assert_eq!(
            ask(&none, libc::SYS_clone3, [0; 6]),
            libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32
        );
        let thread = libc::CLONE_THREAD as u64 | libc::CLONE_VM as u64;
        assert_eq!(ask(&none, libc::SYS_clone, [thread, 0, 0, 0, 0, 0]), allow);
        assert_eq!(
            ask(
                &none,
                libc::SYS_clone,
                [libc::SIGCHLD as u64, 0, 0, 0, 0, 0]
            ),
            eperm
        );
        let rx = (libc::PROT_READ | libc::PROT_EXEC) as u64;
        assert_eq!(
            ask(&none, libc::SYS_mprotect, [0, 4096, rx, 0, 0, 0]),
            eperm
        );
        let rw = (libc::PROT_READ | libc::PROT_WRITE) as u64;
        assert_eq!(
            ask(&none, libc::SYS_mprotect, [0, 4096, rw, 0, 0, 0]),
            allow
        );
        #[allow(clippy::unnecessary_cast)] // c_int with musl
        let tiocsti = libc::TIOCSTI as u64;
        assert_eq!(ask(&none, libc::SYS_ioctl, [2, tiocsti, 0, 0, 0, 0]), eperm);
        let tcp = [
            libc::AF_INET as u64,
            libc::SOCK_STREAM as u64 | 0o2000000,
            0,
            0,
            0,
            0,
        ];
        assert_eq!(ask(&none, libc::SYS_socket, tcp), eperm);
        assert_eq!(ask(&http(), libc::SYS_socket, tcp), allow);
        let raw = [libc::AF_INET as u64, libc::SOCK_RAW as u64, 0, 0, 0, 0];
        assert_eq!(ask(&http(), libc::SYS_socket, raw), eperm);
        let unix = [libc::AF_UNIX as u64, libc::SOCK_STREAM as u64, 0, 0, 0, 0];
        assert_eq!(ask(&http(), libc::SYS_socket, unix), eperm);
    }

    #[test]
    fn no_syscall_is_both_allowed_and_killed() {
        for n in KILLED {
            assert!(!ALWAYS.contains(n), "syscall {n} is in both lists");
        }
    }
}
