//! The shared vocabulary of planning: what the user asked for
//! ([`Options`]), the rules' stable ids ([`RuleId`]), and what planning
//! produces ([`Plan`], [`Change`], [`Note`], [`PlanError`]). A leaf: every layer from
//! the model up to the emitters speaks it, and it depends on nothing but
//! [`Edit`] and the name types.

pub mod errors;
pub mod fast;
pub mod names;
pub(crate) mod spelling;
pub mod tuning;

pub use errors::{ExitStatus, FileError, Place, PlanError};

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::vocab::names::{BackendKey, UpstreamName};

/// What the configs hold that a flag value can name: upstreams (existing
/// or new) for `--keepalive NAME=N`, literal backends for `--name`, and the
/// proxying locations a `--websocket PATH` can fall in. A value that names
/// nothing in any of them is a typo, reported as an error.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    pub upstreams: BTreeSet<UpstreamName>,
    pub backends: BTreeSet<BackendKey>,
    /// Paths of the locations with a pooled `proxy_pass`, and whether the
    /// location is a prefix (`location /api/`) rather than exact (`= /`).
    pub locations: BTreeSet<(String, bool)>,
    /// Paths of locations that hand requests to a pooled named location
    /// `--websocket` cannot make dedicated (prefix, as above), with what
    /// to do instead (`rules::websocket::handoff`).
    pub handoffs: BTreeMap<(String, bool), String>,
}

impl Seen {
    pub fn extend(&mut self, other: &Seen) {
        self.upstreams.extend(other.upstreams.iter().cloned());
        self.backends.extend(other.backends.iter().cloned());
        self.locations.extend(other.locations.iter().cloned());
        self.handoffs.extend(other.handoffs.clone());
    }

    /// What to do instead when `path` reaches a pooled named location that
    /// `--websocket` cannot make dedicated.
    pub fn handoff_advice(&self, path: &str) -> Option<&str> {
        self.handoffs
            .iter()
            .find(|((location, prefix), _)| {
                location == path || (*prefix && path.starts_with(location.as_str()))
            })
            .map(|(_, advice)| advice.as_str())
    }

    /// A WebSocket path some proxying location serves: its own path, or
    /// one below a prefix location's path.
    pub fn serves(&self, path: &str) -> bool {
        self.locations.iter().any(|(location, prefix)| {
            location == path || (*prefix && path.starts_with(location.as_str()))
        })
    }
}

/// What nginx makes of `grpc_set_header Host VALUE`, by version: since
/// nginx 1.31.4 (commit dea68dbf, "Upstream: special handling of the Host
/// header in proxy and gRPC") it is sent as `:authority`, or, when `VALUE`
/// is empty, the target's `host:port` is; before, it was a `host` header
/// and `:authority` was not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GrpcHost {
    /// Any version (no `--nginx-version`): both must hold.
    #[default]
    Either,
    /// Before 1.31.4: a `host` header instead of `:authority`.
    HostHeader,
    /// 1.31.4 and later: the value as `:authority`.
    Authority,
}

/// How `Host` is handled when `$proxy_host` changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HostHeaderMode {
    /// Pin the old value explicitly (default).
    #[default]
    Keep,
    /// Accept the upstream name as the new `$proxy_host`.
    Upstream,
}

/// An upstream protocol whose connections nginx can keep for reuse, by the
/// directive that passes a request to it. (`uwsgi_pass` and `scgi_pass`
/// are not here: nginx never keeps their connections.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    /// `proxy_pass` (HTTP/1.x)
    Proxy,
    /// `fastcgi_pass`
    FastCgi,
    /// `grpc_pass` (HTTP/2)
    Grpc,
    /// `memcached_pass`
    Memcached,
}

impl Protocol {
    pub const ALL: [Protocol; 4] = [
        Protocol::Proxy,
        Protocol::FastCgi,
        Protocol::Grpc,
        Protocol::Memcached,
    ];

