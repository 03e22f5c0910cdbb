//! `host-header`, `proxy-redirect`, `proxy-ssl-name` and `proxy-host-value`
//!
//! **What**: keeps every value that `$proxy_host` and `$proxy_port`
//! decided before the target became an upstream name (the default mode,
//! `--proxy-host keep`):
//! - `proxy_set_header Host OLD;` where the effective Host is nginx's
//!   default (`$proxy_host`);
//! - the default `proxy_redirect` written out (`proxy_redirect OLD_URL
//!   LOCATION;`) wherever it was in effect and its URL changes, whatever
//!   Host is — nginx builds it from the `proxy_pass` URL;
//! - `proxy_ssl_name HOST;` for an `https` target with no name set (nginx's
//!   default is the upstream's host, and `[::1]` keeps its brackets);
//! - every explicit use of `$proxy_host`/`$proxy_port` in effect (headers,
//!   `add_header`, `proxy_redirect`, `proxy_ssl_name`, `proxy_cache_key`,
//!   `proxy_cookie_*`, ...) replaced by the old value: in place where the
//!   location (or an `if` in it) sets it, otherwise the inherited list is
//!   copied into the location with the value in it.
//!
//! With `--proxy-host upstream` it only reports what changes.
//!
//! **Why**: `$proxy_host` changes from `gateway:8000` to `gateway` and
//! `$proxy_port` from `8000` to `80` when `proxy_pass http://gateway:8000/`
//! becomes `proxy_pass http://gateway/`.
//!
//! **Example**: `proxy_pass http://billing.svc:8080;` →
//! `proxy_pass http://billing_svc;` plus `proxy_set_header Host
//! billing.svc:8080;` and `proxy_redirect http://billing.svc:8080/ /;`.
//!
//! **Safety**: [`blocker`] leaves a location alone (with a note) where the
//! old values cannot be kept: `if` branches with different `$proxy_host`s,
//! a cache with nginx's default key (it holds the proxied URI, which no
//! directive can spell, except in an exact location: [`default_cache_key`],
//! pinned as `proxy_cache_key`), values nested locations would inherit
//! wrongly, or
//! a `map` that reads `$proxy_host`. The behaviour check (`behaviour.rs`)
//! verifies the result.

use crate::model::nginx::{
    default_cache_key, local_levels, passes_of, substitute, uses_proxy_vars,
};
use crate::model::target::ProxyTarget;
use crate::model::{DirId, LevelId, LevelKind, Model, Word};
use crate::rules::api::{Board, Ctx, Location, Out, Rule, Site};
use crate::rules::api::{HeaderAction, HeaderOp, HeaderValue};
use crate::rules::layout::{self, settings_anchor};
use crate::syntax::edit::{Edit, Slot};
use crate::vocab::{HostHeaderMode, Note, NoteKind};
use crate::rules::api::Change;
use crate::rules::RuleId;

pub struct ProxyHost;

impl Rule for ProxyHost {

    fn location(&self, ctx: &Ctx, location: &mut Location, _: &mut Board, out: &mut Out) {
        let pins = pins(ctx, location.id, &location.sites, out.notes);
        location.header_ops.extend(pins.header_ops);
        out.add_all(pins.changes);
        out.add_all(pin_cache_key(ctx, location));
    }
}

/// `proxy_cache_key OLD_DEFAULT;` where a cache with nginx's default key
/// is in effect for a pooled location that [`default_cache_key`] spells.
fn pin_cache_key(ctx: &Ctx, location: &Location) -> Option<Change> {
    let model = ctx.model;
    if ctx.opts.host_header == HostHeaderMode::Upstream {
        return None;
    }
    let site = location.sites.first()?;
    site.literal.as_ref()?;
    let chain = model.place_chain(location.id);
    let cache = model
        .nearest(&chain, "proxy_cache")
        .is_some_and(|(_, dirs)| model.dirs[dirs[0]].arg(0).is_some_and(|v| v != "off"));
    if !cache || model.nearest(&chain, "proxy_cache_key").is_some() {
        return None;
    }
    let key = default_cache_key(model, location.id)?;
    let anchor = crate::rules::layout::settings_anchor_after(model, location.id, "proxy_pass")?;
    let text = format!("proxy_cache_key {};", crate::syntax::word::word(&key));
    let edit = layout::at_anchor(model, anchor, text, Slot::ProtocolSetting);
    let reason = format!(
        "keeps the cache key {key}: nginx's default key holds $proxy_host, which becomes {}",
        site.upstream
    );
    Some(Change::new(RuleId::ProxyHostValue, edit, reason).about(model.dirs[site.pass].head()))
}

