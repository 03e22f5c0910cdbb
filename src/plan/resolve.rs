//! `--resolve`: backends that nginx resolves at run time, pooled.
//!
//! Configs that must start before their backends exist (Docker Compose,
//! linuxserver's SWAG) write `set $upstream_app app; proxy_pass
//! http://$upstream_app:8080;` with a `resolver`: nginx evaluates the URL
//! per request, asks the resolver, and opens a new connection every time
//! (a per-request target never pools). From nginx 1.27.3 an `upstream`
//! block can re-resolve its servers itself:
//!
//! ```nginx
//! upstream app {
//!     zone app 64k;
//!     server app:8080 resolve;
//!     keepalive 32;
//! }
//! ```
//!
//! (`ngx_http_upstream_init_round_robin` refuses `resolve` without a
//! `zone`, and without a `resolver` in the upstream block or the `http`
//! context: the server and location levels are not looked at.)
//!
//! This module finds the `proxy_pass` directives that can become such
//! upstreams and says why the others cannot. A candidate:
//!
//! - sits directly in a location that fixes the variables of its scheme
//!   and host with `set` (`variables::evaluate_pass`), and the evaluated
//!   target is `http(s)://NAME[:PORT]` with a host name;
//! - is not found by nginx among the upstreams before a resolver is asked
//!   (a port-less name of an upstream block, or the host and port of a
//!   literal target elsewhere, whose implicit upstream nginx uses);
//! - keeps its URI semantics: only the authority of the URL is replaced by
//!   the upstream name. When variables remain (a `$scheme`, a
//!   `$request_uri`), nginx still evaluates the URL per request and finds
//!   the upstream by name, with the URI exactly as before. When none
//!   remain, the URL must have no URI part: then nginx passes the request
//!   URI unchanged in both forms (`ngx_http_proxy_create_request`), while
//!   a fixed URI part (`http://$app:8080/api/`) is sent as it is with
//!   variables but replaces the location prefix without: left alone;
//! - has a resolver: the one in effect for the location is the one the
//!   upstream uses (the `http` context's, or copied into the upstream
//!   block when the location or server sets its own); with none, nginx
//!   fails these requests today (502, "no resolver defined") and upkeep
//!   adds `--resolver ADDR` to the `http` context, or leaves the location
//!   alone with a note.
//!
//! The `set` stays (the variable may be logged or sent in a header);
//! everything `$proxy_host` decided is kept by the `proxy_host` rule as for
//! any literal target, since its value changes from `app:8080` to the
//! upstream name.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use crate::model::target::ProxyTarget;
use crate::model::variables;
use crate::model::{DirId, LevelId, LevelKind, Model};
use crate::plan::discover::{hidden_settings, Discovered};
use crate::plan::naming;
use crate::rules;
use crate::rules::api::{Ctx, Site};
use crate::rules::api::{NewUpstream, ResolveUpstream};
use crate::vocab::names::{BackendKey, UpstreamName};
use crate::vocab::{Note, NoteKind, PlanError};

/// What `--resolve` found in a unit.
#[derive(Debug, Default)]
pub struct Resolved {
    /// The `proxy_pass` directives that become pooled, as sites for the
    /// rules (`literal`: the evaluated target, its `authority` the range of
    /// the value that the upstream name replaces).
    pub sites: Vec<Site>,
    /// The upstream blocks to add per `http` context, with their users.
    pub upstreams: BTreeMap<LevelId, Vec<(ResolveUpstream, Vec<DirId>)>>,
    /// `http` contexts that get `resolver ADDR;` (`--resolver`).
    pub resolver_for: BTreeSet<LevelId>,
    /// Backends a `--name` may name.
    pub backends: BTreeSet<BackendKey>,
}

/// What discovery computes once per model.
struct Known {
    defined: variables::Defined,
    /// The implicit upstreams literal `proxy_pass` targets create.
    literals: BTreeSet<(Option<LevelId>, UpstreamName, Option<u16>)>,
}

/// One convertible `proxy_pass` before naming.
struct Candidate {
    pass: DirId,
    location: LevelId,
    http: LevelId,
    target: ProxyTarget,
    connection: String,
    resolver_lines: Vec<String>,
}

