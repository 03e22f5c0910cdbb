//! The shared vocabulary of planning: what the user asked for
//! ([`Options`]), the rules' stable ids ([`RuleId`]), and what planning
//! produces ([`Plan`], [`Change`], [`Note`], [`PlanError`]). A leaf: every layer from
//! the model up to the emitters speaks it, and it depends on nothing but
//! [`Edit`] and the name types.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::edit::Edit;
use crate::names::{BackendKey, UpstreamName};

/// What planning produces for one unit: the edits with their reasons, and
/// notes. Rules add to it; `lib.rs` verifies it before anything is shown.
#[derive(Debug, Default)]
pub struct Plan {
    pub changes: Vec<Change>,
    pub notes: Vec<Note>,
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

/// What the user asked for, already validated.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub keepalive: u32,
    /// Pool sizes for named upstreams.
    pub keepalive_for: BTreeMap<UpstreamName, u32>,
    /// Upstream names for backends.
    pub names: BTreeMap<BackendKey, String>,
    pub websocket_paths: Vec<String>,
    /// The target nginx is 1.29.7 or later: keepalive, HTTP/1.1 and no
    /// `Connection: close` are its defaults.
    pub new_defaults: bool,
    pub host_header: HostHeaderMode,
}

impl Options {
    pub fn pool_size(&self, upstream: &str) -> u32 {
        self.keepalive_for
            .get(&UpstreamName::new(upstream))
            .copied()
            .unwrap_or(self.keepalive)
    }
}

/// Stable identifiers of the rewrite rules, used in reports and JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuleId {
    UpstreamBlock,
    UpstreamKeepalive,
    ProxyPassTarget,
    HttpVersion,
    ConnectionHeader,
    UpgradeHeader,
    WebsocketSplit,
    WebsocketMap,
    HostHeader,
    ProxyRedirect,
    ProxySslName,
    ProxyHostValue,
}

impl RuleId {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleId::UpstreamBlock => "upstream-block",
            RuleId::UpstreamKeepalive => "upstream-keepalive",
            RuleId::ProxyPassTarget => "proxy-pass-target",
            RuleId::HttpVersion => "http-version",
            RuleId::ConnectionHeader => "connection-header",
            RuleId::UpgradeHeader => "upgrade-header",
            RuleId::WebsocketSplit => "websocket-split",
            RuleId::WebsocketMap => "websocket-map",
            RuleId::HostHeader => "host-header",
            RuleId::ProxyRedirect => "proxy-redirect",
            RuleId::ProxySslName => "proxy-ssl-name",
            RuleId::ProxyHostValue => "proxy-host-value",
        }
    }
}

/// One planned edit and why.
#[derive(Debug, Clone)]
pub struct Change {
    pub rule: RuleId,
    pub edit: Edit,
    pub reason: String,
}

/// Something upkeep left alone or assumed, with where it is.
#[derive(Debug, Clone)]
pub struct Note {
    pub offset: Option<usize>,
    pub message: String,
}

/// A file upkeep cannot plan for as asked (e.g. a `--name` that clashes).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct PlanError {
    pub offset: Option<usize>,
    pub message: String,
}
