//! `grpc-authority`
//!
//! **What**: adds `grpc_set_header Host HOST:PORT;` (the old `:authority`)
//! to a location whose `grpc_pass grpc://HOST:PORT` becomes `grpc_pass
//! grpc://NAME` and that sets no Host, when the config runs on nginx
//! 1.31.4 or later (`--nginx-version`) in the default `--proxy-host keep`
//! mode.
//!
//! **Why**: nginx's default `:authority` is the target's `host:port` as
//! written (`ngx_http_grpc_pass`); after the rewrite it would be the
//! upstream's name. Since nginx commit dea68dbf ("Upstream: special
//! handling of the Host header in proxy and gRPC", release 1.31.4),
//! `ngx_http_grpc_create_request` sends a `grpc_set_header Host` value as
//! `:authority` and no `host` header, so the pin is exact there. Before
//! it, the same line sent a `host` header and no `:authority`, so on older
//! (or unknown) versions planning leaves such a `grpc_pass` alone.
//!
//! **Example**: `grpc_pass grpc://api:50051;` with `--nginx-version
//! 1.31.4` → `grpc_pass grpc://api; grpc_set_header Host api:50051;`
//!
//! **Safety**: `grpc_set_header` is inherited like `proxy_set_header`: a
//! level that defines one inherits none. The pin goes only where the
//! location's own list is in effect (it joins it) or no level defines any
//! (it starts one); with a list inherited from an outer level, or `grpc_pass`
//! targets of different authorities in one location, planning leaves the
//! location alone ([`pinnable`]). The value is a literal, never empty.

use crate::model::{LevelId, LevelKind};
use crate::rules::api::{Board, Ctx, Location, Out, Rule};
use crate::rules::layout::{self, settings_anchor_after};
use crate::syntax::edit::Slot;
use crate::vocab::{GrpcHost, HostHeaderMode, Protocol};
use crate::rules::api::Change;
use crate::rules::RuleId;

pub struct GrpcAuthority;

impl Rule for GrpcAuthority {

    fn protocol(&self) -> Option<Protocol> {
        Some(Protocol::Grpc)
    }

    fn location(&self, ctx: &Ctx, location: &mut Location, _: &mut Board, out: &mut Out) {
        if ctx.opts.host_header == HostHeaderMode::Upstream
            || ctx.opts.grpc_host != GrpcHost::Authority
        {
            return;
        }
        let model = ctx.model;
        let Some(site) = location
            .other_sites
            .iter()
            .find(|s| s.protocol == Protocol::Grpc && s.literal.is_some())
        else {
            return;
        };
        let Some(target) = &site.literal else { return };
        let authority = target.grpc_authority();
        if authority == site.upstream.as_str() || host_set(ctx, location.id) {
            return;
        }
        let text = format!(
            "grpc_set_header Host {};",
            crate::syntax::word::word(&authority)
        );
        let edit = match model.named(location.id, "grpc_set_header").first() {
            // Joins the location's own list.
            Some(first) => layout::before_directive(model, *first, &text, Slot::Header),
            None => {
                let Some(anchor) = settings_anchor_after(model, location.id, Protocol::Grpc.pass())
                else {
                    return;
                };
                layout::at_anchor(model, anchor, text, Slot::ProtocolSetting)
            }
        };
        let reason = format!(
            "keeps `:authority: {authority}`: nginx's default is the target as written, which becomes {}; nginx 1.31.4 and later send a `grpc_set_header Host` value as `:authority`",
            site.upstream
        );
        out.add(
            Change::new(RuleId::GrpcAuthority, edit, reason).about(model.dirs[site.pass].head()),
        );
    }
}

/// Whether a Host is in effect for the `grpc_pass` of `location`.
fn host_set(ctx: &Ctx, location: LevelId) -> bool {
    let model = ctx.model;
    model
        .nearest(&model.place_chain(location), "grpc_set_header")
        .is_some_and(|(_, dirs)| {
            dirs.iter().any(|d| {
                model.dirs[*d]
                    .arg(0)
                    .is_some_and(|h| h.eq_ignore_ascii_case("host"))
            })
        })
}

/// Whether the old `:authority` of the `grpc_pass` directives of
/// `location` (a settings level) can be pinned there: its own
/// `grpc_set_header` list, or none at any level, is in effect, and every
/// `grpc_pass` in it (directly or in its `if` blocks) has one authority.
pub fn pinnable(ctx: &Ctx, location: LevelId) -> bool {
    let model = ctx.model;
    let chain = model.place_chain(location);
    if model
        .nearest(&chain, "grpc_set_header")
        .is_some_and(|(level, _)| level != location)
    {
        return false;
    }
    let mut levels = vec![location];
    levels.extend(
        model
            .descendants(location)
            .into_iter()
            .filter(|l| model.levels[*l].kind == LevelKind::If),
    );
    let mut authorities = levels
        .iter()
        .flat_map(|l| model.named(*l, "grpc_pass"))
        .map(|d| ctx.facts.literal(d).map(|t| t.grpc_authority()));
    let Some(first) = authorities.next() else {
        return false;
    };
    first.is_some() && authorities.all(|a| a == first)
}
