//! Checks the artifacts: every crate under `guest-tasks/` was built by `build.rs`, and each
//! `.wasm` is a component, or a core module for the guests marked as such.

use std::fs;
use std::path::Path;

use mpwasm_test_artifacts::guests;

/// First four bytes of every WebAssembly binary.
const MAGIC: &[u8; 4] = b"\0asm";
/// Version and layer bytes of a component.
const COMPONENT_VERSION: [u8; 4] = [0x0d, 0x00, 0x01, 0x00];
/// Version and layer bytes of a core module.
const CORE_VERSION: [u8; 4] = [0x01, 0x00, 0x00, 0x00];

/// Asserts that the guest `name` was built and has the header its kind calls for.
fn assert_built(name: &str) {
    let path = guests::path(name).unwrap_or_else(|| panic!("{name} is not in guests::ALL"));
    let bytes = fs::read(path).unwrap_or_else(|err| panic!("cannot read {path}: {err}"));
    assert!(bytes.len() >= 8, "{path} is only {} bytes", bytes.len());
    assert_eq!(
        &bytes[..4],
        MAGIC,
        "{path} does not start with the wasm magic"
    );
    let expected = if guests::is_component(name) {
        COMPONENT_VERSION
    } else {
        CORE_VERSION
    };
    assert_eq!(bytes[4..8], expected, "{path}: wrong version bytes");
}

/// One test per guest, named after it.
macro_rules! built {
    ($name:ident) => {
        #[test]
        fn $name() {
            assert_built(&stringify!($name).replace('_', "-"));
        }
    };
}

mpwasm_test_artifacts::foreach_guest!(built);

#[test]
fn every_guest_directory_is_listed() {
    let guest_tasks = Path::new(env!("CARGO_MANIFEST_DIR")).join("../guest-tasks");
    let mut dirs: Vec<String> = fs::read_dir(&guest_tasks)
        .expect("guest-tasks/ is readable")
        .map(|entry| entry.expect("guest-tasks/ is readable").path())
        .filter(|path| path.join("Cargo.toml").is_file())
        .map(|path| {
            path.file_name()
                .expect("a directory name")
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    dirs.sort();
    let listed: Vec<&str> = guests::ALL.iter().map(|(name, _)| *name).collect();
    assert_eq!(
        dirs, listed,
        "each guest directory must be named after its package"
    );
}

#[test]
fn constants_match_all() {
    assert_eq!(guests::path("square"), Some(guests::SQUARE));
    assert_eq!(guests::path("core-square"), Some(guests::CORE_SQUARE));
    assert_eq!(guests::CORE_MODULES, ["core-square"]);
    assert!(guests::path("no-such-guest").is_none());
}
