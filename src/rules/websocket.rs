//! `websocket-split`
//!
//! **What**: decides how each pooled location treats WebSocket traffic, and
//! splits a location that serves both ordinary requests and a WebSocket path
//! named with `--websocket`:
//!
//! - `--websocket PATH` equal to the location's path: a dedicated WebSocket
//!   location, which keeps (or gets) `Upgrade` and `Connection "upgrade"`;
//! - `--websocket PATH` below a prefix location's path: a new
//!   `location PATH` is added right after it with the same directives, its
//!   `proxy_pass` URI mapped the way nginx maps the request, `Upgrade
//!   $http_upgrade` and `Connection "upgrade"`; the original loses `Upgrade`
//!   and gets `Connection ""` (`rules::connection`);
//! - a location that forwards `Upgrade $http_upgrade` with no `--websocket`
//!   for it: the `$connection_upgrade` map (`rules::websocket_map`);
//! - a named location (`@ws`) that only locations named with `--websocket`
//!   hand requests to (`try_files /dev/null @ws;`, `error_page 404 = @ws;`):
//!   those requests are served by its settings, so it is the dedicated
//!   WebSocket location ([`handoff`]).
//!
//! **Why**: a pooled connection cannot carry `Connection: upgrade` on every
//! request; only the handshake needs it.
//!
//! **Example**: `/api/` → `http://gateway/` with `--websocket /api/ws` gives
//! a new `location /api/ws { proxy_pass http://gateway/ws; ... }`.
//!
//! **Safety**: the copy keeps every directive of the original, in order, so
//! requests under PATH are handled as before apart from the headers. A split
//! is only made when the `proxy_pass` sits directly in the location (not in
//! an `if`) and no location for PATH exists yet; otherwise a note says why.

use crate::model::{LevelId, LevelKind, LocationKind, LocationPath, Model};
use crate::rules::api::{Board, Ctx, HeaderOp, Location, Out, Rule, Site, WsMode};
use crate::rules::headers;
use crate::syntax::edit::{self, Edit, Slot};
use crate::vocab::{Note, NoteKind};
use crate::rules::api::Change;
use crate::rules::RuleId;

pub struct Websocket;

impl Rule for Websocket {

    fn location(&self, ctx: &Ctx, location: &mut Location, _: &mut Board, out: &mut Out) {
        location.ws = classify(ctx, location.id, &location.sites, out.notes);
    }

    fn split(&self, ctx: &Ctx, location: &Location, inside: &[Change], out: &mut Out) {
        let WsMode::Split { paths } = &location.ws else {
            return;
        };
        let Some(site) = location.sites.first() else {
            return;
        };
        // The copies are dedicated WebSocket locations with the original's
        // Host pin; the original's own header edits are not copied.
        let mut copy_ops = location.split_ops.clone();
        copy_ops.extend(
            location
                .header_ops
                .iter()
                .filter(|op| op.rule == RuleId::HostHeader)
                .cloned(),
        );
        let own = if ctx.model.effective_headers(location.id).0 == Some(location.id) {
            headers::edit_level(ctx, location.id, &location.header_ops)
        } else {
            headers::materialize(ctx, location.id, &location.header_ops)
        };
        let own: Vec<Edit> = own.into_iter().map(|c| c.edit).collect();
        for (order, path) in paths.iter().enumerate() {
            let order = Slot::Split(u8::try_from(order).unwrap_or(u8::MAX));
            let copy = split(
                ctx,
                location.id,
                path,
                site,
                &copy_ops,
                &own,
                inside,
                order,
            );
            out.add_all(copy);
        }
    }
}