#[derive(Debug, Default)]
struct Pins {
    pub header_ops: Vec<HeaderOp>,
    pub changes: Vec<Change>,
}

fn dir_uses_vars(model: &Model, d: DirId) -> bool {
    model.dirs[d].args.iter().any(|a| uses_proxy_vars(&a.value))
}

/// Settings a `$proxy_host` substitution may touch: not the rewrite
/// module's (they run before a target exists), not the ones with their own
/// handling.
fn substitutable(name: &str) -> bool {
    !matches!(
        name,
        "proxy_pass" | "proxy_set_header" | "set" | "rewrite" | "return" | "break" | "if"
    )
}

/// Where the default `proxy_redirect` of a place comes from.
enum RedirectSource {
    /// Built by nginx from this `proxy_pass` (at the level that has it).
    Default { pass: DirId },
    /// `proxy_redirect default;` written out at a level.
    Written { dir: DirId, pass: DirId },
    /// An explicit list, or `off`.
    Explicit,
}

fn redirect_source(model: &Model, level: LevelId) -> RedirectSource {
    let chain = model.place_chain(level);
    // Top-down: the first level with a list decides, unless a nearer one
    // replaces it; a level with a proxy_pass and no list inherited gets
    // the default.
    let mut source = None;
    for l in chain.iter().rev() {
        let dirs = model.named(*l, "proxy_redirect");
        if !dirs.is_empty() {
            source = match dirs.iter().find(|d| {
                model.dirs[**d].args.len() == 1 && model.dirs[**d].arg(0) == Some("default")
            }) {
                Some(d) => model
                    .own_pass(*l)
                    .map(|pass| RedirectSource::Written { dir: *d, pass }),
                None => Some(RedirectSource::Explicit),
            };
            continue;
        }
        if source.is_none() {
            // A proxy_pass with variables has no default (nginx keeps no URL).
            if let Some(pass) = model
                .own_pass(*l)
                .filter(|p| !model.dirs[*p].arg(0).unwrap_or("").contains('$'))
            {
                source = Some(RedirectSource::Default { pass });
            }
        }
    }
    source.unwrap_or(RedirectSource::Explicit)
}

