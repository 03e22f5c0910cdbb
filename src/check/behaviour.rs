//! What nginx will do with a request, per proxying location, computed from a
//! model — so that upkeep can check that its rewrite changes connection
//! reuse and nothing else before it prints or writes anything.
//!
//! For every place that proxies (a level with its own `proxy_pass`, and an
//! `if`/`limit_except` block inside a proxying location) [`observe`] records
//! what a client or a backend can tell apart:
//!
//! - the backend: scheme, the servers it resolves to (through an `upstream`
//!   block or nginx's implicit upstream) and the block's other settings, and
//!   the URI part that maps the request path;
//! - every header sent (nginx's default `Host $proxy_host` and
//!   `Connection close` included), the HTTP version;
//! - the `Location`/`Refresh` rewriting in effect (`proxy_redirect`, with
//!   nginx's default mapping built from the `proxy_pass` URL, inheritance
//!   followed as `ngx_http_proxy_merge_loc_conf` does);
//! - the TLS name (`proxy_ssl_name`, or nginx's default: the upstream's host,
//!   cut at its port as `ngx_http_upstream_ssl_name` does) and every other
//!   effective directive — certificates, verification, timeouts, cache —
//!   with `$proxy_host` and `$proxy_port` evaluated;
//! - the cache key when a cache is in effect;
//! - the pool: the keepalive `upstream` it uses and the settings that shape
//!   its connections (TLS, `proxy_bind`, `proxy_socket_keepalive`).
//!
//! [`compare`] then demands that the output's observations equal the
//! input's except for what the rules may change: pooling, HTTP/1.0 → 1.1,
//! the `Connection` header, an `Upgrade: $http_upgrade` moved to a WebSocket
//! location, and — only when the user accepts nginx's new `$proxy_host`
//! values — whatever `$proxy_host` determines. Locations the rewrite adds (a
//! WebSocket split) are compared with the location that served their
//! requests before. Two locations may share a pool after only if their
//! connection settings are identical or they shared it before.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::model::nginx::{
    connection_settings, cut_ssl_name, default_redirect, faithful, literal_targets, sizes_pool,
    substitute,
};
use crate::model::target::ProxyTarget;
use crate::model::{DirId, LevelId, LevelKind, LocationKind, Model};
use crate::vocab::names::UpstreamName;
use crate::vocab::Protocol;

/// How `$proxy_host`-derived values are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyHostValues {
    /// They must stay what they were (upkeep pins them).
    Kept,
    /// The user accepts the new values: compare them symbolically.
    Accepted,
}

/// A level's identity that survives a rewrite: the path of block headers
/// (`server#0 > location /api/#0 > if ($x)#0`) from the file's top.
pub type LevelKey = String;

/// Between the parts of a [`LevelKey`] (not `/`: location paths hold it).
const KEY_SEPARATOR: &str = " > ";

/// What one proxying place does with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    /// Which `*_pass` serves the place.
    pub protocol: Protocol,
    pub backend: Backend,
    /// The URI part of `proxy_pass` (`/`, `/ws`, empty), as nginx uses it.
    pub uri: Option<String>,
    /// Headers sent, in order, lowercased names, values evaluated; headers
    /// with an empty value (which nginx does not send) are left out. gRPC's
    /// `:authority` pseudo-header is its own entry, apart from `host`.
    pub headers: Vec<(String, String)>,
    /// FastCGI: `fastcgi_keep_conn` in effect (whether nginx asks the
    /// application to keep the connection).
    pub keep_conn: bool,
    pub http_version: String,
    /// `None`: `proxy_redirect off`.
    pub redirects: Option<Vec<(String, String)>>,
    /// Every other effective directive, by name, arguments evaluated.
    pub settings: BTreeMap<String, Vec<Vec<String>>>,
    /// The TLS name used for SNI and verification (https only).
    pub ssl_name: Option<String>,
    pub cache_key: Option<String>,
    /// The keepalive upstreams whose pools this uses (several for a target
    /// with variables whose values name upstream blocks), each with what
    /// shapes its connections there (compared between pool members).
    pub pools: BTreeMap<UpstreamName, String>,
    /// The location's path, for mapping a split location to its origin.
    location: Option<(String, LocationKind)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    Resolved {
        scheme: String,
        /// Server entries (`host:port` lowercased, parameters after).
        servers: Vec<String>,
        /// The upstream block's other directives (balancing etc.).
        block: Vec<String>,
    },
    /// A target nginx resolves per request, as written.
    Variable(String),
}

/// The observations of a whole file.
#[derive(Debug, Default)]
pub struct Observations {
    /// Every proxying place, by its key.
    pub places: BTreeMap<LevelKey, Observed>,
}

/// Settings the rules may change, or that are compared on their own.
const COMPARED_APART: &[&str] = &[
    "proxy_pass",
    "proxy_http_version",
    "proxy_set_header",
    "proxy_redirect",
    "proxy_ssl_name",
    "proxy_cache_key",
    "fastcgi_pass",
    "fastcgi_keep_conn",
    "grpc_pass",
    "grpc_set_header",
    "grpc_ssl_name",
    "memcached_pass",
];