/// Finds what `--resolve` pools; notes say why the other `proxy_pass`
/// directives with variables stay. `new_upstreams`: what naming added
/// (their names are taken).
pub fn discover(
    ctx: &Ctx,
    found: &Discovered,
    new_upstreams: &BTreeMap<LevelId, Vec<NewUpstream>>,
    notes: &mut Vec<Note>,
    suppressed: &mut Vec<Note>,
) -> Result<Resolved, PlanError> {
    let model = ctx.model;
    let mut out = Resolved::default();
    let existing = &ctx.facts.upstreams;
    let known = Known {
        defined: variables::Defined::of(model),
        literals: crate::model::nginx::literal_targets(model),
    };
    let mut candidates: Vec<Candidate> = Vec::new();
    for &pass in &model.index.pass {
        let dir = &model.dirs[pass];
        let Some(url) = dir.arg(0) else { continue };
        if !dir.is("proxy_pass") || !url.contains('$') || ctx.facts.literal(pass).is_some() {
            continue;
        }
        let Some(http) = model.http_context(dir.level) else {
            continue;
        };
        let location = model.settings_level(dir.level);
        if model.levels[location].kind != LevelKind::Location {
            continue;
        }
        let note =
            |kind: NoteKind, message: String| Note::new(kind, Some(dir.range.start), message);
        if let Some(by) = model.ignore_mark(pass) {
            let reason = model.ignored[&by].as_deref().unwrap_or("no reason given");
            suppressed.push(Note::new(
                NoteKind::Info,
                Some(model.dirs[by].range.start),
                format!(
                    "{} left alone (upkeep:ignore: {reason})",
                    model.dirs[by].name.value
                ),
            ));
            continue;
        }
        match candidate(ctx, pass, http, location, existing, &known) {
            Ok(Some(c)) => candidates.push(c),
            Ok(None) => {}
            Err(why) => {
                // Left alone because an include hides its settings: undecided.
                let kind = hidden_settings(ctx, dir.level).map_or(NoteKind::LeftAlone, |h| h.kind);
                notes.push(note(kind, format!("proxy_pass {url} is left alone: {why}")))
            }
        }
    }

    // One upstream per backend, http context, connection settings and
    // resolver; names as naming gives them, never one that is taken.
    let mut taken: BTreeMap<LevelId, BTreeSet<UpstreamName>> = BTreeMap::new();
    for up in existing {
        if let Some(http) = model.http_context(model.dirs[up.dir].level) {
            taken.entry(http).or_default().insert(up.name.clone());
        }
    }
    for (http, hosts) in &found.remaining_hosts {
        taken
            .entry(*http)
            .or_default()
            .extend(hosts.iter().cloned());
    }
    for (http, ups) in new_upstreams {
        taken
            .entry(*http)
            .or_default()
            .extend(ups.iter().map(|u| u.name.clone()));
    }
    let mut zones = zone_names(model);
    let mut groups: Vec<(LevelId, String, Vec<usize>)> = Vec::new();
    for (i, c) in candidates.iter().enumerate() {
        let key = format!(
            "{}|{}|{}",
            c.target.backend_key(),
            c.connection,
            c.resolver_lines.join(" ")
        );
        match groups
            .iter_mut()
            .find(|(h, k, _)| *h == c.http && *k == key)
        {
            Some((_, _, members)) => members.push(i),
            None => groups.push((c.http, key, vec![i])),
        }
    }
    let mut variants: BTreeMap<(LevelId, BackendKey), usize> = BTreeMap::new();
    for (http, _, members) in &groups {
        let first = &candidates[members[0]];
        let key = first.target.backend_key();
        let variant = variants.entry((*http, key.clone())).or_default();
        *variant += 1;
        let taken = taken.entry(*http).or_default();
        let name = choose_name(ctx, &first.target, *variant, taken)?;
        taken.insert(name.clone());
        let zone = free_zone(name.as_str(), &mut zones);
        let upstream = ResolveUpstream {
            keepalive: ctx.opts.pool_size(name.as_str()),
            name: name.clone(),
            zone,
            server: first.target.server_entry(),
            resolver_lines: first.resolver_lines.clone(),
        };
        let users: Vec<DirId> = members.iter().map(|i| candidates[*i].pass).collect();
        for i in members {
            let c = &candidates[*i];
            if model
                .nearest(&model.place_chain(c.location), "resolver")
                .is_none()
            {
                out.resolver_for.insert(c.http);
            }
            out.sites.push(Site {
                pass: c.pass,
                protocol: crate::vocab::Protocol::Proxy,
                location: c.location,
                http: c.http,
                upstream: name.clone(),
                literal: Some(c.target.clone()),
                resolve: true,
            });
        }
        out.backends.insert(key);
        out.upstreams
            .entry(*http)
            .or_default()
            .push((upstream, users));
    }
    out.sites.sort_by_key(|s| s.pass);
    Ok(out)
}

