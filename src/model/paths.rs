//! Paths as upkeep shows and resolves them: relative for messages, sorted
//! as `glob(3)` sorts, symlinks resolved through `--path-map`. A leaf: the
//! workspace, the roots and the sibling search all ask it.

use std::io;
use std::path::{Component, Path, PathBuf};

/// A path for messages and diffs: relative to the current directory when
/// it lies below it, as written otherwise.
pub fn shown_path(path: &Path) -> String {
    let cwd = std::env::current_dir().ok();
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        match &cwd {
            Some(c) => c.join(path),
            None => path.to_path_buf(),
        }
    };
    let normal = normalize(&absolute);
    if let Some(cwd) = cwd {
        if let Ok(rest) = normal.strip_prefix(&cwd) {
            if !rest.as_os_str().is_empty() {
                return rest.display().to_string();
            }
        }
    }
    if path.is_absolute() {
        normal.display().to_string()
    } else {
        path.display().to_string()
    }
}

/// Sorts paths as `glob(3)` in the C locale does: whole paths, by bytes.
pub fn sort_as_glob<P: AsRef<Path>>(paths: &mut [P]) {
    paths.sort_by(|a, b| {
        a.as_ref()
            .as_os_str()
            .as_encoded_bytes()
            .cmp(b.as_ref().as_os_str().as_encoded_bytes())
    });
}

/// `a/./b/../c` → `a/c`, without touching the file system.
pub(crate) fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// How many symlinks one path may go through (Linux's `MAXSYMLINKS`).
const MAX_LINKS: usize = 40;

/// The file `path` names, every symlink resolved as the kernel resolves
/// it, except that an absolute link target below a `--path-map` FROM is
/// read below its TO instead. Without maps this is `canonicalize`.
pub fn real_path(path: &Path, maps: &[(PathBuf, PathBuf)]) -> io::Result<PathBuf> {
    let absolute = std::path::absolute(path)?;
    // The components still to walk, the next one last.
    let mut pending: Vec<PathBuf> = components_reversed(&absolute);
    let mut out = PathBuf::from("/");
    let mut links = 0;
    while let Some(part) = pending.pop() {
        if part.as_os_str() == ".." {
            // `out` holds no symlinks, so `..` is its parent, as for the
            // kernel.
            out.pop();
            continue;
        }
        let next = out.join(&part);
        let meta = std::fs::symlink_metadata(&next)?;
        if !meta.file_type().is_symlink() {
            out = next;
            continue;
        }
        links += 1;
        if links > MAX_LINKS {
            // The kernel's own error (ELOOP) where it sees the loop too,
            // so that it reads as every other I/O error does.
            return Err(std::fs::metadata(&absolute).err().unwrap_or_else(|| {
                io::Error::other(format!(
                    "more than {MAX_LINKS} symlinks through --path-map (a loop?)"
                ))
            }));
        }
        let target = std::fs::read_link(&next)?;
        if target.is_absolute() {
            out = PathBuf::from("/");
            pending.extend(components_reversed(&map(&target, maps)));
        } else {
            pending.extend(components_reversed(&target));
        }
    }
    Ok(out)
}

/// `target` with its first matching `--path-map` FROM replaced by TO: how
/// include names and symlink targets alike reach the repository's copy.
pub fn map(target: &Path, maps: &[(PathBuf, PathBuf)]) -> PathBuf {
    for (from, to) in maps {
        if let Ok(rest) = target.strip_prefix(from) {
            return to.join(rest);
        }
    }
    target.to_path_buf()
}

/// The normal and `..` components of `path`, last first (`.` and the root
/// dropped: the walk starts at `/` for an absolute path).
fn components_reversed(path: &Path) -> Vec<PathBuf> {
    let mut parts: Vec<PathBuf> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(PathBuf::from(n)),
            Component::ParentDir => Some(PathBuf::from("..")),
            _ => None,
        })
        .collect();
    parts.reverse();
    parts
}
