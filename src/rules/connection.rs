//! `connection-header` and `upgrade-header`
//!
//! **What**: makes the `Connection` header a pooled location sends right for
//! its traffic: empty for ordinary requests, `upgrade` only on a dedicated
//! WebSocket location, `$connection_upgrade` (from the WebSocket map) on a
//! location that serves both; and drops `Upgrade` from a location whose
//! WebSocket traffic moved to its own location.
//!
//! **Why**: before nginx 1.29.7 nginx sends `Connection: close` by default,
//! which ends every pooled connection after one request; a fixed
//! `Connection: upgrade` on every API call asks the backend to switch
//! protocols and is not reusable either.
//!
//! **Example**: `proxy_set_header Connection "upgrade";` in `/api/` (with
//! `--websocket /api/ws`) → `proxy_set_header Connection "";`
//!
//! **Safety**: this rule only describes header operations; `headers::apply`
//! places them so that no inherited `proxy_set_header` is lost. A value
//! taken from an unknown variable is left alone with a note. For nginx ≥
//! 1.29.7 an absent `Connection` is already right, and a wrong one is
//! removed rather than replaced when the level keeps other headers.

use crate::model::LevelId;
use crate::rules::api::MapNeeds;
use crate::rules::api::WsMode;
use crate::rules::api::{Board, Ctx, Location, Out, Rule};
use crate::rules::api::{HeaderAction, HeaderOp, HeaderValue};
use crate::vocab::{Note, NoteKind};
use crate::rules::RuleId;

pub struct Connection;

impl Rule for Connection {

    fn location(&self, ctx: &Ctx, location: &mut Location, board: &mut Board, out: &mut Out) {
        let own = ops(
            ctx,
            location.id,
            &location.ws,
            &mut board.maps,
            out.notes,
        );
        location.header_ops.extend(own);
        if let WsMode::Split { .. } = location.ws {
            // The copies are dedicated WebSocket locations.
            location.split_ops = ops(
                ctx,
                location.id,
                &WsMode::Dedicated,
                &mut board.maps,
                out.notes,
            );
        }
    }
}

fn ops(
    ctx: &Ctx,
    location: LevelId,
    ws: &WsMode,
    maps: &mut MapNeeds,
    notes: &mut Vec<Note>,
) -> Vec<HeaderOp> {
    let model = ctx.model;
    let (_, headers) = model.effective_headers(location);
    let value_of = |name: &str| {
        headers
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, d)| model.dirs[*d].arg(1).unwrap_or("").to_string())
    };
    let connection = value_of("connection");
    let upgrade = value_of("upgrade");
    let http = model.http_context(location).unwrap_or(location);
    let mut ops = Vec::new();
    match ws {
        WsMode::Plain | WsMode::PlainDropUpgrade | WsMode::Split { .. } => {
            // An empty Upgrade value already sends nothing.
            if !matches!(ws, WsMode::Plain) && upgrade.as_deref().is_some_and(|v| !v.is_empty()) {
                ops.push(HeaderOp {
                    name: "Upgrade".into(),
                    // An empty value sends no header; it keeps the level
                    // defining its own list when Upgrade was the only one.
                    action: HeaderAction::Remove {
                        fallback: Some(HeaderValue::quoted("")),
                    },
                    rule: RuleId::UpgradeHeader,
                    reason: "WebSocket traffic has its own location (--websocket); ordinary requests here need no Upgrade header".into(),
                });
            }
            ops.extend(plain_connection(
                ctx,
                location,
                http,
                connection.as_deref(),
                maps,
                notes,
            ));
        }
        WsMode::Dedicated => {
            if upgrade.is_none() {
                ops.push(HeaderOp {
                    name: "Upgrade".into(),
                    action: HeaderAction::Set(HeaderValue::bare("$http_upgrade")),
                    rule: RuleId::UpgradeHeader,
                    reason: "a WebSocket location must forward the client's Upgrade header".into(),
                });
            }
            let is_upgrade = connection.as_deref().is_some_and(|v| {
                v.eq_ignore_ascii_case("upgrade") || maps.defined_from_upgrade(ctx, http, v)
            });
            if !is_upgrade {
                ops.push(HeaderOp {
                    name: "Connection".into(),
                    action: HeaderAction::Set(HeaderValue::quoted("upgrade")),
                    rule: RuleId::ConnectionHeader,
                    reason: "a dedicated WebSocket location needs `Connection: upgrade` for the handshake".into(),
                });
            }
        }
        WsMode::Map => {
            if let Some(v) = connection
                .as_deref()
                .filter(|v| maps.defined_from_upgrade(ctx, http, v))
            {
                maps.fix(ctx, http, v);
            } else {
                let var = maps.variable_for(ctx, http);
                ops.push(HeaderOp {
                    name: "Connection".into(),
                    action: HeaderAction::Set(HeaderValue::bare(&var)),
                    rule: RuleId::WebsocketMap,
                    reason: format!(
                        "this location forwards Upgrade for WebSockets and serves ordinary requests: {var} is `upgrade` for a handshake and empty otherwise, so ordinary requests are pooled"
                    ),
                });
            }
        }
    }
    ops
}

fn plain_connection(
    ctx: &Ctx,
    location: LevelId,
    http: LevelId,
    connection: Option<&str>,
    maps: &mut MapNeeds,
    notes: &mut Vec<Note>,
) -> Vec<HeaderOp> {
    let set_empty = |reason: String| HeaderOp {
        name: "Connection".into(),
        action: HeaderAction::Set(HeaderValue::quoted("")),
        rule: RuleId::ConnectionHeader,
        reason,
    };
    match connection {
        None if ctx.opts.new_defaults => Vec::new(),
        None => vec![set_empty(
            "nginx sends `Connection: close` by default (before 1.29.7), which ends every pooled connection".into(),
        )],
        Some("") => Vec::new(),
        Some(v) if v.eq_ignore_ascii_case("keep-alive") => Vec::new(),
        Some(v) if v.starts_with('$') => {
            if maps.defined_from_upgrade(ctx, http, v) {
                maps.fix(ctx, http, v);
            } else {
                let model = ctx.model;
                let at = model.levels[location].owner.map(|d| model.dirs[d].range.start);
                notes.push(Note {
                    kind: NoteKind::LeftAlone,
                    offset: at,
                    message: format!(
                        "Connection is set from {v}, whose value upkeep cannot tell; left as it is"
                    ),
                });
            }
            Vec::new()
        }
        Some(v) => {
            let reason = format!("`Connection: {v}` on ordinary requests prevents connection reuse wherever the backend honours it (most close the connection or refuse to keep it)");
            if ctx.opts.new_defaults {
                vec![HeaderOp {
                    name: "Connection".into(),
                    action: HeaderAction::Remove {
                        fallback: Some(HeaderValue::quoted("")),
                    },
                    rule: RuleId::ConnectionHeader,
                    reason,
                }]
            } else {
                vec![set_empty(reason)]
            }
        }
    }
}
