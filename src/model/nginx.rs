//! nginx's semantics that both planning and the behaviour check ask, each
//! answered in one place: which settings shape a pooled connection, what
//! `$proxy_host`/`$proxy_port` become, nginx's default `proxy_redirect` and
//! `proxy_cache_key`, the implicit upstreams literal targets create, and
//! the `upstream` blocks a config already has (with whether they pool).
//!
//! Each answer follows nginx's source, named where it matters
//! (`ngx_http_proxy_module.c`, `ngx_http_upstream.c`).

use std::collections::{BTreeMap, BTreeSet};

use crate::model::target::{NotLiteral, ProxyTarget};
use crate::model::{DirId, LevelId, LevelKind, LocationKind, Model};
use crate::vocab::fast::FastMap;
use crate::vocab::names::{BackendKey, UpstreamName};
use crate::vocab::Protocol;

/// Settings that shape the connection rather than the request: nginx keeps
/// idle connections per peer, so locations that differ here must not share
/// a pool. (`proxy_ssl_*`, `grpc_ssl_*` count only for TLS targets.)
pub fn shapes_connection(protocol: Protocol, name: &str, tls: bool) -> bool {
    let Some(rest) = name.strip_prefix(protocol.prefix()) else {
        return false;
    };
    matches!(rest, "bind" | "socket_keepalive") || (tls && rest.starts_with("ssl"))
}

/// Replaces `$proxy_host`/`${proxy_host}` and `$proxy_port`/`${proxy_port}`
/// in `text`; `None` keeps them as written (compared symbolically).
pub fn substitute(text: &str, host: Option<&str>, port: Option<&str>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let (name, len) = if let Some(inner) = after.strip_prefix('{') {
            match inner.find('}') {
                Some(end) => (&inner[..end], end + 2),
                None => ("", 0),
            }
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], end)
        };
        let value = match name {
            "proxy_host" => host,
            "proxy_port" => port,
            _ => None,
        };
        match value {
            Some(v) if len > 0 => {
                // `$scheme` + `pages:8080` must not read back as
                // `$schemepages`: brace a bare variable name the value
                // would extend.
                if v.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
                    if let Some(dollar) = out.rfind('$') {
                        let name = &out[dollar + 1..];
                        if !name.is_empty()
                            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                        {
                            out.insert(dollar + 1, '{');
                            out.push('}');
                        }
                    }
                }
                out.push_str(v)
            }
            _ => out.push_str(&rest[i..i + 1 + len]),
        }
        rest = &rest[i + 1 + len..];
    }
    out.push_str(rest);
    out
}

/// Does `text` name `$proxy_host` or `$proxy_port`?
pub fn uses_proxy_vars(text: &str) -> bool {
    substitute(text, Some("\u{1}"), Some("\u{1}")) != text
}

/// The settings that shape the connections of a place with `target`,
/// whose settings come from `chain` (nearest level first), as one
/// comparable string: locations may share a pool only if theirs are equal.
/// Values are concrete (`$proxy_host` evaluated for this target).
pub fn connection_settings(model: &Model, chain: &[LevelId], target: &ProxyTarget) -> String {
    let protocol = target.protocol;
    let tls = target.tls();
    let ssl_name = format!("{}ssl_name", protocol.prefix());
    let host = target.proxy_host();
    let port = target
        .effective_port()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let mut names: BTreeMap<&str, Vec<Vec<String>>> = BTreeMap::new();
    for l in chain {
        for d in model.plain(*l) {
            let dir = &model.dirs[*d];
            let name = dir.name.value.as_ref();
            if dir.block.is_some()
                || !shapes_connection(protocol, name, tls)
                || names.contains_key(name)
            {
                continue;
            }
            // Only the nearest level that sets it counts.
            let dirs = model
                .plain(*l)
                .iter()
                .filter(|x| model.dirs[**x].is(name) && model.dirs[**x].block.is_none());
            names.insert(
                name,
                dirs.map(|x| {
                    model.dirs[*x]
                        .args
                        .iter()
                        .map(|a| substitute(&faithful(model, a), Some(&host), Some(&port)))
                        .collect()
                })
                .collect(),
            );
        }
    }
    // One upstream's pool is shared by every protocol that uses it (keyed
    // by address only), so the protocol is part of what must be equal.
    let mut out = match protocol {
        Protocol::Proxy => format!("scheme={}", target.scheme),
        _ => format!("protocol={protocol}; scheme={}", target.scheme),
    };
    for (name, args) in &names {
        if *name != ssl_name {
            out.push_str(&format!("; {name}={args:?}"));
        }
    }
    if tls {
        let name = match names.get(ssl_name.as_str()) {
            Some(args) => args[0].first().cloned().unwrap_or_default(),
            None => target.host.clone(),
        };
        out.push_str(&format!("; TLS name={}", cut_ssl_name(&name)));
    }
    out
}

