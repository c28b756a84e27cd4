//! `square(x: u64) -> u64`: the smallest task, used by the quick start and the benchmarks.

wit_bindgen::generate!({ path: "../../wit", world: "square" });

struct Task;

impl Guest for Task {
    fn square(x: u64) -> u64 {
        x.wrapping_mul(x)
    }
}

export!(Task);
