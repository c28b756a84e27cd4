//! `work(role)`: a producer pushing numbers onto the shared queue `numbers` and consumers
//! summing what they pop, until each pops a `stop`.

use bindings::Guest;
use bindings::mpwasm::shared::queue;

/// Bindings generated from `wit/` (kept in a private module, out of the crate's public API).
mod bindings {
    wit_bindgen::generate!({ path: "../../wit", world: "pipeline", generate_all });
}

/// How long a consumer waits for the next item before it gives up.
const PATIENCE_MS: u32 = 10_000;

struct Task;

impl Guest for Task {
    fn work(role: String) -> Result<u64, String> {
        let words: Vec<&str> = role.split_whitespace().collect();
        match words.as_slice() {
            ["produce", n, consumers] => {
                let n: u64 = n.parse().map_err(|_| format!("bad count in {role:?}"))?;
                let consumers: u32 = consumers
                    .parse()
                    .map_err(|_| format!("bad number of consumers in {role:?}"))?;
                for i in 1..=n {
                    queue::push("numbers", &i.to_string());
                }
                for _ in 0..consumers {
                    queue::push("numbers", "stop");
                }
                Ok(n)
            }
            ["consume"] => {
                let mut sum = 0u64;
                loop {
                    match queue::pop("numbers", PATIENCE_MS) {
                        Some(item) if item == "stop" => return Ok(sum),
                        Some(item) => {
                            sum += item
                                .parse::<u64>()
                                .map_err(|_| format!("not a number on the queue: {item:?}"))?;
                        }
                        None => {
                            return Err(format!(
                                "nothing came on `numbers` for {PATIENCE_MS} ms (is a producer \
                                 running?)"
                            ));
                        }
                    }
                }
            }
            _ => Err(format!(
                "expected \"produce N CONSUMERS\" or \"consume\", got {role:?}"
            )),
        }
    }
}

bindings::export!(Task with_types_in bindings);