/// The `*_pass` a level has itself, with its protocol.
fn own_pass(model: &Model, level: LevelId) -> Option<(DirId, Protocol)> {
    Protocol::ALL
        .into_iter()
        .find_map(|p| model.named(level, p.pass()).first().map(|d| (*d, p)))
}

/// Directives of the rewrite module run before `proxy_pass` picks a target
/// (`$proxy_host` is empty there) and are not inherited like settings.
const NOT_SETTINGS: &[&str] = &["set", "rewrite", "return", "break", "if"];

/// Keys for every level of the model (the root's is empty).
pub fn level_keys(model: &Model) -> Vec<LevelKey> {
    let mut keys: Vec<LevelKey> = vec![String::new(); model.levels.len()];
    let mut counts: BTreeMap<(LevelId, String), usize> = BTreeMap::new();
    for (id, level) in model.each_level().skip(1) {
        let (Some(owner), Some(parent)) = (level.owner, level.parent) else {
            continue;
        };
        let dir = &model.dirs[owner];
        let mut label = dir.name.value.to_string();
        for a in &dir.args {
            label.push(' ');
            label.push_str(&a.value);
        }
        let n = counts.entry((parent, label.clone())).or_default();
        keys[id.index()] = format!("{}{KEY_SEPARATOR}{label}#{n}", keys[parent.index()]);
        *n += 1;
    }
    keys
}

/// How a run reads what nginx does with requests: which values it takes
/// as equal and which of nginx's meanings it holds the config to.
#[derive(Debug, Clone, Copy)]
pub struct Lens {
    /// Whether `$proxy_host`'s values must stay or are compared
    /// symbolically.
    pub values: ProxyHostValues,
    /// nginx's new defaults (`proxy_http_version 1.1`, an empty
    /// `Connection`) are in effect.
    pub new_defaults: bool,
    /// `--resolve`: a target with variables that its location fixes is
    /// observed as nginx evaluates it: its backend is the name resolved per
    /// request (a `resolve` server, with the resolver that looks it up),
    /// `$proxy_host` its evaluated host, and a URI part that nginx sends as
    /// evaluated is marked as such.
    pub runtime: bool,
    /// What gRPC's Host is, for the nginx version held to.
    pub grpc_host: crate::vocab::GrpcHost,
}

/// Observes every proxying place of an `http` context in `model`.
pub fn observe(model: &Model, lens: Lens) -> Observations {
    let mut out = Observations::default();
    observe_each(model, lens, |key, observed| {
        out.places.insert(key.clone(), observed);
    });
    out
}

/// [`observe`], each place handed to `each` as it is observed rather
/// than kept: how the output is compared ([`Comparison`]) without holding
/// its observations (on a large config as large as the input's).
pub fn observe_each(model: &Model, lens: Lens, mut each: impl FnMut(&LevelKey, Observed)) {
    let keys = level_keys(model);
    let blocks = upstream_blocks(model);
    let valued = crate::model::variables::upstream_valued_passes(model, |http, name| {
        blocks.contains_key(&(Some(http), name.clone()))
    });
    let upstreams = Upstreams { blocks, valued };
    let runtime = lens.runtime.then(|| Runtime {
        defined: crate::model::variables::Defined::of(model),
        literals: literal_targets(model),
    });
    for (level, _) in model.each_level() {
        let Some(place) = proxying_place(model, level) else {
            continue;
        };
        let observed = observe_place(model, place, &upstreams, lens, runtime.as_ref());
        each(&keys[level.index()], observed);
    }
}

/// Where a level's requests are proxied by: its own `proxy_pass`, or (for an
/// `if`/`limit_except`) the enclosing location's.
struct Place {
    level: LevelId,
    pass: DirId,
    protocol: Protocol,
    /// The levels whose settings apply, nearest first.
    chain: Vec<LevelId>,
}

fn proxying_place(model: &Model, level: LevelId) -> Option<Place> {
    let kind = model.levels[level].kind;
    if !matches!(
        kind,
        LevelKind::Location | LevelKind::If | LevelKind::LimitExcept
    ) {
        return None;
    }
    model.http_context(level)?;
    let (pass, protocol) = match own_pass(model, level) {
        Some(p) => p,
        None if kind != LevelKind::Location => {
            let location = model.settings_level(level);
            if model.levels[location].kind != LevelKind::Location {
                return None;
            }
            own_pass(model, location)?
        }
        None => return None,
    };
    Some(Place {
        level,
        pass,
        protocol,
        chain: model.place_chain(level),
    })
}

/// The `upstream` blocks by http context and name, and the `proxy_pass`
/// directives with variables whose every value names one of them
/// (`variables::upstream_valued_passes`), with those values.
struct Upstreams {
    blocks: BTreeMap<(Option<LevelId>, UpstreamName), UpstreamBlock>,
    valued: BTreeMap<DirId, Vec<ProxyTarget>>,
}

