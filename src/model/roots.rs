//! The roots of a run: the directories upkeep may write in.
//!
//! A root is the git work tree holding an argument (the first directory
//! upward with a `.git`, a directory or a worktree's file), else the
//! argument's own directory (a directory argument itself, a file's
//! parent; for `sites-enabled/`, `sites-available/` and `conf.d/` the
//! config directory above, where their links and includes lead). upkeep reads whatever nginx would read, but writes only below
//! a root: a config repository's `sites-enabled/app ->
//! /etc/nginx/sites-available/app` must never edit the live file of the
//! machine upkeep runs on.
//!
//! So that such links lead into the repository, a symlink's target is
//! mapped through `--path-map FROM=TO` like an include name
//! ([`real_path`]): with `--path-map /etc/nginx=nginx` the link above is
//! read and written at `nginx/sites-available/app`. A file that still lies
//! outside every root is read-only; a change it would need is an error
//! that names the path map that would bring it in ([`suggest_map`]).
//!
//! Diff paths are relative to the git work tree holding the file, so that
//! `git apply` applies the diff from anywhere in it; outside a repository
//! they are relative to the current directory as before.

use std::path::{Path, PathBuf};

/// One directory upkeep may write below.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    /// Canonical (symlinks resolved), as file paths are.
    pub dir: PathBuf,
    /// A git work tree (diff paths are relative to it), or an argument's
    /// directory.
    pub git: bool,
}

/// The roots of a run, in argument order, each once.
#[derive(Debug, Clone, Default)]
pub struct Roots {
    pub roots: Vec<Root>,
}

impl Roots {
    /// The roots of `inputs` (standard input, `-`, has none) and of the
    /// `--root` main config.
    pub fn of_inputs(inputs: &[String], main: Option<&Path>) -> Roots {
        let mut roots: Vec<Root> = Vec::new();
        let named = inputs
            .iter()
            .filter(|p| *p != "-")
            .map(PathBuf::from)
            .chain(main.map(Path::to_path_buf));
        for p in named {
            let Ok(absolute) = std::path::absolute(&p) else {
                continue;
            };
            // The directory the argument stands in: itself for a directory
            // (through a link to one, too), else the one holding it.
            let dir = if absolute.is_dir() {
                absolute
            } else {
                match absolute.parent() {
                    Some(d) => d.to_path_buf(),
                    None => continue,
                }
            };
            let Ok(dir) = std::fs::canonicalize(&dir) else {
                continue;
            };
            let root = match dir.ancestors().find(|d| d.join(".git").exists()) {
                Some(work_tree) => Root {
                    dir: work_tree.to_path_buf(),
                    git: true,
                },
                None => Root {
                    dir: config_dir(dir),
                    git: false,
                },
            };
            if !roots.contains(&root) {
                roots.push(root);
            }
        }
        Roots { roots }
    }

    /// Roots that hold every path: a run on an `nginx -T` dump, which
    /// names the files it is about.
    pub fn everywhere() -> Roots {
        Roots {
            roots: vec![Root {
                dir: PathBuf::from("/"),
                git: false,
            }],
        }
    }

    /// The root holding `real` (a canonical path), the innermost first.
    pub fn holding(&self, real: &Path) -> Option<&Root> {
        self.roots
            .iter()
            .filter(|r| real.starts_with(&r.dir))
            .max_by_key(|r| r.dir.components().count())
    }

    /// The path a diff names for the file at `real`: relative to the git
    /// work tree holding it, else to the current directory.
    pub fn diff_path(&self, real: &Path) -> String {
        match self.holding(real).filter(|r| r.git) {
            Some(root) => match real.strip_prefix(&root.dir) {
                Ok(rest) if !rest.as_os_str().is_empty() => rest.display().to_string(),
                _ => crate::model::paths::shown_path(real),
            },
            None => crate::model::paths::shown_path(real),
        }
    }

    /// The roots, for messages: `the repository /a, /b` (absolute: "outside
    /// ." would say little).
    pub fn shown(&self) -> String {
        let dirs: Vec<String> = self
            .roots
            .iter()
            .map(|r| {
                let kind = if r.git {
                    "the repository"
                } else {
                    "the directory"
                };
                format!("{kind} {}", r.dir.display())
            })
            .collect();
        if dirs.is_empty() {
            "the arguments' directories".into()
        } else {
            dirs.join(", ")
        }
    }
}

/// A directory for messages and flags: relative to the current directory
/// (`.` for itself) when below it, else absolute.
pub fn shown_dir(dir: &Path) -> String {
    match std::env::current_dir() {
        Ok(cwd) if cwd == dir => ".".into(),
        _ => crate::model::paths::shown_path(dir),
    }
}