/// Why the old `$proxy_host` values of `location` cannot be kept, if so.
/// `pooled`: the literal targets of its `proxy_pass` directives that would
/// be pooled (by pass).
pub fn blocker(ctx: &Ctx, location: LevelId, pooled: &[(DirId, &ProxyTarget)]) -> Option<String> {
    if ctx.opts.host_header == HostHeaderMode::Upstream {
        return None;
    }
    let model = ctx.model;
    let passes = passes_of(model, location);
    let first = pooled.first()?.1;
    let levels = local_levels(model, location);
    let chains: Vec<Vec<LevelId>> = levels.iter().map(|l| model.place_chain(*l)).collect();
    let explicit_use = chains.iter().flatten().any(|l| {
        model.plain(*l).iter().any(|d| {
            model.dirs[*d].block.is_none()
                && substitutable_or_header(model, *d)
                && dir_uses_vars(model, *d)
        })
    });
    let default_host = !model
        .effective_headers(location)
        .1
        .iter()
        .any(|(n, _)| n == "host");
    let default_redirect = levels
        .iter()
        .any(|l| !matches!(redirect_source(model, *l), RedirectSource::Explicit));
    // With a proxy_pass of its own, the location's default redirect (which
    // its `if`/`limit_except` blocks inherit) comes from that one URL.
    let branch_redirects = default_redirect && model.own_pass(location).is_none();
    let depends = explicit_use || default_host || branch_redirects || first.scheme == "https";
    let same = |t: &ProxyTarget| {
        t.proxy_host() == first.proxy_host()
            && t.effective_port() == first.effective_port()
            && t.scheme == first.scheme
    };
    if depends && (passes.len() != pooled.len() || !pooled.iter().all(|(_, t)| same(t))) {
        return Some("left alone: its proxy_pass directives (in `if`/`limit_except` blocks) have different $proxy_host values, and Host, proxy_redirect or the TLS name depend on them; no single pinned value can keep them (proxy_set_header is not allowed in `if`)".into());
    }
    // An `if` whose default redirect nginx builds from its own URL (the
    // location's proxy_pass has variables): a pin can only go into the
    // location, where it would apply to the location's own requests too.
    let if_default = levels.iter().skip(1).any(|l| {
        matches!(redirect_source(model, *l), RedirectSource::Default { pass } if model.dirs[pass].level == *l)
    });
    if if_default && model.own_pass(location).is_some() {
        return Some("left alone: the default proxy_redirect of its `if` block comes from the block's own URL, and proxy_redirect cannot be set in `if`; pinning it in the location would change the location's own redirects".into());
    }
    if model.own_pass(location).is_none() && default_redirect {
        let urls: std::collections::BTreeSet<&str> = passes
            .iter()
            .filter_map(|d| model.dirs[*d].arg(0))
            .collect();
        if urls.len() > 1 {
            return Some("left alone: its `if` branches have different default proxy_redirect mappings, and proxy_redirect is not allowed in `if`".into());
        }
    }
    for chain in &chains {
        let cache = model
            .nearest(chain, "proxy_cache")
            .is_some_and(|(_, dirs)| model.dirs[dirs[0]].arg(0).is_some_and(|v| v != "off"));
        if cache
            && model.nearest(chain, "proxy_cache_key").is_none()
            && default_cache_key(model, location).is_none()
        {
            return Some(format!(
                "left alone: proxy_cache uses nginx's default key, which holds $proxy_host ({}) and the proxied URI; no proxy_cache_key can spell it, so pooling would empty the cache. Set proxy_cache_key explicitly, or run with --proxy-host upstream to accept a cold cache",
                first.proxy_host()
            ));
        }
    }
    let http = model.http_context(location)?;
    // The context's maps, from the index (a walk of every level per
    // location would be quadratic in a tree of thousands of sites).
    let map_uses = model.index.map.iter().any(|&owner| {
        let Some(l) = model.dirs[owner].block else {
            return false;
        };
        model.http_context(l) == Some(http)
            && (dir_uses_vars(model, owner)
                || model.levels[l]
                    .statements
                    .iter()
                    .any(|d| dir_uses_vars(model, *d)))
    });
    if map_uses {
        return Some("left alone: a `map` in this http context reads $proxy_host or $proxy_port, whose values the rewrite would change".into());
    }
    // Values written into the location are inherited by nested locations,
    // which proxy elsewhere or not at all.
    let nested = model
        .descendants(location)
        .into_iter()
        .any(|l| model.levels[l].kind == LevelKind::Location && model.own_pass(l).is_some());
    let needs_setting = (first.scheme == "https"
        && model.nearest(&chains[0], "proxy_ssl_name").is_none())
        || chains.iter().flatten().any(|l| {
            model.plain(*l).iter().any(|d| {
                model.dirs[*d].block.is_none()
                    && substitutable(&model.dirs[*d].name.value)
                    && dir_uses_vars(model, *d)
            })
        });
    if nested && needs_setting {
        return Some("left alone: keeping the old TLS name or $proxy_host value here would change what its nested proxying locations inherit".into());
    }
    None
}

fn substitutable_or_header(model: &Model, d: DirId) -> bool {
    let name = model.dirs[d].name.value.as_ref();
    substitutable(name) || name == "proxy_set_header"
}

