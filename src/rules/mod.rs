//! The rewrite rules, one file each, and what they share. Every rule file
//! starts with What / Why / Example / Safety. Rules only *plan*: they add
//! changes, notes and header operations (applied by [`headers`]), and
//! never apply anything.
//!
//! - [`api`]: what a rule sees and hands on ([`api::Rule`], whose methods
//!   are the phases of planning, and the push-only output).
//! - [`registry`]: the one table of rules: their ids, the order they run
//!   in, how the summary counts them and which file documents them.
//! - [`headers`], [`layout`]: the `proxy_set_header` inheritance and where
//!   new lines go, shared by several rules.
//!
//! The header of each rule file is also the rule's documentation in
//! reports (SARIF's rule help): [`doc`] reads it from the file itself, so
//! there is one text to keep true.
//!
//! Architecture invariant: rules read the model and their own inputs
//! ([`api`]); they never read another rule's output, and nothing here
//! touches a file.

pub mod api;
pub mod headers;
pub mod layout;
pub mod registry;

use crate::vocab::Protocol;

// The table of rules (see `registry`): a row per rule file, in the order
// the rules run within a phase; `rank` is an id's place in reports, `on`
// the protocols whose sites it changes something for (`upkeep rule`).
registry::registry! {
    proxy_pass::ProxyPass => {
        ProxyPassTarget = "proxy-pass-target", rank 2, on [Proxy],
            counted ("proxy_pass target rewritten", "proxy_pass targets rewritten");
        FastcgiPassTarget = "fastcgi-pass-target", rank 12, on [FastCgi],
            counted ("fastcgi_pass target rewritten", "fastcgi_pass targets rewritten");
        GrpcPassTarget = "grpc-pass-target", rank 14, on [Grpc],
            counted ("grpc_pass target rewritten", "grpc_pass targets rewritten");
        MemcachedPassTarget = "memcached-pass-target", rank 17, on [Memcached],
            counted ("memcached_pass target rewritten", "memcached_pass targets rewritten");
    }
    upstream_keepalive::UpstreamKeepalive => {
        UpstreamKeepalive = "upstream-keepalive", rank 1, on [Proxy, FastCgi, Grpc, Memcached],
            counted ("existing upstream given keepalive", "existing upstreams given keepalive");
    }
    http_version::HttpVersion => {
        HttpVersion = "http-version", rank 3, on [Proxy],
            counted ("proxy_http_version set to 1.1", "proxy_http_version set to 1.1");
    }
    websocket::Websocket => {
        WebsocketSplit = "websocket-split", rank 6, on [Proxy],
            counted ("WebSocket location split off", "WebSocket locations split off");
    }
    connection::Connection => {
        ConnectionHeader = "connection-header", rank 4, on [Proxy],
            counted ("Connection header fixed", "Connection headers fixed");
        UpgradeHeader = "upgrade-header", rank 5, on [Proxy],
            counted ("Upgrade header moved", "Upgrade headers moved");
    }
    proxy_host::ProxyHost => {
        HostHeader = "host-header", rank 8, on [Proxy],
            counted ("Host header kept", "Host headers kept");
        ProxyRedirect = "proxy-redirect", rank 9, on [Proxy],
            counted ("proxy_redirect kept", "proxy_redirects kept");
        ProxySslName = "proxy-ssl-name", rank 10, on [Proxy],
            counted ("TLS name kept", "TLS names kept");
        ProxyHostValue = "proxy-host-value", rank 11, on [Proxy],
            counted ("$proxy_host value kept", "$proxy_host values kept");
    }
    websocket_map::WebsocketMap => {
        WebsocketMap = "websocket-map", rank 7, on [Proxy],
            counted ("WebSocket map change", "WebSocket map changes");
    }
    fastcgi_keep_conn::FastcgiKeepConn => {
        FastcgiKeepConn = "fastcgi-keep-conn", rank 13, on [FastCgi],
            counted ("fastcgi_keep_conn turned on", "fastcgi_keep_conn turned on");
    }
    grpc_ssl_name::GrpcSslName => {
        GrpcSslName = "grpc-ssl-name", rank 15, on [Grpc],
            counted ("gRPC TLS name kept", "gRPC TLS names kept");
    }
    grpc_authority::GrpcAuthority => {
        GrpcAuthority = "grpc-authority", rank 16, on [Grpc],
            counted ("gRPC :authority kept", "gRPC :authority values kept");
    }
    upstream_block::UpstreamBlock => {
        UpstreamBlock = "upstream-block", rank 0, on [Proxy, FastCgi, Grpc, Memcached],
            counted ("upstream added", "upstreams added");
    }
    upstream_resolve::UpstreamResolve => {
        UpstreamResolve = "upstream-resolve", rank 19, on [Proxy],
            counted ("re-resolving upstream added", "re-resolving upstreams added");
        Resolver = "resolver", rank 20, on [Proxy],
            counted ("resolver added", "resolvers added");
    }
    pool_tuning::PoolTuning => {
        PoolTuning = "pool-tuning", rank 18, on [Proxy, FastCgi, Grpc, Memcached],
            counted ("pool setting tuned", "pool settings tuned");
    }
}