struct UpstreamBlock {
    servers: Vec<String>,
    block: Vec<String>,
    keepalive: bool,
}

fn upstream_blocks(model: &Model) -> BTreeMap<(Option<LevelId>, UpstreamName), UpstreamBlock> {
    let mut out = BTreeMap::new();
    for (id, level) in model.each_level() {
        if level.kind != LevelKind::Upstream {
            continue;
        }
        let Some(owner) = level.owner else { continue };
        let Some(name) = model.dirs[owner].arg(0) else {
            continue;
        };
        let mut servers = Vec::new();
        let mut block = Vec::new();
        let mut keepalive = false;
        for d in &level.statements {
            let dir = &model.dirs[*d];
            let args: Vec<&str> = dir.args.iter().map(|a| a.value.as_ref()).collect();
            match dir.name.value.as_ref() {
                "server" => {
                    let mut entry = args
                        .first()
                        .map_or(String::new(), |s| ProxyTarget::server_key(s).to_string());
                    for a in &args[1.min(args.len())..] {
                        entry.push(' ');
                        entry.push_str(a);
                    }
                    servers.push(entry);
                }
                _ if sizes_pool(dir) => keepalive = true,
                // The pool's own tuning (`keepalive_timeout`, ...): upkeep
                // may add it, and it shapes only idle connections.
                n if n.starts_with("keepalive_") => {}
                n => block.push(format!("{n} {}", args.join(" "))),
            }
        }
        servers.sort();
        out.insert(
            (model.http_context(id), UpstreamName::new(name)),
            UpstreamBlock {
                servers,
                block,
                keepalive,
            },
        );
    }
    out
}

