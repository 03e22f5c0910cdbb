//! Build script: the commit and the commit date that `upkeep --version`
//! prints (`0.1.0 (0123456789ab 2026-12-02)`).
//!
//! They come from git when the crate is built from a git checkout (a
//! `.git` directory, or a worktree's `.git` file, at the crate root, and a
//! `git` that can read it); a crate built from a tarball, a vendored copy
//! inside another repository, or a machine without git gets "unknown"
//! instead and still builds. A packager who knows the commit can set
//! `UPKEEP_COMMIT` and `UPKEEP_COMMIT_DATE` in the build's environment:
//! they win over git.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let root = PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    );
    // Without any rerun-if-changed line cargo reruns this script whenever
    // any file of the package changes; with them, only when these do.
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=UPKEEP_COMMIT");
    println!("cargo:rerun-if-env-changed=UPKEEP_COMMIT_DATE");

    let git = GitCheckout::at(&root);
    if let Some(git) = &git {
        for path in git.watched() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
    let commit = from_env("UPKEEP_COMMIT")
        .or_else(|| {
            git.as_ref()
                .and_then(|g| g.run(&["rev-parse", "--short=12", "HEAD"]))
        })
        .unwrap_or_else(|| "unknown".to_owned());
    let date = from_env("UPKEEP_COMMIT_DATE")
        .or_else(|| {
            git.as_ref()
                .and_then(|g| g.run(&["log", "-1", "--format=%cs", "HEAD"]))
        })
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=UPKEEP_COMMIT={commit}");
    println!("cargo:rustc-env=UPKEEP_COMMIT_DATE={date}");
}

fn from_env(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// The git checkout whose root is the crate's root. A `.git` further up
/// (the crate vendored inside another project's repository) is not ours.
struct GitCheckout {
    root: PathBuf,
}

impl GitCheckout {
    fn at(root: &Path) -> Option<GitCheckout> {
        if !root.join(".git").exists() {
            return None;
        }
        let checkout = GitCheckout {
            root: root.to_owned(),
        };
        // `git` missing, or `.git` that git cannot read: no checkout.
        checkout.run(&["rev-parse", "--verify", "-q", "HEAD"])?;
        Some(checkout)
    }

    /// `git -C ROOT ARGS`, its trimmed stdout when it succeeds and says
    /// something. GIT_DIR and friends from a calling hook are removed so
    /// that git reads this checkout.
    fn run(&self, args: &[&str]) -> Option<String> {
        let output = Command::new("git")
            .arg("-C")
            .arg(&self.root)
            .args(args)
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .env_remove("GIT_INDEX_FILE")
            .env_remove("GIT_COMMON_DIR")
            .output()
            .ok()?;
        if !output.status.success() {
            return None;
        }
        let text = String::from_utf8(output.stdout).ok()?.trim().to_owned();
        (!text.is_empty()).then_some(text)
    }

    fn path(&self, args: &[&str]) -> Option<PathBuf> {
        let path = PathBuf::from(self.run(args)?);
        Some(if path.is_absolute() {
            path
        } else {
            self.root.join(path)
        })
    }

    /// The files whose change means a new commit is checked out: HEAD (in
    /// the worktree's own git directory: `.git` is a file in a linked
    /// worktree), the branch's loose ref, and packed-refs, where a ref
    /// lives after `git pack-refs`. Only existing paths: cargo reruns the
    /// script on every build for a path that does not exist.
    fn watched(&self) -> Vec<PathBuf> {
        let mut paths = Vec::new();
        let Some(git_dir) = self.path(&["rev-parse", "--git-dir"]) else {
            return paths;
        };
        let common = self
            .path(&["rev-parse", "--git-common-dir"])
            .unwrap_or_else(|| git_dir.clone());
        paths.push(git_dir.join("HEAD"));
        if let Some(branch) = self.run(&["symbolic-ref", "-q", "HEAD"]) {
            let loose = common.join(branch);
            // A branch only in packed-refs gets its loose file at the next
            // commit: watch the directory it appears in (cargo sees a new
            // file in a watched directory).
            let watch = loose
                .ancestors()
                .find(|p| p.exists())
                .filter(|p| p.starts_with(&common))
                .map(Path::to_path_buf);
            paths.extend(watch);
        }
        paths.push(common.join("packed-refs"));
        paths.retain(|p| p.exists());
        paths
    }
}
