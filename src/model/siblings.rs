//! The siblings of a lone file: what nginx loads beside a snippet given
//! without its main config.
//!
//! Debian's and nginx's packaged configs read whole directories into the
//! `http` context: `include /etc/nginx/conf.d/*.conf;` and `include
//! /etc/nginx/sites-enabled/*;` (a site in `sites-available/` is loaded
//! through its link in `sites-enabled/`). A site rewritten alone must not
//! get a name that collides with, or re-points, a target of the sites
//! nginx loads with it: `upstream localhost` beside another site's
//! `proxy_pass http://localhost:3001` makes nginx refuse to start, and
//! beside `proxy_pass http://localhost/` (no port) it silently takes that
//! site's traffic (`ngx_http_upstream_add`: an explicit upstream has port
//! 0 and matches a target without one). So such a file is read with its
//! siblings as one `http` context, the siblings as context only, and since
//! other directories may load into the same context unseen, every new
//! name carries `_PORT`.

use std::path::{Path, PathBuf};

use crate::model::paths::real_path;

/// A directory nginx's packaged configs include wholesale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wholesale {
    /// `include .../sites-enabled/*;`: every file (Debian's links).
    SitesEnabled,
    /// `include .../conf.d/*.conf;`.
    ConfD,
}

impl Wholesale {
    /// The kind of `dir`, by its name.
    pub fn of(dir: &Path) -> Option<Wholesale> {
        match dir.file_name()?.to_str()? {
            "sites-enabled" => Some(Wholesale::SitesEnabled),
            "conf.d" => Some(Wholesale::ConfD),
            _ => None,
        }
    }

    /// The files of `dir` nginx loads, sorted by bytes as `glob(3)` sorts
    /// them: no dot files, only files (or links to files; an absolute link
    /// target through `maps`).
    pub fn members(self, dir: &Path, maps: &[(PathBuf, PathBuf)]) -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        let mut out: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                let name = p
                    .file_name()
                    .map(|n| n.to_string_lossy())
                    .unwrap_or_default();
                !name.starts_with('.')
                    && (self == Wholesale::SitesEnabled || name.ends_with(".conf"))
            })
            .filter(|p| {
                real_path(p, maps)
                    .and_then(std::fs::metadata)
                    .is_ok_and(|m| m.is_file())
            })
            .collect();
        crate::model::paths::sort_as_glob(&mut out);
        out
    }
}

/// The directory nginx loads the file at `real` from, seen from `dir`
/// (where it was named): a `sites-available/` site is loaded through its
/// link in the `sites-enabled/` beside it; anything else from `dir`.
pub fn loaded_from(dir: &Path, real: &Path, maps: &[(PathBuf, PathBuf)]) -> PathBuf {
    if dir.file_name().is_some_and(|n| n == "sites-available") {
        if let Some(enabled) = dir.parent().map(|p| p.join("sites-enabled")) {
            let linked = Wholesale::SitesEnabled
                .members(&enabled, maps)
                .iter()
                .any(|m| real_path(m, maps).is_ok_and(|r| r == real));
            if linked {
                return enabled;
            }
        }
    }
    dir.to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_linked_site_is_loaded_from_sites_enabled() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        let (available, enabled) = (root.join("sites-available"), root.join("sites-enabled"));
        std::fs::create_dir_all(&available).unwrap();
        std::fs::create_dir_all(&enabled).unwrap();
        for site in ["app", "old", ".hidden"] {
            std::fs::write(available.join(site), "server {}\n").unwrap();
        }
        std::os::unix::fs::symlink("../sites-available/app", enabled.join("app")).unwrap();
        std::os::unix::fs::symlink("../sites-available/.hidden", enabled.join(".hidden")).unwrap();
        std::fs::write(enabled.join("default"), "server {}\n").unwrap();
        let app = available.join("app");
        assert_eq!(loaded_from(&available, &app, &[]), enabled);
        // Not enabled: nginx does not load it; upkeep reads it alone.
        let old = available.join("old");
        assert_eq!(loaded_from(&available, &old, &[]), available);
        assert_eq!(
            Wholesale::SitesEnabled.members(&enabled, &[]),
            [enabled.join("app"), enabled.join("default")]
        );
        std::fs::create_dir(root.join("conf.d")).unwrap();
        std::fs::write(root.join("conf.d/a.conf"), "").unwrap();
        std::fs::write(root.join("conf.d/notes.txt"), "").unwrap();
        assert_eq!(Wholesale::of(&root.join("conf.d")), Some(Wholesale::ConfD));
        assert_eq!(
            Wholesale::ConfD.members(&root.join("conf.d"), &[]),
            [root.join("conf.d/a.conf")]
        );
        assert_eq!(Wholesale::of(&available), None);
    }
}