fn observe_place(
    model: &Model,
    place: Place,
    upstreams: &Upstreams,
    lens: Lens,
    runtime: Option<&Runtime>,
) -> Observed {
    let Lens {
        values,
        new_defaults,
        grpc_host,
        ..
    } = lens;
    let url = model.dirs[place.pass].arg(0).unwrap_or("").to_string();
    let http = model.http_context(place.level);
    let protocol = place.protocol;
    let proxy = protocol == Protocol::Proxy;
    let parsed = ProxyTarget::parse_as(protocol, &url).ok();
    let evaluated = match (&parsed, runtime) {
        (None, Some(r)) if proxy => {
            crate::model::variables::evaluate_pass(model, &r.defined, place.pass)
                .and_then(|u| ProxyTarget::parse(&u).ok())
        }
        _ => None,
    };
    let target = parsed.clone().or_else(|| evaluated.clone());
    // nginx looks `http://NAME` (no port) up among upstream blocks first.
    let block = target.as_ref().and_then(|t| {
        t.names_upstream()
            .then(|| upstreams.blocks.get(&(http, t.host_name())))
            .flatten()
    });
    let backend = match (&target, block) {
        (Some(t), Some(b)) => Backend::Resolved {
            scheme: t.scheme.clone(),
            servers: b
                .servers
                .iter()
                .map(|s| {
                    if s.split(' ').skip(1).any(|w| w == "resolve") {
                        format!("{s}{}", block_resolver(model, http, &b.block))
                    } else {
                        s.clone()
                    }
                })
                .collect(),
            block: b.block.clone(),
        },
        // Evaluated: resolved per request, unless the implicit upstream of
        // a literal target has it.
        (Some(t), None) if parsed.is_none() => Backend::Resolved {
            scheme: t.scheme.clone(),
            servers: vec![if runtime.is_some_and(|r| {
                r.literals
                    .contains(&(http, t.host_name(), t.effective_port()))
            }) {
                t.backend_key().to_string()
            } else {
                format!(
                    "{} resolve{}",
                    t.backend_key(),
                    place_resolver(model, &place.chain)
                )
            }],
            block: Vec::new(),
        },
        (Some(t), None) => Backend::Resolved {
            scheme: t.scheme.clone(),
            servers: vec![t.backend_key().to_string()],
            block: Vec::new(),
        },
        // Values that all name upstream blocks: the blocks are the backend.
        (None, _) => match upstreams.valued.get(&place.pass).filter(|_| proxy) {
            Some(targets) => {
                let mut text = url.clone();
                for t in targets {
                    if let Some(b) = upstreams.blocks.get(&(http, t.host_name())) {
                        let _ = write!(
                            text,
                            "; {}://{}: {:?} {:?}",
                            t.scheme, t.host, b.servers, b.block
                        );
                    }
                }
                Backend::Variable(text)
            }
            None => Backend::Variable(url.clone()),
        },
    };
    let pools: BTreeMap<UpstreamName, String> = match (&target, block) {
        (Some(t), Some(b)) if b.keepalive => {
            BTreeMap::from([(t.host_name(), connection_settings(model, &place.chain, t))])
        }
        // Pooled only when every upstream its values name keeps connections.
        (None, _) if proxy => match upstreams.valued.get(&place.pass) {
            Some(targets)
                if targets.iter().all(|t| {
                    upstreams
                        .blocks
                        .get(&(http, t.host_name()))
                        .is_some_and(|b| b.keepalive)
                }) =>
            {
                targets
                    .iter()
                    .map(|t| (t.host_name(), connection_settings(model, &place.chain, t)))
                    .collect()
            }
            _ => BTreeMap::new(),
        },
        _ => BTreeMap::new(),
    };
    let tls = target.as_ref().is_some_and(|t| t.tls());
    // $proxy_host and $proxy_port, concrete within this model.
    let (host, port) = match &target {
        Some(t) if t.is_unix() => ("localhost".to_string(), String::new()),
        Some(t) => (t.proxy_host(), t.effective_port().unwrap_or(80).to_string()),
        None => (String::new(), String::new()),
    };
    let symbolic = values == ProxyHostValues::Accepted;
    // Only the proxy module defines `$proxy_host`; elsewhere it stays text.
    let (eh, ep) = if symbolic || target.is_none() || !proxy {
        (None, None)
    } else {
        (Some(host.as_str()), Some(port.as_str()))
    };
    let eval = |s: &str| substitute(s, eh, ep);
    let args_of = |d: DirId| -> Vec<String> {
        model.dirs[d]
            .args
            .iter()
            .map(|a| eval(&faithful(model, a)))
            .collect()
    };
    let nearest = |name: &str| model.nearest(&place.chain, name);

    // Headers: the effective list, then nginx's defaults for what it lacks.
    let set_header = match protocol {
        Protocol::Grpc => "grpc_set_header",
        _ => "proxy_set_header",
    };
    let mut headers: Vec<(String, String)> = nearest(set_header)
        .map(|(_, dirs)| {
            dirs.iter()
                .filter_map(|d| {
                    let a = args_of(*d);
                    Some((a.first()?.to_ascii_lowercase(), a.get(1)?.clone()))
                })
                .collect()
        })
        .unwrap_or_default();
    let host_set = headers.iter().any(|(n, _)| n == "host");
    match protocol {
        Protocol::Proxy => {
            if !host_set {
                headers.push(("host".into(), eval("$proxy_host")));
            }
            if !headers.iter().any(|(n, _)| n == "connection") && !new_defaults {
                headers.push(("connection".into(), "close".into()));
            }
        }
        // `ngx_http_grpc_create_request`: `:authority` from the target
        // (`host:port` as written) only when no Host is set.
        Protocol::Grpc => {
            let authority = match &target {
                _ if symbolic => "<upstream authority>".to_string(),
                Some(t) => t.grpc_authority(),
                None => "<per request>".to_string(),
            };
            match headers.iter().position(|(n, _)| n == "host") {
                None => headers.push((":authority".into(), authority)),
                // nginx 1.31.4 and later send the Host value as
                // `:authority`, the target's when the value is empty.
                Some(i) if grpc_host == crate::vocab::GrpcHost::Authority => {
                    let (_, value) = headers.remove(i);
                    let sent = if crate::model::variables::may_be_empty(model, place.level, &value)
                    {
                        format!("{value}, or {authority} when empty")
                    } else {
                        value
                    };
                    headers.push((":authority".into(), sent));
                }
                Some(_) => {}
            }
        }
        // FastCGI params are settings (`fastcgi_param`); memcached sends a key.
        _ => {}
    }
    headers.retain(|(_, v)| !v.is_empty());

    let http_version = if proxy {
        nearest("proxy_http_version")
            .and_then(|(_, dirs)| args_of(*dirs.last()?).first().cloned())
            .unwrap_or_else(|| if new_defaults { "1.1" } else { "1.0" }.into())
    } else {
        String::new()
    };

    let redirects = if proxy {
        redirects(model, &place, &eval, symbolic)
    } else {
        None
    };
    let keep_conn = protocol == Protocol::FastCgi
        && nearest("fastcgi_keep_conn")
            .and_then(|(_, dirs)| {
                model.dirs[*dirs.last()?]
                    .arg(0)
                    .map(|v| v.eq_ignore_ascii_case("on"))
            })
            .unwrap_or(false);

    let mut settings: BTreeMap<String, Vec<Vec<String>>> = BTreeMap::new();
    for l in &place.chain {
        for d in model.plain(*l) {
            let dir = &model.dirs[*d];
            let name = dir.name.value.as_ref();
            if dir.block.is_some()
                || COMPARED_APART.contains(&name)
                || NOT_SETTINGS.contains(&name)
                || settings.contains_key(name)
            {
                continue;
            }
            if let Some((_, dirs)) = nearest(name) {
                settings.insert(name.to_string(), dirs.iter().map(|d| args_of(*d)).collect());
            }
        }
    }

    let ssl_name = tls.then(|| {
        let name = match nearest(&format!("{}ssl_name", protocol.prefix())) {
            Some((_, dirs)) => args_of(dirs[0]).first().cloned().unwrap_or_default(),
            // nginx's default: the upstream's host (block name, or the
            // implicit upstream's host as written, brackets included).
            None if symbolic => "<upstream host>".into(),
            None => target.as_ref().map(|t| t.host.clone()).unwrap_or_default(),
        };
        cut_ssl_name(&name)
    });

    let exact_key = (!symbolic && parsed.is_some())
        .then(|| crate::model::nginx::default_cache_key(model, model.settings_level(place.level)))
        .flatten();
    let cache_key = nearest("proxy_cache")
        .filter(|_| proxy)
        .filter(|(_, dirs)| args_of(dirs[0]).first().is_some_and(|v| v != "off"))
        .map(|_| match nearest("proxy_cache_key") {
            Some((_, dirs)) => args_of(dirs[0]).join(" "),
            // An exact location's default key, spelled as
            // `proxy_cache_key` would spell it (`rules::proxy_host`).
            None if exact_key.is_some() => exact_key.clone().unwrap_or_default(),
            None => {
                let start = match &target {
                    Some(t) => format!("{}://{}", t.scheme, eval("$proxy_host")),
                    None => url.clone(),
                };
                format!(
                    "<default key> {start} {}",
                    target.as_ref().map_or("", |t| &t.uri)
                )
            }
        });

    let location = model
        .location_path(model.settings_level(place.level))
        .map(|p| (p.path, p.kind));
    Observed {
        protocol,
        backend,
        uri: target.as_ref().map(|t| {
            // With variables nginx sends a URI part as evaluated; without,
            // it replaces the location's prefix (an empty one: the same).
            if runtime.is_some() && url.contains('$') && !t.uri.is_empty() {
                format!("<sent as evaluated> {}", t.uri)
            } else {
                t.uri.clone()
            }
        }),
        headers,
        keep_conn,
        http_version,
        redirects,
        settings,
        ssl_name,
        cache_key,
        pools,
        location,
    }
}

