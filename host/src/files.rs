//! Writing a file so that no reader ever sees half of it: into a temporary file beside it,
//! synced, then renamed over the name (an atomic replace on one filesystem). The temporary
//! file is removed when any step fails.

use std::fs;
use std::io::Write;
use std::path::Path;

/// Writes `bytes` to `path` (in `dir`, which is created if needed) through a temporary file
/// named after it and this process.
///
/// # Errors
/// The I/O error of the step that failed; nothing is left behind then.
pub(crate) fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        std::process::id()
    ));
    let result = (|| {
        let mut file = fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}
