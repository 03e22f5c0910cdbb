//! What the rules see and hand each other: the read-only context
//! ([`Ctx`]), the pooled sites, the per-location work ([`Location`]), what
//! an `http` context gets ([`Context`]), the state one rule leaves for a
//! later phase ([`Board`]), and the [`Rule`] trait whose methods are the
//! phases of planning.
//!
//! Architecture invariant: a rule adds to the plan; it never reads what
//! other rules added. What one rule hands to a later one is a named field
//! here, never a side channel.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use crate::model::nginx::Facts;
use crate::model::target::ProxyTarget;
use crate::model::{DirId, LevelId, Model};
use crate::rules::RuleId;
use crate::syntax::edit::Edit;
use crate::vocab::names::UpstreamName;
use crate::vocab::{Note, Options, Protocol, Seen};

/// What planning produces for one unit: the edits with their reasons, and
/// notes. Rules add to it; `lib.rs` verifies it before anything is shown.
#[derive(Debug, Default)]
pub struct Plan {
    pub changes: Vec<Change>,
    pub notes: Vec<Note>,
    /// What the unit holds that a flag can name.
    pub seen: Seen,
    /// Directives left alone because of `# upkeep:ignore`, at the
    /// directive, with the reason given (or none).
    pub suppressed: Vec<Note>,
}

/// One planned edit and why.
#[derive(Debug, Clone)]
pub struct Change {
    pub rule: RuleId,
    pub edit: Edit,
    pub reason: String,
    /// The directive the change is about (the `proxy_pass` an upstream is
    /// added for, the location a header line goes into), where reports
    /// point; `None` points at the edit itself.
    pub about: Option<Range<usize>>,
    /// Where a report that folds each location's changes into one puts
    /// this one (the GitHub annotations): the location's `*_pass`, else
    /// its head; `None` for a change in no location (an `upstream` of its
    /// own, a `map`). Set by `plan::units`, never by a rule.
    pub fold_at: Option<Range<usize>>,
    /// What the summary line names beside this rule's count: a change
    /// that alters the config's structure (a new `location`), which a
    /// reviewer must see without reading the diff (`/api/ws under /api/`).
    pub named: Option<String>,
}

impl Change {
    pub fn new(rule: RuleId, edit: Edit, reason: impl Into<String>) -> Change {
        Change {
            rule,
            edit,
            reason: reason.into(),
            about: None,
            fold_at: None,
            named: None,
        }
    }

    /// The same change, named in the summary line as `what`.
    pub fn named(self, what: impl Into<String>) -> Change {
        Change {
            named: Some(what.into()),
            ..self
        }
    }

    /// The same change, reported at `range` (a directive's head; `None`
    /// keeps the edit's position).
    pub fn about(self, range: impl Into<Option<Range<usize>>>) -> Change {
        Change {
            about: range.into(),
            ..self
        }
    }

    /// Where reports point: the directive it is about, else the edit.
    pub fn span(&self) -> Range<usize> {
        self.about
            .clone()
            .unwrap_or_else(|| self.edit.range.clone())
    }
}

/// Where a rule puts what it plans: changes and notes go in; nothing
/// already planned comes out, so that no rule can depend on what another
/// rule decided but through the named fields of [`Location`] and [`Board`].
pub struct Out<'p> {
    changes: &'p mut Vec<Change>,
    /// Notes about what the rule left alone or assumed.
    pub notes: &'p mut Vec<Note>,
}

