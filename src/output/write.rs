//! Writing the rewritten files: one transaction for the whole run.
//!
//! What a `--write` guarantees (README, "What a write guarantees"):
//! - **All or nothing.** Every new text is first staged in a temporary file
//!   beside its target (same directory, so the rename cannot cross file
//!   systems) and flushed to disk; only then is anything replaced. If any
//!   step fails, every file already replaced gets its original back.
//! - **Nothing lost.** Right before *its own* replacement each file is
//!   checked again against what upkeep read: device, inode, size, mtime,
//!   ctime and content. An edit someone made since (an editor, a checkout)
//!   stops the write and rolls the others back.
//! - **Signals.** SIGINT, SIGTERM and SIGHUP during the write do not kill
//!   upkeep half-way: they are noticed between two files, the files
//!   replaced so far are put back, every temporary file is removed, and the
//!   run ends with an error. Rolling back, not finishing, is the choice:
//!   whoever pressed Ctrl-C wanted the write not to happen.
//! - **SIGKILL or a crash** cannot be caught, so a journal
//!   (`.upkeep-journal` in the deepest directory holding every file) is
//!   written before the first file is touched and removed after the last.
//!   It names each file, its staged new text and its backup (a hard link
//!   to the original, or a copy). The next run that reads any of those
//!   files finds it, refuses to work on a tree that may be half written,
//!   and `--recover rollback` or `--recover finish` completes it either
//!   way ([`recover`]).
//! - **Attributes.** A replaced file keeps its mode, owner, group and
//!   extended attributes (SELinux labels and POSIX ACLs are extended
//!   attributes). Where a rename cannot keep them (a non-root user cannot
//!   give a file to another owner or set `security.*`), where the file has
//!   other hard links (a rename would split it: nginx reading the other
//!   name would keep the old config), or where the file is a mount point
//!   of its own (Docker's single-file bind mount, where a rename fails with
//!   EBUSY), the new text is written into the file itself instead. That
//!   write is not atomic for readers, but it is journalled like the others.
//!
//! A symlink is followed and its target written; the link stays.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};

use crate::model::files::{describe_io, Stamp};
use crate::vocab::Recovery;

/// The journal's file name, in the directory that holds every written file.
pub const JOURNAL: &str = ".upkeep-journal";

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("{path}: cannot write: {}; nothing was written", describe_io(.source))]
    Io { path: String, source: io::Error },
    #[error("{path}: the file is read-only; nothing was written (make it writable to apply the changes)")]
    ReadOnly { path: String },
    #[error(
        "{path}: the file changed since upkeep read it; nothing was written (run upkeep again)"
    )]
    ChangedMeanwhile { path: String },
    #[error("interrupted by a signal; every file was left as it was (run upkeep again)")]
    Interrupted,
    #[error("{}", journal_found(.path, .pid))]
    JournalExists { path: PathBuf, pid: Option<u32> },
    /// The check run once every file was replaced (`--nginx-test`) failed:
    /// its message, which says what failed and shows the tool's output.
    #[error("{0}")]
    Rejected(String),
}

fn journal_found(path: &Path, pid: &Option<u32>) -> String {
    let shown = crate::model::paths::shown_path(path);
    match pid {
        Some(pid) if process_alive(*pid) => format!(
            "{shown}: another upkeep (process {pid}) is writing these files right now; nothing was written (wait for it to finish)"
        ),
        _ => format!(
            "{shown}: an earlier `upkeep --write` was interrupted here, so these files may be part old, part new; nothing was done. Run the same command with `--recover rollback` to put back the files as they were, or `--recover finish` to complete that write"
        ),
    }
}

