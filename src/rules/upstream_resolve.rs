//! `upstream-resolve` and `resolver`
//!
//! **What**: with `--resolve` (nginx 1.27.3 or later), a `proxy_pass`
//! that nginx resolves per request because its host is a variable that a
//! `set` in the location fixes (`set $app app; proxy_pass
//! http://$app:8080;`) gets a pooled upstream that re-resolves the name:
//! `upstream app { zone app 64k; server app:8080 resolve; keepalive 32; }`
//! (with the location's own `resolver` copied in when it is not the `http`
//! context's); `proxy-pass-target` then makes only the host and port of
//! the `proxy_pass` the upstream name (`proxy_pass http://app;`), the
//! range of the written value `resolve.rs` found. A target left without
//! variables gets `proxy_redirect off;` where no `proxy_redirect` applies
//! (nginx builds no default one for a target with variables). With
//! `--resolver ADDR`, an `http` context that such an upstream needs a
//! resolver for, and that has none, gets `resolver ADDR;`.
//!
//! **Why**: nginx never pools a target it resolves per request; an
//! upstream block with `resolve` keeps following the name (its address may
//! change when a container restarts) and pools connections like any other.
//!
//! **Example**: `set $upstream_app portainer; proxy_pass
//! http://$upstream_app:9000;` → the same `set`, `proxy_pass
//! http://portainer;`, `proxy_redirect off;` and `upstream portainer {
//! zone portainer 64k; server portainer:9000 resolve; keepalive 32; }`.
//!
//! **Safety**: `resolve.rs` converts only what keeps the request the same:
//! the URI part stays byte for byte and keeps its meaning (a target that
//! loses its last variable must have no URI part), the `set` stays, the
//! resolver is the one the location used, and what `$proxy_host` decided
//! is kept by `host-header` and its siblings. nginx still starts when the
//! name does not resolve (a `resolve` server is looked up after start-up,
//! as the variable was per request). The behaviour check compares the
//! evaluated target before with the re-resolving server after.

use crate::model::{LevelId, Model};
use crate::rules::api::{Board, Context, Ctx, Location, Rule, Site};
use crate::rules::layout;
use crate::rules::upstream_block;
use crate::syntax::edit::{Edit, Slot};
use crate::rules::api::Change;
use crate::rules::api::Plan;
use crate::rules::RuleId;

pub struct UpstreamResolve;

impl Rule for UpstreamResolve {

    fn location(&self, ctx: &Ctx, location: &mut Location, _: &mut Board, out: &mut Plan) {
        out.changes.extend(redirect_off(ctx, location));
    }

    fn context(&self, ctx: &Ctx, context: &Context, _: &mut Board, out: &mut Plan) {
        let tuning = ctx.opts.tuning.lines();
        for (upstream, users) in &context.resolve_upstreams {
            let reason = format!(
                "pools connections to {} and re-resolves the name (nginx resolved it per request before, and never pools such a target){}",
                upstream.server,
                crate::rules::pool_tuning::reason_suffix(ctx)
            );
            out.changes.push(upstream_block::block_for(
                ctx,
                context.http,
                users,
                upstream.name.as_str(),
                upstream.body(&tuning),
                RuleId::UpstreamResolve,
                reason,
            ));
        }
        if context.add_resolver {
            if let (Some(words), Some(edit)) = (
                &ctx.opts.resolver,
                resolver_line(ctx.model, context.http, ctx.opts.resolver.as_deref()),
            ) {
                out.changes.push(Change::new(
                    RuleId::Resolver,
                    edit,
                    format!("an upstream that re-resolves needs a resolver in the http context, and none was in effect: resolver {words} (--resolver)"),
                ));
            }
        }
    }
}

/// The URL a resolve site's `proxy_pass` gets.
fn new_url(site: &Site, url: &str) -> Option<String> {
    let t = site.literal.as_ref()?;
    Some(format!(
        "{}{}{}",
        url.get(..t.authority.start)?,
        site.upstream,
        url.get(t.authority.end..)?
    ))
}

/// A target that loses its last variable gets nginx's default
/// `proxy_redirect`, which a target with variables never had: turned off
/// where no `proxy_redirect` applies.
fn redirect_off(ctx: &Ctx, location: &Location) -> Option<Change> {
    let model = ctx.model;
    let site = location.sites.iter().find(|s| s.resolve)?;
    let url = model.dirs[site.pass].arg(0)?;
    if new_url(site, url)?.contains('$')
        || model
            .nearest(&model.place_chain(location.id), "proxy_redirect")
            .is_some()
    {
        return None;
    }
    let anchor = layout::settings_anchor(model, location.id)?;
    let edit = layout::at_anchor(model, anchor, "proxy_redirect off;", Slot::Redirect);
    Some(
        Change::new(
            RuleId::ProxyRedirect,
            edit,
            "keeps redirects as the backend sent them: nginx builds no default proxy_redirect for a proxy_pass with variables, and would build one for the upstream name",
        )
        .about(model.dirs[site.pass].head()),
    )
}

/// `resolver WORDS;` as the first statement of the `http` context, with a
/// blank line after it.
fn resolver_line(model: &Model, http: LevelId, words: Option<&str>) -> Option<Edit> {
    let words = words?;
    let source = model.source;
    let first = model.anchor(*model.levels[http].statements.first()?);
    let start = model.dirs[first].range.start;
    let line = format!("resolver {words};");
    if source.starts_line(start) {
        let at = source.line_start(start);
        let eol = source.eol_at(at);
        let indent = source.indent_of(start);
        Some(Edit::insert(
            at,
            format!("{indent}{line}{eol}{eol}"),
            Slot::First,
        ))
    } else {
        Some(Edit::insert(start, format!("{line} "), Slot::First))
    }
}
