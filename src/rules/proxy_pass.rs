//! `proxy-pass-target`, `fastcgi-pass-target`, `grpc-pass-target` and `memcached-pass-target`
//!
//! **What**: rewrites the literal target of a `proxy_pass`, `fastcgi_pass`,
//! `grpc_pass` or `memcached_pass` to the name of the upstream block that
//! pools connections to it. `proxy_pass http://HOST:PORT/URI` becomes
//! `proxy_pass http://NAME/URI`; `fastcgi_pass HOST:PORT` and
//! `memcached_pass HOST:PORT` (or `unix:PATH`) become `NAME`; `grpc_pass
//! grpc://HOST:PORT` becomes `grpc://NAME` (`grpcs://` and a missing scheme
//! are kept).
//!
//! **Why**: nginx keeps idle connections only for `upstream` blocks with
//! `keepalive`; a literal address is an implicit upstream that never pools.
//!
//! **Example**: `proxy_pass http://gateway:8000/;` → `proxy_pass
//! http://gateway/;`, `fastcgi_pass php:9000;` → `fastcgi_pass php;`
//!
//! **Safety**: only the address changes; the scheme and the URI part stay
//! byte for byte, so nginx maps request paths exactly as before. What
//! `$proxy_host` change this brings is handled by `host_header`; FastCGI
//! pools need `fastcgi_keep_conn` (`fastcgi_keep_conn.rs`); a `grpc_pass`
//! whose `:authority` would change is left alone by planning unless the
//! user accepts it. Each protocol gets its own upstream blocks: nginx hands
//! a pooled connection to whichever user of the block asks next.

use crate::rules::api::{Ctx, Rule, Site};
use crate::syntax::edit::Edit;
use crate::rules::api::Change;
use crate::rules::api::Plan;
use crate::rules::RuleId;

pub struct ProxyPass;

impl Rule for ProxyPass {

    fn site(&self, ctx: &Ctx, site: &Site, out: &mut Plan) {
        out.changes.extend(rewrite(ctx, site));
    }
}

fn rewrite(ctx: &Ctx, site: &Site) -> Option<Change> {
    let model = ctx.model;
    let target = site.literal.as_ref()?;
    let arg = model.dirs[site.pass].args.first()?;
    let raw = &model.source.text[arg.range.clone()];
    let skip = usize::from(arg.quote.is_some());
    let authority_end = target.authority.end;
    // The raw text must spell the scheme and authority exactly as the value
    // does (no escapes there); otherwise offsets would not line up.
    if raw.get(skip..skip + authority_end) != Some(&arg.value.as_bytes()[..authority_end]) {
        return None;
    }
    let start = arg.range.start + skip + target.authority.start;
    let end = arg.range.start + skip + authority_end;
    let reason = if site.resolve {
        // `--resolve`: the authority was variables a `set` fixes.
        format!(
            "{} is resolved per request (its host comes from `set`), so nginx opens a new connection every time; upstream \"{}\" re-resolves the name and pools them",
            target.server_entry(),
            site.upstream
        )
    } else {
        format!(
            "{} is an implicit upstream that opens a new connection per request; upstream \"{}\" pools them",
            target.server_entry(),
            site.upstream
        )
    };
    let edit = Edit::replace(start..end, site.upstream.as_str());
    let rule = RuleId::target_of(site.protocol);
    Some(Change::new(rule, edit, reason).about(model.dirs[site.pass].head()))
}