#[cfg(unix)]
fn process_alive(pid: u32) -> bool {
    // Signal 0 checks that the process exists without touching it.
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    let alive = unsafe { libc::kill(pid, 0) } == 0
        || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    // A process id is reused: on Linux, it is an upkeep only if it is called so.
    match fs::read_to_string(format!("/proc/{pid}/comm")) {
        Ok(name) => alive && name.trim_end() == "upkeep",
        Err(_) => alive,
    }
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// One file of the transaction.
#[derive(Debug, Clone)]
pub struct Pending {
    /// The file to replace (symlinks already resolved).
    pub path: PathBuf,
    pub shown: String,
    pub original: Vec<u8>,
    pub new: Vec<u8>,
    /// The file as it was read; `None` compares the content only.
    pub stamp: Option<Stamp>,
    /// The root of the run holding the file: its journal is written in
    /// the deepest directory that holds every file of the same root, so
    /// that nothing, the journal included, is written outside the roots.
    pub root: PathBuf,
}

/// One file as the journal records it. Paths are stored as their bytes:
/// a file name need not be UTF-8.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    shown: String,
    path: Vec<u8>,
    /// The staged new text; gone once the file is replaced by a rename.
    temp: Vec<u8>,
    /// The original: a hard link to it, or a copy (`in_place`).
    backup: Vec<u8>,
    /// Written into the file itself rather than renamed over it.
    in_place: bool,
}

#[derive(Debug, Serialize, Deserialize)]
struct Journal {
    version: u32,
    pid: u32,
    files: Vec<Entry>,
}

#[cfg(unix)]
fn bytes_of(path: &Path) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    path.as_os_str().as_bytes().to_vec()
}

#[cfg(unix)]
fn path_of(bytes: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    PathBuf::from(std::ffi::OsStr::from_bytes(bytes))
}

/// Test hook (the CLI tests send signals and edits at a known moment):
/// `UPKEEP_TEST_PAUSE=staged:N:MS` or `renamed:N:MS` stops for MS
/// milliseconds after the N-th file is staged or replaced, saying so on
/// stderr. Signals are still noticed during the pause.
fn test_pause(stage: &str, done: usize) {
    let Ok(spec) = std::env::var("UPKEEP_TEST_PAUSE") else {
        return;
    };
    let mut parts = spec.splitn(3, ':');
    let (Some(at), Some(n), Some(ms)) = (parts.next(), parts.next(), parts.next()) else {
        return;
    };
    if at != stage || n.parse() != Ok(done) {
        return;
    }
    eprintln!("upkeep-test: paused after {done} {stage}");
    let end = std::time::Instant::now() + std::time::Duration::from_millis(ms.parse().unwrap_or(0));
    while std::time::Instant::now() < end && !SIGNALLED.load(Ordering::SeqCst) {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// Set by [`on_signal`]; one write runs at a time in a process.
static SIGNALLED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    // Only an atomic store: all a signal handler may safely do here.
    SIGNALLED.store(true, Ordering::SeqCst);
}

/// While this lives, SIGINT, SIGTERM and SIGHUP only set a flag; dropping
/// it puts back the actions they had (the default one: ending the run).
struct Signals {
    saved: Vec<(libc::c_int, libc::sigaction)>,
}

impl Signals {
    fn catch() -> Signals {
        SIGNALLED.store(false, Ordering::SeqCst);
        let mut saved = Vec::new();
        for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            // SAFETY: plain sigaction calls with zeroed, then filled,
            // structures; the handler only stores an atomic.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
                libc::sigemptyset(&mut action.sa_mask);
                let mut old: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(sig, &action, &mut old) == 0 {
                    saved.push((sig, old));
                }
            }
        }
        Signals { saved }
    }

    fn arrived(&self) -> bool {
        SIGNALLED.load(Ordering::SeqCst)
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        for (sig, old) in self.saved.drain(..) {
            // SAFETY: restores the action saved by `catch`.
            unsafe {
                libc::sigaction(sig, &old, std::ptr::null_mut());
            }
        }
    }
}

/// A file staged for the commit.
struct Staged<'a> {
    file: &'a Pending,
    entry: Entry,
    /// The file's stamp once its backup link exists (a link changes the
    /// ctime): what the commit compares.
    backed_up: Option<Stamp>,
    /// Which journal lists it.
    journal: usize,
}

/// Writes every file or none (see the module's documentation).
pub fn write_all(files: &[Pending]) -> Result<(), WriteError> {
    write_checked(files, &mut || Ok(()))
}

