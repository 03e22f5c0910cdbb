//! Tree fixtures (`fixtures/trees/<case>/`): `input/` (a tree of files),
//! `args` (upkeep's arguments there, one line), `expected/` or `exit` +
//! `stderr`, `nginx-t` (the main configs real nginx tests), `stubs` (files
//! that live only on the servers, created empty), `requests` (extra
//! requests for the differential test).
//!
//! A tree whose symlinks point outside it (Debian's `sites-enabled/app ->
//! /etc/nginx/sites-available/app`) names that place `$OUTSIDE`: `links`
//! lists `LINK -> TARGET` lines created in every copy, `outside/` holds
//! what the machine has there (copied to a directory of the test's own,
//! [`TreeCase::placed`]), and `$OUTSIDE` in `args` and the expected
//! stderr is that directory. A `repository` file makes every copy a git
//! work tree.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Clone)]
pub struct TreeCase {
    pub name: String,
    pub dir: PathBuf,
    pub args: Vec<String>,
    /// Where `$OUTSIDE` is, once [`TreeCase::placed`].
    pub outside: Option<PathBuf>,
}

impl TreeCase {
    /// The case with `$OUTSIDE` at `outside`: `outside/` copied there, the
    /// args naming it.
    pub fn placed(&self, outside: &Path) -> TreeCase {
        std::fs::create_dir_all(outside).unwrap();
        if self.dir.join("outside").is_dir() {
            copy_tree(&self.dir.join("outside"), outside);
        }
        self.pointed(outside)
    }

    /// The case with `$OUTSIDE` at `outside`, whatever is there.
    pub fn pointed(&self, outside: &Path) -> TreeCase {
        TreeCase {
            args: self
                .args
                .iter()
                .map(|a| self.substitute(a, outside))
                .collect(),
            outside: Some(outside.to_path_buf()),
            ..self.clone()
        }
    }

    fn substitute(&self, text: &str, outside: &Path) -> String {
        text.replace("$OUTSIDE", &outside.display().to_string())
    }

    /// `text` with `$OUTSIDE` replaced, once placed.
    pub fn outside_text(&self, text: &str) -> String {
        match &self.outside {
            Some(o) => self.substitute(text, o),
            None => text.to_string(),
        }
    }

    /// Copies `input/` or `expected/` to `to` as upkeep sees it: with the
    /// links out of the tree and (for a `repository`) a git work tree, but
    /// no stubs.
    pub fn lay_out(&self, which: &str, to: &Path) {
        copy_tree(&self.dir.join(which), to);
        for (link, target) in self.links() {
            let path = to.join(link);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::os::unix::fs::symlink(self.outside_text(&target), path).unwrap();
        }
        if self.dir.join("repository").exists() {
            let init = std::process::Command::new("git")
                .args(["init", "-q"])
                .current_dir(to)
                .status()
                .expect("run git init");
            assert!(init.success());
        }
    }

    /// The `LINK -> TARGET` lines of `links`, TARGET as written.
    pub fn links(&self) -> Vec<(String, String)> {
        std::fs::read_to_string(self.dir.join("links"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_once(" -> "))
            .map(|(a, b)| (a.trim().to_string(), b.trim().to_string()))
            .collect()
    }

    /// The `--path-map FROM=TO` pairs of the args, as written.
    pub fn path_maps(&self) -> Vec<(String, String)> {
        self.args
            .windows(2)
            .filter(|w| w[0] == "--path-map")
            .filter_map(|w| {
                w[1].split_once('=')
                    .map(|(a, b)| (a.to_string(), b.to_string()))
            })
            .collect()
    }

    /// The main configs `nginx-t` names (none when it is missing).
    pub fn mains(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("nginx-t"))
            .unwrap_or_default()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect()
    }

    /// Copies `input/` or `expected/` to `to` and creates the stubs, as
    /// [`TreeCase::lay_out`] does.
    pub fn copy(&self, which: &str, to: &Path) {
        self.lay_out(which, to);
        for stub in std::fs::read_to_string(self.dir.join("stubs"))
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.trim().is_empty())
        {
            let path = to.join(stub.trim());
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "").unwrap();
        }
    }
}

/// What a tree case says upkeep does there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// `--write` exits 0 and leaves `expected/`.
    Writes,
    /// upkeep refuses the tree: `exit` holds this code (not 0), `stderr`
    /// the lines the error must hold, and no file changes.
    Refuses(i32),
}

impl TreeCase {
    /// The exit code `exit` declares (0 when there is no `exit`).
    pub fn exit_code(&self) -> i32 {
        std::fs::read_to_string(self.dir.join("exit"))
            .map(|s| {
                s.trim()
                    .parse()
                    .unwrap_or_else(|e| panic!("{}/exit: {e}", self.dir.display()))
            })
            .unwrap_or(0)
    }

    /// What the case declares: `expected/`, or a refusal (`exit` not 0
    /// and `stderr`). A case with neither (or both) is a failure that
    /// says how to bless it; it never passes unchecked.
    pub fn outcome(&self) -> Result<Outcome, String> {
        let name = format!("fixtures/trees/{}", self.name);
        let expected = self.dir.join("expected").is_dir();
        match self.exit_code() {
            0 if expected => Ok(Outcome::Writes),
            0 => Err(super::missing_expected(&name, "expected/ (nor an `exit` that declares a refusal)")),
            _ if expected => Err(format!(
                "{name}: `exit` declares a refusal, yet there is an expected/ tree: keep one of them"
            )),
            _ if !self.dir.join("stderr").is_file() => Err(format!(
                "{name}: `exit` declares a refusal without `stderr`, the lines its error must hold"
            )),
            code => Ok(Outcome::Refuses(code)),
        }
    }
}

/// Every tree case: each directory of `fixtures/trees/`. A directory
/// without `input/` is an error, not a case left out.
pub fn tree_cases() -> Vec<TreeCase> {
    let root = super::repo().join("fixtures/trees");
    let strays: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir() && !p.join("input").is_dir())
        .map(|p| p.display().to_string())
        .collect();
    assert!(
        strays.is_empty(),
        "directories of fixtures/trees/ without input/: {strays:?}"
    );
    let mut out: Vec<TreeCase> = std::fs::read_dir(&root)
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("input").is_dir())
        .map(|e| {
            let dir = e.path();
            let args = std::fs::read_to_string(dir.join("args"))
                .unwrap_or_default()
                .split_whitespace()
                .map(String::from)
                .collect();
            TreeCase {
                name: e.file_name().to_string_lossy().into_owned(),
                dir,
                args,
                outside: None,
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Copies a tree, symlinks as symlinks, a git repository's `.git` left out.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        if entry.file_name() == ".git" {
            continue;
        }
        let kind = entry.file_type().unwrap();
        let target = to.join(entry.file_name());
        if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path()).unwrap(), &target).unwrap();
        } else if kind.is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Every file of a tree: relative path → contents, or `-> target` for a
/// link; a git repository's `.git` left out.
pub fn snapshot(root: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            let kind = entry.file_type().unwrap();
            if entry.file_name() == ".git" {
                continue;
            }
            if kind.is_symlink() {
                let link = std::fs::read_link(&path).unwrap();
                out.insert(rel, format!("-> {}", link.display()).into_bytes());
            } else if kind.is_dir() {
                walk(root, &path, out);
            } else {
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}
