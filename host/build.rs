//! Link options for the `mpwasm` binary. Every worker is this binary started afresh, so what
//! the dynamic loader reads and writes at start-up is paid per worker, in time and in memory.
//! On Linux with glibc, pack the binary's ~45 000 relative relocations into a compact DT_RELR
//! table (glibc ≥ 2.36, GNU ld ≥ 2.38) instead of 1 MB of RELA entries that every worker
//! pages in.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    let gnu = std::env::var("CARGO_CFG_TARGET_ENV").is_ok_and(|env| env == "gnu");
    if linux && gnu {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