impl<'p> Out<'p> {
    /// An output that adds to `plan`.
    pub fn new(plan: &'p mut Plan) -> Out<'p> {
        Out {
            changes: &mut plan.changes,
            notes: &mut plan.notes,
        }
    }

    /// Adds a change.
    pub fn add(&mut self, change: Change) {
        self.changes.push(change);
    }

    /// Adds changes.
    pub fn add_all(&mut self, changes: impl IntoIterator<Item = Change>) {
        self.changes.extend(changes);
    }
}

/// A `proxy_pass` upkeep pools.
#[derive(Debug, Clone)]
pub struct Site {
    pub pass: DirId,
    pub protocol: Protocol,
    /// The location (settings level) whose `proxy_*` settings apply.
    pub location: LevelId,
    pub http: LevelId,
    /// The upstream it ends up using.
    pub upstream: UpstreamName,
    /// The literal target it had, when the rewrite changes it (for
    /// `resolve`: the target as nginx evaluated it, its `authority` the
    /// range of the written value that the upstream name replaces).
    pub literal: Option<ProxyTarget>,
    /// A target nginx resolved per request (`--resolve`): the upstream
    /// re-resolves it (`upstream-resolve` adds it).
    pub resolve: bool,
}

/// Shared, read-only state every rule sees.
pub struct Ctx<'m, 's> {
    pub model: &'m Model<'s>,
    pub opts: &'m Options,
    /// What the model holds that planning asks more than once, answered
    /// once for this plan.
    pub facts: &'m Facts,
    /// Locations (settings levels) to leave as they are, with the note why.
    pub blocked: &'m BTreeMap<LevelId, String>,
}

/// Work gathered per location, handed from rule to rule within
/// [`Rule::location`] and on to `headers::apply` and [`Rule::split`].
#[derive(Debug, Clone)]
pub struct Location<'a> {
    pub id: LevelId,
    /// The pooled `proxy_pass` sites whose settings this location holds.
    pub sites: Vec<&'a Site>,
    /// The pooled `fastcgi_pass`, `grpc_pass` and `memcached_pass` sites
    /// (apart, so that the `proxy_*` rules never see them).
    pub other_sites: Vec<&'a Site>,
    /// How the location treats WebSocket traffic (`websocket` decides,
    /// `connection` and the split follow).
    pub ws: WsMode,
    /// Header operations for the location itself.
    pub header_ops: Vec<HeaderOp>,
    /// `Connection`/`Upgrade` operations for the WebSocket locations split
    /// off (`connection` writes them, the split applies them).
    pub split_ops: Vec<HeaderOp>,
}

impl<'a> Location<'a> {
    pub fn new(id: LevelId) -> Location<'a> {
        Location {
            id,
            sites: Vec::new(),
            other_sites: Vec::new(),
            ws: WsMode::Plain,
            header_ops: Vec::new(),
            split_ops: Vec::new(),
        }
    }

    /// Adds a pooled site to the list of its protocol.
    pub fn add(&mut self, site: &'a Site) {
        match site.protocol {
            Protocol::Proxy => self.sites.push(site),
            _ => self.other_sites.push(site),
        }
    }

    /// Whether the location and split phases of a rule for `protocol`
    /// (`None`: any) run here.
    pub fn serves(&self, protocol: Option<Protocol>) -> bool {
        match protocol {
            None => true,
            Some(Protocol::Proxy) => !self.sites.is_empty(),
            Some(p) => self.other_sites.iter().any(|s| s.protocol == p),
        }
    }

    /// Header edits must stay in this location, never move to an outer
    /// level: a split-off copy takes the location's own list.
    pub fn keep_local(&self) -> bool {
        matches!(self.ws, WsMode::Split { .. })
    }
}

/// What an `http` context gets in [`Rule::context`].
#[derive(Debug)]
pub struct Context {
    pub http: LevelId,
    /// The upstream blocks naming decided to add, each with the
    /// `proxy_pass` directives that use it.
    pub new_upstreams: Vec<(NewUpstream, Vec<DirId>)>,
    /// The re-resolving upstream blocks `--resolve` adds, with their users.
    pub resolve_upstreams: Vec<(ResolveUpstream, Vec<DirId>)>,
    /// The context gets `resolver ADDR;` from `--resolver`.
    pub add_resolver: bool,
}

/// State one rule hands to a later phase.
#[derive(Debug, Default)]
pub struct Board {
    /// The `$http_upgrade` maps of the unit and what the locations asked of
    /// them (`connection` asks, `websocket_map` answers).
    pub maps: MapNeeds,
    /// Bodies of new `map` blocks per http context (`websocket_map` decides,
    /// `upstream_block` places them with the new upstreams).
    pub new_maps: BTreeMap<LevelId, Vec<String>>,
}

/// One operation on the effective `proxy_set_header` list of a location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderOp {
    /// Canonical header name (`Connection`, `Upgrade`, `Host`).
    pub name: String,
    pub action: HeaderAction,
    pub rule: RuleId,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderAction {
    /// Make the header's value `value` (added in front when absent).
    Set(HeaderValue),
    /// Remove the header; when it is the level's only header, set `fallback`
    /// instead so that the level keeps defining its own list.
    Remove { fallback: Option<HeaderValue> },
}

/// A header value and how to write it in a new directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderValue {
    /// What nginx sees (quotes removed).
    pub value: String,
    /// How a new directive writes it (`""`, `"upgrade"`, `$http_upgrade`).
    pub written: String,
}

impl HeaderValue {
    pub fn quoted(value: &str) -> HeaderValue {
        HeaderValue {
            value: value.to_string(),
            written: crate::syntax::word::quoted(value),
        }
    }

