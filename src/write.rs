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
    let target = fs::canonicalize(path).map_err(|source| WriteError::Io {
        path: shown.clone(),
        source,
    })?;
    write_all(&[Pending {
        path: target,
        shown,
        original: original.to_vec(),
        new: new.to_vec(),
    }])
}

/// One file of an all-or-nothing write.
#[derive(Debug, Clone)]
pub struct Pending {
    /// The file to replace (symlinks already resolved).
    pub path: PathBuf,
    pub shown: String,
    pub original: Vec<u8>,
    pub new: Vec<u8>,
}

/// Writes every file or none: each new text goes to a temporary file next
/// to its target, which is checked (permissions, unchanged since read)
/// before the first rename. If a rename fails after others succeeded, the
/// renamed files get their original bytes back.
pub fn write_all(files: &[Pending]) -> Result<(), WriteError> {
    let mut staged: Vec<(PathBuf, &Pending)> = Vec::new();
    let cleanup = |staged: &[(PathBuf, &Pending)]| {
        for (tmp, _) in staged {
            let _ = fs::remove_file(tmp);
        }
    };
    for f in files {
        match stage(f) {
            Ok(tmp) => staged.push((tmp, f)),
            Err(e) => {
                cleanup(&staged);
                return Err(e);
            }
        }
    }
    for (i, (tmp, f)) in staged.iter().enumerate() {
        if let Err(source) = fs::rename(tmp, &f.path) {
            cleanup(&staged[i..]);
            for (_, done) in &staged[..i] {
                let _ = write_atomically(&done.path, &done.new, &done.original);
            }
            return Err(WriteError::Io {
                path: f.shown.clone(),
                source,
            });
        }
    }
    for (_, f) in &staged {
        if let Some(dir) = f.path.parent() {
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
    }
    Ok(())
}

/// Writes `f.new` to a temporary file beside `f.path`, ready to rename.
fn stage(f: &Pending) -> Result<PathBuf, WriteError> {
    let io_err = |source: io::Error| WriteError::Io {
        path: f.shown.clone(),
        source,
    };
    let meta = fs::metadata(&f.path).map_err(io_err)?;
    if meta.permissions().readonly() {
        return Err(WriteError::ReadOnly {
            path: f.shown.clone(),
        });
    }
    let dir = f.path.parent().unwrap_or(Path::new("."));
    let name = f
        .path
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
        file.write_all(&f.new).map_err(io_err)?;
        file.sync_all().map_err(io_err)?;
        fs::set_permissions(&tmp, meta.permissions()).map_err(io_err)?;
        keep_owner(&tmp, &meta);
        if fs::read(&f.path).map_err(io_err)? != f.original {
            return Err(WriteError::ChangedMeanwhile {
                path: f.shown.clone(),
            });
        }
        Ok(())
    })();
    match result {
        Ok(()) => Ok(tmp),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
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
