//! The rewrite rules, one file each. Every file starts with What / Why /
//! Example / Safety. Rules only *plan*: they add [`Change`]s, notes and
//! header operations (for `crate::rules::headers`), and never apply anything.
//!
//! Every rule implements [`Rule`], whose methods are the phases of planning
//! in the order `plan.rs` runs them; within a phase the rules run in the
//! order of [`RULES`]. What one rule hands to a later one
//! is a named field of [`LocationWork`] or [`Board`], never a side channel.
//!
//! The header of each file is also the rule's documentation in reports
//! (SARIF's rule help): [`doc`] reads it from the file itself, so there is
//! one text to keep true.
//!
//! [`Change`]: crate::vocab::Change

pub mod connection;
pub mod fastcgi_keep_conn;
pub mod grpc_authority;
pub mod grpc_ssl_name;
pub mod headers;
pub mod http_version;
pub mod layout;
pub mod pool_tuning;
pub mod proxy_host;
pub mod proxy_pass;
pub mod upstream_block;
pub mod upstream_keepalive;
pub mod upstream_resolve;
pub mod websocket;
pub mod websocket_map;

use std::collections::BTreeMap;

use crate::model::target::ProxyTarget;
use crate::model::{DirId, LevelId, Model};
use crate::plan::naming::NewUpstream;
use crate::rules::headers::HeaderOp;
use crate::vocab::names::UpstreamName;
use crate::vocab::{Options, Plan, Protocol, RuleId};

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
    pub ws: websocket::WsMode,
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
            ws: websocket::WsMode::Plain,
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
        matches!(self.ws, websocket::WsMode::Split { .. })
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
    pub resolve_upstreams: Vec<(crate::plan::resolve::ResolveUpstream, Vec<DirId>)>,
    /// The context gets `resolver ADDR;` from `--resolver`.
    pub add_resolver: bool,
}

/// State one rule hands to a later phase.
#[derive(Debug, Default)]
pub struct Board {
    /// The `$http_upgrade` maps of the unit and what the locations asked of
    /// them (`connection` asks, `websocket_map` answers).
    pub maps: websocket_map::MapNeeds,
    /// Bodies of new `map` blocks per http context (`websocket_map` decides,
    /// `upstream_block` places them with the new upstreams).
    pub new_maps: BTreeMap<LevelId, Vec<String>>,
}

/// A rewrite rule. Each method is one phase, listed in the order they run;
/// a rule implements those it takes part in, the others do nothing.
pub trait Rule: Sync {
    /// The id of the rule's main change (a rule may add others, such as
    /// `upgrade-header` next to `connection-header`).
    fn id(&self) -> RuleId;

    /// The protocol whose locations the location and split phases run for
    /// (`None`: every location with a pooled site).
    fn protocol(&self) -> Option<Protocol> {
        Some(Protocol::Proxy)
    }

    /// Per pooled `proxy_pass`, in source order.
    fn site(&self, _ctx: &Ctx, _site: &Site, _out: &mut Plan) {}

    /// Per existing `upstream` that needs `keepalive`.
    fn upstream(&self, _ctx: &Ctx, _upstream: DirId, _out: &mut Plan) {}

    /// Per existing `upstream` block of an `http` context that keeps idle
    /// connections after this run (it has `keepalive`, gets it, or pools
    /// by nginx 1.29.7's default), in source order.
    fn pool(&self, _ctx: &Ctx, _pool: &pool_tuning::Pool, _out: &mut Plan) {}

    /// Per location with pooled sites, in source order. After this phase,
    /// `headers::apply` turns every location's header operations into
    /// edits, respecting inheritance.
    fn location(&self, _ctx: &Ctx, _location: &mut Location, _board: &mut Board, _out: &mut Plan) {}

    /// Per location whose WebSocket paths are split off, after the header
    /// edits exist: a split copies the location as it will be.
    fn split(&self, _ctx: &Ctx, _location: &Location, _out: &mut Plan) {}

    /// Per `http` context with something to add, last.
    fn context(&self, _ctx: &Ctx, _context: &Context, _board: &mut Board, _out: &mut Plan) {}
}

