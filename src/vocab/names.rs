//! Names that nginx compares without regard to ASCII case, as types, so
//! that the comparison lives in one place instead of in every caller that
//! lowercases a string by hand.
//!
//! - An [`UpstreamName`]: the name of an `upstream` block or the host of a
//!   literal `*_pass` target, which nginx keeps in one list of upstreams
//!   and compares case-insensitively (`ngx_http_upstream_add` uses
//!   `ngx_strncasecmp`); `http://App` and `upstream app` are one.
//! - A [`BackendKey`]: one backend, `host:port` with the host folded and
//!   the port always written (the scheme's default when the target has
//!   none), or `unix:PATH` as written (paths are case-sensitive).
//!
//! A leaf: it depends on nothing in the crate.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

/// An upstream name or literal host: compared, ordered and hashed by its
/// ASCII-lowercase form, shown as written.
#[derive(Debug, Clone)]
pub struct UpstreamName {
    written: String,
    folded: String,
}

impl UpstreamName {
    pub fn new(written: impl Into<String>) -> UpstreamName {
        let written = written.into();
        UpstreamName {
            folded: written.to_ascii_lowercase(),
            written,
        }
    }

    /// As written.
    pub fn as_str(&self) -> &str {
        &self.written
    }

    /// Whether `other` names the same upstream.
    pub fn is(&self, other: &str) -> bool {
        self.written.eq_ignore_ascii_case(other)
    }
}

impl PartialEq for UpstreamName {
    fn eq(&self, other: &Self) -> bool {
        self.folded == other.folded
    }
}

impl Eq for UpstreamName {}

impl PartialOrd for UpstreamName {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for UpstreamName {
    fn cmp(&self, other: &Self) -> Ordering {
        self.folded.cmp(&other.folded)
    }
}

impl Hash for UpstreamName {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.folded.hash(state);
    }
}

impl fmt::Display for UpstreamName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.written)
    }
}

/// One backend: `host:port` (host folded, port explicit) or `unix:PATH`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BackendKey(String);

impl BackendKey {
    pub fn tcp(host: &str, port: u16) -> BackendKey {
        BackendKey(format!("{}:{port}", host.to_ascii_lowercase()))
    }

    /// `entry` is `unix:PATH`, kept as written.
    pub fn unix(entry: &str) -> BackendKey {
        BackendKey(entry.to_string())
    }

    /// For text that names no parsable backend: folded, so that two
    /// spellings of one entry still compare equal.
    pub fn other(entry: &str) -> BackendKey {
        BackendKey(entry.to_ascii_lowercase())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BackendKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn upstream_names_compare_without_case_and_show_as_written() {
        let a = UpstreamName::new("App");
        assert_eq!(a, UpstreamName::new("app"));
        assert_ne!(a, UpstreamName::new("app2"));
        assert!(a.is("APP"));
        assert_eq!(a.to_string(), "App");
        let set: BTreeSet<_> = [
            UpstreamName::new("b"),
            UpstreamName::new("A"),
            UpstreamName::new("a"),
        ]
        .into_iter()
        .collect();
        assert_eq!(set.len(), 2);
    }

    #[test]
    fn backend_keys_fold_hosts_but_not_socket_paths() {
        assert_eq!(
            BackendKey::tcp("Api.Internal", 80),
            BackendKey::tcp("api.internal", 80)
        );
        assert_ne!(BackendKey::tcp("api", 80), BackendKey::tcp("api", 8080));
        assert_ne!(
            BackendKey::unix("unix:/run/A.sock"),
            BackendKey::unix("unix:/run/a.sock")
        );
    }
}