/// [`write_all`], with `accept` asked once every file is replaced, before
/// the backups and the journal go: an `Err` (what to say) puts every file
/// back, as any other failure does. While it runs the journal lists each
/// file as replaced, with its backup, so a SIGKILL then leaves a write that
/// `--recover` completes either way; a signal rolls back once it returns.
pub fn write_checked(
    files: &[Pending],
    accept: &mut dyn FnMut() -> Result<(), String>,
) -> Result<(), WriteError> {
    if files.is_empty() {
        return Ok(());
    }
    let signals = Signals::catch();
    // One journal per root, listing that root's files.
    let mut roots: Vec<&Path> = Vec::new();
    for f in files {
        if !roots.contains(&f.root.as_path()) {
            roots.push(&f.root);
        }
    }
    let journals: Vec<PathBuf> = roots
        .iter()
        .map(|r| journal_dir(files.iter().filter(|f| f.root == *r)).join(JOURNAL))
        .collect();
    let mut staged: Vec<Staged> = files
        .iter()
        .map(|f| Staged {
            file: f,
            entry: Entry {
                shown: f.shown.clone(),
                path: bytes_of(&f.path),
                temp: bytes_of(&sibling(&f.path, "tmp")),
                backup: bytes_of(&sibling(&f.path, "orig")),
                in_place: false,
            },
            backed_up: None,
            journal: roots
                .iter()
                .position(|r| *r == f.root)
                .expect("every root listed"),
        })
        .collect();
    let mut created = 0;
    let mut result = Ok(());
    for path in &journals {
        result = create_journal(path, created, &staged);
        if result.is_err() {
            break;
        }
        created += 1;
    }
    if result.is_ok() {
        result = stage_and_commit(&mut staged, &journals, &signals);
    }
    if result.is_ok() {
        let accepted = accept();
        // A signal during the check (Ctrl-C reaches the command too, which
        // then fails) is an interruption, not the check's verdict.
        result = if signals.arrived() {
            Err(WriteError::Interrupted)
        } else {
            accepted.map_err(WriteError::Rejected)
        };
    }
    if result.is_err() {
        // Put back what was replaced, from the backups; then nothing of
        // this run is left on disk.
        roll_back(staged.iter().map(|s| &s.entry));
    } else {
        remove_backups(staged.iter().map(|s| &s.entry));
    }
    sync_dirs(files.iter().map(|f| f.path.as_path()));
    for path in &journals[..created] {
        let _ = fs::remove_file(path);
        sync_dirs(std::iter::once(path.as_path()));
    }
    result
}

fn stage_and_commit(
    staged: &mut [Staged],
    journals: &[PathBuf],
    signals: &Signals,
) -> Result<(), WriteError> {
    for (i, s) in staged.iter_mut().enumerate() {
        if signals.arrived() {
            return Err(WriteError::Interrupted);
        }
        s.entry.in_place = stage(s.file, &path_of(&s.entry.temp))?;
        test_pause("staged", i + 1);
    }
    // The journals now say how each file will be written.
    for (i, path) in journals.iter().enumerate() {
        write_journal(path, i, staged, false)?;
    }
    for s in staged.iter_mut() {
        if signals.arrived() {
            return Err(WriteError::Interrupted);
        }
        s.backed_up = Some(back_up(s.file, &s.entry)?);
    }
    for (i, s) in staged.iter().enumerate() {
        if signals.arrived() {
            return Err(WriteError::Interrupted);
        }
        commit(s.file, &s.entry, s.backed_up)?;
        test_pause("renamed", i + 1);
    }
    if signals.arrived() {
        // Every file is replaced; a signal now still rolls back, so that
        // the outcome of an interrupted write is always "as before".
        return Err(WriteError::Interrupted);
    }
    Ok(())
}

