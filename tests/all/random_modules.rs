//! Random and mutated modules through `inspect`, `run` and `call` (issue 19's fuzzing of
//! modules): wasm-smith generates core modules from random bytes (all of its proposals on, and
//! a plain set that wasmtime accepts, so functions really run), and byte-level mutations break
//! real guests, component and core. Whatever the module, mpwasm never panics and is never
//! killed: it exits 0, 1 (a task failed, with its reason) or 2 (the module refused, with a
//! reason on stderr). The generator is seeded, so a failure names a seed that reproduces it;
//! `MPWASM_FUZZ_MODULES=N` runs N modules of each kind instead of the default.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use mpwasm_test_artifacts::guests;

use crate::chaos::Figures;
use crate::common::{Rng, mpwasm_bin, temp_dir};

fn cases() -> u64 {
    std::env::var("MPWASM_FUZZ_MODULES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(16)
}

/// How many commands ended with each exit status, by name.
type Codes = BTreeMap<String, u64>;

/// The name of an honest exit status, for the figures.
fn code_name(code: i32) -> &'static str {
    match code {
        0 => "exit 0 (ran)",
        1 => "exit 1 (a task failed, saying why)",
        _ => "exit 2 (refused, saying why)",
    }
}

/// Runs mpwasm with its own compile cache; checks the outcome is one of the honest three and
/// counts it in `codes`.
fn check(what: &str, args: &[&str], cache: &Path, codes: &mut Codes) -> i32 {
    let out = Command::new(mpwasm_bin())
        .args(args)
        .env("MPWASM_CACHE_DIR", cache)
        .output()
        .expect("mpwasm runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let code = out.status.code();
    assert!(
        matches!(code, Some(0..=2)),
        "{what}: mpwasm {args:?} ended with {:?}; stderr: {stderr}",
        out.status
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "{what}: mpwasm {args:?} panicked: {stderr}"
    );
    if code == Some(2) {
        assert!(
            stderr.contains("error"),
            "{what}: exit 2 without a reason: {stderr}"
        );
    }
    let code = code.unwrap_or(-1);
    *codes.entry(code_name(code).to_string()).or_default() += 1;
    code
}

/// The names of the functions `inspect --json` lists, when it accepts the module.
fn exports(file: &str, cache: &Path) -> Vec<String> {
    let out = Command::new(mpwasm_bin())
        .args(["inspect", "--json", file])
        .env("MPWASM_CACHE_DIR", cache)
        .output()
        .expect("mpwasm runs");
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(&out.stdout) else {
        return Vec::new();
    };
    json["exports"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|e| e["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Everything a user would do with a module file: inspect it, run it, call each function.
fn exercise(what: &str, file: &Path, cache: &Path, codes: &mut Codes) -> (i32, usize) {
    let file = file.to_str().expect("utf-8 path");
    let limits = ["--timeout", "1s", "--memory", "64MiB"];
    let inspected = check(what, &["inspect", file], cache, codes);
    check(what, &["inspect", "--json", file], cache, codes);
    let mut run = vec!["run", file, "--map", "0..3"];
    run.extend_from_slice(&limits);
    check(what, &run, cache, codes);
    let names = exports(file, cache);
    // A name with a NUL byte cannot be given on a command line.
    for name in names.iter().filter(|n| !n.contains('\0')).take(3) {
        let mut run = vec!["run", file, "--func", name, "--map", "0..2", "-j", "1"];
        run.extend_from_slice(&limits);
        check(what, &run, cache, codes);
        // No arguments: a function without parameters really runs.
        let mut call = vec!["call", file, "--func", name];
        call.extend_from_slice(&limits);
        check(what, &call, cache, codes);
    }
    (inspected, names.len())
}

fn generated(seed: u64, plain: bool) -> Option<Vec<u8>> {
    let mut rng = Rng(seed);
    let len = 64 + rng.below(4096) as usize;
    let bytes = rng.bytes(len);
    let mut u = arbitrary::Unstructured::new(&bytes);
    let mut config = wasm_smith::Config {
        max_funcs: 8,
        max_instructions: 64,
        max_memory32_bytes: 16 << 20,
        max_memory64_bytes: 16 << 20,
        ..wasm_smith::Config::default()
    };
    if plain {
        // What wasmtime takes by default, with nothing imported, so mpwasm runs the functions.
        config.max_imports = 0;
        config.export_everything = true;
        config.min_funcs = 1;
        config.gc_enabled = false;
        config.reference_types_enabled = false;
        config.tail_call_enabled = false;
        config.exceptions_enabled = false;
        config.threads_enabled = false;
        config.shared_everything_threads_enabled = false;
        config.custom_page_sizes_enabled = false;
        config.wide_arithmetic_enabled = false;
    }
    wasm_smith::Module::new(config, &mut u)
        .ok()
        .map(|m| m.to_bytes())
}

#[test]
fn random_modules_never_panic_inspect_run_or_call() {
    let dir = temp_dir("random-modules");
    let cache = dir.join("cache");
    let (mut accepted, mut functions, mut modules) = (0, 0, 0);
    let mut codes = Codes::new();
    let started = Instant::now();
    for i in 0..cases() {
        for plain in [true, false] {
            let seed = 0x5eed_0000 + i * 2 + u64::from(plain);
            let Some(module) = generated(seed, plain) else {
                continue;
            };
            let file = dir.join(format!("{seed:x}.wasm"));
            std::fs::write(&file, &module).expect("write");
            let (inspected, names) =
                exercise(&format!("seed {seed:#x}"), &file, &cache, &mut codes);
            accepted += usize::from(inspected == 0);
            functions += names;
            modules += 1;
        }
    }
    Figures {
        scenario: "random_modules_never_panic_inspect_run_or_call",
        load: format!("{modules} wasm-smith modules through inspect, run and call"),
        faults: format!(
            "random modules: {accepted} accepted, {functions} functions run; no panic, no kill"
        ),
        inputs: codes.values().sum(),
        failed: codes,
        elapsed: started.elapsed(),
        ..Figures::default()
    }
    .record();
    // The plain modules are accepted and their functions run: the test reached the sandbox.
    assert!(accepted > 0, "no generated module was accepted");
    assert!(functions > 0, "no generated module exported a function");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn mutated_guests_never_panic_inspect_run_or_call() {
    let dir = temp_dir("mutated-modules");
    let cache = dir.join("cache");
    let mut codes = Codes::new();
    let started = Instant::now();
    for (k, guest) in [guests::SQUARE, guests::CORE_SQUARE, guests::KITCHEN]
        .into_iter()
        .enumerate()
    {
        let original = std::fs::read(guest).expect("a built guest");
        for i in 0..cases() {
            let seed = 0xbad_0000 + (k as u64) * 10_000 + i;
            let mut rng = Rng(seed);
            let mut module = original.clone();
            match rng.below(3) {
                // Flip a few bytes.
                0 => {
                    for _ in 0..=rng.below(8) {
                        let at = rng.below(module.len() as u64) as usize;
                        module[at] ^= 1 << rng.below(8);
                    }
                }
                // Cut it short.
                1 => module.truncate(rng.below(module.len() as u64) as usize),
                // Put random bytes in the middle.
                _ => {
                    let at = rng.below(module.len() as u64) as usize;
                    let len = 1 + rng.below(32) as usize;
                    let junk = rng.bytes(len);
                    module.splice(at..at, junk);
                }
            }
            let file = dir.join(format!("{seed:x}.wasm"));
            std::fs::write(&file, &module).expect("write");
            exercise(
                &format!("seed {seed:#x} of {guest}"),
                &file,
                &cache,
                &mut codes,
            );
        }
    }
    Figures {
        scenario: "mutated_guests_never_panic_inspect_run_or_call",
        load: format!(
            "{} mutations of each of 3 real guests through inspect, run and call",
            cases()
        ),
        faults: "bytes flipped, modules cut short, junk inserted; no panic, no kill".into(),
        inputs: codes.values().sum(),
        failed: codes,
        elapsed: started.elapsed(),
        ..Figures::default()
    }
    .record();
    let _ = std::fs::remove_dir_all(&dir);
}