/// The directory a non-repository argument stands for: itself, or for a
/// directory of sites or snippets (`sites-enabled/`, `sites-available/`,
/// `conf.d/`) the config directory holding it, where Debian's relative
/// links (`sites-enabled/app -> ../sites-available/app`) and the includes
/// upkeep reads for them lead.
fn config_dir(dir: PathBuf) -> PathBuf {
    let sites = crate::model::siblings::Wholesale::of(&dir).is_some()
        || dir.file_name().is_some_and(|n| n == "sites-available");
    match dir.parent() {
        Some(parent) if sites => parent.to_path_buf(),
        _ => dir,
    }
}

/// The `--path-map FROM=TO` that would bring `outside` into a root: FROM
/// an ancestor of it, TO a directory inside a root holding the same
/// relative path as a regular file (not a link back out). `near` are the
/// directories to try as TO, with their ancestors up to their root (the
/// directories of the files the run read there), nearest first.
pub fn suggest_map(outside: &Path, near: &[PathBuf], roots: &Roots) -> Option<(PathBuf, PathBuf)> {
    let mut candidates: Vec<&Path> = Vec::new();
    for dir in near {
        let Some(root) = roots.holding(dir) else {
            continue;
        };
        for d in dir.ancestors().take_while(|d| d.starts_with(&root.dir)) {
            if !candidates.contains(&d) {
                candidates.push(d);
            }
        }
    }
    // The deepest FROM first: the smallest map that works.
    for from in outside.ancestors().skip(1) {
        if from.parent().is_none() {
            break;
        }
        let rest = outside.strip_prefix(from).ok()?;
        for to in &candidates {
            let there = to.join(rest);
            let regular = std::fs::symlink_metadata(&there).is_ok_and(|m| m.file_type().is_file());
            if regular {
                return Some((from.to_path_buf(), to.to_path_buf()));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::paths::real_path;
    use std::os::unix::fs::symlink;

    /// A Debian layout in `dir`: `nginx/sites-available/app`, and
    /// `nginx/sites-enabled/app` linking to `target`.
    fn debian(dir: &Path, target: &str) -> PathBuf {
        let root = std::fs::canonicalize(dir).unwrap();
        std::fs::create_dir_all(root.join("nginx/sites-available")).unwrap();
        std::fs::create_dir_all(root.join("nginx/sites-enabled")).unwrap();
        std::fs::write(root.join("nginx/sites-available/app"), "").unwrap();
        symlink(target, root.join("nginx/sites-enabled/app")).unwrap();
        root
    }

    /// A link's absolute target is read below the path map's TO; links
    /// inside the target, relative ones and `..` resolve as the kernel
    /// resolves them.
    #[test]
    fn absolute_link_targets_follow_the_path_map() {
        let dir = tempfile::tempdir().unwrap();
        let root = debian(dir.path(), "/etc/nginx-upkeep-test/sites-available/app");
        symlink(
            "../sites-available/app",
            root.join("nginx/sites-enabled/rel"),
        )
        .unwrap();
        let maps = vec![(PathBuf::from("/etc/nginx-upkeep-test"), root.join("nginx"))];
        let link = root.join("nginx/sites-enabled/app");
        assert_eq!(
            real_path(&link, &maps).unwrap(),
            root.join("nginx/sites-available/app")
        );
        // Without the map the target does not exist here.
        assert!(real_path(&link, &[]).is_err());
        assert_eq!(
            real_path(&root.join("nginx/sites-enabled/rel"), &[]).unwrap(),
            root.join("nginx/sites-available/app")
        );
        assert_eq!(
            real_path(
                &root.join("nginx/sites-enabled/../sites-available/app"),
                &[]
            )
            .unwrap(),
            root.join("nginx/sites-available/app")
        );
        symlink("loop", root.join("loop")).unwrap();
        assert!(real_path(&root.join("loop"), &[]).is_err());
    }

    #[test]
    fn the_suggested_map_points_at_the_repository_copy() {
        let dir = tempfile::tempdir().unwrap();
        let repo = debian(dir.path(), "/etc/nginx/sites-available/app");
        std::fs::create_dir(repo.join(".git")).unwrap();
        let roots = Roots::of_inputs(
            &[repo.join("nginx/sites-enabled").display().to_string()],
            None,
        );
        assert_eq!(
            roots.roots,
            [Root {
                dir: repo.clone(),
                git: true
            }]
        );
        let near = [repo.join("nginx/sites-enabled")];
        assert_eq!(
            suggest_map(Path::new("/etc/nginx/sites-available/app"), &near, &roots),
            Some((PathBuf::from("/etc/nginx"), repo.join("nginx")))
        );
        assert_eq!(
            suggest_map(Path::new("/srv/elsewhere/other"), &near, &roots),
            None
        );
        assert_eq!(
            roots.diff_path(&repo.join("nginx/sites-available/app")),
            "nginx/sites-available/app"
        );
    }
}