/// The implicit upstreams that literal `proxy_pass` targets create, per
/// `http` context: (context, host, port). A target with variables that
/// evaluates to one of them is not resolved per request.
pub fn literal_targets(model: &Model) -> BTreeSet<(Option<LevelId>, UpstreamName, Option<u16>)> {
    model
        .index
        .pass
        .iter()
        .filter(|d| model.dirs[**d].is("proxy_pass"))
        .filter_map(|d| {
            let dir = &model.dirs[*d];
            let t = ProxyTarget::parse(dir.arg(0)?).ok()?;
            Some((
                model.http_context(dir.level),
                t.host_name(),
                t.effective_port(),
            ))
        })
        .collect()
}

/// A word's value, with bytes that are not UTF-8 kept distinguishable (a
/// lossy value would hide a copy that mangled them).
pub fn faithful(model: &Model, word: &crate::model::Word) -> String {
    if word.value.contains('\u{FFFD}') {
        format!(
            "{:?}",
            model.bytes(word.range.clone()).escape_ascii().to_string()
        )
    } else {
        word.value.to_string()
    }
}

/// nginx cuts a TLS name at its port (after an IPv6 bracket).
pub fn cut_ssl_name(name: &str) -> String {
    let from = if name.starts_with('[') {
        name.find(']').unwrap_or(0)
    } else {
        0
    };
    match name[from..].find(':') {
        Some(i) => name[..from + i].to_string(),
        None => name.to_string(),
    }
}

/// The mapping nginx's default `proxy_redirect` makes of the `proxy_pass`
/// URL `url` written at `level`: the URL to the location's name, or, for a
/// URL without a URI, `URL/` to `/`. Unnamed levels (`if`, `limit_except`)
/// and regex or named locations give no location name.
pub fn default_redirect(model: &Model, level: LevelId, url: &str) -> (String, String) {
    let location = match model.levels[level].kind {
        LevelKind::Location => model
            .location_path(level)
            .filter(|p| matches!(p.kind, LocationKind::Prefix | LocationKind::Exact))
            .map(|p| p.path)
            .unwrap_or_default(),
        _ => String::new(),
    };
    match ProxyTarget::parse(url) {
        Ok(t) if !t.uri.is_empty() => (url.to_string(), location),
        _ => (format!("{url}/"), "/".into()),
    }
}

/// nginx's default `proxy_cache_key` of `location`, spelled as a
/// `proxy_cache_key` value, where one can spell it: an exact location
/// (`location = /js/script.js`) whose one `proxy_pass` sits directly in it
/// with a literal target and a URI part without variables, and no
/// `rewrite` in it or its `if` blocks. `ngx_http_proxy_create_key` builds
/// the key from the target's scheme as written and `$proxy_host`, then the
/// URI part, the request URI after the location's path (empty: an exact
/// location's path is the whole URI) and `?` with the arguments when there
/// are any; a `rewrite ... break` would clear `r->valid_location` and put
/// the rewritten URI there instead. The key is hashed as one text, so one
/// value equals its parts. Without a URI part nginx uses the raw request
/// line (`$request_uri`) only while `r->valid_unparsed_uri` holds, which an
/// internal redirect into the location ends: no value spells both.
pub fn default_cache_key(model: &Model, location: LevelId) -> Option<String> {
    let lp = model.location_path(location)?;
    if lp.kind != crate::model::LocationKind::Exact {
        return None;
    }
    let passes = passes_of(model, location);
    let [pass] = passes.as_slice() else {
        return None;
    };
    if model.dirs[*pass].level != location
        || local_levels(model, location)
            .iter()
            .any(|l| !model.named(*l, "rewrite").is_empty())
    {
        return None;
    }
    let url = model.dirs[*pass].arg(0)?;
    let target = ProxyTarget::parse(url).ok()?;
    if target.uri.is_empty() || target.uri.contains('$') || target.is_unix() {
        return None;
    }
    Some(format!(
        "{}{}{}$is_args$args",
        &url[..target.authority.start],
        target.proxy_host(),
        target.uri
    ))
}