/// `.NAME.upkeep-PID-N.KIND` beside `path`.
fn sibling(path: &Path, kind: &str) -> PathBuf {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dir.join(format!(
        ".{name}.upkeep-{}-{}.{kind}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ))
}

/// The deepest directory that holds every file (the journal goes there, so
/// that the next run reading any of them finds it).
fn journal_dir<'a>(files: impl Iterator<Item = &'a Pending>) -> PathBuf {
    let mut common: Option<PathBuf> = None;
    for f in files {
        let dir = f.path.parent().unwrap_or(Path::new("/")).to_path_buf();
        common = Some(match common {
            None => dir,
            Some(c) => {
                let mut c = c;
                while !dir.starts_with(&c) {
                    if !c.pop() {
                        break;
                    }
                }
                c
            }
        });
    }
    common.unwrap_or_else(|| PathBuf::from("/"))
}

fn create_journal(path: &Path, index: usize, staged: &[Staged]) -> Result<(), WriteError> {
    if fs::symlink_metadata(path).is_ok() {
        return Err(journal_error(path));
    }
    write_journal(path, index, staged, true)
}

/// Writes the journal (atomically: staged beside it and renamed), synced
/// with its directory: the files of journal `index`. `first` creates it,
/// failing if another run did.
fn write_journal(
    path: &Path,
    index: usize,
    staged: &[Staged],
    first: bool,
) -> Result<(), WriteError> {
    let journal = Journal {
        version: 1,
        pid: std::process::id(),
        files: staged
            .iter()
            .filter(|s| s.journal == index)
            .map(|s| s.entry.clone())
            .collect(),
    };
    let shown = crate::model::paths::shown_path(path);
    let io_err = |source| WriteError::Io {
        path: shown.clone(),
        source,
    };
    let text = serde_json::to_vec(&journal).expect("a journal serializes");
    if first {
        // create_new: two runs writing the same tree at once cannot both
        // start.
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| {
                if e.kind() == io::ErrorKind::AlreadyExists {
                    WriteError::JournalExists {
                        path: path.to_path_buf(),
                        pid: None,
                    }
                } else {
                    io_err(e)
                }
            })?;
        f.write_all(&text).map_err(io_err)?;
        f.sync_all().map_err(io_err)?;
    } else {
        let tmp = sibling(path, "tmp");
        let written = (|| {
            let mut f = File::create(&tmp)?;
            f.write_all(&text)?;
            f.sync_all()?;
            fs::rename(&tmp, path)
        })();
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(io_err(e));
        }
    }
    sync_dirs(std::iter::once(path));
    Ok(())
}

/// Writes `f.new` to `temp`, with the original's mode, owner, group and
/// extended attributes. Returns whether the file must be written in place
/// instead of renamed over (see the module's documentation).
fn stage(f: &Pending, temp: &Path) -> Result<bool, WriteError> {
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
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(temp)
        .map_err(io_err)?;
    let written = (|| -> io::Result<bool> {
        file.write_all(&f.new)?;
        file.sync_all()?;
        fs::set_permissions(temp, meta.permissions())?;
        let kept = keep_owner(temp, &meta) && keep_xattrs(&f.path, temp);
        Ok(!kept || must_write_in_place(&f.path, &meta))
    })();
    match written {
        Ok(in_place) => Ok(in_place),
        Err(e) => {
            let _ = fs::remove_file(temp);
            Err(io_err(e))
        }
    }
}

/// A file with other hard links, or one that is a mount point of its own.
#[cfg(unix)]
fn must_write_in_place(path: &Path, meta: &fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    let mount_point = path
        .parent()
        .and_then(|d| fs::metadata(d).ok())
        .is_some_and(|d| d.dev() != meta.dev());
    meta.nlink() > 1 || mount_point
}

/// Gives `temp` the original's owner and group; false when they cannot be
/// kept (only root gives a file away; anyone may pick a group of theirs).
#[cfg(unix)]
fn keep_owner(temp: &Path, meta: &fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    let _ = std::os::unix::fs::chown(temp, Some(meta.uid()), Some(meta.gid()));
    if fs::metadata(temp).is_ok_and(|m| (m.uid(), m.gid()) == (meta.uid(), meta.gid())) {
        return true;
    }
    let _ = std::os::unix::fs::chown(temp, None, Some(meta.gid()));
    fs::metadata(temp).is_ok_and(|m| (m.uid(), m.gid()) == (meta.uid(), meta.gid()))
}

/// Copies every extended attribute (ACLs and SELinux labels included) of
/// `from` to `to`; false when one cannot be read or set.
fn keep_xattrs(from: &Path, to: &Path) -> bool {
    let names = match xattr::list(from) {
        Ok(names) => names,
        // A file system without extended attributes has none to keep.
        Err(e) if e.raw_os_error() == Some(libc::ENOTSUP) => return true,
        Err(_) => return false,
    };
    for name in names {
        match xattr::get(from, &name) {
            Ok(Some(value)) => {
                if xattr::set(to, &name, &value).is_err() {
                    return false;
                }
            }
            Ok(None) => {}
            Err(_) => return false,
        }
    }
    true
}

