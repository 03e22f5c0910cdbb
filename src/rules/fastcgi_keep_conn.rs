//! `fastcgi-keep-conn`
//!
//! **What**: makes `fastcgi_keep_conn on` effective in every location whose
//! `fastcgi_pass` uses a pool: `fastcgi_keep_conn on;` is added to the
//! location where nginx's default (off) or an inherited `off` is in effect,
//! and an `off` in the location itself becomes `on`.
//!
//! **Why**: nginx asks a FastCGI application to keep the connection open
//! (the `FCGI_KEEP_CONN` flag) and reads a response up to its
//! END_REQUEST record, instead of up to the close, only with
//! `fastcgi_keep_conn on` (`ngx_http_fastcgi_create_request`,
//! `ngx_http_fastcgi_input_filter`). Without it an upstream `keepalive`
//! pools nothing; with `fastcgi_buffering off` nginx even pools connections
//! the application is about to close, and a POST that gets one fails with
//! 502 (measured; see `notes/issue13-nginx-semantics.md`).
//!
//! **Example**: `location ~ \.php$ { fastcgi_pass php:9000; }` →
//! `location ~ \.php$ { fastcgi_pass php; fastcgi_keep_conn on; }`
//!
//! **Safety**: it goes into the `location` (nginx refuses it in `if`; an
//! `if` inside inherits it), right after the `fastcgi_pass` or, when that
//! sits in an `if`, before the location's first statement, so no other
//! location's value changes. Requests, params and responses stay the same;
//! the application keeps the connection for the next request instead of
//! closing it, and each idle pooled connection holds one application
//! process (php-fpm child) while it waits — a note says so per upstream.

use crate::model::{DirId, LevelId};
use crate::rules::api::{Board, Context, Ctx, Location, Rule};
use crate::rules::layout::{self, settings_anchor_after};
use crate::syntax::edit::Slot;
use crate::vocab::{Note, NoteKind, Protocol};
use crate::rules::api::Change;
use crate::rules::api::Plan;
use crate::rules::RuleId;

pub struct FastcgiKeepConn;

const DIRECTIVE: &str = "fastcgi_keep_conn";

impl Rule for FastcgiKeepConn {

    fn protocol(&self) -> Option<Protocol> {
        Some(Protocol::FastCgi)
    }

    fn location(&self, ctx: &Ctx, location: &mut Location, _: &mut Board, out: &mut Plan) {
        out.changes.extend(keep_conn(ctx, location.id));
    }

    /// The sizing advice for an existing FastCGI upstream that gets
    /// `keepalive` (`upstream-keepalive`).
    fn upstream(&self, ctx: &Ctx, upstream: DirId, out: &mut Plan) {
        let users = super::upstream_keepalive::protocols_using(ctx, upstream);
        if !users.contains(&Protocol::FastCgi) {
            return;
        }
        let dir = &ctx.model.dirs[upstream];
        let name = dir.arg(0).unwrap_or_default();
        out.notes.push(Note::new(
            crate::vocab::NoteKind::Info,
            Some(dir.range.start),
            sizing(name, ctx.opts.pool_size(name)),
        ));
    }

    /// The sizing advice, once per new FastCGI upstream.
    fn context(&self, ctx: &Ctx, context: &Context, _: &mut Board, out: &mut Plan) {
        let model = ctx.model;
        for (upstream, users) in &context.new_upstreams {
            let Some(first) = users
                .iter()
                .find(|d| model.dirs[**d].is(Protocol::FastCgi.pass()))
            else {
                continue;
            };
            out.notes.push(Note {
                kind: NoteKind::Info,
                offset: Some(model.dirs[*first].range.start),
                message: sizing(upstream.name.as_str(), upstream.keepalive),
            });
        }
    }
}

/// What an idle pooled FastCGI connection costs the application.
fn sizing(name: &str, keepalive: u32) -> String {
    format!(
        "upstream \"{name}\" keeps up to {keepalive} idle FastCGI connections per nginx worker, and the application holds one process (a php-fpm child) on each while it is idle: keep keepalive × worker_processes well below pm.max_children (--keepalive {name}=N)"
    )
}

const REASON: &str = "nginx keeps FastCGI connections for reuse only with `fastcgi_keep_conn on` (nginx's default is off)";

fn keep_conn(ctx: &Ctx, location: LevelId) -> Option<Change> {
    let model = ctx.model;
    let is_on = |d: &crate::model::DirId| {
        model.dirs[*d]
            .arg(0)
            .is_some_and(|v| v.eq_ignore_ascii_case("on"))
    };
    // The value in effect: the nearest level that sets it (nginx refuses a
    // second one in a level, so the last one there is the one).
    let here = model.named(location, DIRECTIVE);
    if let Some(last) = here.last() {
        if is_on(last) {
            return None;
        }
        let edit = layout::replace_arg(&model.dirs[*last].args[0], "on");
        return Some(
            Change::new(RuleId::FastcgiKeepConn, edit, REASON).about(model.dirs[*last].head()),
        );
    }
    let chain = model.inheritance_chain(location);
    let inherited = chain[1..]
        .iter()
        .find_map(|l| model.named(*l, DIRECTIVE).last().copied());
    if inherited.as_ref().is_some_and(is_on) {
        return None;
    }
    let anchor = settings_anchor_after(model, location, Protocol::FastCgi.pass())?;
    let edit = layout::at_anchor(
        model,
        anchor,
        "fastcgi_keep_conn on;",
        Slot::ProtocolSetting,
    );
    Some(Change::new(RuleId::FastcgiKeepConn, edit, REASON).about(model.level_head(location)))
}
