//! `host-header`, `proxy-redirect` and `proxy-ssl-name`
//!
//! **What**: with `--host-header keep` (the default), pins what
//! `$proxy_host` meant before the target became an upstream name:
//! `proxy_set_header Host OLD;` where the effective Host is nginx's default,
//! an explicit `proxy_redirect OLD_URL REPLACEMENT;` where `proxy_redirect`
//! was the default, and for https `proxy_ssl_name OLD_HOST;`. With
//! `--host-header upstream` it only reports the new value.
//!
//! **Why**: `$proxy_host` changes from `gateway:8000` to `gateway` when
//! `proxy_pass http://gateway:8000/` becomes `proxy_pass http://gateway/`.
//! It is the default `Host` header, it builds the default `proxy_redirect`
//! (which rewrites `Location: http://gateway:8000/...` answers), and it is
//! the default TLS name for https backends.
//!
//! **Example**: `proxy_pass http://billing.svc;` → `proxy_pass
//! http://billing_svc;` plus `proxy_set_header Host billing.svc;` and
//! `proxy_redirect http://billing.svc/ /;`.
//!
//! **Safety**: the Host header goes through `headers::apply` (inheritance
//! kept); the redirect and TLS name are set in the location only. A location
//! whose pooled targets had different `$proxy_host`s gets a note instead.

use crate::edit::Edit;
use crate::headers::{HeaderAction, HeaderOp, HeaderValue};
use crate::layout::{self, settings_anchor};
use crate::model::LevelId;
use crate::plan::{Change, Ctx, HostHeaderMode, Note, RuleId, Site};

#[derive(Debug, Default)]
pub struct Pins {
    pub header_ops: Vec<HeaderOp>,
    pub changes: Vec<Change>,
}

pub fn plan(ctx: &Ctx, location: LevelId, sites: &[&Site], notes: &mut Vec<Note>) -> Pins {
    let model = ctx.model;
    let mut pins = Pins::default();
    let changed: Vec<(&Site, String)> = sites
        .iter()
        .filter_map(|s| {
            let old = s.literal.as_ref()?.proxy_host();
            (old != s.upstream).then_some((*s, old))
        })
        .collect();
    let Some((site, old)) = changed.first() else {
        return pins;
    };
    let at = Some(model.dirs[site.pass].range.start);
    if ctx.opts.host_header == HostHeaderMode::Upstream {
        for (s, old) in &changed {
            notes.push(Note {
                offset: Some(model.dirs[s.pass].range.start),
                message: format!(
                    "--host-header upstream: $proxy_host (the default Host, proxy_redirect and TLS name) changes from {old} to {}",
                    s.upstream
                ),
            });
        }
        return pins;
    }
    if changed.iter().any(|(_, o)| o != old) {
        notes.push(Note {
            offset: at,
            message: "this location proxies to backends with different $proxy_host values; Host, proxy_redirect and proxy_ssl_name are not pinned".into(),
        });
        return pins;
    }
    let target = site.literal.as_ref().expect("filtered on literal targets");
    if model.effective_source(location, "proxy_cache").is_some()
        && model
            .effective_source(location, "proxy_cache_key")
            .is_none()
    {
        notes.push(Note {
            offset: at,
            message: format!(
                "the default proxy_cache_key ($scheme$proxy_host$request_uri) changes with $proxy_host ({old} → {}): the cache starts cold; set proxy_cache_key to keep it",
                site.upstream
            ),
        });
    }
    let anchor = settings_anchor(model, location);
    let (_, headers) = model.effective_headers(location);
    let host_is_default = !headers.iter().any(|(n, _)| n == "host");
    if host_is_default {
        pins.header_ops.push(HeaderOp {
            name: "Host".into(),
            action: HeaderAction::Set(HeaderValue {
                value: old.clone(),
                written: layout::word(old),
            }),
            rule: RuleId::HostHeader,
            reason: format!(
                "keeps the Host the backend saw: $proxy_host changes from {old} to {} (use --host-header upstream to accept that)",
                site.upstream
            ),
        });
        if let Some(change) = pin_redirect(ctx, location, site, anchor) {
            pins.changes.push(change);
        }
    }
    if target.scheme == "https" && model.effective_source(location, "proxy_ssl_name").is_none() {
        if let Some(anchor) = anchor {
            pins.changes.push(Change {
                rule: RuleId::ProxySslName,
                edit: layout::at_anchor(
                    model,
                    anchor,
                    &format!("proxy_ssl_name {};", target.bare_host()),
                    40,
                ),
                reason: format!(
                    "keeps the TLS name (SNI, certificate check) {} that $proxy_host gave before",
                    target.bare_host()
                ),
            });
        }
    }
    pins
}

/// `proxy_redirect default` is built from the proxy_pass URL as written;
/// pin the old mapping when the default was in effect.
fn pin_redirect(
    ctx: &Ctx,
    location: LevelId,
    site: &Site,
    anchor: Option<layout::Anchor>,
) -> Option<Change> {
    let model = ctx.model;
    let target = site.literal.as_ref()?;
    let url = model.dirs[site.pass].arg(0)?.to_string();
    if target.uri_has_variable() {
        return None;
    }
    let (pattern, replacement) = if target.uri.is_empty() {
        (format!("{url}/"), "/".to_string())
    } else {
        (url, model.location_path(location)?.path)
    };
    let text = format!(
        "proxy_redirect {} {};",
        layout::word(&pattern),
        layout::word(&replacement)
    );
    let reason = format!(
        "`proxy_redirect default` followed the old URL; this keeps rewriting Location: {pattern}... answers"
    );
    let source = model.effective_source(location, "proxy_redirect");
    let only_default = |level: LevelId| {
        let dirs = model.named(level, "proxy_redirect");
        (dirs.len() == 1
            && model.dirs[dirs[0]].args.len() == 1
            && model.dirs[dirs[0]].arg(0) == Some("default"))
        .then(|| dirs[0])
    };
    match source {
        None => Some(Change {
            rule: RuleId::ProxyRedirect,
            edit: layout::at_anchor(model, anchor?, &text, 30),
            reason,
        }),
        Some(level) => {
            let dir = only_default(level)?;
            if level == location {
                let arg = &model.dirs[dir].args[0];
                Some(Change {
                    rule: RuleId::ProxyRedirect,
                    edit: Edit::replace(
                        arg.range.clone(),
                        format!("{} {}", layout::word(&pattern), layout::word(&replacement)),
                    ),
                    reason,
                })
            } else {
                Some(Change {
                    rule: RuleId::ProxyRedirect,
                    edit: layout::at_anchor(model, anchor?, &text, 30),
                    reason,
                })
            }
        }
    }
}