/// What observing targets with variables needs, computed once per model.
struct Runtime {
    defined: crate::model::variables::Defined,
    literals: BTreeSet<(Option<LevelId>, UpstreamName, Option<u16>)>,
}

/// ` via resolver ARGS timeout MS` for a name resolved at run time.
fn via(resolver: Option<String>, timeout: Option<String>) -> String {
    let ms = timeout
        .as_deref()
        .and_then(crate::vocab::tuning::parse_msec)
        .unwrap_or(30_000);
    format!(
        " via resolver {} timeout {ms}ms",
        resolver.as_deref().unwrap_or("none")
    )
}

/// A directive's arguments as values, space-separated.
fn args_text(model: &Model, d: DirId) -> String {
    model.dirs[d]
        .args
        .iter()
        .map(|a| a.value.as_ref())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The resolver a per-request target is looked up with: the nearest
/// `resolver` (and `resolver_timeout`) of the place's chain.
fn place_resolver(model: &Model, chain: &[LevelId]) -> String {
    let words = |name: &str| {
        model
            .nearest(chain, name)
            .and_then(|(_, dirs)| Some(args_text(model, *dirs.last()?)))
    };
    via(words("resolver"), words("resolver_timeout"))
}

/// The resolver an upstream block re-resolves its `resolve` servers with:
/// its own `resolver` (and `resolver_timeout`), else the `http` context's
/// (`ngx_http_upstream_init_round_robin`).
fn block_resolver(model: &Model, http: Option<LevelId>, block: &[String]) -> String {
    let own = |name: &str| {
        block
            .iter()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .map(str::to_string)
    };
    let context = |name: &str| Some(args_text(model, *model.named(http?, name).last()?));
    via(
        own("resolver").or_else(|| context("resolver")),
        own("resolver_timeout").or_else(|| context("resolver_timeout")),
    )
}

/// The `proxy_redirect` list in effect, merged top-down along the chain the
/// way `ngx_http_proxy_merge_loc_conf` does: a level with `proxy_redirect`
/// directives replaces the list, `off` turns it off, a level without any
/// inherits the list, and a level with a literal `proxy_pass` and no list
/// gets the default built from its URL and its location's name.
fn redirects(
    model: &Model,
    place: &Place,
    eval: &dyn Fn(&str) -> String,
    symbolic: bool,
) -> Option<Vec<(String, String)>> {
    let mut enabled = true;
    let mut list: Option<Vec<(String, String)>> = None;
    for level in place.chain.iter().rev() {
        let dirs = model.named(*level, "proxy_redirect");
        let pass = model.own_pass(*level);
        let default_of = |pass: Option<DirId>| -> Option<(String, String)> {
            let url = model.dirs[pass?].arg(0)?;
            if url.contains('$') {
                return None; // a proxy_pass with variables has no default
            }
            let (pattern, replacement) = default_redirect(model, *level, url);
            if symbolic {
                // The authority is what the user accepts to change; the
                // mapping of the path stays.
                let uri = ProxyTarget::parse(url).map_or(String::new(), |t| t.uri);
                return Some((format!("{SYMBOLIC_DEFAULT}{uri}"), replacement));
            }
            Some((pattern, replacement))
        };
        if !dirs.is_empty() {
            if dirs.len() == 1 && model.dirs[dirs[0]].arg(0) == Some("off") {
                enabled = false;
                list = None;
                continue;
            }
            enabled = true;
            let mut entries = Vec::new();
            for d in dirs {
                let dir = &model.dirs[d];
                if dir.args.len() == 1 && dir.arg(0) == Some("default") {
                    entries.extend(default_of(pass));
                } else {
                    let a: Vec<String> = dir.args.iter().map(|a| eval(&a.value)).collect();
                    entries.push((
                        a.first().cloned().unwrap_or_default(),
                        a.get(1).cloned().unwrap_or_default(),
                    ));
                }
            }
            list = Some(entries);
        } else if enabled && list.is_none() {
            if let Some(entry) = default_of(pass) {
                list = Some(vec![entry]);
            }
        }
    }
    if !enabled {
        return None;
    }
    Some(list.unwrap_or_default())
}

/// Marks a default `proxy_redirect` compared without its authority.
const SYMBOLIC_DEFAULT: &str = "<default proxy_redirect, URI> ";

/// What the rules are allowed to change, as the run asked.
#[derive(Debug, Clone, Copy)]
pub struct Allowed {
    /// `--websocket` paths were given: `Upgrade: $http_upgrade` may move
    /// from an ordinary location to a dedicated one.
    pub move_upgrade: bool,
    /// `--resolve`: a name resolved per request may become a `resolve`
    /// server of an upstream block (its `zone` and `resolver` lines are
    /// pool settings; the resolver is compared with the server), and
    /// `proxy_redirect off` equals an empty list.
    pub resolve: bool,
    /// `--resolver`: an `http` context may gain a `resolver`.
    pub resolver_added: bool,
}

/// Compares the observations of the input and of the output; each returned
/// line is a difference the rules may not make.
pub fn compare(before: &Observations, after: &Observations, allowed: Allowed) -> Vec<String> {
    let mut comparison = Comparison::new(before, allowed);
    for (key, a) in &after.places {
        comparison.place(key, a);
    }
    comparison.finish()
}

/// The output compared with the input's observations one place at a time,
/// as the output is observed ([`observe_each`]): of each output place only
/// what the pool check needs is kept. The problems come out in the same
/// order whatever order the places come in.
pub struct Comparison<'b> {
    before: &'b Observations,
    allowed: Allowed,
    /// Each problem with where it was found: the input's places first
    /// (`false`), then the places the rewrite added, each by key.
    found: Vec<((bool, LevelKey), String)>,
    /// The input's places the output still has.
    kept: BTreeSet<&'b LevelKey>,
    /// Per pool, its members in the output: key, the settings that shape
    /// its connections, and the input's place that served its requests.
    pools: BTreeMap<UpstreamName, Vec<PoolMember>>,
}