/// Whether `pass` can become a re-resolving pool: `Ok(None)` when there is
/// nothing to say (it already names an upstream), `Err(why)` when it stays.
fn candidate(
    ctx: &Ctx,
    pass: DirId,
    http: LevelId,
    location: LevelId,
    existing: &[crate::model::nginx::ExistingUpstream],
    known: &Known,
) -> Result<Option<Candidate>, String> {
    let model = ctx.model;
    let dir = &model.dirs[pass];
    let url = dir.arg(0).unwrap_or_default();
    if dir.level != location {
        return Err("it is inside an `if` or `limit_except` block, whose requests upkeep cannot tell apart (--resolve)".into());
    }
    let Some(pieces) = variables::pieces(model, &known.defined, location, url)
        .filter(|p| p.iter().any(|p| p.fixed))
    else {
        return Err("nginx resolves it per request, and no `set` in its location fixes the variables of its host (--resolve needs `set $var VALUE;` in the location, before any `rewrite`, `return`, `break` or `if`, and nothing else defining the variable)".into());
    };
    let evaluated: String = pieces.iter().map(|p| p.value.as_str()).collect();
    let target = match ProxyTarget::parse(&evaluated) {
        Ok(t) => t,
        Err(crate::model::target::NotLiteral::VariableHost) => {
            return Err(format!(
                "it evaluates to {evaluated}: the variables left in its host or port are not fixed by a `set` in its location"
            ))
        }
        Err(_) => {
            return Err(format!(
                "it evaluates to {evaluated}, not an http(s) address"
            ))
        }
    };
    if target.is_unix() || target.host.starts_with('[') || is_ipv4(&target.host) {
        return Err(format!(
            "it evaluates to {evaluated}, an address: there is no name to resolve"
        ));
    }
    // nginx looks the evaluated host up among the upstreams first.
    if target.port.is_none()
        && existing.iter().any(|u| {
            u.name.is(&target.host) && model.http_context(model.dirs[u.dir].level) == Some(http)
        })
    {
        return Ok(None);
    }
    let implicit =
        known
            .literals
            .contains(&(Some(http), target.host_name(), target.effective_port()));
    if implicit {
        return Err(format!(
            "it evaluates to {}, which nginx finds among the implicit upstreams of the literal proxy_pass targets here: it is resolved at start-up, not per request",
            target.server_entry()
        ));
    }
    // The range of the value that the upstream name replaces: the pieces
    // that evaluate to exactly the authority.
    let Some(authority) = raw_range(&pieces, target.authority.clone()) else {
        return Err("a variable holds more of the URL than its host and port, so upkeep cannot put an upstream name in their place".into());
    };
    let rest_has_variables =
        url[..authority.start].contains('$') || url[authority.end..].contains('$');
    if !rest_has_variables && !target.uri.is_empty() {
        return Err(format!(
            "with variables nginx sends its URI part ({}) as it is, but a target without variables replaces the location's prefix with it: the requests would change",
            target.uri
        ));
    }
    // A WebSocket split copies the location with its target rebuilt from
    // a literal URL; not done for one with variables.
    if let Some(lp) = model
        .location_path(location)
        .filter(|lp| lp.kind == crate::model::LocationKind::Prefix)
    {
        if let Some(ws) = ctx
            .opts
            .websocket_paths
            .iter()
            .find(|ws| ws.starts_with(lp.path.as_str()) && **ws != lp.path)
        {
            return Err(format!(
                "--websocket {ws} would split a location off it, which upkeep does not do for a target with variables (add `location {ws}` yourself)"
            ));
        }
    }
    if let Some(hidden) = hidden_settings(ctx, dir.level) {
        return Err(hidden.reason.trim_start_matches("left alone: ").to_string());
    }
    let refs = [(pass, &target)];
    if let Some(reason) = rules::proxy_host::blocker(ctx, location, &refs) {
        return Err(reason.trim_start_matches("left alone: ").to_string());
    }
    // A target without variables gets nginx's default proxy_redirect,
    // which upkeep turns off again (a proxy_pass with variables has none);
    // nested proxying locations would inherit that `off`.
    if !rest_has_variables
        && model.descendants(location).into_iter().any(|l| {
            matches!(
                model.levels[l].kind,
                LevelKind::Location | LevelKind::If | LevelKind::LimitExcept
            ) && model.own_pass(l).is_some()
        })
    {
        return Err("it has nested proxying blocks, which would inherit the `proxy_redirect off;` that keeps its redirects as they are".into());
    }
    let chain = model.place_chain(location);
    let mut resolver_lines = Vec::new();
    for name in ["resolver", "resolver_timeout"] {
        match model.nearest(&chain, name) {
            Some((level, dirs)) if level != http => {
                for d in dirs {
                    let words: Vec<String> = model.dirs[d]
                        .args
                        .iter()
                        .map(|a| String::from_utf8_lossy(model.bytes(a.range.clone())).into_owned())
                        .collect();
                    resolver_lines.push(format!("{name} {};", words.join(" ")));
                }
            }
            Some(_) => {}
            None if name == "resolver" && ctx.opts.resolver.is_none() => {
                return Err("no `resolver` is in effect here (nginx answers these requests with 502, \"no resolver defined\"), and an upstream that re-resolves needs one in the http context: add one, or give --resolver ADDR (127.0.0.11 is Docker's embedded DNS)".into());
            }
            None => {}
        }
    }
    Ok(Some(Candidate {
        pass,
        location,
        http,
        connection: crate::model::nginx::connection_settings(model, &chain, &target),
        target: ProxyTarget {
            authority,
            ..target
        },
        resolver_lines,
    }))
}