    pub fn bare(value: &str) -> HeaderValue {
        HeaderValue {
            value: value.to_string(),
            written: value.to_string(),
        }
    }

    /// The text replacing an existing value token, in that token's quoting.
    pub(crate) fn replacing(&self, old_quote: Option<char>) -> String {
        // A `$` starts a variable however the word is quoted: such a value
        // keeps the spelling it was made with.
        let plain = crate::syntax::word::is_bare(&self.value) && !self.value.contains('$');
        match old_quote {
            Some(q) if !self.value.contains('$') => format!("{q}{}{q}", self.value),
            None if plain => self.value.clone(),
            _ => self.written.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsMode {
    /// Ordinary traffic only.
    Plain,
    /// Ordinary traffic whose WebSocket path already has its own location.
    PlainDropUpgrade,
    /// The location is the WebSocket location.
    Dedicated,
    /// Split these paths off into new dedicated locations.
    Split { paths: Vec<String> },
    /// Both kinds of traffic: use the `$connection_upgrade` map.
    Map,
}

/// The file's maps, and what the locations asked of them.
#[derive(Debug, Default)]
pub struct MapNeeds {
    /// `(map directive, http context, source, variable)`, found once.
    pub(super) maps: Vec<(DirId, LevelId, String, String)>,
    pub(super) fix: BTreeSet<DirId>,
    pub(super) create: BTreeSet<LevelId>,
}

/// An existing `upstream` block that keeps idle connections after this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pool {
    pub dir: DirId,
    /// `upstream-keepalive` adds `keepalive N;` to it in this run: the pool
    /// is new, so it gets the settings without `--tune-existing`.
    pub gets_keepalive: bool,
}

#[derive(Debug, Clone)]
pub struct NewUpstream {
    pub name: UpstreamName,
    pub server: String,
    pub keepalive: u32,
}

/// The size of the shared memory zone of a new re-resolving upstream: one
/// server's peers and their state need a few kilobytes; nginx refuses less
/// than eight pages.
pub const ZONE_SIZE: &str = "64k";

/// An upstream block that re-resolves its server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolveUpstream {
    pub name: UpstreamName,
    pub zone: String,
    /// `host:port`.
    pub server: String,
    pub keepalive: u32,
    /// `resolver` and `resolver_timeout` lines copied from where the
    /// locations set them (not needed when the `http` context's apply).
    pub resolver_lines: Vec<String>,
}

impl ResolveUpstream {
    /// The block's directives, in order.
    pub fn body(&self, tuning: &[String]) -> Vec<String> {
        let mut body = vec![
            format!("zone {} {ZONE_SIZE};", self.zone),
            format!(
                "server {} resolve;",
                crate::syntax::word::word(&self.server)
            ),
        ];
        body.extend(self.resolver_lines.iter().cloned());
        body.push(format!("keepalive {};", self.keepalive));
        body.extend(tuning.iter().cloned());
        body
    }
}

/// A rewrite rule. Each method is one phase, listed in the order they run;
/// a rule implements those it takes part in, the others do nothing.
pub trait Rule: Sync {
    /// The protocol whose locations the location and split phases run for
    /// (`None`: every location with a pooled site).
    fn protocol(&self) -> Option<Protocol> {
        Some(Protocol::Proxy)
    }

    /// Per pooled `proxy_pass`, in source order.
    fn site(&self, _ctx: &Ctx, _site: &Site, _out: &mut Out) {}

    /// Per existing `upstream` that needs `keepalive`.
    fn upstream(&self, _ctx: &Ctx, _upstream: DirId, _out: &mut Out) {}

    /// Per existing `upstream` block of an `http` context that keeps idle
    /// connections after this run (it has `keepalive`, gets it, or pools
    /// by nginx 1.29.7's default), in source order.
    fn pool(&self, _ctx: &Ctx, _pool: &Pool, _out: &mut Out) {}

    /// Per location with pooled sites, in source order. After this phase,
    /// `headers::apply` turns every location's header operations into
    /// edits, respecting inheritance.
    fn location(&self, _ctx: &Ctx, _location: &mut Location, _board: &mut Board, _out: &mut Out) {}

    /// Per location whose WebSocket paths are split off, after the header
    /// edits exist: a split copies the location as it will be.
    /// `inside` holds the changes planned so far within the location (the
    /// other phases' output, nested locations included): a copy takes them.
    fn split(&self, _ctx: &Ctx, _location: &Location, _inside: &[Change], _out: &mut Out) {}

    /// Per `http` context with something to add, last.
    fn context(&self, _ctx: &Ctx, _context: &Context, _board: &mut Board, _out: &mut Out) {}
}