fn classify(ctx: &Ctx, location: LevelId, sites: &[&Site], notes: &mut Vec<Note>) -> WsMode {
    let model = ctx.model;
    let (_, headers) = model.effective_headers(location);
    let forwards_upgrade = headers.iter().any(|(name, d)| {
        name == "upgrade"
            && model.dirs[*d]
                .arg(1)
                .is_some_and(|v| v.contains("$http_upgrade"))
    });
    if let Some(lp) = model.location_path(location) {
        if matches!(lp.kind, LocationKind::Prefix | LocationKind::Exact)
            && ctx.opts.websocket_paths.contains(&lp.path)
        {
            return WsMode::Dedicated;
        }
        if lp.kind == LocationKind::Named
            && matches!(
                handoff(ctx.model, location, &ctx.opts.websocket_paths),
                Handoff::Dedicated(_)
            )
        {
            return WsMode::Dedicated;
        }
        if lp.kind == LocationKind::Prefix {
            let mut split = Vec::new();
            let mut drop_upgrade = false;
            for ws in &ctx.opts.websocket_paths {
                if !(ws.starts_with(&lp.path) && ws.len() > lp.path.len()) {
                    continue;
                }
                // nginx routes PATH to the longest matching prefix: a longer
                // sibling (`/api/` for `/` and `/api/ws`, or `/api/ws`
                // itself once it exists) owns it, and this location never
                // sees that traffic.
                if owned_by_longer_sibling(ctx, location, &lp.path, ws) {
                    continue;
                }
                if sibling_location_exists(ctx, location, ws) {
                    drop_upgrade = true;
                    continue;
                }
                let direct = sites.len() == 1 && model.dirs[sites[0].pass].level == location;
                // nginx requires a nested location to lie inside its parent's
                // path, so a copy of nested locations under PATH is invalid.
                let nested = model
                    .descendants(location)
                    .iter()
                    .any(|l| model.levels[*l].kind == LevelKind::Location);
                if direct && !nested {
                    if !split.contains(ws) {
                        split.push(ws.clone());
                    }
                    continue;
                }
                notes.push(Note {
                    kind: NoteKind::LeftAlone,
                    offset: model.levels[location].owner.map(|d| model.dirs[d].range.start),
                    message: format!(
                        "--websocket {ws}: not split off from location {}: its proxy_pass is inside an if/limit_except, there are several, or it has nested locations; add `location {ws}` yourself",
                        lp.path
                    ),
                });
            }
            if !split.is_empty() {
                return WsMode::Split { paths: split };
            }
            if drop_upgrade {
                return WsMode::PlainDropUpgrade;
            }
        }
    }
    if forwards_upgrade {
        WsMode::Map
    } else {
        WsMode::Plain
    }
}

/// Who hands requests to a named location, as far as `--websocket` goes.
#[derive(Debug, Clone)]
pub enum Handoff {
    /// Only these locations, each named with `--websocket`: the named
    /// location serves WebSocket traffic only.
    Dedicated(Vec<LocationPath>),
    /// A `--websocket` path is handed to it, but so is other traffic: what
    /// to say (the flag cannot apply; a named location has no path to
    /// split off).
    Shared {
        paths: Vec<LocationPath>,
        advice: String,
    },
    /// No `--websocket` path reaches it through a hand-off.
    None,
}

/// The directives that hand a request to a named location given as their
/// last argument (`ngx_http_named_location`): `try_files` when no file
/// matches, `error_page` for the codes it lists, `post_action` after it.
const HANDOFFS: &[&str] = &["try_files", "error_page", "post_action"];