struct PoolMember {
    key: LevelKey,
    connection: String,
    origin: Option<LevelKey>,
}

impl<'b> Comparison<'b> {
    pub fn new(before: &'b Observations, allowed: Allowed) -> Self {
        Comparison {
            before,
            allowed,
            found: Vec::new(),
            kept: BTreeSet::new(),
            pools: BTreeMap::new(),
        }
    }

    /// One place of the output.
    pub fn place(&mut self, key: &LevelKey, a: &Observed) {
        let mut problems = Vec::new();
        let (added, origin) = match self.before.places.get_key_value(key) {
            Some((kept, b)) => {
                self.kept.insert(kept);
                compare_place(key, b, a, None, self.allowed, &mut problems);
                (false, Some(key.clone()))
            }
            // A location the rewrite added: it serves requests that a
            // sibling prefix location served before.
            None => match origin_of(key, a, self.before) {
                Some((origin_key, origin, uri)) => {
                    compare_place(key, origin, a, Some(uri), self.allowed, &mut problems);
                    (true, Some(origin_key))
                }
                None => {
                    problems.push(format!("{key}: a new proxying location with no origin"));
                    (true, None)
                }
            },
        };
        self.found
            .extend(problems.into_iter().map(|p| ((added, key.clone()), p)));
        for (pool, connection) in &a.pools {
            self.pools
                .entry(pool.clone())
                .or_default()
                .push(PoolMember {
                    key: key.clone(),
                    connection: connection.clone(),
                    origin: origin.clone(),
                });
        }
    }

