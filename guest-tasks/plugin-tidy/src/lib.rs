//! A well-behaved document plugin: tidies the title, tags the document with the user's
//! running count of documents (kept by the application, per user), and appends the text of
//! a source the application allows it to fetch.

use bindings::Guest;
use bindings::mpwasm::tasks::app::{self, Document};

/// Bindings generated from `wit/` (kept in a private module, out of the crate's public API).
mod bindings {
    wit_bindgen::generate!({ path: "../../wit", world: "doc-plugin" });
}

struct Plugin;

impl Guest for Plugin {
    fn transform(doc: Document) -> Result<Document, String> {
        let title = doc.title.split_whitespace().collect::<Vec<_>>().join(" ");
        if title.is_empty() {
            return Err("the document has no title".to_string());
        }
        let seen: u64 = app::get("documents")
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
            + 1;
        app::set("documents", &seen.to_string());
        app::log(&format!("tidied {title:?} (document {seen} of this user)"));
        let mut body = doc.body;
        if let Some(url) = doc.tags.iter().find_map(|t| t.strip_prefix("source:")) {
            let source = app::fetch(url)?;
            body.push_str("\n\n");
            body.push_str(&source);
        }
        let mut tags = doc.tags;
        tags.push(format!("seen:{seen}"));
        Ok(Document { title, body, tags })
    }
}

bindings::export!(Plugin with_types_in bindings);
