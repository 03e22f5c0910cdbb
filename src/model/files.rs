//! Reading a file of the run: only regular files, never more than
//! [`MAX_FILE_SIZE`] bytes, and never blocking.
//!
//! Why each guard is there:
//! - The file is opened with `O_NONBLOCK` and its type is checked on the
//!   open descriptor (`fstat`), not on the name: a FIFO named as an
//!   argument or an include would otherwise block the run forever at
//!   `open`, and a name that changes type between a `stat` and the `open`
//!   cannot slip through.
//! - Devices, sockets and directories are refused at once: `/dev/zero` has
//!   no end, and a socket or directory is never an nginx config.
//! - The read itself is capped, whatever the size `stat` reports: a `/proc`
//!   file says 0 bytes and can yield gigabytes.
//!
//! The [`Stamp`] taken from the same descriptor is what `write` compares
//! right before it replaces the file: anything that touched the file since
//! it was read (an editor, `git checkout`, another upkeep) changes it.

use std::fs;
use std::io::{self, Read};
use std::path::Path;

/// Largest file upkeep reads: nginx configs are kilobytes; this bounds
/// memory for a wrong path.
pub const MAX_FILE_SIZE: u64 = 64 * 1024 * 1024;

/// What identifies the state of a file as upkeep read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime: (i64, i64),
    pub ctime: (i64, i64),
    /// Hard links to the file; more than one means a rename would split it.
    pub nlink: u64,
}

impl Stamp {
    #[cfg(unix)]
    pub fn of(meta: &fs::Metadata) -> Stamp {
        use std::os::unix::fs::MetadataExt;
        Stamp {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
            nlink: meta.nlink(),
        }
    }

    /// The same file, unchanged: what `write` requires before replacing it.
    /// The link count is not compared (upkeep's own backup link adds one).
    pub fn same_state(&self, other: &Stamp) -> bool {
        (self.dev, self.ino, self.size, self.mtime, self.ctime)
            == (other.dev, other.ino, other.size, other.mtime, other.ctime)
    }
}

/// Why a file could not be read: the message after `PATH: `.
#[derive(Debug)]
pub enum ReadFailure {
    Io(io::Error),
    /// Not a regular file: what it is instead.
    NotAFile(&'static str),
    /// Larger than the cap; the size `stat` gave, when it told.
    TooLarge(Option<u64>),
}

impl ReadFailure {
    pub fn describe(&self) -> String {
        match self {
            ReadFailure::Io(e) => describe_io(e),
            ReadFailure::NotAFile(what) => format!(
                "is {what}, not a regular file; upkeep reads nginx configs from regular files only (name the config file itself)"
            ),
            ReadFailure::TooLarge(size) => {
                let size = size.map_or("more than that".to_string(), |s| format!("{} MiB", s >> 20));
                format!(
                    "file is {size}, larger than the {} MiB upkeep reads; is this an nginx config?",
                    MAX_FILE_SIZE >> 20
                )
            }
        }
    }
}

/// Reads a regular file whole, with its stamp.
pub fn read_regular(path: &Path) -> Result<(Vec<u8>, Stamp), ReadFailure> {
    let (file, meta) = open_regular(path)?;
    if meta.len() > MAX_FILE_SIZE {
        return Err(ReadFailure::TooLarge(Some(meta.len())));
    }
    let mut text = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_FILE_SIZE + 1)
        .read_to_end(&mut text)
        .map_err(ReadFailure::Io)?;
    if text.len() as u64 > MAX_FILE_SIZE {
        // A file that said it was smaller (`/proc`, or one still growing).
        return Err(ReadFailure::TooLarge(None));
    }
    Ok((text, Stamp::of(&meta)))
}

/// The first `limit` bytes of a regular file (to tell what it is).
pub fn read_prefix(path: &Path, limit: u64) -> Result<Vec<u8>, ReadFailure> {
    let (file, _) = open_regular(path)?;
    let mut head = Vec::new();
    file.take(limit)
        .read_to_end(&mut head)
        .map_err(ReadFailure::Io)?;
    Ok(head)
}