    /// Every problem, the input's places in key order, then the added
    /// places, then the pools.
    pub fn finish(mut self) -> Vec<String> {
        for key in self.before.places.keys() {
            if !self.kept.contains(key) {
                self.found
                    .push(((false, key.clone()), format!("{key}: no longer proxies")));
            }
        }
        // Stable: one place's problems stay in the order they were found.
        self.found.sort_by(|(a, _), (b, _)| a.cmp(b));
        let mut problems: Vec<String> = self.found.into_iter().map(|(_, p)| p).collect();
        // Pools: members with different connection settings must have
        // shared that pool before.
        for (pool, mut members) in self.pools {
            members.sort_by(|a, b| a.key.cmp(&b.key));
            let pooled_before = |origin: &Option<LevelKey>| {
                origin
                    .as_ref()
                    .and_then(|k| self.before.places.get(k))
                    .is_some_and(|o| o.pools.contains_key(&pool))
            };
            for (i, m1) in members.iter().enumerate() {
                for m2 in &members[i + 1..] {
                    if m1.connection == m2.connection {
                        continue;
                    }
                    if !(pooled_before(&m1.origin) && pooled_before(&m2.origin)) {
                        problems.push(format!(
                            "{} and {} would share the pool of upstream \"{pool}\" with different connection settings ({} / {})",
                            m1.key, m2.key, m1.connection, m2.connection
                        ));
                    }
                }
            }
        }
        problems
    }
}

/// The place that served a new location's requests before: the longest
/// prefix sibling location (the parent key is the same), and the URI the
/// new location's `proxy_pass` must have to map requests the same way.
fn origin_of<'b>(
    key: &str,
    new: &Observed,
    before: &'b Observations,
) -> Option<(LevelKey, &'b Observed, Option<String>)> {
    let (path, _) = new.location.as_ref()?;
    let parent = &key[..key.rfind(KEY_SEPARATOR)?];
    let mut best: Option<(&LevelKey, &Observed, usize)> = None;
    for (k, o) in &before.places {
        let Some(kp) = k.rfind(KEY_SEPARATOR).map(|i| &k[..i]) else {
            continue;
        };
        if kp != parent {
            continue;
        }
        let Some((p, LocationKind::Prefix)) = &o.location else {
            continue;
        };
        if path.starts_with(p.as_str()) && best.is_none_or(|(_, _, len)| p.len() > len) {
            best = Some((k, o, p.len()));
        }
    }
    let (k, o, len) = best?;
    let uri = o.uri.as_ref().map(|u| {
        if u.is_empty() || u.contains('$') {
            u.clone()
        } else {
            format!("{u}{}", &path[len..])
        }
    });
    Some((k.clone(), o, uri))
}

