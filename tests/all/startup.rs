//! Pool start-up: workers are started while the module loads, so a pool whose module turns
//! out to be unusable must stop and reap them. The test runs in a process of its own
//! ([`common::alone`]), so that no other test's workers are children of that process.

use std::time::Duration;

use mpwasm::Pool;
use mpwasm::task::TaskSource;

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