/// Makes the backup the rollback needs: a hard link to the original for a
/// rename (no copy, and the original keeps every attribute), a copy for a
/// file written in place (its own inode changes) or where no link can be
/// made (another file system, a bind-mounted file). Checks first that the
/// file is still as read; returns its stamp after the backup.
fn back_up(f: &Pending, entry: &Entry) -> Result<Stamp, WriteError> {
    let backup = path_of(&entry.backup);
    let io_err = |source: io::Error| WriteError::Io {
        path: f.shown.clone(),
        source,
    };
    unchanged(f, f.stamp)?;
    if entry.in_place || fs::hard_link(&f.path, &backup).is_err() {
        // Complete before it has its name: a backup that exists is whole.
        let part = sibling(&f.path, "part");
        let copied = (|| {
            let mut out = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&part)?;
            out.write_all(&f.original)?;
            out.sync_all()?;
            fs::rename(&part, &backup)
        })();
        if let Err(e) = copied {
            let _ = fs::remove_file(&part);
            return Err(io_err(e));
        }
    }
    crate::model::files::stamp(&f.path).map_err(io_err)
}

/// The file is as upkeep read it: its stamp (when known) and its bytes.
fn unchanged(f: &Pending, stamp: Option<Stamp>) -> Result<(), WriteError> {
    let io_err = |source: io::Error| WriteError::Io {
        path: f.shown.clone(),
        source,
    };
    let changed = || WriteError::ChangedMeanwhile {
        path: f.shown.clone(),
    };
    let now = crate::model::files::stamp(&f.path).map_err(io_err)?;
    if stamp.is_some_and(|then| !then.same_state(&now)) {
        return Err(changed());
    }
    let (text, _) = crate::model::files::read_regular(&f.path)
        .map_err(|e| io_err(io::Error::other(e.describe())))?;
    if text != f.original {
        return Err(changed());
    }
    Ok(())
}

/// Checks the file once more (against its stamp after the backup) and
/// replaces it. A rename refused with EBUSY (the file is a mount point of
/// its own, as a Docker single-file bind mount) becomes a write in place;
/// its backup is then a copy, since no link crosses a mount.
fn commit(f: &Pending, entry: &Entry, stamp: Option<Stamp>) -> Result<(), WriteError> {
    let io_err = |source: io::Error| WriteError::Io {
        path: f.shown.clone(),
        source,
    };
    unchanged(f, stamp)?;
    let temp = path_of(&entry.temp);
    if !entry.in_place {
        match fs::rename(&temp, &f.path) {
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && backup_is_a_copy(entry) => {}
            other => return other.map_err(io_err),
        }
    }
    overwrite(&f.path, &f.new).map_err(io_err)?;
    let _ = fs::remove_file(&temp);
    Ok(())
}

/// The backup is a file of its own, not a link to the original.
fn backup_is_a_copy(entry: &Entry) -> bool {
    match (
        crate::model::files::stamp(&path_of(&entry.backup)),
        crate::model::files::stamp(&path_of(&entry.path)),
    ) {
        (Ok(b), Ok(p)) => (b.dev, b.ino) != (p.dev, p.ino),
        _ => false,
    }
}

/// Writes `text` into the file itself (same inode), flushed.
fn overwrite(path: &Path, text: &[u8]) -> io::Result<()> {
    let mut f = OpenOptions::new().write(true).open(path)?;
    f.write_all(text)?;
    f.set_len(text.len() as u64)?;
    f.sync_all()
}

/// Puts every backed-up original back and removes the staged files.
fn roll_back<'a>(entries: impl Iterator<Item = &'a Entry>) {
    for e in entries {
        let (path, temp, backup) = (path_of(&e.path), path_of(&e.temp), path_of(&e.backup));
        if backup.exists() {
            if e.in_place {
                if let Ok(original) = fs::read(&backup) {
                    // Only where the file no longer holds it.
                    if fs::read(&path).ok().as_deref() != Some(original.as_slice()) {
                        let _ = overwrite(&path, &original);
                    }
                }
                let _ = fs::remove_file(&backup);
            } else if temp.exists() {
                // Not replaced yet: the file is the original.
                let _ = fs::remove_file(&backup);
            } else if fs::rename(&backup, &path).is_err() {
                // A mount point (EBUSY) was written in place from a copy.
                if let Ok(original) = fs::read(&backup) {
                    let _ = overwrite(&path, &original);
                }
                let _ = fs::remove_file(&backup);
            }
        }
        let _ = fs::remove_file(&temp);
    }
}

