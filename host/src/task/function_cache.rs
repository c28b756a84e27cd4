//! Cranelift's incremental compilation cache, on disk beside the compile cache: every
//! function a compile produces, filed under the hash of its IR. Two modules that share code
//! share its compiled functions: every Python task holds the same CPython, so the second
//! Python app compiles only what is its own.
//!
//! Entries live in `functions/XX/` under the cache directory, one file per function, written
//! to a temporary name and renamed (so a reader never sees half of one), each starting with
//! the SHA-256 of its contents, checked on every read: a damaged entry is a miss and is
//! compiled again, never loaded as machine code.

use std::borrow::Cow;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::CacheStore;

use crate::files;

/// The store: a directory, touched only when a module is compiled.
#[derive(Debug)]
pub struct FunctionCache {
    dir: PathBuf,
}

/// Bytes of the checksum that starts every entry.
const CHECKSUM: usize = 32;

impl FunctionCache {
    /// The store in the `functions` folder of the compile cache directory `cache_dir`.
    pub fn in_cache_dir(cache_dir: &Path) -> FunctionCache {
        FunctionCache {
            dir: cache_dir.join("functions"),
        }
    }

    /// The folder and the file of the entry for `key`.
    fn entry(&self, key: &[u8]) -> (PathBuf, PathBuf) {
        let name: String = Sha256::digest(key)[..20]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let folder = self.dir.join(&name[..2]);
        let file = folder.join(&name[2..]);
        (folder, file)
    }
}

impl CacheStore for FunctionCache {
    fn get(&self, key: &[u8]) -> Option<Cow<'_, [u8]>> {
        let (_, file) = self.entry(key);
        let mut bytes = fs::read(file).ok()?;
        if bytes.len() < CHECKSUM || Sha256::digest(&bytes[CHECKSUM..])[..] != bytes[..CHECKSUM] {
            return None;
        }
        bytes.drain(..CHECKSUM);
        Some(Cow::Owned(bytes))
    }

    fn insert(&self, key: &[u8], value: Vec<u8>) -> bool {
        let (folder, file) = self.entry(key);
        write(&folder, &file, &value).is_ok()
    }
}

/// Writes one entry: checksum and value into a file of its own, renamed into place. Unlike
/// the compiled modules, entries are not synced to disk one by one (a compile makes tens of
/// thousands): one cut short by a crash fails its checksum and is compiled again.
fn write(folder: &Path, file: &Path, value: &[u8]) -> std::io::Result<()> {
    fs::create_dir_all(folder)?;
    let (tmp, mut out) = files::create_unique(folder, ".entry", ".tmp")?;
    let result = (|| {
        out.write_all(&Sha256::digest(value))?;
        out.write_all(value)?;
        drop(out);
        fs::rename(&tmp, file)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(name: &str) -> (FunctionCache, PathBuf) {
        let dir = std::env::temp_dir().join(format!(
            "mpwasm-function-cache-{name}-{}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&dir);
        (FunctionCache::in_cache_dir(&dir), dir)
    }

    #[test]
    fn what_is_inserted_comes_back() {
        let (cache, dir) = store("roundtrip");
        assert!(cache.get(b"key").is_none());
        assert!(cache.insert(b"key", b"compiled".to_vec()));
        assert_eq!(cache.get(b"key").as_deref(), Some(&b"compiled"[..]));
        assert!(cache.get(b"other key").is_none());
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn a_damaged_entry_is_a_miss() {
        let (cache, dir) = store("damaged");
        assert!(cache.insert(b"key", b"compiled code".to_vec()));
        let (_, file) = cache.entry(b"key");
        let mut bytes = fs::read(&file).expect("written");
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        fs::write(&file, &bytes).expect("rewritten");
        assert!(cache.get(b"key").is_none(), "a flipped bit");
        fs::write(&file, &bytes[..10]).expect("rewritten");
        assert!(cache.get(b"key").is_none(), "cut short");
        let _ = fs::remove_dir_all(dir);
    }
}
