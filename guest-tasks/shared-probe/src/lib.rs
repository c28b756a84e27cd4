//! Every shared interface used one way per export, for the tests of `mpwasm:shared`: counters,
//! a write of a chosen size, inputs added to the job (flat and as a tree), and a queue.

use bindings::Guest;
use bindings::mpwasm::shared::{kv, queue, work};

/// Bindings generated from `wit/` (kept in a private module, out of the crate's public API).
mod bindings {
    wit_bindgen::generate!({ path: "../../wit", world: "shared-probe", generate_all });
}

struct Task;

impl Guest for Task {
    fn bump(n: u32) -> i64 {
        let mut last = 0;
        for _ in 0..n {
            last = kv::incr("counter", 1);
        }
        last
    }

    fn fill(key: String, size: u32) {
        kv::set(&format!("blob:{key}"), &"x".repeat(size as usize));
    }

    fn fan(n: u32) -> Vec<u64> {
        (0..n).map(|_| work::submit("0")).collect()
    }

    fn tree(depth: u32) -> u32 {
        kv::incr("nodes", 1);
        if depth > 0 {
            for _ in 0..2 {
                work::submit(&(depth - 1).to_string());
            }
        }
        depth
    }

    fn take(ms: u32) -> Option<String> {
        queue::pop("q", ms)
    }

    fn give(value: String) {
        queue::push("q", &value);
    }

    fn dump() -> Vec<String> {
        kv::keys("")
            .into_iter()
            .map(|key| {
                let value = kv::get(&key).unwrap_or_default();
                format!("{key}={value}")
            })
            .collect()
    }
}

bindings::export!(Task with_types_in bindings);
