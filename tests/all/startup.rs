//! Pool start-up: workers are started while the module loads, so a pool whose module turns
//! out to be unusable must stop and reap them; and pools of one process built at once from one
//! module share nothing half-written (the compile cache, the temporary artifact). The tests run
//! in processes of their own ([`common::alone`]), so that no other test's workers are children
//! of that process and the cache directory is theirs.

use std::sync::{Arc, Barrier};
use std::time::Duration;

use mpwasm::Pool;
use mpwasm::task::TaskSource;
use mpwasm_test_artifacts::guests;
use serde_json::json;

use crate::common;

#[test]
fn a_module_that_fails_to_load_leaves_no_worker_behind() {
    common::alone(
        "startup::a_module_that_fails_to_load_leaves_no_worker_behind",
        || {
            for _ in 0..3 {
                let source = TaskSource::Bytes {
                    name: "not-wasm.txt".into(),
                    bytes: b"this is not WebAssembly".to_vec(),
                };
                let Err(err) = Pool::builder()
                    .processes(2)
                    .worker_program(common::mpwasm_bin())
                    .build(source)
                else {
                    panic!("a pool started from a text file");
                };
                assert!(err.to_string().contains("not-wasm.txt"), "{err}");
            }
            // Even a worker that exits by itself stays a child (a zombie) until it is reaped.
            std::thread::sleep(Duration::from_millis(200));
            let left = common::children(std::process::id());
            assert!(left.is_empty(), "worker processes left behind: {left:?}");
        },
    );
}

/// `pools` pools of one worker each, built from one module at the same moment on threads of
/// their own, each mapping 0..5 through `square`.
fn build_at_once(pools: usize) -> Vec<Result<Vec<u64>, String>> {
    let start = Arc::new(Barrier::new(pools));
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..pools)
            .map(|n| {
                let start = Arc::clone(&start);
                scope.spawn(move || {
                    start.wait();
                    let pool = Pool::builder()
                        .processes(1)
                        .max_tasks_per_worker(1)
                        .worker_program(common::mpwasm_bin())
                        .build(guests::SQUARE)
                        .map_err(|e| format!("pool {n} does not start: {e}"))?;
                    pool.map((0..5u64).map(|x| json!(x)))
                        .into_iter()
                        .map(|r| {
                            r.map_err(|e| format!("pool {n}: {e}"))
                                .and_then(|v| v.as_u64().ok_or(format!("pool {n}: {v}")))
                        })
                        .collect()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a pool's thread"))
            .collect()
    })
}

#[test]
fn pools_built_at_once_into_an_empty_compile_cache_all_start() {
    let dir = std::env::temp_dir().join(format!("mpwasm-cold-cache-{}", std::process::id()));
    common::alone_with(
        "startup::pools_built_at_once_into_an_empty_compile_cache_all_start",
        &[("MPWASM_CACHE_DIR", &dir)],
        || {
            let dir = std::path::PathBuf::from(
                std::env::var_os("MPWASM_CACHE_DIR").expect("set for this process"),
            );
            // Each round starts cold: every pool compiles and writes the same cache entry.
            for round in 0..4 {
                let _ = std::fs::remove_dir_all(&dir);
                for result in build_at_once(6) {
                    assert_eq!(result, Ok(vec![0, 1, 4, 9, 16]), "round {round}");
                }
            }
            let _ = std::fs::remove_dir_all(&dir);
        },
    );
}

#[test]
fn a_dropped_pool_takes_only_its_own_temporary_artifact() {
    // Without the cache each pool writes the module's artifact to a temporary file and removes
    // it when dropped. The second pool starts a new worker for every task (one task per
    // worker), so its workers map its artifact again after the first pool is gone.
    let uncached = || {
        Pool::builder()
            .processes(1)
            .max_tasks_per_worker(1)
            .cache(false)
            .worker_program(common::mpwasm_bin())
            .build(guests::SQUARE)
            .expect("pool starts")
    };
    let first = uncached();
    let second = uncached();
    assert_eq!(first.map([json!(3)])[0].as_ref().ok(), Some(&json!(9)));
    drop(first);
    let squares: Vec<_> = second
        .map((0..5u64).map(|x| json!(x)))
        .into_iter()
        .map(|r| r.map_err(|e| e.to_string()))
        .collect();
    assert_eq!(
        squares,
        [0, 1, 4, 9, 16].map(|x| Ok(json!(x))),
        "the second pool's workers still find its artifact"
    );
}
