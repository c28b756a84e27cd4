//! A plugin that calls back into the application (world `host-calls`): every export uses the
//! imported `store` interface or the direct `log` import, for the host-function tests.

use bindings::Guest;
use bindings::mpwasm::tasks::store;

/// Bindings generated from `wit/` (kept in a private module, out of the crate's public API).
mod bindings {
    wit_bindgen::generate!({ path: "../../wit", world: "host-calls" });
}

struct Plugin;

impl Guest for Plugin {
    fn echo_through(text: String) -> String {
        store::echo(&text)
    }

    fn lookup(key: String) -> Result<String, String> {
        store::get(&key)
    }

    fn remember(key: String, value: String) -> Result<String, String> {
        store::put(&key, &value);
        store::get(&key)
    }

    fn shout(message: String) -> u32 {
        bindings::log(&message);
        message.len() as u32
    }

    fn chatter(n: u32) -> u32 {
        let mut matched = 0;
        for i in 0..n {
            let text = i.to_string();
            if store::echo(&text) == text {
                matched += 1;
            }
        }
        matched
    }
}

bindings::export!(Plugin with_types_in bindings);
