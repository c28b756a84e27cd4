//! `--partition hash:M/N` and `--partition slice:M/N`: which of a binary's selected tests this
//! invocation runs, so that N invocations (CI jobs, machines) given the same binaries and
//! filters run every selected test exactly once between them. `slice` deals the tests of each
//! binary out in turn, in the order the binary lists them (balanced, but a test added shifts
//! the ones after it); `hash` puts a test where the hash of its binary's crate name and its
//! own name says (a test keeps its partition as others come and go).

use std::fmt;

use super::libtest::TestCase;

/// How many selected tests the binaries had, and how many of them this run took.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// Selected by the filters, over every binary.
    pub selected: usize,
    /// Of those, in this run's share.
    pub taken: usize,
}

/// The tests of `selected` (one binary's, of crate `suite`, in its order) that `partition`
/// gives this run (all without one), counted in `tally`.
pub fn take<'a>(
    partition: Option<&Partition>,
    suite: &str,
    selected: Vec<&'a TestCase>,
    tally: &mut Tally,
) -> Vec<&'a TestCase> {
    tally.selected += selected.len();
    let taken: Vec<&TestCase> = match partition {
        None => selected,
        Some(p) => selected
            .into_iter()
            .enumerate()
            .filter(|(i, t)| p.takes(suite, *i, &t.name))
            .map(|(_, t)| t)
            .collect(),
    };
    tally.taken += taken.len();
    taken
}

/// How the tests are split, and which share this run takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partition {
    /// How a test's share is chosen.
    pub kind: Kind,
    /// This run's share, from 1.
    pub m: u64,
    /// How many shares.
    pub n: u64,
}

/// How a test's share is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// By a stable hash of the crate's and the test's names.
    Hash,
    /// By the test's position among its binary's selected tests, dealt out in turn.
    Slice,
}

impl Partition {
    /// Parses `hash:M/N` or `slice:M/N` (1 ≤ M ≤ N).
    ///
    /// # Errors
    /// A message saying what is wrong and what is accepted.
    pub fn parse(text: &str) -> Result<Partition, String> {
        let shape = "expected hash:M/N or slice:M/N, with 1 <= M <= N (e.g. hash:1/3)";
        let (kind, share) = text
            .split_once(':')
            .ok_or_else(|| format!("`{text}`: {shape}"))?;
        let kind = match kind {
            "hash" => Kind::Hash,
            "slice" | "count" => Kind::Slice,
            other => return Err(format!("`{text}`: unknown kind `{other}`; {shape}")),
        };
        let (m, n) = share
            .split_once('/')
            .ok_or_else(|| format!("`{text}`: {shape}"))?;
        let number = |s: &str| {
            s.trim()
                .parse::<u64>()
                .map_err(|_| format!("`{text}`: `{s}` is not a whole number; {shape}"))
        };
        let (m, n) = (number(m)?, number(n)?);
        if n == 0 || m == 0 || m > n {
            return Err(format!("`{text}`: {shape}"));
        }
        Ok(Partition { kind, m, n })
    }

    /// Whether this run takes the test `name` of crate `suite`, the `position`-th (from 0) of
    /// its binary's selected tests.
    pub fn takes(&self, suite: &str, position: usize, name: &str) -> bool {
        let share = match self.kind {
            Kind::Slice => position as u64 % self.n,
            Kind::Hash => stable_hash(suite, name) % self.n,
        };
        share == self.m - 1
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            Kind::Hash => "hash",
            Kind::Slice => "slice",
        };
        write!(f, "{kind}:{}/{}", self.m, self.n)
    }
}

/// FNV-1a over `suite`, a separator and `name`: fixed by its definition, so every machine and
/// every version of mpwasm puts a test in the same share (std's hashers promise neither).
fn stable_hash(suite: &str, name: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in suite.bytes().chain([0]).chain(name.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(count: usize) -> Vec<String> {
        (0..count).map(|i| format!("tests::case_{i}")).collect()
    }

    #[test]
    fn every_test_is_taken_by_exactly_one_share() {
        for kind in ["hash", "slice"] {
            let shares: Vec<Partition> = (1..=3)
                .map(|m| Partition::parse(&format!("{kind}:{m}/3")).expect("valid"))
                .collect();
            let tests = names(50);
            for (position, name) in tests.iter().enumerate() {
                let takers = shares
                    .iter()
                    .filter(|p| p.takes("krate", position, name))
                    .count();
                assert_eq!(takers, 1, "{kind}: {name}");
            }
            // Each share gets some: the split is not lopsided.
            for p in &shares {
                let taken = tests
                    .iter()
                    .enumerate()
                    .filter(|(i, n)| p.takes("krate", *i, n))
                    .count();
                assert!(taken >= 8, "{p} takes {taken} of 50");
            }
        }
    }

    #[test]
    fn slice_deals_in_turn_and_hash_ignores_position() {
        let first = Partition::parse("slice:1/2").expect("valid");
        assert!(first.takes("k", 0, "a") && !first.takes("k", 1, "b") && first.takes("k", 2, "c"));
        let hash = Partition::parse("hash:2/4").expect("valid");
        for name in names(20) {
            assert_eq!(hash.takes("k", 0, &name), hash.takes("k", 7, &name));
        }
    }

    #[test]
    fn the_hash_is_fixed_by_its_definition() {
        // FNV-1a of the empty input, and of "a": the published test vectors.
        let fnv = |bytes: &[u8]| {
            let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
            for b in bytes {
                hash ^= u64::from(*b);
                hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
            }
            hash
        };
        assert_eq!(fnv(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(stable_hash("k", "t"), fnv(b"k\0t"));
    }

    proptest::proptest! {
        #[test]
        fn the_parser_never_panics(text in ".{0,24}") {
            if let Ok(p) = Partition::parse(&text) {
                proptest::prop_assert!(1 <= p.m && p.m <= p.n);
            }
        }

        #[test]
        fn valid_partitions_print_as_parsed(n in 1u64..1000, m_seed in 0u64..1000, hash: bool) {
            let m = m_seed % n + 1;
            let text = format!("{}:{m}/{n}", if hash { "hash" } else { "slice" });
            let p = Partition::parse(&text).expect("valid");
            proptest::prop_assert_eq!(p.to_string(), text);
        }

        #[test]
        fn every_test_lands_in_exactly_one_share(
            names in proptest::collection::vec("[a-z_:0-9]{1,24}", 0..40),
            n in 1u64..9,
            hash: bool,
        ) {
            let kind = if hash { Kind::Hash } else { Kind::Slice };
            for (position, name) in names.iter().enumerate() {
                let takers = (1..=n)
                    .filter(|&m| Partition { kind, m, n }.takes("krate", position, name))
                    .count();
                proptest::prop_assert_eq!(takers, 1);
            }
        }
    }

    #[test]
    fn malformed_partitions_say_what_is_accepted() {
        for bad in [
            "",
            "hash",
            "hash:1",
            "hash:0/3",
            "hash:4/3",
            "hash:1/0",
            "mod:1/2",
            "slice:x/2",
        ] {
            let err = Partition::parse(bad).expect_err(bad);
            assert!(err.contains("hash:M/N or slice:M/N"), "{bad}: {err}");
        }
        let p = Partition::parse("count:2/5").expect("nextest's old name");
        assert_eq!(p.to_string(), "slice:2/5");
    }
}
