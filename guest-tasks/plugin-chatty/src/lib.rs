//! A chatty document plugin: it calls the application a million times (`get`) before it
//! answers (or as many times as a `calls:N` tag says), so the cost of a host call shows, and
//! tags the document with the count.

use bindings::Guest;
use bindings::mpwasm::tasks::app::{self, Document};

/// Bindings generated from `wit/` (kept in a private module, out of the crate's public API).
mod bindings {
    wit_bindgen::generate!({ path: "../../wit", world: "doc-plugin" });
}

/// How many host calls one document costs, unless it says otherwise.
const CALLS: u32 = 1_000_000;

struct Plugin;

impl Guest for Plugin {
    fn transform(doc: Document) -> Result<Document, String> {
        let calls = doc
            .tags
            .iter()
            .find_map(|t| t.strip_prefix("calls:")?.parse().ok())
            .unwrap_or(CALLS);
        let mut answered = 0u32;
        for _ in 0..calls {
            if app::get("documents").is_some() {
                answered += 1;
            }
        }
        let mut tags: Vec<String> = doc
            .tags
            .into_iter()
            .filter(|t| !t.starts_with("calls:"))
            .collect();
        tags.push(format!("calls:{calls}"));
        tags.push(format!("answered:{answered}"));
        Ok(Document { tags, ..doc })
    }
}

bindings::export!(Plugin with_types_in bindings);
