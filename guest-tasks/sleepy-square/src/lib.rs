//! `square(x)` that sleeps first: the seed's `imap_unordered` example, where results arrive in
//! the order the tasks finish.

use bindings::Guest;

/// Bindings generated from `wit/` (kept in a private module, out of the crate's public API).
mod bindings {
    wit_bindgen::generate!({ path: "../../wit", world: "sleepy-square" });
}

struct Task;

impl Guest for Task {
    fn square(x: u64) -> u64 {
        // A fixed pseudo-random pause per input: 0, 50, ... 450 ms.
        let pause = x.wrapping_mul(7).wrapping_add(3) % 10 * 50;
        std::thread::sleep(std::time::Duration::from_millis(pause));
        x.wrapping_mul(x)
    }
}

bindings::export!(Task with_types_in bindings);
