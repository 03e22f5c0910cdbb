//! Planning: from a parsed file to the full list of changes, before anything
//! is applied.
//!
//! 1. *Discover* every `proxy_pass` (and, for naming, every other `*_pass`)
//!    with `queries/pass.scm`, and classify it: a literal `http(s)://`
//!    target to pool, a reference to an existing `upstream`, or something to
//!    leave alone with a note (variable host, `stream`/`mail`, no `http`
//!    context in the file, settings hidden behind `include`).
//! 2. *Name* the upstream of every literal backend, per `http` context.
//! 3. Run the *rules* (`src/rules/`) phase by phase — per site, per
//!    existing upstream, per location, per split-off WebSocket location, per
//!    http context (the methods of [`rules::Rule`]) — each adding changes
//!    and notes. Between the location and split phases, the header
//!    operations the rules asked for are applied, respecting nginx's
//!    `proxy_set_header` inheritance (`src/headers.rs`).
//!
//! Nothing here touches the file system; the result is checked by
//! `verify` in `lib.rs` before anything is printed or written.

pub mod discover;
pub mod naming;
pub mod resolve;
pub mod units;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::model::nginx::{ExistingUpstream, Facts};
use crate::model::target::ProxyTarget;
use crate::model::{DirId, LevelId, LocationKind, Model};
use crate::plan::naming::{Backend, PoolKey, UpstreamChoice};
pub use crate::rules::api::Plan;
use crate::rules::api::{Board, Change, Context, Ctx, Location, Out, Site, WsMode};
use crate::rules::headers;
use crate::rules::{self, RULES};
use crate::vocab::names::{BackendKey, UpstreamName};
use crate::vocab::{Note, NoteKind, Options, PlanError, Protocol, Seen};
use discover::{
    discover, ignore_miss_notes, include_notes, keep_variable_lookups, leave_alone_blocked,
    leave_alone_ignored, Discovered, FoundKind,
};

/// Plans `model` as `opts` ask: every change, note and suppression.
pub fn plan(model: &Model, opts: &Options) -> Result<Plan, PlanError> {
    plan_except(model, opts, &BTreeMap::new())
}

