//! `count-words(text) -> u32`: adds the words of one text to the job's shared counts (one
//! atomic `incr` per distinct word), so a job over a corpus leaves the corpus's word counts in
//! the store (`--shared-out counts.json`).

use std::collections::BTreeMap;

use bindings::Guest;
use bindings::mpwasm::shared::kv;

/// Bindings generated from `wit/` (kept in a private module, out of the crate's public API).
mod bindings {
    wit_bindgen::generate!({ path: "../../wit", world: "shared-wordcount", generate_all });
}

struct Task;

impl Guest for Task {
    fn count_words(text: String) -> u32 {
        // Counted here first, so each distinct word is one call (and a retried task makes
        // the same calls in the same order: the store counts it once).
        let mut counts: BTreeMap<String, i64> = BTreeMap::new();
        let mut total = 0;
        for raw in text.split_whitespace() {
            let word = raw.trim_matches(|c: char| !c.is_alphanumeric());
            if !word.is_empty() {
                *counts.entry(word.to_lowercase()).or_default() += 1;
                total += 1;
            }
        }
        for (word, n) in counts {
            kv::incr(&word, n);
        }
        total
    }
}

bindings::export!(Task with_types_in bindings);
