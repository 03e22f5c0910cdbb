//! The rewrite rules, one file each. Every file starts with What / Why /
//! Example / Safety. Rules only *plan*: they add [`Change`]s, notes and
//! header operations (for `crate::headers`), and never apply anything.
//!
//! Every rule implements [`Rule`], whose methods are the phases of planning
//! in the order `plan.rs` runs them; within a phase the rules run in the
//! order of [`RULES`]. What one rule hands to a later one
//! is a named field of [`LocationWork`] or [`Board`], never a side channel.
//!
//! [`Change`]: crate::vocab::Change

pub mod connection;
pub mod http_version;
pub mod proxy_host;
pub mod proxy_pass;
pub mod upstream_block;
pub mod upstream_keepalive;
pub mod websocket;
pub mod websocket_map;

use std::collections::BTreeMap;

use crate::headers::HeaderOp;
use crate::model::{DirId, LevelId, Model};
use crate::names::UpstreamName;
use crate::naming::NewUpstream;
use crate::target::ProxyTarget;
use crate::vocab::{Options, Plan, RuleId};

/// A `proxy_pass` upkeep pools.
#[derive(Debug, Clone)]
pub struct Site {
    pub pass: DirId,
    /// The location (settings level) whose `proxy_*` settings apply.
    pub location: LevelId,
    pub http: LevelId,
    /// The upstream it ends up using.
    pub upstream: UpstreamName,
    /// The literal target it had, when the rewrite changes it.
    pub literal: Option<ProxyTarget>,
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
    /// The pooled sites whose settings this location holds.
    pub sites: Vec<&'a Site>,
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
            ws: websocket::WsMode::Plain,
            header_ops: Vec::new(),
            split_ops: Vec::new(),
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

    /// Per pooled `proxy_pass`, in source order.
    fn site(&self, _ctx: &Ctx, _site: &Site, _out: &mut Plan) {}

    /// Per existing `upstream` that needs `keepalive`.
    fn upstream(&self, _ctx: &Ctx, _upstream: DirId, _out: &mut Plan) {}

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
    &upstream_block::UpstreamBlock,
];