/// [`plan`], leaving the `blocked` locations as they are.
pub fn plan_except(
    model: &Model,
    opts: &Options,
    blocked: &BTreeMap<LevelId, String>,
) -> Result<Plan, PlanError> {
    let facts = Facts::of(model);
    let ctx = Ctx {
        model,
        opts,
        facts: &facts,
        blocked,
    };
    let mut out = Plan::default();
    // Discover the proxy_pass directives and what to leave alone, then name
    // a pool per backend; the rules run after, phase by phase (`Rule`).
    include_notes(&ctx, &mut out.notes);
    let mut discovered = discover(&ctx, &mut out.notes);
    keep_variable_lookups(&ctx, &mut discovered, &mut out.notes);
    leave_alone_blocked(&ctx, &mut discovered, &mut out.notes);
    leave_alone_ignored(&ctx, &mut discovered, &mut out.suppressed);
    ignore_miss_notes(&ctx, &mut out.notes);

    let Named {
        mut sites,
        new_upstreams,
        keepalive_needed,
    } = name_backends(model, &facts, opts, &discovered, &mut out.notes)?;
    // --resolve: proxy_pass targets resolved per request, as pooled
    // upstreams that re-resolve (`resolve.rs`).
    let resolved = if opts.resolve {
        crate::plan::resolve::discover(
            &ctx,
            &discovered,
            &new_upstreams,
            &mut out.notes,
            &mut out.suppressed,
        )?
    } else {
        crate::plan::resolve::Resolved::default()
    };
    sites.extend(resolved.sites.iter().cloned());

    out.seen = seen(model, &facts, opts, &sites, &new_upstreams);
    out.seen.backends.extend(resolved.backends.iter().cloned());
    let mut board = Board {
        maps: crate::rules::api::MapNeeds::new(&ctx),
        ..Board::default()
    };
    for site in &sites {
        for rule in RULES {
            rule.site(&ctx, site, &mut Out::new(&mut out));
        }
    }
    for dir in &keepalive_needed {
        for rule in RULES {
            rule.upstream(&ctx, *dir, &mut Out::new(&mut out));
        }
    }
    for pool in rules::pool_tuning::existing_pools(&ctx, &keepalive_needed) {
        for rule in RULES {
            rule.pool(&ctx, &pool, &mut Out::new(&mut out));
        }
    }

    // Locations in source order; each rule sees what the earlier ones left.
    let mut locations: BTreeMap<LevelId, Location> = BTreeMap::new();
    for site in &sites {
        locations
            .entry(site.location)
            .or_insert_with(|| Location::new(site.location))
            .add(site);
    }
    for location in locations.values_mut() {
        for rule in RULES {
            if location.serves(rule.protocol()) {
                rule.location(&ctx, location, &mut board, &mut Out::new(&mut out));
            }
        }
    }
    out.changes.extend(headers::apply(
        &ctx,
        &locations,
        &discovered.all_proxy_levels,
    ));
    for location in locations.values() {
        // What a WebSocket copy takes along: the changes planned inside
        // the location, gathered only where a split happens.
        let inside: Vec<Change> = match (&location.ws, model.levels[location.id].owner) {
            (WsMode::Split { .. }, Some(owner)) => {
                let range = &model.dirs[owner].range;
                out.changes
                    .iter()
                    .filter(|c| c.edit.range.start >= range.start && c.edit.range.end <= range.end)
                    .cloned()
                    .collect()
            }
            _ => Vec::new(),
        };
        for rule in RULES {
            if location.serves(rule.protocol()) {
                rule.split(&ctx, location, &inside, &mut Out::new(&mut out));
            }
        }
    }

    let contexts: BTreeSet<LevelId> = new_upstreams
        .keys()
        .copied()
        .chain(board.maps.contexts())
        .chain(resolved.upstreams.keys().copied())
        .collect();
    // The directives that use each upstream, gathered once: a scan of the
    // sites per new upstream was quadratic in backends (18.6 % of a 30 MB
    // run with 100,000 of them).
    let mut users: HashMap<(LevelId, &UpstreamName), Vec<DirId>> = HashMap::new();
    for s in &sites {
        users.entry((s.http, &s.upstream)).or_default().push(s.pass);
    }
    for http in contexts {
        let new_upstreams = new_upstreams
            .get(&http)
            .into_iter()
            .flatten()
            .map(|u| {
                let users = users.get(&(http, &u.name)).cloned().unwrap_or_default();
                (u.clone(), users)
            })
            .collect();
        let context = Context {
            http,
            new_upstreams,
            resolve_upstreams: resolved.upstreams.get(&http).cloned().unwrap_or_default(),
            add_resolver: resolved.resolver_for.contains(&http),
        };
        for rule in RULES {
            rule.context(&ctx, &context, &mut board, &mut Out::new(&mut out));
        }
    }
    Ok(out)
}

/// What the unit holds that flags can name (see [`Seen`]).
fn seen(
    model: &Model,
    facts: &Facts,
    opts: &Options,
    sites: &[Site],
    new_upstreams: &BTreeMap<LevelId, Vec<crate::rules::api::NewUpstream>>,
) -> Seen {
    let mut seen = Seen::default();
    // An upstream block's servers count as backends: after a migration the
    // same `--name` flags find them there (and `upkeep --check` passes).
    for up in &facts.upstreams {
        seen.backends.extend(up.servers.iter().cloned());
        seen.upstreams.insert(up.name.clone());
    }
    seen.upstreams
        .extend(new_upstreams.values().flatten().map(|u| u.name.clone()));
    // Every literal target of a pooled protocol counts, pooled or left
    // alone: a name for a backend upkeep leaves alone is not a typo.
    for dir in &model.index.pass {
        if let Some((protocol, Ok(target))) = facts.pass(*dir) {
            if !target.names_upstream() || protocol == Protocol::Proxy {
                seen.backends.insert(target.backend_key());
            }
        }
    }
    for site in sites {
        seen.upstreams.insert(site.upstream.clone());
        // `--websocket` paths fall in proxying locations only.
        if site.protocol != Protocol::Proxy {
            continue;
        }
        if let Some(lp) = model.location_path(site.location) {
            match lp.kind {
                LocationKind::Prefix => seen.locations.insert((lp.path, true)),
                LocationKind::Exact => seen.locations.insert((lp.path, false)),
                _ => false,
            };
        }
        // A named location serves the paths of the locations that hand
        // their requests to it.
        let key =
            |lp: &crate::model::LocationPath| (lp.path.clone(), lp.kind == LocationKind::Prefix);
        match rules::websocket::handoff(model, site.location, &opts.websocket_paths) {
            rules::websocket::Handoff::Dedicated(paths) => {
                seen.locations.extend(paths.iter().map(key));
            }
            rules::websocket::Handoff::Shared { paths, advice } => {
                for lp in &paths {
                    seen.handoffs.insert(key(lp), advice.clone());
                }
            }
            rules::websocket::Handoff::None => {}
        }
    }
    seen
}

