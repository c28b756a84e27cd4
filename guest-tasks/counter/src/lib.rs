//! `init()` and `next() -> u64` over one global counter: shows whether consecutive tasks run
//! in the same instance (the count goes on) or in a fresh one (it starts again).

use std::sync::atomic::{AtomicU64, Ordering};

use bindings::Guest;

/// Bindings generated from `wit/` (kept in a private module, out of the crate's public API).
mod bindings {
    wit_bindgen::generate!({ path: "../../wit", world: "counter" });
}

/// The instance's state: 0 in a fresh instance.
static COUNT: AtomicU64 = AtomicU64::new(0);

struct Task;

impl Guest for Task {
    fn init() {
        COUNT.store(100, Ordering::Relaxed);
        println!("init ran");
    }

    fn next() -> u64 {
        COUNT.fetch_add(1, Ordering::Relaxed) + 1
    }
}

bindings::export!(Task with_types_in bindings);