/// Levels whose settings apply to requests of `location`: the location and
/// the `if`/`limit_except` blocks directly in it.
pub fn local_levels(model: &Model, location: LevelId) -> Vec<LevelId> {
    let mut out = vec![location];
    for d in &model.levels[location].statements {
        if let Some(child) = model.dirs[*d].block {
            if matches!(
                model.levels[child].kind,
                LevelKind::If | LevelKind::LimitExcept
            ) {
                out.push(child);
            }
        }
    }
    out
}

/// Every `proxy_pass` that serves requests of `location`.
pub fn passes_of(model: &Model, location: LevelId) -> Vec<DirId> {
    local_levels(model, location)
        .into_iter()
        .flat_map(|l| model.levels[l].statements.clone())
        .filter(|d| model.dirs[*d].is("proxy_pass"))
        .collect()
}

/// The directive that makes an `upstream` block keep idle connections
/// (`keepalive N`). Its `keepalive_timeout`, `keepalive_requests` and
/// `keepalive_time` siblings only tune a pool; alone they make none.
pub const POOL_SIZE: &str = "keepalive";

/// Whether `dir` is the directive that gives an `upstream` block a pool
/// ([`POOL_SIZE`]). Planning and the behaviour check both ask this one.
pub fn sizes_pool(dir: &crate::model::Directive) -> bool {
    dir.is(POOL_SIZE)
}

/// What planning asks of one model more than once, answered once per plan:
/// `plan::plan_except` builds it and hands it to everything that plans
/// through `rules::api::Ctx::facts`.
#[derive(Debug, Clone)]
pub struct Facts {
    /// Every `upstream` block, in source order ([`existing_upstreams`]).
    pub upstreams: Vec<ExistingUpstream>,
    /// The target of every `*_pass` of a protocol upkeep knows, parsed as
    /// that protocol reads it (`ProxyTarget::parse_as`), by directive.
    targets: FastMap<DirId, (Protocol, Result<ProxyTarget, NotLiteral>)>,
}

impl Facts {
    pub fn of(model: &Model) -> Self {
        // Reserved: a filtered iterator promises no length, and the map
        // grown from empty was rehashed a dozen times on a large config.
        let mut targets =
            FastMap::with_capacity_and_hasher(model.index.pass.len(), Default::default());
        targets.extend(model.index.pass.iter().filter_map(|d| {
            let dir = &model.dirs[*d];
            let protocol = Protocol::of_pass(&dir.name.value)?;
            Some((*d, (protocol, ProxyTarget::parse_as(protocol, dir.arg(0)?))))
        }));
        Facts {
            upstreams: existing_upstreams(model),
            targets,
        }
    }

    /// The protocol of `*_pass` directive `d` and its target as parsed,
    /// or `None` for a directive that is no `*_pass` of a known protocol.
    pub fn pass(&self, d: DirId) -> Option<(Protocol, Result<&ProxyTarget, NotLiteral>)> {
        self.targets
            .get(&d)
            .map(|(p, t)| (*p, t.as_ref().map_err(|e| *e)))
    }

    /// The literal target of `*_pass` directive `d`, if it has one.
    pub fn literal(&self, d: DirId) -> Option<&ProxyTarget> {
        self.pass(d)?.1.ok()
    }
}

/// An `upstream` block already in the file.
#[derive(Debug, Clone)]
pub struct ExistingUpstream {
    pub dir: DirId,
    pub name: UpstreamName,
    pub servers: Vec<BackendKey>,
    pub has_keepalive: bool,
    /// The connection settings of the locations that use it
    /// (`crate::model::nginx::connection_settings`), filled in by planning.
    pub users: BTreeSet<String>,
}

/// Every `upstream` block of the file, via `queries/upstream.scm`
/// (planning reads them from [`Facts`]).
fn existing_upstreams(model: &Model) -> Vec<ExistingUpstream> {
    model
        .index
        .upstream
        .iter()
        .filter_map(|&dir| {
            let block = model.dirs[dir].block?;
            let name = UpstreamName::new(model.dirs[dir].arg(0)?);
            let statements = &model.levels[block].statements;
            let servers = statements
                .iter()
                .filter(|d| model.dirs[**d].is("server"))
                .filter_map(|d| model.dirs[*d].arg(0).map(ProxyTarget::server_key))
                .collect();
            let has_keepalive = statements.iter().any(|d| sizes_pool(&model.dirs[*d]));
            Some(ExistingUpstream {
                dir,
                name,
                servers,
                has_keepalive,
                users: BTreeSet::new(),
            })
        })
        .collect()
}