/// Every rule, in the order they run within a phase: the WebSocket mode is
/// decided before `Connection` follows it; maps are decided before the
/// upstream blocks that carry new ones.
pub static RULES: &[&dyn Rule] = &[
    &proxy_pass::ProxyPass,
    &upstream_keepalive::UpstreamKeepalive,
    &http_version::HttpVersion,
    &websocket::Websocket,
    &connection::Connection,
    &proxy_host::ProxyHost,
    &websocket_map::WebsocketMap,
    &fastcgi_keep_conn::FastcgiKeepConn,
    &grpc_ssl_name::GrpcSslName,
    &grpc_authority::GrpcAuthority,
    &upstream_block::UpstreamBlock,
    &upstream_resolve::UpstreamResolve,
    &pool_tuning::PoolTuning,
];

/// The rule files' text, for [`doc`].
const SOURCES: [&str; 13] = [
    include_str!("connection.rs"),
    include_str!("fastcgi_keep_conn.rs"),
    include_str!("grpc_authority.rs"),
    include_str!("grpc_ssl_name.rs"),
    include_str!("http_version.rs"),
    include_str!("pool_tuning.rs"),
    include_str!("proxy_host.rs"),
    include_str!("proxy_pass.rs"),
    include_str!("upstream_block.rs"),
    include_str!("upstream_keepalive.rs"),
    include_str!("upstream_resolve.rs"),
    include_str!("websocket.rs"),
    include_str!("websocket_map.rs"),
];

/// A rule's documentation: the What / Why / Example / Safety header of the
/// file that makes its changes.
#[derive(Debug, Clone)]
pub struct RuleDoc {
    /// The What section, as one line of text.
    pub what: String,
    /// The whole header as Markdown (rustdoc links turned into code spans).
    pub markdown: String,
}

impl RuleDoc {
    /// The first sentence of What; one that introduces a list ends at its
    /// colon.
    pub fn summary(&self) -> String {
        match [". ", ": - "]
            .iter()
            .filter_map(|m| self.what.find(m))
            .min()
        {
            Some(i) => format!("{}.", &self.what[..i]),
            None => self.what.clone(),
        }
    }
}

/// The documentation of `rule`, from the header of the file whose first
/// line names it (`//! \`connection-header\` and \`upgrade-header\``).
pub fn doc(rule: RuleId) -> RuleDoc {
    let wanted = format!("`{}`", rule.as_str());
    let header = |text: &'static str| -> Vec<&'static str> {
        text.lines()
            .map_while(|l| l.strip_prefix("//!"))
            .map(|l| l.strip_prefix(' ').unwrap_or(l))
            .collect()
    };
    let lines = SOURCES
        .iter()
        .map(|s| header(s))
        .find(|h| h.first().is_some_and(|first| first.contains(&wanted)))
        .unwrap_or_else(|| panic!("no rule file documents {wanted}"));
    // rustdoc's [`item`] links mean nothing outside rustdoc.
    let markdown = lines.join("\n").replace("[`", "`").replace("`]", "`");
    // What runs to the Why section (lists and all).
    let what = markdown
        .split_once("**What**: ")
        .map(|(_, rest)| rest.split_once("\n\n**Why**").map_or(rest, |(w, _)| w))
        .unwrap_or_default()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    RuleDoc { what, markdown }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every rule id is documented by exactly one file, with all four
    /// sections.
    #[test]
    fn every_rule_has_its_documentation() {
        for rule in RuleId::ALL {
            let wanted = format!("`{}`", rule.as_str());
            let files = SOURCES
                .iter()
                .filter(|s| s.lines().next().is_some_and(|l| l.contains(&wanted)))
                .count();
            assert_eq!(files, 1, "{wanted} is named by {files} rule files");
            let doc = doc(rule);
            for section in ["**What**: ", "**Why**: ", "**Example**: ", "**Safety**: "] {
                assert!(doc.markdown.contains(section), "{wanted}: no {section}");
            }
            assert!(doc.summary().ends_with('.'), "{wanted}: {}", doc.summary());
            assert!(!doc.markdown.contains("[`"), "{wanted}: rustdoc link left");
        }
        assert_eq!(
            doc(RuleId::ProxyPassTarget).summary(),
            "rewrites the literal target of a `proxy_pass`, `fastcgi_pass`, `grpc_pass` or `memcached_pass` to the name of the upstream block that pools connections to it."
        );
    }
}
