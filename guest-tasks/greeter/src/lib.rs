//! `worker(num: u32)`: the seed example, which prints a start and a finish line on stdout.

use bindings::Guest;

/// Bindings generated from `wit/` (kept in a private module, out of the crate's public API).
mod bindings {
    wit_bindgen::generate!({ path: "../../wit", world: "greeter" });
}

struct Task;

impl Guest for Task {
    fn worker(num: u32) {
        println!("Starting worker {num}");
        println!("Finished worker {num}");
    }
}

bindings::export!(Task with_types_in bindings);
