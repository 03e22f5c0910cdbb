//! `grpc-ssl-name`
//!
//! **What**: adds `grpc_ssl_name HOST;` to a location whose `grpc_pass
//! grpcs://HOST:PORT` becomes `grpc_pass grpcs://NAME` and that sets no
//! TLS name, in the default `--proxy-host keep` mode.
//!
//! **Why**: nginx's default TLS name (SNI with `grpc_ssl_server_name on`,
//! and the name `grpc_ssl_verify` checks the certificate against) is the
//! upstream's host (`ngx_http_upstream_init_request`): `HOST` before, the
//! upstream's name after.
//!
//! **Example**: `grpc_pass grpcs://api.internal:50051;` →
//! `grpc_pass grpcs://api_internal; grpc_ssl_name api.internal;`
//!
//! **Safety**: the name is the host as nginx used it (an IPv6 address keeps
//! its brackets, as in `proxy-ssl-name`); nothing is added where a
//! `grpc_ssl_name` is in effect or the upstream is named like the host.
//! `:authority` is not pinned here: planning leaves a `grpc_pass` alone
//! when its `:authority` would change (see `plan.rs`).

use crate::rules::api::{Board, Ctx, Location, Rule, Site};
use crate::rules::layout::{self, settings_anchor_after};
use crate::syntax::edit::Slot;
use crate::vocab::{HostHeaderMode, Protocol};
use crate::rules::api::Change;
use crate::rules::api::Plan;
use crate::rules::RuleId;

pub struct GrpcSslName;

impl Rule for GrpcSslName {

    fn protocol(&self) -> Option<Protocol> {
        Some(Protocol::Grpc)
    }

    fn location(&self, ctx: &Ctx, location: &mut Location, _: &mut Board, out: &mut Plan) {
        if ctx.opts.host_header == HostHeaderMode::Upstream {
            return;
        }
        for site in &location.other_sites {
            out.changes.extend(pin(ctx, location.id, site));
        }
    }
}

fn pin(ctx: &Ctx, location: crate::model::LevelId, site: &Site) -> Option<Change> {
    let model = ctx.model;
    let target = site.literal.as_ref()?;
    if site.protocol != Protocol::Grpc
        || !target.tls()
        || target.host == site.upstream.as_str()
        || model
            .nearest(&model.place_chain(location), "grpc_ssl_name")
            .is_some()
    {
        return None;
    }
    let anchor = settings_anchor_after(model, location, Protocol::Grpc.pass())?;
    let text = format!("grpc_ssl_name {};", crate::syntax::word::word(&target.host));
    let edit = layout::at_anchor(model, anchor, text, Slot::ProtocolSetting);
    let reason = format!(
        "keeps the TLS name (SNI, certificate check) {}: nginx's default is the upstream's host, which becomes {}",
        target.host, site.upstream
    );
    Some(Change::new(RuleId::GrpcSslName, edit, reason).about(model.dirs[site.pass].head()))
}