fn compare_place(
    key: &str,
    b: &Observed,
    a: &Observed,
    mapped_uri: Option<Option<String>>,
    allowed: Allowed,
    problems: &mut Vec<String>,
) {
    let mut differ = |what: &str, before: String, after: String| {
        problems.push(format!("{key}: {what} changes from {before} to {after}"));
    };
    if b.protocol != a.protocol {
        differ(
            "the protocol",
            b.protocol.pass().into(),
            a.protocol.pass().into(),
        );
    }
    // `fastcgi_keep_conn on` is what pooling FastCGI takes (the flag asks
    // the application to keep the connection; requests stay the same).
    let pooled = !a.pools.is_empty();
    if b.keep_conn != a.keep_conn && !(a.keep_conn && pooled) {
        differ(
            "fastcgi_keep_conn",
            b.keep_conn.to_string(),
            a.keep_conn.to_string(),
        );
    }
    let backend = |o: &Observed| match &o.backend {
        Backend::Resolved {
            scheme,
            servers,
            block,
        } if allowed.resolve => Backend::Resolved {
            scheme: scheme.clone(),
            servers: servers.clone(),
            block: block
                .iter()
                .filter(|l| {
                    !["zone ", "resolver ", "resolver_timeout "]
                        .iter()
                        .any(|p| l.starts_with(p))
                })
                .cloned()
                .collect(),
        },
        other => other.clone(),
    };
    // `--resolver` gives a name that had no resolver one.
    let resolver_added = |b: &Backend, a: &Backend| match (b, a) {
        (
            Backend::Resolved {
                scheme: s1,
                servers: v1,
                block: k1,
            },
            Backend::Resolved {
                scheme: s2,
                servers: v2,
                block: k2,
            },
        ) if allowed.resolver_added => {
            s1 == s2
                && k1 == k2
                && v1.len() == v2.len()
                && v1.iter().zip(v2).all(|(x, y)| {
                    x == y
                        || (x.contains(" via resolver none timeout ")
                            && without_resolver(y) == without_resolver(x))
                })
        }
        _ => false,
    };
    if backend(b) != backend(a) && !resolver_added(&backend(b), &backend(a)) {
        differ(
            "the backend",
            format!("{:?}", b.backend),
            format!("{:?}", a.backend),
        );
    }
    let expected_uri = mapped_uri.unwrap_or_else(|| b.uri.clone());
    if expected_uri != a.uri {
        differ(
            "the proxied URI",
            format!("{expected_uri:?}"),
            format!("{:?}", a.uri),
        );
    }
    // Header order across names carries no meaning in HTTP; the rules add
    // headers where they fit, so the lists are compared sorted.
    let ordinary = |h: &[(String, String)], drop_upgrade: bool| -> Vec<(String, String)> {
        let mut list: Vec<(String, String)> = h
            .iter()
            .filter(|(n, v)| {
                n != "connection" && !(drop_upgrade && n == "upgrade" && v == "$http_upgrade")
            })
            .cloned()
            .collect();
        list.sort();
        list
    };
    let drop_upgrade = allowed.move_upgrade;
    if ordinary(&b.headers, drop_upgrade) != ordinary(&a.headers, drop_upgrade) {
        differ(
            "the headers sent",
            format!("{:?}", ordinary(&b.headers, false)),
            format!("{:?}", ordinary(&a.headers, false)),
        );
    }
    // A target with variables speaks HTTP/1.1 without `Connection: close`
    // only when every upstream its values name keeps connections: nothing
    // else of it is rewritten, and for a value resolved per request the
    // change would be the only one.
    let connection = |o: &Observed| {
        o.headers
            .iter()
            .find(|(n, _)| n == "connection")
            .map(|(_, v)| v.clone())
    };
    if matches!(b.backend, Backend::Variable(_))
        && a.pools.is_empty()
        && (b.http_version != a.http_version || connection(b) != connection(a))
    {
        differ(
            "the HTTP version or Connection header of a target with variables that is not pooled",
            format!("{} {:?}", b.http_version, connection(b)),
            format!("{} {:?}", a.http_version, connection(a)),
        );
    }
    if b.http_version != a.http_version && !(b.http_version == "1.0" && a.http_version == "1.1") {
        differ(
            "the HTTP version",
            b.http_version.clone(),
            a.http_version.clone(),
        );
    }
    // A split location's default redirect maps its own, longer path the
    // same way the origin's default mapped it.
    let mut b_redirects = b.redirects.clone();
    if let (Some(list), Some((path, _))) = (&mut b_redirects, &a.location) {
        for (pattern, replacement) in list.iter_mut() {
            if let Some(uri) = pattern.strip_prefix(SYMBOLIC_DEFAULT) {
                if let Some(rest) = path
                    .strip_prefix(replacement.as_str())
                    .filter(|_| !uri.is_empty())
                {
                    *pattern = format!("{SYMBOLIC_DEFAULT}{uri}{rest}");
                    *replacement = path.clone();
                }
            }
        }
    }
    let mut a_redirects = a.redirects.clone();
    if allowed.resolve {
        // No rewriting either way.
        b_redirects = b_redirects.filter(|l| !l.is_empty());
        a_redirects = a_redirects.filter(|l| !l.is_empty());
    }
    if b_redirects != a_redirects {
        differ(
            "proxy_redirect",
            format!("{:?}", b.redirects),
            format!("{:?}", a.redirects),
        );
    }
    if b.ssl_name != a.ssl_name {
        differ(
            "the TLS name",
            format!("{:?}", b.ssl_name),
            format!("{:?}", a.ssl_name),
        );
    }
    if b.cache_key != a.cache_key {
        differ(
            "the cache key",
            format!("{:?}", b.cache_key),
            format!("{:?}", a.cache_key),
        );
    }
    let names: BTreeSet<&String> = b.settings.keys().chain(a.settings.keys()).collect();
    for name in names {
        if allowed.resolver_added && name == "resolver" && !b.settings.contains_key(name) {
            continue;
        }
        if b.settings.get(name) != a.settings.get(name) {
            differ(
                name,
                format!("{:?}", b.settings.get(name)),
                format!("{:?}", a.settings.get(name)),
            );
        }
    }
}

/// A `resolve` server entry without the resolver it is looked up with.
fn without_resolver(entry: &str) -> String {
    match (entry.find(" via resolver "), entry.rfind(" timeout ")) {
        (Some(from), Some(to)) if from < to => format!("{}{}", &entry[..from], &entry[to..]),
        _ => entry.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::nginx::uses_proxy_vars;

    #[test]
    fn a_value_after_a_variable_name_does_not_extend_it() {
        assert_eq!(
            substitute("$scheme$proxy_host$request_uri", Some("pages:8080"), None),
            "${scheme}pages:8080$request_uri"
        );
    }

    #[test]
    fn substitutes_only_the_proxy_variables() {
        assert_eq!(
            substitute(
                "$proxy_host:${proxy_port}/$proxy_hostname",
                Some("a:1"),
                Some("1")
            ),
            "a:1:1/$proxy_hostname"
        );
        assert!(uses_proxy_vars("x $proxy_port"));
        assert!(!uses_proxy_vars("$host"));
    }

    #[test]
    fn tls_names_are_cut_at_the_port() {
        assert_eq!(cut_ssl_name("a.test:8443"), "a.test");
        assert_eq!(cut_ssl_name("[::1]:8443"), "[::1]");
        assert_eq!(cut_ssl_name("[::1]"), "[::1]");
        assert_eq!(cut_ssl_name("::1"), "");
    }
}
