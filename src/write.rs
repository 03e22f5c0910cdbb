//! Writing a rewritten file in place, atomically.
//!
//! The new bytes go to a temporary file in the same directory (so the
//! rename cannot cross file systems), are flushed to disk, get the
//! original's permissions and (best effort) owner, and are renamed over the
//! original: readers see the old file or the new one, never a mix. A
//! symlink is followed and its target written; the link stays. The file is
//! read again just before the rename, and if someone changed it since upkeep
//! read it, nothing is written. On any error the temporary file is removed.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("{path}: cannot write: {source}")]
    Io { path: String, source: io::Error },
    #[error("{path}: the file is read-only; nothing was written (make it writable to apply the changes)")]
    ReadOnly { path: String },
    #[error(
        "{path}: the file changed since upkeep read it; nothing was written (run upkeep again)"
    )]
    ChangedMeanwhile { path: String },
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

pub fn write_atomically(path: &Path, original: &[u8], new: &[u8]) -> Result<(), WriteError> {
    let shown = path.display().to_string();
    let io_err = |source: io::Error| WriteError::Io {
        path: shown.clone(),
        source,
    };
    let target = fs::canonicalize(path).map_err(io_err)?;
    let meta = fs::metadata(&target).map_err(io_err)?;
    if meta.permissions().readonly() {
        return Err(WriteError::ReadOnly { path: shown });
    }
    let dir = target.parent().unwrap_or(Path::new("."));
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp: PathBuf = dir.join(format!(
        ".{name}.upkeep-{}-{}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| -> Result<(), WriteError> {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(io_err)?;
        file.write_all(new).map_err(io_err)?;
        file.sync_all().map_err(io_err)?;
        fs::set_permissions(&tmp, meta.permissions()).map_err(io_err)?;
        keep_owner(&tmp, &meta);
        if fs::read(&target).map_err(io_err)? != original {
            return Err(WriteError::ChangedMeanwhile {
                path: shown.clone(),
            });
        }
        fs::rename(&tmp, &target).map_err(io_err)?;
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(unix)]
fn keep_owner(tmp: &Path, meta: &fs::Metadata) {
    use std::os::unix::fs::MetadataExt;
    // Only root may give a file away; for anyone else the new file already
    // belongs to them, as the original did if they could write it.
    let _ = std::os::unix::fs::chown(tmp, Some(meta.uid()), Some(meta.gid()));
}

#[cfg(not(unix))]
fn keep_owner(_tmp: &Path, _meta: &fs::Metadata) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_a_file_changed_since_it_was_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.conf");
        std::fs::write(&path, "changed by someone else").unwrap();
        let err = write_atomically(&path, b"what upkeep read", b"new").unwrap_err();
        assert!(matches!(err, WriteError::ChangedMeanwhile { .. }), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), b"changed by someone else");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary file left"
        );
    }
}