/// What naming decided: every pooled `proxy_pass` with its upstream, the
/// upstream blocks to add per http context, and the existing upstreams
/// that need `keepalive`.
struct Named {
    sites: Vec<Site>,
    new_upstreams: BTreeMap<LevelId, Vec<crate::rules::api::NewUpstream>>,
    keepalive_needed: BTreeSet<DirId>,
}

/// Names the upstream of every literal backend, per http context: one pool
/// per backend and set of connection settings, existing upstreams reused
/// where their users connect alike.
fn name_backends(
    model: &Model,
    facts: &Facts,
    opts: &Options,
    discovered: &Discovered,
    notes: &mut Vec<Note>,
) -> Result<Named, PlanError> {
    let mut sites: Vec<Site> = Vec::new();
    let mut new_upstreams: BTreeMap<LevelId, Vec<crate::rules::api::NewUpstream>> = BTreeMap::new();
    let mut keepalive_needed: BTreeSet<DirId> = BTreeSet::new();
    let users = upstream_users(model, facts, &discovered.valued);
    for (http, found) in &discovered.by_http {
        let mut existing = discovered.upstreams.get(http).cloned().unwrap_or_default();
        for up in existing.iter_mut() {
            up.users = users
                .get(&(*http, up.name.clone()))
                .cloned()
                .unwrap_or_default();
        }
        let existing = &existing;
        // One pool per backend and set of connection settings: nginx
        // reuses an idle connection by peer, whichever location opened it.
        let mut variants: BTreeMap<(Protocol, BackendKey), Vec<String>> = BTreeMap::new();
        let mut pool_of: BTreeMap<DirId, PoolKey> = BTreeMap::new();
        let mut readable: BTreeMap<(Protocol, BackendKey), Option<String>> = BTreeMap::new();
        let backends: Vec<Backend> = found
            .iter()
            .filter_map(|f| match &f.kind {
                FoundKind::Literal(t) => {
                    let chain = model.place_chain(model.dirs[f.pass].level);
                    let connection = crate::model::nginx::connection_settings(model, &chain, t);
                    let list = variants.entry((t.protocol, t.backend_key())).or_default();
                    let variant = match list.iter().position(|c| *c == connection) {
                        Some(v) => v,
                        None => {
                            list.push(connection.clone());
                            list.len() - 1
                        }
                    };
                    let mut backend = Backend::of(t, connection, variant);
                    // Every pool of one backend reads its name where the
                    // backend is first used (its further pools are
                    // `NAME_2`, `NAME_3` after it).
                    backend.readable = readable
                        .entry((t.protocol, t.backend_key()))
                        .or_insert_with(|| naming::readable_base(model, f.pass, t))
                        .clone();
                    pool_of.insert(f.pass, backend.pool_key());
                    Some(backend)
                }
                _ => None,
            })
            .collect();
        let taken_hosts = discovered
            .remaining_hosts
            .get(http)
            .cloned()
            .unwrap_or_default();
        let choices = naming::assign(&backends, existing, &taken_hosts, opts)?;
        let mut created = Vec::new();
        let mut created_names = HashSet::new();
        // A proxy_pass with variables is pooled only when every upstream
        // its values name can be: one left on HTTP/1.0 would make nothing
        // of the location's keepalive settings but is not worth a half change.
        let mixed = |up: &ExistingUpstream| {
            !up.has_keepalive
                && users
                    .get(&(*http, up.name.clone()))
                    .is_some_and(|u| u.len() > 1)
        };
        let refused: BTreeSet<DirId> = found
            .iter()
            .filter(|f| discovered.valued.contains_key(&f.pass))
            .filter(|f| matches!(&f.kind, FoundKind::Existing(up) if mixed(up)))
            .map(|f| f.pass)
            .collect();
        let mut said: BTreeSet<DirId> = BTreeSet::new();
        for f in found {
            if refused.contains(&f.pass) {
                if said.insert(f.pass) {
                    notes.push(Note {
                        kind: NoteKind::LeftAlone,
                        offset: Some(model.dirs[f.pass].range.start),
                        message: "left alone: this proxy_pass with variables may use an upstream that locations with different protocols or TLS/connection settings use; with keepalive they would reuse each other's connections".into(),
                    });
                }
                continue;
            }
            let (upstream, literal) = match &f.kind {
                FoundKind::Literal(t) => {
                    let choice = &choices[&pool_of[&f.pass]];
                    let pools = variants[&(t.protocol, t.backend_key())].len();
                    if pools > 1 {
                        notes.push(Note {
                            kind: NoteKind::Info,
                            offset: Some(model.dirs[f.pass].range.start),
                            message: format!(
                                "{} gets {pools} pools: its locations differ in settings that shape the connection (TLS, {p}bind, {p}socket_keepalive), and a pooled connection is reused by whichever location asks next; this one uses upstream \"{}\"",
                                t.server_entry(),
                                choice.name(),
                                p = t.protocol.prefix(),
                            ),
                        });
                    }
                    match choice {
                        UpstreamChoice::New(new) => {
                            if created_names.insert(new.name.clone()) {
                                created.push(new.clone());
                            }
                        }
                        UpstreamChoice::Reuse(up) => {
                            if !up.has_keepalive {
                                keepalive_needed.insert(up.dir);
                            }
                        }
                    }
                    (UpstreamName::new(choice.name()), Some(t.clone()))
                }
                FoundKind::Existing(up) => {
                    let mixed = users
                        .get(&(*http, up.name.clone()))
                        .is_some_and(|u| u.len() > 1);
                    if !up.has_keepalive && mixed {
                        notes.push(Note {
                            kind: NoteKind::LeftAlone,
                            offset: Some(model.dirs[f.pass].range.start),
                            message: format!(
                                "left alone: upstream \"{}\" is used by locations with different protocols or TLS/connection settings; with keepalive they would reuse each other's connections",
                                up.name
                            ),
                        });
                        continue;
                    }
                    if !up.has_keepalive {
                        keepalive_needed.insert(up.dir);
                    } else {
                        notes.push(Note {
                            kind: NoteKind::Info,
                            offset: Some(model.dirs[up.dir].range.start),
                            message: format!("upstream \"{}\" already has keepalive", up.name),
                        });
                    }
                    (up.name.clone(), None)
                }
            };
            sites.push(Site {
                pass: f.pass,
                protocol: f.protocol,
                location: model.settings_level(model.dirs[f.pass].level),
                http: *http,
                upstream,
                literal,
                resolve: false,
            });
        }
        if !created.is_empty() {
            new_upstreams.insert(*http, created);
        }
    }

    Ok(Named {
        sites,
        new_upstreams,
        keepalive_needed,
    })
}

