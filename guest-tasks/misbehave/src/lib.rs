//! The `misbehave` world: tasks that exhaust memory, time or stack, trap, print a lot, or poke
//! at the sandbox (files, environment, network). The host's tests of limits, trap reporting,
//! output capture and isolation call these; `id` shows the next task still runs afterwards.

use std::hint::black_box;
use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use bindings::Guest;

/// Bindings generated from `wit/` (kept in a private module, out of the crate's public API).
mod bindings {
    wit_bindgen::generate!({ path: "../../wit", world: "misbehave" });
}

/// Bytes in a mebibyte.
const MIB: usize = 1 << 20;

/// Size of one write in `shout`.
const SHOUT_CHUNK: usize = 64 * 1024;

/// Width of a line written by `shout`, newline included.
const SHOUT_LINE: usize = 64;

struct Task;

impl Guest for Task {
    fn grow(mib: u32) -> u32 {
        let Some(bytes) = usize::try_from(mib).ok().and_then(|m| m.checked_mul(MIB)) else {
            panic!("{mib} MiB do not fit in a 32-bit address space");
        };
        let mut block: Vec<u8> = Vec::new();
        if let Err(err) = block.try_reserve_exact(bytes) {
            panic!("could not allocate {mib} MiB: {err}");
        }
        // Write every byte so the memory is really used, not only reserved.
        block.resize(bytes, 0xa5);
        black_box(&block);
        mib
    }

    fn spin(x: u32) -> u32 {
        // `spin(0)` returns at once, so a run can show that work goes on after a timeout.
        if x == 0 {
            return 0;
        }
        // `black_box` makes every turn observable, so the loop cannot be folded away.
        let mut turns = x;
        loop {
            turns = black_box(turns.wrapping_add(1));
        }
    }

    fn sleep_ms(ms: u32) -> u32 {
        std::thread::sleep(Duration::from_millis(u64::from(ms)));
        ms
    }

    fn boom(msg: String) -> u32 {
        panic!("{msg}");
    }

    fn divide(a: i32, b: i32) -> i32 {
        // SAFETY: this is NOT sound when `b == 0`, on purpose. Rust has no stable way to emit a
        // bare `i32.div_s`: plain `/` tests for zero first and panics, which would trap as
        // `unreachable` like `boom`. Promising the optimiser a non-zero divisor removes that test,
        // so a zero divisor reaches `i32.div_s` and the engine traps with "integer divide by
        // zero". The divisor is an opaque parameter, so nothing else depends on the promise; the
        // built module was checked to contain the bare instruction.
        unsafe { std::hint::assert_unchecked(b != 0) };
        a.wrapping_div(b)
    }

    fn unreachable_trap() -> u32 {
        core::arch::wasm32::unreachable()
    }

    fn recurse(depth: u64) -> u64 {
        descend(depth)
    }

    fn chatty(n: u32) -> u32 {
        let mut stdout = std::io::stdout().lock();
        for line in 1..=n {
            writeln!(stdout, "line {line}").expect("stdout is writable");
        }
        stdout.flush().expect("stdout is writable");
        eprintln!("chatty: printed {n} lines");
        n
    }

    fn chatter_stderr(n: u32) -> u32 {
        for line in 1..=n {
            eprintln!("line {line}");
        }
        n
    }

    fn chatter_stdout(n: u32) -> u32 {
        for line in 1..=n {
            println!("line {line}");
        }
        n
    }

    fn big(bytes: u64) -> String {
        "x".repeat(usize::try_from(bytes).unwrap_or(usize::MAX))
    }

    fn shout(bytes: u64) -> u64 {
        let chunk: Vec<u8> = (0..SHOUT_CHUNK)
            .map(|i| {
                if i % SHOUT_LINE == SHOUT_LINE - 1 {
                    b'\n'
                } else {
                    b'x'
                }
            })
            .collect();
        let mut stdout = std::io::stdout().lock();
        let mut left = bytes;
        while left > 0 {
            let len = usize::try_from(left).map_or(SHOUT_CHUNK, |left| left.min(SHOUT_CHUNK));
            stdout.write_all(&chunk[..len]).expect("stdout is writable");
            left -= len as u64;
        }
        stdout.flush().expect("stdout is writable");
        bytes
    }

    fn read_file(path: String) -> Result<String, String> {
        std::fs::read_to_string(&path).map_err(|err| format!("{path}: {err}"))
    }

    fn list_dir(path: String) -> Result<Vec<String>, String> {
        let entries = std::fs::read_dir(&path).map_err(|err| format!("{path}: {err}"))?;
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|err| format!("{path}: {err}"))?;
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(names)
    }

    fn env_var(name: String) -> Option<String> {
        std::env::var(name).ok()
    }

    fn tcp_connect(addr: String) -> Result<String, String> {
        let stream = TcpStream::connect(addr.as_str()).map_err(|err| format!("{addr}: {err}"))?;
        let peer = stream.peer_addr().map_err(|err| format!("{addr}: {err}"))?;
        Ok(peer.to_string())
    }

    fn id(x: u64) -> u64 {
        x
    }
}

/// One call frame per level: the `+ 1` after the call (behind `black_box`) keeps it from being
/// a tail call, so the optimiser cannot turn the recursion into a loop.
#[inline(never)]
fn descend(depth: u64) -> u64 {
    if depth == 0 {
        return 0;
    }
    let below = descend(black_box(depth - 1));
    black_box(below) + 1
}

bindings::export!(Task with_types_in bindings);
