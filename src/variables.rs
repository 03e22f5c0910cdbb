//! What a `proxy_pass` with variables may evaluate to.
//!
//! nginx looks the host of an evaluated target up among the `http`
//! context's upstreams before asking a resolver — implicit upstreams (the
//! ones literal `proxy_pass http://host:port` lines create) included, by
//! host and port (`ngx_http_upstream_init_request`). So a literal target
//! that such a variable may name must keep its implicit upstream, and a new
//! `upstream NAME` must not capture a port-less value `NAME`.
//!
//! Values are known when every variable in the target is set only by
//! `map` blocks and `set` directives with literal values; otherwise the
//! target may name anything.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::{LevelId, LevelKind, Model};
use crate::names::UpstreamName;
use crate::target::ProxyTarget;

/// Where an evaluated target may go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Possible {
    /// Unknown: any host and port.
    Anything,
    /// These (host, effective port, port written) triples.
    Targets(BTreeSet<(UpstreamName, Option<u16>, bool)>),
}

/// Values each variable may take in the http context `http` (`None`:
/// unknown), from `map` blocks and `set` directives.
fn known_values(model: &Model, http: LevelId) -> BTreeMap<String, Option<BTreeSet<String>>> {
    let mut values: BTreeMap<String, Option<BTreeSet<String>>> = BTreeMap::new();
    let mut add = |var: &str, value: Option<&str>| {
        let entry = values
            .entry(var.trim_start_matches('$').to_string())
            .or_insert_with(|| Some(BTreeSet::new()));
        match (entry.as_mut(), value) {
            (Some(set), Some(v)) if !v.contains('$') => {
                set.insert(v.to_string());
            }
            _ => *entry = None,
        }
    };
    for level in std::iter::once(http).chain(model.descendants(http)) {
        let l = &model.levels[level];
        if l.kind == LevelKind::Map {
            let Some(owner) = l.owner else { continue };
            let Some(var) = model.dirs[owner].arg(1) else {
                continue;
            };
            let mut has_default = false;
            for d in &l.statements {
                let dir = &model.dirs[*d];
                match dir.name.value.as_ref() {
                    "hostnames" | "volatile" => {}
                    "include" => add(var, None),
                    name => {
                        has_default |= name == "default";
                        add(var, dir.arg(0));
                    }
                }
            }
            if !has_default {
                add(var, Some(""));
            }
        }
        for d in &l.statements {
            let dir = &model.dirs[*d];
            if dir.is("set") {
                if let Some(var) = dir.arg(0) {
                    add(var, dir.arg(1));
                }
            }
        }
    }
    values
}

/// Expands the variables of `text` with their known values (at most `LIMIT`
/// results); `None` when a variable is unknown or there are too many.
fn expand(text: &str, values: &BTreeMap<String, Option<BTreeSet<String>>>) -> Option<Vec<String>> {
    const LIMIT: usize = 256;
    let mut results = vec![String::new()];
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        for r in results.iter_mut() {
            r.push_str(&rest[..i]);
        }
        let after = &rest[i + 1..];
        let (name, len) = match after.strip_prefix('{') {
            Some(inner) => (&inner[..inner.find('}')?], inner.find('}')? + 2),
            None => {
                let end = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len());
                (&after[..end], end)
            }
        };
        let options = values.get(name)?.as_ref()?;
        let mut next = Vec::new();
        for r in &results {
            for o in options {
                next.push(format!("{r}{o}"));
            }
        }
        if next.len() > LIMIT {
            return None;
        }
        results = next;
        rest = &after[len..];
    }
    for r in results.iter_mut() {
        r.push_str(rest);
    }
    Some(results)
}

/// Where the `proxy_pass` directives with variables of `http` may go.
pub fn possible_targets(model: &Model, http: LevelId) -> Vec<Possible> {
    let mut out = Vec::new();
    let mut values = None;
    for level in model.descendants(http) {
        for d in &model.levels[level].statements {
            let dir = &model.dirs[*d];
            let Some(url) = dir
                .arg(0)
                .filter(|u| dir.is("proxy_pass") && u.contains('$'))
            else {
                continue;
            };
            // A literal authority with a variable URI is a target upkeep
            // rewrites like any other (to `http://NAME$uri`, which finds the
            // upstream block by name).
            if model.http_context(level) != Some(http) || ProxyTarget::parse(url).is_ok() {
                continue;
            }
            let values = values.get_or_insert_with(|| known_values(model, http));
            let possible = match expand(url, values) {
                None => Possible::Anything,
                Some(urls) => {
                    let mut set = BTreeSet::new();
                    for u in urls {
                        let full = if u.contains("://") {
                            u
                        } else {
                            format!("http://{u}")
                        };
                        match ProxyTarget::parse(&full) {
                            Ok(t) if !t.is_unix() => {
                                set.insert((t.host_name(), t.effective_port(), t.port.is_some()));
                            }
                            Ok(_) => {}
                            Err(_) => {} // nginx fails such a request (500) before and after
                        }
                    }
                    Possible::Targets(set)
                }
            };
            out.push(possible);
        }
    }
    out
}

/// May one of `possible` name the implicit upstream of `target`?
pub fn may_name(possible: &[Possible], target: &ProxyTarget) -> bool {
    let host = target.host_name();
    possible.iter().any(|p| match p {
        Possible::Anything => true,
        Possible::Targets(set) => set
            .iter()
            .any(|(h, port, _)| *h == host && *port == target.effective_port()),
    })
}

/// Port-less hosts the targets may name: a new upstream of that name would
/// capture them.
pub fn portless_hosts(possible: &[Possible]) -> BTreeSet<UpstreamName> {
    possible
        .iter()
        .flat_map(|p| match p {
            Possible::Targets(set) => set
                .iter()
                .filter(|(_, _, written)| !written)
                .map(|(h, _, _)| h.clone())
                .collect::<Vec<_>>(),
            Possible::Anything => Vec::new(),
        })
        .collect()
}