fn remove_backups<'a>(entries: impl Iterator<Item = &'a Entry>) {
    for e in entries {
        let _ = fs::remove_file(path_of(&e.backup));
        let _ = fs::remove_file(path_of(&e.temp));
    }
}

fn sync_dirs<'a>(paths: impl Iterator<Item = &'a Path>) {
    let mut seen = std::collections::HashSet::new();
    for p in paths {
        if let Some(dir) = p.parent() {
            if seen.insert(dir.to_path_buf()) {
                if let Ok(d) = File::open(dir) {
                    let _ = d.sync_all();
                }
            }
        }
    }
}

/// Journals of interrupted writes in `dirs` or any directory above them.
pub fn find_journals<'a>(dirs: impl Iterator<Item = &'a Path>) -> Vec<PathBuf> {
    let mut seen = std::collections::HashSet::new();
    let mut found = Vec::new();
    for dir in dirs {
        let mut d = Some(dir);
        while let Some(here) = d {
            if !seen.insert(here.to_path_buf()) {
                break;
            }
            let j = here.join(JOURNAL);
            if fs::symlink_metadata(&j).is_ok() {
                found.push(j);
            }
            d = here.parent();
        }
    }
    found.sort();
    found
}

/// The error for a journal found before a run: another upkeep is writing,
/// or one was interrupted.
pub fn journal_error(path: &Path) -> WriteError {
    let pid = fs::read(path)
        .ok()
        .and_then(|t| serde_json::from_slice::<Journal>(&t).ok())
        .map(|j| j.pid);
    WriteError::JournalExists {
        path: path.to_path_buf(),
        pid,
    }
}

/// Completes an interrupted write one way or the other. Returns what was
/// done, a line per file.
/// `writable` says whether upkeep may write a path (inside the run's
/// roots): a journal naming anything else is refused whole, since a
/// journal is only a file on disk and could name any path.
pub fn recover(
    journal: &Path,
    how: Recovery,
    writable: &dyn Fn(&Path) -> bool,
) -> Result<Vec<String>, String> {
    let shown = crate::model::paths::shown_path(journal);
    let (text, _) = crate::model::files::read_regular(journal)
        .map_err(|e| format!("{shown}: {}", e.describe()))?;
    let j: Journal = serde_json::from_slice(&text).map_err(|e| {
        format!("{shown}: not a journal upkeep can read ({e}); nothing was done (move it away by hand once you have checked the files it names)")
    })?;
    let outside = j
        .files
        .iter()
        .flat_map(|e| [&e.path, &e.temp, &e.backup])
        .map(|p| path_of(p))
        .find(|p| !writable(p) || !writable(journal));
    if let Some(p) = outside {
        return Err(format!(
            "{shown}: names {}, outside the directories this run may write; nothing was done (run upkeep --recover on the repository that holds those files)",
            crate::model::paths::shown_path(&p)
        ));
    }
    if j.pid != std::process::id() && process_alive(j.pid) {
        return Err(journal_found(journal, &Some(j.pid)));
    }
    let mut done = Vec::new();
    match how {
        Recovery::Rollback => {
            for e in &j.files {
                let replaced = !path_of(&e.temp).exists() || e.in_place;
                done.push(format!(
                    "{}: {}",
                    e.shown,
                    if replaced && path_of(&e.backup).exists() {
                        "put back as it was"
                    } else {
                        "was not replaced; left as it is"
                    }
                ));
            }
            roll_back(j.files.iter());
        }
        Recovery::Finish => {
            // A file is replaced when its staged text is gone (renamed) —
            // or, written in place, once its text equals the staged one.
            for e in &j.files {
                if !path_of(&e.backup).exists() && path_of(&e.temp).exists() {
                    return Err(format!("{shown}: the write was interrupted before every backup was made, so it cannot be finished safely; run with `--recover rollback` instead"));
                }
            }
            for e in &j.files {
                let (path, temp) = (path_of(&e.path), path_of(&e.temp));
                if !temp.exists() {
                    done.push(format!("{}: already written", e.shown));
                    continue;
                }
                let in_place = || {
                    fs::read(&temp)
                        .and_then(|t| overwrite(&path, &t))
                        .and_then(|()| fs::remove_file(&temp))
                };
                let result = if e.in_place {
                    in_place()
                } else {
                    match fs::rename(&temp, &path) {
                        Err(err)
                            if err.raw_os_error() == Some(libc::EBUSY) && backup_is_a_copy(e) =>
                        {
                            in_place()
                        }
                        other => other,
                    }
                };
                result.map_err(|err| {
                    format!("{}: cannot finish: {}; run with `--recover rollback` to put every file back", e.shown, describe_io(&err))
                })?;
                done.push(format!("{}: written", e.shown));
            }
            remove_backups(j.files.iter());
        }
    }
    sync_dirs(
        j.files
            .iter()
            .map(|e| path_of(&e.path))
            .collect::<Vec<_>>()
            .iter()
            .map(|p| p.as_path()),
    );
    fs::remove_file(journal).map_err(|e| format!("{shown}: {}", describe_io(&e)))?;
    Ok(done)
}

