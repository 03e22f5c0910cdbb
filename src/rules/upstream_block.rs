//! `upstream-block`
//!
//! **What**: adds one `upstream NAME { server HOST:PORT; keepalive N; }`
//! block per newly pooled backend (and, when the WebSocket map rule needs
//! one, the `map $http_upgrade $connection_upgrade` block) to the `http`
//! context.
//!
//! **Why**: connection pooling needs an upstream block with `keepalive`.
//!
//! **Example**: see the motivating fixture: three blocks after the file's
//! leading comment, in order of first use, one blank line apart.
//!
//! **Safety**: blocks go inside `http { }` before its first `server`, or at
//! the top of a snippet whose top level is `server` blocks (after its
//! leading comments), in the file's own indentation; a one-line file gets
//! one-line blocks. Names were checked for collisions by `naming`.

use crate::edit::Edit;
use crate::model::{LevelId, LevelKind};
use crate::naming::NewUpstream;
use crate::plan::{Change, Ctx, RuleId};

/// A block to add: its header line and its directives.
struct NewBlock {
    header: String,
    body: Vec<String>,
    rule: RuleId,
    reason: String,
}

/// Inside `http { }`, comment lines directly above the first `server` (no
/// blank line between) describe it: the new blocks go above them.
fn start_of_attached_comments(source: &crate::source::Source, line_start: usize) -> usize {
    let mut at = line_start;
    while at > 0 {
        let previous = source.line_start(at - 1);
        let text = source.line_text(source.line_col(previous).0);
        let trimmed = String::from_utf8_lossy(text);
        if trimmed.trim_start().starts_with('#') {
            at = previous;
        } else {
            break;
        }
    }
    at
}

pub fn plan(
    ctx: &Ctx,
    http: LevelId,
    upstreams: &[NewUpstream],
    map: Option<&[String]>,
) -> Vec<Change> {
    let model = ctx.model;
    let source = model.source;
    let mut blocks: Vec<NewBlock> = upstreams
        .iter()
        .map(|u| NewBlock {
            header: format!("upstream {}", u.name),
            body: vec![
                format!("server {};", crate::layout::word(&u.server)),
                format!("keepalive {};", u.keepalive),
            ],
            rule: RuleId::UpstreamBlock,
            reason: format!(
                "pools connections to {} (keepalive {}) instead of opening one per request",
                u.server, u.keepalive
            ),
        })
        .collect();
    if let Some(map) = map {
        blocks.push(NewBlock {
            header: "map $http_upgrade $connection_upgrade".into(),
            body: map.to_vec(),
            rule: RuleId::WebsocketMap,
            reason: "sends `Connection: upgrade` only with a WebSocket upgrade and an empty Connection otherwise, so ordinary requests are pooled".into(),
        });
    }
    let statements = &model.levels[http].statements;
    let first = if model.levels[http].kind == LevelKind::Root {
        statements.first()
    } else {
        statements.iter().find(|d| model.dirs[**d].is("server"))
    };
    let eol = source.eol;
    let unit = &source.indent_unit;
    let (at, line_style, indent) = match first {
        Some(d) => {
            let start = model.dirs[*d].range.start;
            if source.starts_line(start) {
                let at = if model.levels[http].kind == LevelKind::Root {
                    source.line_start(start)
                } else {
                    start_of_attached_comments(source, source.line_start(start))
                };
                (at, true, source.indent_of(start))
            } else {
                (start, false, String::new())
            }
        }
        None => {
            let close = model.levels[http].close;
            if source.starts_line(close) {
                (
                    source.line_start(close),
                    true,
                    format!("{}{unit}", source.indent_of(close)),
                )
            } else {
                (close, false, String::new())
            }
        }
    };
    blocks
        .into_iter()
        .map(|block| {
            let text = if line_style {
                let mut text = format!("{indent}{} {{{eol}", block.header);
                for line in &block.body {
                    text.push_str(&format!("{indent}{unit}{line}{eol}"));
                }
                text.push_str(&format!("{indent}}}{eol}{eol}"));
                if first.is_none() {
                    text = format!("{eol}{}", text.trim_end_matches(eol));
                    text.push_str(eol);
                }
                text
            } else {
                format!("{} {{ {} }} ", block.header, block.body.join(" "))
            };
            Change {
                rule: block.rule,
                edit: Edit::insert(at, text, 0),
                reason: block.reason,
            }
        })
        .collect()
}
