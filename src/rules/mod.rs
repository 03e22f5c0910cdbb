//! The rewrite rules, one file each. Every file starts with What / Why /
//! Example / Safety. Rules only *plan*: they return [`crate::vocab::Change`]s
//! (or header operations for `crate::headers`) and notes, and never apply
//! anything themselves.

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
use crate::target::ProxyTarget;
use crate::vocab::Options;

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

/// Work gathered per location before header operations are applied.
#[derive(Debug, Default, Clone)]
pub struct LocationWork {
    pub sites: Vec<usize>,
    pub header_ops: Vec<HeaderOp>,
    /// Header edits must stay in this location (never at an outer level).
    pub keep_local: bool,
}