/// Appends `bytes` to the file at `path`, made if absent: the GitHub step
/// summary (`GITHUB_STEP_SUMMARY`), a file the runner hands each step and
/// reads after it. It is no config and no part of the write transaction.
pub fn append(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)?;
    file.write_all(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(path: &Path, original: &[u8], new: &[u8]) -> Pending {
        Pending {
            path: path.to_path_buf(),
            shown: path.display().to_string(),
            original: original.to_vec(),
            new: new.to_vec(),
            stamp: crate::model::files::stamp(path).ok(),
            root: path.parent().unwrap().to_path_buf(),
        }
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn refuses_a_file_changed_since_it_was_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.conf");
        fs::write(&path, "changed by someone else").unwrap();
        let err = write_all(&[Pending {
            stamp: None,
            ..pending(&path, b"what upkeep read", b"new")
        }])
        .unwrap_err();
        assert!(matches!(err, WriteError::ChangedMeanwhile { .. }), "{err}");
        assert_eq!(fs::read(&path).unwrap(), b"changed by someone else");
        assert_eq!(entries(dir.path()), ["a.conf"], "nothing left behind");
    }

    #[test]
    fn a_failure_in_the_second_file_puts_the_first_back() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.conf"), dir.path().join("b.conf"));
        fs::write(&a, "a old").unwrap();
        fs::write(&b, "b old").unwrap();
        let first = pending(&a, b"a old", b"a new");
        // b's stamp is taken, then b is touched: same content, other mtime.
        let second = pending(&b, b"b old", b"b new");
        std::thread::sleep(std::time::Duration::from_millis(10));
        fs::write(&b, "b old").unwrap();
        let err = write_all(&[first, second]).unwrap_err();
        assert!(matches!(err, WriteError::ChangedMeanwhile { .. }), "{err}");
        assert_eq!(fs::read(&a).unwrap(), b"a old");
        assert_eq!(fs::read(&b).unwrap(), b"b old");
        assert_eq!(entries(dir.path()), ["a.conf", "b.conf"]);
    }

    #[test]
    fn a_hard_linked_file_is_written_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let (a, other) = (
            dir.path().join("a.conf"),
            dir.path().join("other-name.conf"),
        );
        fs::write(&a, "old").unwrap();
        fs::hard_link(&a, &other).unwrap();
        write_all(&[pending(&a, b"old", b"new")]).unwrap();
        assert_eq!(
            fs::read(&other).unwrap(),
            b"new",
            "both names see the new text"
        );
        assert_eq!(entries(dir.path()), ["a.conf", "other-name.conf"]);
    }

    #[test]
    fn a_journal_blocks_the_next_write_until_recovered() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.conf");
        fs::write(&a, "old").unwrap();
        fs::write(
            dir.path().join(JOURNAL),
            r#"{"version":1,"pid":4000000,"files":[]}"#,
        )
        .unwrap();
        let err = write_all(&[pending(&a, b"old", b"new")]).unwrap_err();
        assert!(err.to_string().contains("--recover rollback"), "{err}");
        assert_eq!(fs::read(&a).unwrap(), b"old");
        assert_eq!(
            find_journals(std::iter::once(dir.path())),
            [dir.path().join(JOURNAL)]
        );
        recover(&dir.path().join(JOURNAL), Recovery::Rollback, &|_| true).unwrap();
        assert_eq!(entries(dir.path()), ["a.conf"]);
    }
}