/// Who hands requests to the named location `named` (in its `server`, where
/// nginx looks named locations up), judged against `websocket_paths`. A
/// hand-off from anything but a prefix or exact location (the server
/// level, an `if`, a regex or another named location) is other traffic.
pub fn handoff(model: &Model, named: LevelId, websocket_paths: &[String]) -> Handoff {
    let Some(name) = model
        .location_path(named)
        .filter(|lp| lp.kind == LocationKind::Named && !websocket_paths.is_empty())
        .map(|lp| lp.path)
    else {
        return Handoff::None;
    };
    let Some(server) = model
        .ancestors(named)
        .find(|l| model.levels[*l].kind == LevelKind::Server)
    else {
        return Handoff::None;
    };
    // Inherited from `http` (`error_page` is) into every location.
    let http = model.http_context(server);
    let mut paths: Vec<(LevelId, LocationPath)> = Vec::new();
    let mut other: Vec<String> = Vec::new();
    let levels = std::iter::once(server)
        .chain(model.descendants(server))
        .chain(http);
    for level in levels {
        let hands = model.levels[level].statements.iter().any(|d| {
            let dir = &model.dirs[*d];
            HANDOFFS.iter().any(|h| dir.is(h)) && dir.args.last().is_some_and(|a| a.value == name)
        });
        if !hands {
            continue;
        }
        match model.location_path(level) {
            Some(lp) if matches!(lp.kind, LocationKind::Prefix | LocationKind::Exact) => {
                paths.push((level, lp))
            }
            Some(lp) => other.push(format!("location {}", lp.path)),
            None => other.push(match model.levels[level].kind {
                LevelKind::Server => "the server level (every location without its own)".into(),
                LevelKind::If => "an `if` block".into(),
                _ => "the http level (every location without its own)".into(),
            }),
        }
    }
    let is_ws = |lp: &LocationPath| websocket_paths.contains(&lp.path);
    // A WebSocket path below a prefix location that nginx routes there (no
    // longer or exact sibling takes it).
    let below = |level: LevelId, lp: &LocationPath| {
        lp.kind == LocationKind::Prefix
            && websocket_paths.iter().any(|ws| {
                ws.starts_with(&lp.path)
                    && *ws != lp.path
                    && !sibling_locations(model, level)
                        .iter()
                        .any(|sib| match sib.kind {
                            LocationKind::Prefix => {
                                ws.starts_with(&sib.path) && sib.path.len() > lp.path.len()
                            }
                            LocationKind::Exact => *ws == sib.path,
                            _ => false,
                        })
            })
    };
    if !paths.iter().any(|(l, lp)| is_ws(lp) || below(*l, lp)) {
        return Handoff::None;
    }
    let paths_only = || paths.iter().map(|(_, lp)| lp.clone()).collect::<Vec<_>>();
    if other.is_empty() && paths.iter().all(|(_, lp)| is_ws(lp)) {
        return Handoff::Dedicated(paths_only());
    }
    let show = |lp: &LocationPath| match lp.kind {
        LocationKind::Exact => format!("= {}", lp.path),
        _ => lp.path.clone(),
    };
    other.extend(
        paths
            .iter()
            .filter(|(l, lp)| !is_ws(lp) && !below(*l, lp))
            .map(|(_, lp)| show(lp)),
    );
    let split: Vec<String> = paths
        .iter()
        .filter(|(l, lp)| below(*l, lp))
        .map(|(_, lp)| show(lp))
        .collect();
    let advice = if split.is_empty() {
        format!(
            "named location {name} serves it (try_files/error_page) and also serves {}; give each --websocket location its own named location, or pass --websocket for every location that hands requests to {name} if they all carry WebSocket traffic",
            other.join(", ")
        )
    } else {
        format!(
            "named location {name} serves it through location {} (try_files/error_page), which also serves other paths; a named location has no path to split off: add a `location` for the WebSocket path that hands it to a named location of its own",
            split.join(", ")
        )
    };
    let paths = paths_only();
    Handoff::Shared { paths, advice }
}

/// The other `location` blocks in the same block as `location`.
fn sibling_locations(model: &Model, location: LevelId) -> Vec<LocationPath> {
    let Some(parent) = model.levels[location].parent else {
        return Vec::new();
    };
    model.levels[parent]
        .statements
        .iter()
        .filter_map(|d| model.dirs[*d].block)
        .filter(|l| *l != location)
        .filter_map(|l| model.location_path(l))
        .collect()
}

/// A sibling prefix location longer than `path` that also matches `ws`.
fn owned_by_longer_sibling(ctx: &Ctx, location: LevelId, path: &str, ws: &str) -> bool {
    sibling_locations(ctx.model, location).iter().any(|sib| {
        let matches = match sib.kind {
            LocationKind::Prefix => ws.starts_with(&sib.path),
            LocationKind::Exact => ws == sib.path,
            _ => false,
        };
        matches && sib.path.len() > path.len()
    })
}

/// A location for `path` next to `location` (same parent block).
fn sibling_location_exists(ctx: &Ctx, location: LevelId, path: &str) -> bool {
    sibling_locations(ctx.model, location)
        .iter()
        .any(|lp| lp.path == path && lp.kind != LocationKind::Regex)
}

/// How nginx maps a request for `ws_path` through a prefix location
/// `location_path` whose `proxy_pass` has URI part `uri`: the matched prefix
/// is replaced by the URI; with no URI the request URI passes unchanged; a
/// URI with variables is used as it is.
pub fn map_uri(location_path: &str, uri: &str, ws_path: &str) -> String {
    if uri.is_empty() || uri.contains('$') {
        return uri.to_string();
    }
    format!("{uri}{}", &ws_path[location_path.len()..])
}

