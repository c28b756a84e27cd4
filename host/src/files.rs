//! Writing a file so that no reader ever sees half of it: into a temporary file beside it,
//! synced, then renamed over the name (an atomic replace on one filesystem). The temporary
//! file is removed when any step fails.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Numbers this process's temporary files, so two writers in one process (two pools built
/// at once from one module) never share one.
static NEXT: AtomicU64 = AtomicU64::new(0);

/// Creates a new file in `dir` named `{prefix}.{pid}.{n}.{clock}{suffix}`, for writing, and
/// never one another writer has: the name is this process's and this call's, with the clock's
/// nanoseconds against another process of the same id (containers sharing a directory), and a
/// name that exists all the same is passed over for the next, never removed.
///
/// # Errors
/// The I/O error of creating the file, or `AlreadyExists` after many names were taken.
pub(crate) fn create_unique(
    dir: &Path,
    prefix: &str,
    suffix: &str,
) -> std::io::Result<(PathBuf, fs::File)> {
    let mut last = None;
    for _ in 0..16 {
        let clock = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = dir.join(format!(
            "{prefix}.{}.{}.{clock:08x}{suffix}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(file) => return Ok((path, file)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::from(std::io::ErrorKind::AlreadyExists)))
}

/// Writes `bytes` to `path` (in `dir`, which is created if needed) through a temporary file
/// of its own ([`create_unique`]): a second writer of the same file (another
/// thread, another process) writes its own, and the last rename wins with a whole file.
///
/// # Errors
/// The I/O error of the step that failed; nothing is left behind then.
pub(crate) fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    fs::create_dir_all(dir)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let (tmp, mut file) = create_unique(dir, &format!(".{name}"), ".tmp")?;
    let result = (|| {
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}
