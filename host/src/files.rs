//! Writing a file so that no reader ever sees half of it: into a temporary file beside it,
//! synced, then renamed over the name (an atomic replace on one filesystem). The temporary
//! file is removed when any step fails.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Numbers this process's temporary files, so two writers in one process (two pools built
/// at once from one module) never share one.
static NEXT: AtomicU64 = AtomicU64::new(0);

/// A name for a temporary file that no other writer of this process or another uses:
/// `prefix`, this process's id and a number of its own.
pub(crate) fn unique_name(prefix: &str) -> String {
    format!(
        "{prefix}.{}.{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Creates `path`, which is named by [`unique_name`], for writing: never opening a file
/// another writer has open. A file already there is a leftover of a dead process that had
/// this process's id (a killed run cannot remove its temporary files): it is replaced.
///
/// # Errors
/// The I/O error of creating the file.
pub(crate) fn create_fresh(path: &Path) -> std::io::Result<fs::File> {
    let create = || {
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
    };
    match create() {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            fs::remove_file(path)?;
            create()
        }
        other => other,
    }
}

/// Writes `bytes` to `path` (in `dir`, which is created if needed) through a temporary file
/// named after it, this process and this call: a second writer of the same file (another
/// thread, another process) writes its own, and the last rename wins with a whole file.
///
/// # Errors
/// The I/O error of the step that failed; nothing is left behind then.
pub(crate) fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    fs::create_dir_all(dir)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{}.tmp", unique_name(name)));
    let result = (|| {
        let mut file = create_fresh(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}
