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

pub mod api;
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

use crate::rules::api::Rule;
use crate::vocab::RuleId;

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