/// The connection settings of the locations proxying to each upstream
/// block by name (`http://NAME`, no port), per http context.
fn upstream_users(
    model: &Model,
    facts: &Facts,
    valued: &BTreeMap<DirId, Vec<ProxyTarget>>,
) -> BTreeMap<(LevelId, UpstreamName), BTreeSet<String>> {
    let mut users: BTreeMap<(LevelId, UpstreamName), BTreeSet<String>> = BTreeMap::new();
    // A proxy_pass with variables uses each upstream its values name.
    for (pass, targets) in valued {
        let level = model.dirs[*pass].level;
        let Some(http) = model.http_context(level) else {
            continue;
        };
        let chain = model.place_chain(level);
        for t in targets {
            users
                .entry((http, t.host_name()))
                .or_default()
                .insert(crate::model::nginx::connection_settings(model, &chain, t));
        }
    }
    for &pass in &model.index.pass {
        let dir = &model.dirs[pass];
        let (Some(http), Some(t)) = (model.http_context(dir.level), facts.literal(pass)) else {
            continue;
        };
        if !t.names_upstream() {
            continue;
        }
        let chain = model.place_chain(dir.level);
        users
            .entry((http, t.host_name()))
            .or_default()
            .insert(crate::model::nginx::connection_settings(model, &chain, t));
    }
    users
}
