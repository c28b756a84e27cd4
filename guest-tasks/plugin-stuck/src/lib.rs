//! A misbehaving document plugin: it loops forever, spending its time inside a host call
//! (a fetch the application answers slowly). The task's timeout must still stop it, and its
//! worker must live on.

use bindings::Guest;
use bindings::mpwasm::tasks::app::{self, Document};

/// Bindings generated from `wit/` (kept in a private module, out of the crate's public API).
mod bindings {
    wit_bindgen::generate!({ path: "../../wit", world: "doc-plugin" });
}

struct Plugin;

impl Guest for Plugin {
    fn transform(_doc: Document) -> Result<Document, String> {
        loop {
            let _ = app::fetch("https://slow.example/");
        }
    }
}

bindings::export!(Plugin with_types_in bindings);