/// Opens `path` if it is a regular file (checked by name, then on the
/// descriptor).
fn open_regular(path: &Path) -> Result<(fs::File, fs::Metadata), ReadFailure> {
    // By name first, for the message: opening a socket fails with ENXIO,
    // which says less than "is a socket". The descriptor is checked again.
    let named = fs::metadata(path).map_err(ReadFailure::Io)?;
    if let Some(what) = not_a_file(&named) {
        return Err(ReadFailure::NotAFile(what));
    }
    let file = open_nonblocking(path).map_err(ReadFailure::Io)?;
    let meta = file.metadata().map_err(ReadFailure::Io)?;
    if let Some(what) = not_a_file(&meta) {
        return Err(ReadFailure::NotAFile(what));
    }
    Ok((file, meta))
}

/// The stamp of `path` now (following symlinks), without reading it.
pub fn stamp(path: &Path) -> io::Result<Stamp> {
    fs::metadata(path).map(|m| Stamp::of(&m))
}

#[cfg(unix)]
fn open_nonblocking(path: &Path) -> io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
}

/// What a non-regular file is, in words; `None` for a regular file.
#[cfg(unix)]
pub fn not_a_file(meta: &fs::Metadata) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_file() {
        None
    } else if t.is_dir() {
        Some("a directory")
    } else if t.is_fifo() {
        Some("a FIFO (named pipe)")
    } else if t.is_socket() {
        Some("a socket")
    } else if t.is_char_device() {
        Some("a character device")
    } else if t.is_block_device() {
        Some("a block device")
    } else {
        Some("not a regular file")
    }
}

/// An I/O error in words, with what to do where there is something to do.
pub fn describe_io(e: &io::Error) -> String {
    use io::ErrorKind as K;
    match (e.kind(), e.raw_os_error()) {
        (K::NotFound, _) => "no such file or directory".into(),
        (K::PermissionDenied, _) => "permission denied (check the file's permissions, and that every directory above it can be entered)".into(),
        (_, Some(libc::ELOOP)) => {
            "too many levels of symbolic links (a symlink loop); fix or remove the link".into()
        }
        (_, Some(libc::ENXIO)) => {
            "no such device or address (a socket or a device without a driver); name a regular file".into()
        }
        (_, Some(libc::EBUSY)) => "device or resource busy: the file is a mount point (a single-file bind mount, as Docker's `-v file:file`, cannot be replaced by a rename); edit the file on the host, or mount its directory instead".into(),
        (_, Some(libc::EISDIR)) => "is a directory, not a file".into(),
        (_, Some(libc::ENOTDIR)) => "a part of the path is not a directory".into(),
        (_, Some(libc::EROFS)) => "read-only file system; nothing can be written there".into(),
        (_, Some(libc::ENOSPC)) => "no space left on the device; free some and run again".into(),
        (_, Some(libc::EXDEV)) => "crosses file systems".into(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_is_not_a_regular_file_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
        // Would block forever without O_NONBLOCK: no writer ever comes.
        let err = read_regular(&fifo).unwrap_err();
        assert!(
            matches!(err, ReadFailure::NotAFile("a FIFO (named pipe)")),
            "{err:?}"
        );
        let err = read_regular(Path::new("/dev/zero")).unwrap_err();
        assert!(
            matches!(err, ReadFailure::NotAFile("a character device")),
            "{err:?}"
        );
        let err = read_regular(dir.path()).unwrap_err();
        assert!(
            matches!(err, ReadFailure::NotAFile("a directory")),
            "{err:?}"
        );
    }

    #[test]
    fn a_proc_file_is_read_capped() {
        // Says 0 bytes, yields its content: read, but never past the cap.
        let (text, _) = read_regular(Path::new("/proc/self/status")).unwrap();
        assert!(text.starts_with(b"Name:"));
    }
}
