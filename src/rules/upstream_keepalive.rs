//! `upstream-keepalive`
//!
//! **What**: adds `keepalive N;` to an existing `upstream` block that a
//! pooled `*_pass` (`proxy_pass`, `fastcgi_pass`, `grpc_pass`,
//! `memcached_pass`) uses and that has none.
//!
//! **Why**: without `keepalive` an upstream block does not cache idle
//! connections (before nginx 1.29.7), so every request still pays a TCP
//! (and TLS) handshake.
//!
//! **Example**: `upstream backend { server app:8080; }` →
//! `upstream backend { server app:8080; keepalive 32; }`
//!
//! **Safety**: it goes last in the block: nginx requires a balancing method
//! (`least_conn`, `hash`, ...) to come before `keepalive`. N is the pool
//! size per worker (`--keepalive`, `--keepalive NAME=N`).

use std::collections::BTreeSet;

use crate::model::DirId;
use crate::rules::api::{Ctx, Out, Rule};
use crate::rules::layout;
use crate::syntax::edit::Slot;
use crate::vocab::names::UpstreamName;
use crate::vocab::Protocol;
use crate::rules::api::Change;
use crate::rules::RuleId;

pub struct UpstreamKeepalive;

impl Rule for UpstreamKeepalive {

    fn upstream(&self, ctx: &Ctx, upstream: DirId, out: &mut Out) {
        out.add(keepalive(ctx, upstream));
    }
}

fn keepalive(ctx: &Ctx, upstream: DirId) -> Change {
    let model = ctx.model;
    let dir = &model.dirs[upstream];
    let name = dir.arg(0).unwrap_or_default();
    let size = ctx.opts.pool_size(name);
    let block = dir
        .block
        .expect("upstream directives found by the query have a block");
    let edit = layout::at_block_end(model, block, format!("keepalive {size};"), Slot::First);
    let users = protocols_using(ctx, upstream);
    let passes = if users.is_empty() {
        // Only targets with variables name it (`proxy_pass $proxpass`).
        Protocol::Proxy.pass().to_string()
    } else {
        users
            .iter()
            .map(|p| p.pass())
            .collect::<Vec<_>>()
            .join(" and ")
    };
    let reason = if ctx.opts.new_defaults {
        format!("upstream \"{name}\" relies on nginx ≥ 1.29.7's default pool (32 idle connections per worker); this makes the size explicit")
    } else {
        format!("upstream \"{name}\" is used by {passes} but keeps no idle connections (before nginx 1.29.7, an upstream without keepalive keeps none)")
    };
    Change::new(RuleId::UpstreamKeepalive, edit, reason).about(dir.head())
}

/// The protocols whose literal `*_pass` targets name the upstream block
/// `upstream` by name (no port) in its `http` context.
pub fn protocols_using(ctx: &Ctx, upstream: DirId) -> BTreeSet<Protocol> {
    let model = ctx.model;
    let http = model.http_context(model.dirs[upstream].level);
    let name = UpstreamName::new(model.dirs[upstream].arg(0).unwrap_or_default());
    model
        .index
        .pass
        .iter()
        .filter_map(|d| {
            let dir = &model.dirs[*d];
            let (protocol, t) = ctx.facts.pass(*d)?;
            let t = t.ok()?;
            (t.names_upstream() && t.host_name() == name && model.http_context(dir.level) == http)
                .then_some(protocol)
        })
        .collect()
}
