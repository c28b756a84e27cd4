//! `primes(n: u32) -> u32`: counts the primes below `n` by trial division. The benchmarks run
//! the same algorithm in Python and in native Rust, so keep it exactly this simple.

use bindings::Guest;

/// Bindings generated from `wit/` (kept in a private module, out of the crate's public API).
mod bindings {
    wit_bindgen::generate!({ path: "../../wit", world: "primes" });
}

struct Task;

impl Guest for Task {
    fn primes(n: u32) -> u32 {
        let mut count = 0;
        for candidate in 0..n {
            if is_prime(candidate) {
                count += 1;
            }
        }
        count
    }
}

/// Trial division: by 2, then by every odd number up to the square root of `candidate`.
fn is_prime(candidate: u32) -> bool {
    if candidate < 2 {
        return false;
    }
    if candidate.is_multiple_of(2) {
        return candidate == 2;
    }
    let candidate = u64::from(candidate);
    let mut divisor: u64 = 3;
    while divisor * divisor <= candidate {
        if candidate.is_multiple_of(divisor) {
            return false;
        }
        divisor += 2;
    }
    true
}

bindings::export!(Task with_types_in bindings);
