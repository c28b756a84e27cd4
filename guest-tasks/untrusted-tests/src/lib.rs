//! A test suite that behaves badly on purpose, for `mpwasm test`: each test's name says what
//! it does, and the integration tests check that each gets the outcome its name promises.

/// Adds two numbers (the code under test).
pub fn add(a: u64, b: u64) -> u64 {
    a + b
}

// Only on wasm: natively, `hangs` would spin forever and `exhausts_memory` would take the
// machine's memory (`cargo test --workspace` must not run them).
#[cfg(all(test, target_family = "wasm"))]
mod tests {
    use super::add;
    use std::time::Duration;

    #[test]
    fn passes() {
        assert_eq!(add(2, 2), 4);
    }

    #[test]
    fn passes_with_output() {
        println!("hello from a passing test");
        // Granted by a config override in one test of `mpwasm test`'s.
        if let Ok(greeting) = std::env::var("GREETING") {
            println!("GREETING is {greeting}");
        }
        assert_eq!(add(1, 2), 3);
    }

    #[test]
    fn fails_assert() {
        println!("stdout before the failed assert");
        eprintln!("stderr before the failed assert");
        assert_eq!(add(2, 2), 5, "two and two");
    }

    #[test]
    fn panics() {
        panic!("deliberate panic in a test");
    }

    #[test]
    fn returns_err() -> Result<(), String> {
        Err("the test returned an error".to_string())
    }

    #[test]
    fn hangs() {
        #[allow(clippy::empty_loop)]
        loop {}
    }

    #[test]
    fn sleeps_briefly() {
        std::thread::sleep(Duration::from_millis(50));
    }

    #[test]
    fn exhausts_memory() {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            hoard.push(vec![1u8; 1 << 20]);
        }
    }

    #[test]
    fn reads_host_file() {
        let read = std::fs::read_to_string("/etc/passwd");
        assert!(read.is_ok(), "cannot read /etc/passwd: {read:?}");
    }

    /// Fails on its first run and passes on the next, when a scratch directory is granted at
    /// /scratch (it leaves a marker there); without the grant there is nothing to do.
    #[test]
    fn flaky_with_scratch() {
        let scratch = std::path::Path::new("/scratch");
        if !scratch.is_dir() {
            return;
        }
        let marker = scratch.join("flaky-marker");
        if !marker.exists() {
            std::fs::write(&marker, b"failed once").expect("the scratch directory is writable");
            panic!("first run: failing on purpose");
        }
    }

    #[test]
    #[should_panic(expected = "boom")]
    fn should_panic() {
        panic!("boom");
    }

    #[test]
    #[ignore = "slow"]
    fn ignored() {
        assert_eq!(add(0, 0), 0);
    }

    mod nested {
        #[test]
        fn adds() {
            assert_eq!(super::add(40, 2), 42);
        }
    }
}