/// The changes that keep the old values for one location (not blocked).
fn pins(ctx: &Ctx, location: LevelId, sites: &[&Site], notes: &mut Vec<Note>) -> Pins {
    let model = ctx.model;
    let mut pins = Pins::default();
    let changed: Vec<(&Site, &ProxyTarget)> = sites
        .iter()
        .filter_map(|s| {
            let t = s.literal.as_ref()?;
            let url = model.dirs[s.pass].arg(0)?;
            (new_url(url, t, s.upstream.as_str()) != url).then_some((*s, t))
        })
        .collect();
    let Some((site, target)) = changed.first().copied() else {
        return pins;
    };
    let old_host = target.proxy_host();
    let old_port = target
        .effective_port()
        .map(|p| p.to_string())
        .unwrap_or_default();
    if ctx.opts.host_header == HostHeaderMode::Upstream {
        if old_host != site.upstream.as_str() {
            notes.push(Note {
                kind: NoteKind::Info,
                offset: Some(model.dirs[site.pass].range.start),
                message: format!(
                    "--proxy-host upstream: $proxy_host changes from {old_host} to {} (the default Host, proxy_redirect, TLS name and cache key follow it)",
                    site.upstream
                ),
            });
        }
        return pins;
    }
    let anchor = settings_anchor(model, location);
    let eval = |v: &str| substitute(v, Some(&old_host), Some(&old_port));
    // Pins written into the location are about its proxy_pass.
    let pass_head = model.dirs[site.pass].head();

    // Headers: nginx's default Host, and explicit uses, through the
    // inheritance-aware header operations.
    let (_, headers) = model.effective_headers(location);
    if !headers.iter().any(|(n, _)| n == "host") && old_host != site.upstream.as_str() {
        pins.header_ops.push(HeaderOp {
            name: "Host".into(),
            action: HeaderAction::Set(HeaderValue {
                value: old_host.clone(),
                written: crate::syntax::word::word(&old_host),
            }),
            rule: RuleId::HostHeader,
            reason: format!(
                "keeps the Host the backend saw: $proxy_host changes from {old_host} to {} (--proxy-host upstream accepts that)",
                site.upstream
            ),
        });
    }
    for (name, d) in &headers {
        let Some(value) = model.dirs[*d].args.get(1) else {
            continue;
        };
        if uses_proxy_vars(&value.value) && name != "connection" {
            let new = eval(&value.value);
            pins.header_ops.push(HeaderOp {
                name: model.dirs[*d].arg(0).unwrap_or(name).to_string(),
                action: HeaderAction::Set(HeaderValue {
                    written: crate::syntax::word::word(&new),
                    value: new,
                }),
                rule: RuleId::ProxyHostValue,
                reason: format!("keeps the value $proxy_host/$proxy_port gave before ({old_host}, port {old_port})"),
            });
        }
    }

    // The default proxy_redirect, wherever it is built from a URL that changes.
    let mut seen_redirect = Vec::new();
    for s in sites {
        let source = redirect_source(model, model.dirs[s.pass].level);
        match source {
            RedirectSource::Default { pass, .. } | RedirectSource::Written { pass, .. }
                if changed.iter().any(|(c, _)| c.pass == pass) =>
            {
                let url = model.dirs[pass].arg(0).unwrap_or("").to_string();
                let (pattern, replacement) =
                    crate::model::nginx::default_redirect(model, model.dirs[pass].level, &url);
                if seen_redirect.contains(&(pattern.clone(), replacement.clone())) {
                    continue;
                }
                seen_redirect.push((pattern.clone(), replacement.clone()));
                let words = format!(
                    "{} {}",
                    crate::syntax::word::word(&pattern),
                    crate::syntax::word::word(&replacement)
                );
                let reason = format!(
                    "keeps rewriting redirects to {pattern}...: nginx's default proxy_redirect is built from the proxy_pass URL, which changes"
                );
                let (edit, about) = match source {
                    RedirectSource::Written { dir, .. } => (
                        Edit::replace(model.dirs[dir].args[0].range.clone(), words),
                        model.dirs[dir].head(),
                    ),
                    _ => {
                        let Some(anchor) = anchor else { continue };
                        let text = format!("proxy_redirect {words};");
                        let edit = layout::at_anchor(model, anchor, text, Slot::Redirect);
                        (edit, pass_head.clone())
                    }
                };
                pins.changes
                    .push(Change::new(RuleId::ProxyRedirect, edit, reason).about(about));
            }
            _ => {}
        }
    }

    // The default TLS name is the upstream's host.
    if target.scheme == "https"
        && model
            .nearest(&model.place_chain(location), "proxy_ssl_name")
            .is_none()
        && target.host != site.upstream.as_str()
    {
        if let Some(anchor) = anchor {
            let text = format!(
                "proxy_ssl_name {};",
                crate::syntax::word::word(&target.host)
            );
            let edit = layout::at_anchor(model, anchor, text, Slot::SslName);
            let reason = format!(
                "keeps the TLS name (SNI, certificate check) {}: nginx's default is the upstream's host, which becomes {}",
                target.host, site.upstream
            );
            pins.changes
                .push(Change::new(RuleId::ProxySslName, edit, reason).about(pass_head.clone()));
        }
    }

    // Explicit $proxy_host / $proxy_port in other settings.
    let reason = format!(
        "keeps the value $proxy_host/$proxy_port gave before ({old_host}, port {old_port})"
    );
    let levels = local_levels(model, location);
    for l in &levels {
        for d in model.plain(*l) {
            let dir = &model.dirs[*d];
            if dir.block.is_some() || !substitutable(&dir.name.value) || !dir_uses_vars(model, *d) {
                continue;
            }
            for arg in &dir.args {
                if uses_proxy_vars(&arg.value) {
                    let edit = Edit::replace(arg.range.clone(), rewritten(arg, &eval(&arg.value)));
                    pins.changes.push(
                        Change::new(RuleId::ProxyHostValue, edit, reason.clone()).about(dir.head()),
                    );
                }
            }
        }
    }
    // Inherited ones: the whole list is copied in, with the old values.
    let chain = model.place_chain(location);
    let mut names: Vec<&str> = Vec::new();
    for l in chain.iter().skip(1) {
        for d in model.plain(*l) {
            let name = model.dirs[*d].name.value.as_ref();
            if model.dirs[*d].block.is_none()
                && substitutable(name)
                && dir_uses_vars(model, *d)
                && !names.contains(&name)
            {
                names.push(name);
            }
        }
    }
    for name in names {
        let Some((from, dirs)) = model.nearest(&chain, name) else {
            continue;
        };
        if from == location {
            continue;
        }
        let Some(anchor) = anchor else { continue };
        for d in dirs {
            let dir = &model.dirs[d];
            let mut text = model.bytes(dir.name.range.clone()).to_vec();
            for arg in &dir.args {
                text.push(b' ');
                if uses_proxy_vars(&arg.value) {
                    text.extend_from_slice(rewritten(arg, &eval(&arg.value)).as_bytes());
                } else {
                    text.extend_from_slice(model.bytes(arg.range.clone()));
                }
            }
            text.push(b';');
            let edit = layout::at_anchor(model, anchor, text, Slot::ProxyValue);
            let why = format!("{reason}; copied from the enclosing level so that the location keeps the rest of that list");
            pins.changes
                .push(Change::new(RuleId::ProxyHostValue, edit, why).about(pass_head.clone()));
        }
    }
    pins
}

/// The URL a pooled `proxy_pass` gets: the upstream name for the authority.
pub fn new_url(url: &str, target: &ProxyTarget, upstream: &str) -> String {
    format!(
        "{}{upstream}{}",
        &url[..target.authority.start],
        &url[target.authority.end..]
    )
}

/// A replacement argument in the quoting of the one it replaces.
fn rewritten(arg: &Word, value: &str) -> String {
    match arg.quote {
        Some(q) if !value.contains(q) && !value.contains('\\') => format!("{q}{value}{q}"),
        _ => crate::syntax::word::word(value),
    }
}