/// Builds the new dedicated location for `path`, inserted right after the
/// original. `planned` holds the changes already planned for the original;
/// the copy takes those that are not about headers or the target.
// The copy needs the original, the site, and what the original was given;
// bundling them would only move the same list into a struct.
#[allow(clippy::too_many_arguments)]
fn split(
    ctx: &Ctx,
    location: LevelId,
    path: &str,
    site: &Site,
    copy_ops: &[HeaderOp],
    original_header_edits: &[Edit],
    planned: &[Change],
    order: Slot,
) -> Option<Change> {
    let model = ctx.model;
    let owner = model.levels[location].owner?;
    let range = model.dirs[owner].range.clone();
    let lp = model.location_path(location)?;
    let inside = |e: &Edit| e.range.start >= range.start && e.range.end <= range.end;
    let strictly_inside = |e: &Edit| inside(e) && e.range.start < range.end;
    // The copy takes every change planned inside the original (nested
    // locations included) except the original's own header operations and
    // its own proxy_pass target, which the copy makes differently.
    let own_headers: std::collections::HashSet<Edit> =
        original_header_edits.iter().cloned().collect();
    let own_pass = model.dirs[site.pass].args.first().map(|a| a.range.clone());
    let mut edits: Vec<Edit> = planned
        .iter()
        .filter(|c| strictly_inside(&c.edit) && c.rule != RuleId::WebsocketSplit)
        .filter(|c| !own_headers.contains(&c.edit))
        .filter(|c| {
            !(c.rule == RuleId::ProxyPassTarget
                && own_pass
                    .as_ref()
                    .is_some_and(|r| c.edit.range.start >= r.start && c.edit.range.end <= r.end))
        })
        .map(|c| c.edit.clone())
        .collect();

    let path_word = &model.dirs[owner].args.last()?;
    let path_text = match path_word.quote {
        Some(q) if !path.contains(q) && !path.contains('\\') => format!("{q}{path}{q}"),
        _ => crate::syntax::word::word(path),
    };
    edits.push(Edit::replace(path_word.range.clone(), path_text));

    let arg = model.dirs[site.pass].args.first()?;
    let target = ctx.facts.literal(site.pass)?;
    let scheme = &arg.value[..target.authority.start];
    let url = format!(
        "{scheme}{}{}",
        site.upstream,
        map_uri(&lp.path, &target.uri, path)
    );
    edits.push(crate::rules::layout::replace_arg(arg, &url));

    let header_changes = if model.effective_headers(location).0 == Some(location) {
        headers::edit_level(ctx, location, copy_ops)
    } else {
        headers::materialize(ctx, location, copy_ops)
    };
    edits.extend(
        header_changes
            .into_iter()
            .map(|c| c.edit)
            .filter(|e| inside(e)),
    );

    for e in edits.iter_mut() {
        e.range = e.range.start - range.start..e.range.end - range.start;
    }
    edit::normalize(&mut edits).ok()?;
    // Bytes, not text: the copy keeps what is not UTF-8 as it was.
    let copy = edit::apply(&model.source.text[range.clone()], &edits);
    let source = model.source;
    let eol = source.eol_at(range.start).as_bytes();
    let text = if source.ends_line(range.end) && source.starts_line(range.start) {
        let indent = source.indent_of(range.start);
        crate::rules::layout::concat(&[eol, eol, indent.as_bytes(), &copy])
    } else {
        crate::rules::layout::concat(&[b" ", &copy])
    };
    let reason = format!(
        "WebSocket traffic under {path} gets its own location with `Connection: upgrade`, so that {} can pool ordinary requests",
        lp.path
    );
    let edit = Edit::insert(range.end, text, order);
    Some(
        Change::new(RuleId::WebsocketSplit, edit, reason)
            .about(model.dirs[owner].head())
            .named(format!("{path} under {}", lp.path)),
    )
}

#[cfg(test)]
mod tests {
    use super::map_uri;

    #[test]
    fn maps_uris_like_nginx() {
        assert_eq!(map_uri("/api/", "/", "/api/ws"), "/ws");
        assert_eq!(map_uri("/api/", "", "/api/ws"), "");
        assert_eq!(map_uri("/api", "/v1", "/api/ws"), "/v1/ws");
        assert_eq!(map_uri("/api/", "$request_uri", "/api/ws"), "$request_uri");
    }
}