    /// The name `--only`/`--skip` use.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Proxy => "proxy",
            Protocol::FastCgi => "fastcgi",
            Protocol::Grpc => "grpc",
            Protocol::Memcached => "memcached",
        }
    }

    pub fn from_name(name: &str) -> Option<Protocol> {
        Protocol::ALL.into_iter().find(|p| p.as_str() == name)
    }

    /// The directive that passes requests (`proxy_pass`, `fastcgi_pass`, ...).
    pub fn pass(self) -> &'static str {
        match self {
            Protocol::Proxy => "proxy_pass",
            Protocol::FastCgi => "fastcgi_pass",
            Protocol::Grpc => "grpc_pass",
            Protocol::Memcached => "memcached_pass",
        }
    }

    /// The protocol of a `*_pass` directive name (nginx names are
    /// lowercase; the model compares them as written).
    pub fn of_pass(directive: &str) -> Option<Protocol> {
        Protocol::ALL.into_iter().find(|p| p.pass() == directive)
    }

    /// The prefix of the module's settings (`proxy_bind`, `grpc_ssl_name`).
    pub fn prefix(self) -> &'static str {
        match self {
            Protocol::Proxy => "proxy_",
            Protocol::FastCgi => "fastcgi_",
            Protocol::Grpc => "grpc_",
            Protocol::Memcached => "memcached_",
        }
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the user asked for, already validated.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Idle connections kept per pool (`--keepalive`).
    pub keepalive: u32,
    /// Pool sizes for named upstreams.
    pub keepalive_for: BTreeMap<UpstreamName, u32>,
    /// Upstream names for backends.
    pub names: BTreeMap<BackendKey, String>,
    /// Paths whose WebSocket traffic gets a location of its own (`--websocket`).
    pub websocket_paths: Vec<String>,
    /// The target nginx is 1.29.7 or later: keepalive, HTTP/1.1 and no
    /// `Connection: close` are its defaults.
    pub new_defaults: bool,
    /// What nginx does with a `grpc_set_header Host` value.
    pub grpc_host: GrpcHost,
    /// What `Host` the backends see (`--proxy-host`).
    pub host_header: HostHeaderMode,
    /// Protocols left alone (`--skip`, or everything `--only` leaves out).
    pub skipped: BTreeSet<Protocol>,
    /// `keepalive_timeout`, `keepalive_requests` and `keepalive_time` for
    /// the pools upkeep adds (and existing ones with `--tune-existing`).
    pub tuning: crate::vocab::tuning::Tuning,
    /// `--resolve`: a `proxy_pass` whose host a `set` fixes becomes a
    /// pooled upstream that re-resolves the name (nginx 1.27.3 or later).
    pub resolve: bool,
    /// `--resolver`: the words of a `resolver` directive for an `http`
    /// context that such an upstream needs and that has none.
    pub resolver: Option<String>,
    /// Every new upstream name carries `_PORT`: set for a unit read
    /// without its main config, whose `http` context may hold targets
    /// upkeep never sees (`upstream localhost` beside an unseen
    /// `proxy_pass http://localhost/` would re-point it).
    pub qualified_names: bool,
}

impl Options {
    /// The pool size of `upstream`: its `--keepalive NAME=N`, else the default.
    pub fn pool_size(&self, upstream: &str) -> u32 {
        self.keepalive_for
            .get(&UpstreamName::new(upstream))
            .copied()
            .unwrap_or(self.keepalive)
    }
}

/// Something upkeep left alone or assumed, with where it is.
#[derive(Debug, Clone)]
pub struct Note {
    pub offset: Option<usize>,
    pub message: String,
    pub kind: NoteKind,
}

/// What a note means for the run: it decides whether the note is said
/// without `-v`, what the summary line counts, and whether `--check` can
/// be green.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NoteKind {
    /// Background: said with `-v` only.
    #[default]
    Info,
    /// A directive upkeep left as it was on purpose (a variable target, a
    /// Host it cannot keep, …): counted in the summary, the why with `-v`.
    LeftAlone,
    /// A place upkeep could not decide, because what decides it is in an
    /// include it could not read (or the include itself, whose contents
    /// are unknown): a warning without `-v`, and `--check` exits 2.
    Undecided,
    /// A risk the output carries (a pool that outlives the backends' idle
    /// timeout): a warning without `-v`.
    Warning,
    /// What upkeep assumed about a context it cannot see whole, where
    /// that decided names (a site read with its siblings): said without
    /// `-v`, as a note.
    Assumed,
}

impl NoteKind {
    /// Said on stderr without `-v`, and counted as a warning.
    pub fn warns(self) -> bool {
        matches!(self, NoteKind::Undecided | NoteKind::Warning)
    }

    /// Said on stderr without `-v`.
    pub fn said_plainly(self) -> bool {
        self.warns() || self == NoteKind::Assumed
    }

    /// Counted among the places left alone.
    pub fn left_alone(self) -> bool {
        matches!(self, NoteKind::LeftAlone | NoteKind::Undecided)
    }

    /// How a report that ranks what it shows (GitHub's annotations,
    /// GitLab's severities) shows a note of this kind: the one answer both
    /// give.
    pub fn weight(self) -> NoteWeight {
        match self {
            NoteKind::Undecided | NoteKind::Warning => NoteWeight::Warning,
            NoteKind::LeftAlone | NoteKind::Assumed => NoteWeight::Notice,
            NoteKind::Info => NoteWeight::Background,
        }
    }
}

/// See [`NoteKind::weight`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoteWeight {
    /// What [`NoteKind::warns`]: before everything else.
    Warning,
    /// A place left alone, or what upkeep assumed: said without `-v`.
    Notice,
    /// Said with `-v` only; no annotation or issue of its own.
    Background,
}

impl Note {
    pub fn new(kind: NoteKind, offset: Option<usize>, message: String) -> Note {
        Note {
            offset,
            message,
            kind,
        }
    }
}

/// What `--recover` does with an interrupted write's journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Recovery {
    /// Put every file back as it was before the interrupted write.
    Rollback,
    /// Complete the interrupted write: replace the files not replaced yet.
    Finish,
}
