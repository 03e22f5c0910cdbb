//! `upstream-block`
//!
//! **What**: adds one `upstream NAME { server HOST:PORT; keepalive N; }`
//! block per newly pooled backend (with the pool settings of
//! `--keepalive-timeout` and the like after `keepalive N;`) (and, when the WebSocket map rule needs
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

use std::collections::HashMap;

use crate::model::{DirId, LevelId, LevelKind};
use crate::rules::api::NewUpstream;
use crate::rules::api::{Board, Context, Ctx, Out, Rule};
use crate::syntax::edit::{Edit, Slot};
use crate::syntax::source::SegmentId;
use crate::rules::api::Change;
use crate::rules::RuleId;

pub struct UpstreamBlock;

impl Rule for UpstreamBlock {

    fn context(&self, ctx: &Ctx, context: &Context, board: &mut Board, out: &mut Out) {
        out.add_all(blocks(
            ctx,
            context.http,
            &context.new_upstreams,
            board.new_maps.get(&context.http).map(Vec::as_slice),
        ));
    }
}

/// A block to add: its header line and its directives.
struct NewBlock {
    header: String,
    body: Vec<String>,
    rule: RuleId,
    reason: String,
    /// Where reports point: the first `proxy_pass` the block is for.
    about: Option<std::ops::Range<usize>>,
}

/// Inside `http { }`, comment lines directly above the first `server` (no
/// blank line between) describe it: the new blocks go above them.
fn start_of_attached_comments(source: &crate::syntax::source::Source, line_start: usize) -> usize {
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

/// Where a new block goes: before `first` (a statement of the http level),
/// or, with no statement to go before, at the end of the level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Home {
    /// The `http` block (or, for snippets, the first file read).
    Context,
    /// The top of one included file, before its first statement there.
    File(DirId),
}

/// An upstream whose users are all in one included file goes to the top of
/// that file, so a site keeps its backends with it (and takes them along
/// when it is disabled); anything shared goes to the http context.
/// `first_in_segment`: the first statement of `http` in each file (by segment).
fn home_of(
    ctx: &Ctx,
    http: LevelId,
    users: &[DirId],
    first_in_segment: &HashMap<SegmentId, DirId>,
) -> Home {
    let model = ctx.model;
    let source = model.source;
    let default_part =
        default_anchor(ctx, http).map(|d| source.segment_at(model.dirs[d].range.start));
    let mut part = None;
    for user in users {
        // The statement of the http level that holds this proxy_pass.
        let Some(top) = model
            .ancestors(model.dirs[*user].level)
            .find(|l| model.levels[*l].parent == Some(http))
            .and_then(|l| model.levels[l].owner)
        else {
            return Home::Context;
        };
        if model.dirs[top].via.is_none() && model.levels[http].kind != LevelKind::Root {
            return Home::Context;
        }
        let p = source.segment_at(model.dirs[top].range.start);
        if part.is_some_and(|q| q != p) {
            return Home::Context;
        }
        part = Some(p);
    }
    match part {
        Some(p) if Some(p) != default_part => first_in_segment
            .get(&p)
            .copied()
            .map_or(Home::Context, Home::File),
        _ => Home::Context,
    }
}

/// The statement new context-wide blocks go before: in `http { }` its first
/// `server` (or the `include` that reads it), in snippets the first one.
fn default_anchor(ctx: &Ctx, http: LevelId) -> Option<DirId> {
    let model = ctx.model;
    let statements = &model.levels[http].statements;
    if model.levels[http].kind == LevelKind::Root {
        statements.first().copied()
    } else {
        statements
            .iter()
            .find(|d| model.dirs[**d].is("server"))
            .map(|d| model.anchor(*d))
    }
}

/// The first statement of `http` in each file (by segment).
fn first_statements(ctx: &Ctx, http: LevelId) -> HashMap<SegmentId, DirId> {
    let model = ctx.model;
    let mut first_in_segment: HashMap<SegmentId, DirId> = HashMap::new();
    for d in &model.levels[http].statements {
        let part = model.source.segment_at(model.dirs[*d].range.start);
        first_in_segment.entry(part).or_insert(*d);
    }
    first_in_segment
}

fn blocks(
    ctx: &Ctx,
    http: LevelId,
    upstreams: &[(NewUpstream, Vec<DirId>)],
    map: Option<&[String]>,
) -> Vec<Change> {
    let first_in_segment = first_statements(ctx, http);
    let mut blocks: Vec<(Home, NewBlock)> = upstreams
        .iter()
        .map(|(u, users)| {
            (
                home_of(ctx, http, users, &first_in_segment),
                NewBlock {
                    header: format!("upstream {}", u.name),
                    body: [
                        format!("server {};", crate::syntax::word::word(&u.server)),
                        format!("keepalive {};", u.keepalive),
                    ]
                    .into_iter()
                    // --keepalive-timeout and the other pool settings.
                    .chain(ctx.opts.tuning.lines())
                    .collect(),
                    rule: RuleId::UpstreamBlock,
                    reason: format!(
                        "pools connections to {} (keepalive {}) instead of opening one per request{}",
                        u.server,
                        u.keepalive,
                        crate::rules::pool_tuning::reason_suffix(ctx)
                    ),
                    about: users.first().map(|d| ctx.model.dirs[*d].head()),
                },
            )
        })
        .collect();
    if let Some(map) = map {
        blocks.push((
            Home::Context,
            NewBlock {
                header: "map $http_upgrade $connection_upgrade".into(),
                body: map.to_vec(),
                rule: RuleId::WebsocketMap,
                reason: "sends `Connection: upgrade` only with a WebSocket upgrade and an empty Connection otherwise, so ordinary requests are pooled".into(),
                about: None,
            },
        ));
    }
    blocks
        .into_iter()
        .map(|(home, block)| {
            let first = match home {
                Home::Context => default_anchor(ctx, http),
                Home::File(d) => Some(d),
            };
            place(ctx, http, first, home == Home::Context, block)
        })
        .collect()
}

/// The block as text before `first` (or at the end of the level).
fn place(
    ctx: &Ctx,
    http: LevelId,
    first: Option<DirId>,
    in_context: bool,
    block: NewBlock,
) -> Change {
    let model = ctx.model;
    let source = model.source;
    let (at, line_style, indent) = match first {
        Some(d) => {
            let start = model.dirs[d].range.start;
            if source.starts_line(start) {
                let at = if model.levels[http].kind == LevelKind::Root || !in_context {
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
                    format!(
                        "{}{}",
                        source.indent_of(close),
                        source.indent_unit_at(close)
                    ),
                )
            } else {
                (close, false, String::new())
            }
        }
    };
    let eol = source.eol_at(at);
    let unit = source.indent_unit_at(at);
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
    Change::new(
        block.rule,
        Edit::insert(at, text, Slot::First),
        block.reason,
    )
    .about(block.about)
}

/// An upstream block another rule adds (`upstream-resolve`), placed as
/// this rule places its own: with its users' file, or in the `http`
/// context. `body`: its directives.
pub fn block_for(
    ctx: &Ctx,
    http: LevelId,
    users: &[DirId],
    name: &str,
    body: Vec<String>,
    rule: RuleId,
    reason: String,
) -> Change {
    let home = home_of(ctx, http, users, &first_statements(ctx, http));
    let first = match home {
        Home::Context => default_anchor(ctx, http),
        Home::File(d) => Some(d),
    };
    let block = NewBlock {
        header: format!("upstream {name}"),
        body,
        rule,
        reason,
        about: users.first().map(|d| ctx.model.dirs[*d].head()),
    };
    place(ctx, http, first, home == Home::Context, block)
}