/// Reports spell an id as [`RuleId::as_str`] does: one spelling.
impl serde::Serialize for RuleId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl RuleId {
    /// The id spelled `name` (exactly as reports spell it).
    pub fn from_name(name: &str) -> Option<RuleId> {
        RuleId::ALL.into_iter().find(|r| r.as_str() == name)
    }

    /// The id `name` most likely meant, for a "did you mean": one that
    /// holds it (`connection` → `connection-header`), else one sharing
    /// most of its words (`keepalive-pool` → `upstream-keepalive`), else
    /// the fewest characters away (`conection-header`); ties in report
    /// order.
    pub fn closest(name: &str) -> RuleId {
        let name = name.to_ascii_lowercase().replace('_', "-");
        let key = |r: &RuleId| {
            let id = r.as_str();
            let shared = name
                .split('-')
                .filter(|w| !w.is_empty() && id.split('-').any(|i| i == *w))
                .count();
            (
                !id.contains(name.as_str()),
                std::cmp::Reverse(shared),
                crate::vocab::spelling::edit_distance(id, &name),
                r.rank(),
            )
        };
        RuleId::ALL
            .into_iter()
            .min_by_key(key)
            .expect("there are rules")
    }

    /// The protocols as `upkeep rule` shows them: `--only`'s names, or
    /// `any` for a rule that serves every protocol.
    pub fn protocols_shown(self) -> String {
        let protocols = self.protocols();
        if protocols.len() == Protocol::ALL.len() {
            return "any".into();
        }
        protocols
            .iter()
            .map(|p| p.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The rule that rewrites a `*_pass` target of `protocol`.
    pub fn target_of(protocol: Protocol) -> RuleId {
        match protocol {
            Protocol::Proxy => RuleId::ProxyPassTarget,
            Protocol::FastCgi => RuleId::FastcgiPassTarget,
            Protocol::Grpc => RuleId::GrpcPassTarget,
            Protocol::Memcached => RuleId::MemcachedPassTarget,
        }
    }
}

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
    let lines = header(rule.source());
    assert!(
        lines.first().is_some_and(|first| first.contains(&wanted)),
        "the file of {wanted} does not name it in its first line"
    );
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

    /// Ids are found by their spelling, and a misspelling by what it
    /// most likely meant.
    #[test]
    fn ids_by_name_and_by_likeness() {
        for rule in RuleId::ALL {
            assert_eq!(RuleId::from_name(rule.as_str()), Some(rule));
            assert_eq!(RuleId::closest(rule.as_str()), rule);
        }
        assert_eq!(RuleId::from_name("Connection-Header"), None);
        assert_eq!(
            RuleId::closest("conection-header"),
            RuleId::ConnectionHeader
        );
        assert_eq!(
            RuleId::closest("connection_header"),
            RuleId::ConnectionHeader
        );
        assert_eq!(RuleId::closest("keepalive"), RuleId::UpstreamKeepalive);
        assert_eq!(RuleId::closest("redirect"), RuleId::ProxyRedirect);
        assert!(matches!(
            RuleId::closest("keepalive-pool"),
            RuleId::UpstreamKeepalive | RuleId::PoolTuning
        ));
        assert_eq!(RuleId::closest("header-host"), RuleId::HostHeader);
    }

    /// A target rule serves its own protocol alone; the rules of the
    /// `upstream` blocks serve every protocol.
    #[test]
    fn protocols_follow_the_pass_directives() {
        for protocol in Protocol::ALL {
            assert_eq!(RuleId::target_of(protocol).protocols(), [protocol]);
        }
        assert_eq!(RuleId::UpstreamBlock.protocols_shown(), "any");
        assert_eq!(RuleId::HttpVersion.protocols_shown(), "proxy");
        assert_eq!(RuleId::FastcgiKeepConn.protocols_shown(), "fastcgi");
    }

    /// The ranks are a permutation: every id is listed once.
    #[test]
    fn every_id_has_its_own_rank() {
        let mut ranks: Vec<usize> = RANKED.iter().map(|(r, _)| *r).collect();
        ranks.sort();
        assert_eq!(ranks, (0..RuleId::ALL.len()).collect::<Vec<_>>());
        for id in RANKED.iter().map(|(_, id)| *id) {
            assert_eq!(RuleId::ALL.iter().filter(|a| **a == id).count(), 1);
        }
    }
}
