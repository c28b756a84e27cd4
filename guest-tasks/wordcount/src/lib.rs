//! `wordcount(text) -> list<tuple<string, u32>>`: word frequencies, a task whose result is a
//! list of tuples.

use std::collections::HashMap;

use bindings::Guest;

/// Bindings generated from `wit/` (kept in a private module, out of the crate's public API).
mod bindings {
    wit_bindgen::generate!({ path: "../../wit", world: "wordcount" });
}

struct Task;

impl Guest for Task {
    fn wordcount(text: String) -> Vec<(String, u32)> {
        let mut counts: HashMap<String, u32> = HashMap::new();
        for raw in text.split_whitespace() {
            let word = raw.trim_matches(|c: char| !c.is_alphanumeric());
            if !word.is_empty() {
                *counts.entry(word.to_lowercase()).or_default() += 1;
            }
        }
        let mut counted: Vec<(String, u32)> = counts.into_iter().collect();
        counted.sort_by(|(word_a, count_a), (word_b, count_b)| {
            count_b.cmp(count_a).then_with(|| word_a.cmp(word_b))
        });
        counted
    }
}

bindings::export!(Task with_types_in bindings);