fn is_ipv4(host: &str) -> bool {
    host.parse::<std::net::Ipv4Addr>().is_ok()
}

/// The range of the raw value that evaluates to exactly `wanted` (a
/// range of the evaluated text): literal text may be cut anywhere, a
/// variable only where it starts or ends.
fn raw_range(pieces: &[variables::Piece], wanted: Range<usize>) -> Option<Range<usize>> {
    Some(raw_offset(pieces, wanted.start)?..raw_offset(pieces, wanted.end)?)
}

fn raw_offset(pieces: &[variables::Piece], x: usize) -> Option<usize> {
    let mut at = 0;
    for p in pieces {
        let end = at + p.value.len();
        if x == at {
            return Some(p.raw.start);
        }
        if x < end {
            let literal = !p.fixed && !p.value.starts_with('$');
            return literal.then(|| p.raw.start + (x - at));
        }
        at = end;
    }
    (x == at).then(|| pieces.last().map_or(0, |p| p.raw.end))
}

/// The name of a new re-resolving upstream: `--name`, or the host with
/// every character outside `[A-Za-z0-9_]` turned into `_`; `_PORT` when
/// that is taken, then `_PORT_2`, ...; further pools of one backend (other
/// connection settings or resolvers) get `_2`, `_3`.
fn choose_name(
    ctx: &Ctx,
    target: &ProxyTarget,
    variant: usize,
    taken: &BTreeSet<UpstreamName>,
) -> Result<UpstreamName, PlanError> {
    let key = target.backend_key();
    let free = |n: &str| !taken.contains(&UpstreamName::new(n));
    if let (1, Some(given)) = (variant, ctx.opts.names.get(&key)) {
        if !free(given) {
            return Err(PlanError {
                offset: None,
                message: format!(
                    "--name {key}={given}: \"{given}\" is already an upstream or the host of a target that stays; choose another name"
                ),
            });
        }
        return Ok(UpstreamName::new(given.as_str()));
    }
    let base = match ctx.opts.names.get(&key) {
        Some(given) => given.clone(),
        None => naming::sanitize(&target.host),
    };
    let name = if variant > 1 {
        format!("{base}_{variant}")
    } else {
        base.clone()
    };
    let port = target.effective_port().unwrap_or(0);
    Ok(naming::first_free(name, &format!("{base}_{port}"), taken))
}

/// Names of the shared memory zones the configs declare (they share one
/// namespace: `zone` in upstream blocks, `zone=NAME:` and
/// `keys_zone=NAME:` parameters, `shared:NAME:` session caches).
fn zone_names(model: &Model) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for d in &model.dirs {
        if d.is("zone") {
            if let Some(name) = d.arg(0) {
                names.insert(name.to_string());
            }
        }
        for a in &d.args {
            for prefix in ["zone=", "keys_zone=", "shared:"] {
                if let Some(rest) = a.value.strip_prefix(prefix) {
                    names.insert(rest.split(':').next().unwrap_or(rest).to_string());
                }
            }
        }
    }
    names
}

/// A zone name for upstream `name` that no other zone has.
fn free_zone(name: &str, zones: &mut BTreeSet<String>) -> String {
    let mut zone = name.to_string();
    let mut n = 2;
    while zones.contains(&zone) {
        zone = format!("{name}_{n}");
        n += 1;
    }
    zones.insert(zone.clone());
    zone
}
