//! Choosing a module's [`MemoryInit`] from the data it initialises: copying wins for the few
//! KiB a Rust task has, a copy-on-write image for anything larger (a Python task's 10 MiB
//! heap image would otherwise be copied into every fresh instance).

use wasmparser::{DataKind, Parser, Payload};

use crate::sandbox::engine::MemoryInit;

/// The most data (active segments, summed over every core module of a component) a module
/// may initialise and still be copied into a new instance. Measured with `--fresh` over
/// 20 000 tasks on 2 cores, whole process, µs per task (copy / copy-on-write): `square`
/// (128 bytes) 15 / 19, 16 KiB 23 / 22, 64 KiB 47 / 26, 256 KiB 119 / 22, 1 MiB 508 / 22,
/// 4 MiB 2 076 / 24. Copying costs in proportion to the data; a copy-on-write instance
/// costs the pages a task touches.
pub const COPY_AT_MOST: u64 = 16 * 1024;

/// The memory initialisation for a module with these bytes. Bytes wasmparser cannot read get
/// wasmtime's default (copy-on-write); compiling them reports what is wrong.
pub fn choose(bytes: &[u8]) -> MemoryInit {
    match active_data_bytes(bytes) {
        Some(total) if total <= COPY_AT_MOST => MemoryInit::Copy,
        _ => MemoryInit::CopyOnWrite,
    }
}

/// The bytes of every active data segment in the module, or in every core module a
/// component holds (nested ones too); `None` if the bytes do not parse. Function bodies are
/// skipped, not decoded, so this reads a 17 MiB Python task in a few milliseconds.
pub fn active_data_bytes(bytes: &[u8]) -> Option<u64> {
    let mut total = 0u64;
    for payload in Parser::new(0).parse_all(bytes) {
        if let Payload::DataSection(reader) = payload.ok()? {
            for data in reader {
                let data = data.ok()?;
                if matches!(data.kind, DataKind::Active { .. }) {
                    total = total.saturating_add(data.data.len() as u64);
                }
            }
        }
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module_with_data(bytes: usize) -> Vec<u8> {
        let data = "a".repeat(bytes);
        wat::parse_str(format!(
            r#"(module (memory 8) (data (i32.const 0) "{data}") (data "passive, not counted"))"#
        ))
        .expect("valid wat")
    }

    #[test]
    fn counts_active_segments_only() {
        assert_eq!(active_data_bytes(&module_with_data(100)), Some(100));
    }

    #[test]
    fn counts_the_core_modules_inside_a_component() {
        let component = wat::parse_str(
            r#"(component
                (core module (memory 1) (data (i32.const 0) "abc"))
                (component (core module (memory 1) (data (i32.const 8) "defgh"))))"#,
        )
        .expect("valid wat");
        assert_eq!(active_data_bytes(&component), Some(8));
    }

    #[test]
    fn small_data_is_copied_and_large_data_mapped() {
        assert_eq!(choose(&module_with_data(1024)), MemoryInit::Copy);
        let large = module_with_data(COPY_AT_MOST as usize + 1);
        assert_eq!(choose(&large), MemoryInit::CopyOnWrite);
    }

    #[test]
    fn unreadable_bytes_get_the_default() {
        assert_eq!(active_data_bytes(b"\0asm\x01\0\0\0\x0b\xff"), None);
        assert_eq!(choose(b"not wasm"), MemoryInit::CopyOnWrite);
    }
}
