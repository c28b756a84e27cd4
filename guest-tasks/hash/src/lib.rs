//! `sha256(data: string) -> string`: hex SHA-256 computed with the `sha2` crate, to show that
//! guests use ordinary crates.io libraries.

use sha2::{Digest, Sha256};

use bindings::Guest;

/// Bindings generated from `wit/` (kept in a private module, out of the crate's public API).
mod bindings {
    wit_bindgen::generate!({ path: "../../wit", world: "hash" });
}

struct Task;

impl Guest for Task {
    fn sha256(data: String) -> String {
        let digest = Sha256::digest(data.as_bytes());
        to_hex(&digest)
    }
}

/// Lowercase hex, two digits per byte.
fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut hex = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        hex.push(char::from(DIGITS[usize::from(byte >> 4)]));
        hex.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    hex
}

bindings::export!(Task with_types_in bindings);
