//! Upstream names for the backends upkeep pools.
//!
//! The rules, in order:
//! 1. `--name HOST:PORT=NAME` wins.
//! 2. An existing `upstream` whose only server is this backend is reused.
//! 3. Otherwise the name is the host with every character outside
//!    `[A-Za-z0-9_]` turned into `_`; when one host is used with several
//!    ports, each name gets `_PORT`.
//! 4. A name must not collide (nginx compares upstream names
//!    case-insensitively) with an existing upstream, with a name given
//!    earlier, or with the host of any literal `*_pass` target that stays as
//!    it is: `upstream app { }` makes nginx refuse `fastcgi_pass app:9000`
//!    (`upstream "app" may not have port 9000`). A colliding name gets
//!    `_PORT`, then `_PORT_2`, `_PORT_3`, ...
//! 5. Without the main config (`Options::qualified_names`) every default
//!    name gets `_PORT`: a name exactly like a host could collide with, or
//!    re-point, a target in a file upkeep cannot see.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::model::nginx::ExistingUpstream;
use crate::model::target::ProxyTarget;
use crate::rules::api::NewUpstream;
use crate::vocab::names::{BackendKey, UpstreamName};
use crate::vocab::{Options, PlanError, Protocol};

/// A backend as a literal target names it.
#[derive(Debug, Clone)]
pub struct Backend {
    /// The protocol of the `*_pass` directives it serves: each gets its
    /// own pools.
    pub protocol: Protocol,
    /// The key `--name` uses.
    pub key: BackendKey,
    pub host: String,
    pub port: Option<u16>,
    pub server: String,
    /// The connection settings of the locations in this pool.
    pub connection: String,
    /// 0 for the first pool of this backend (in source order), 1, 2, ...
    /// for pools of locations with other connection settings.
    pub variant: usize,
}

impl Backend {
    pub fn of(target: &ProxyTarget, connection: String, variant: usize) -> Backend {
        Backend {
            protocol: target.protocol,
            key: target.backend_key(),
            host: target.host.clone(),
            port: target.effective_port(),
            server: target.server_entry(),
            connection,
            variant,
        }
    }

    /// Identifies the pool: the backend, and which of its pools.
    pub fn pool_key(&self) -> PoolKey {
        PoolKey {
            protocol: self.protocol,
            backend: self.key.clone(),
            variant: self.variant,
        }
    }
}

/// One pool: a protocol, a backend, and which of its pools for that
/// protocol (0 for the first).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PoolKey {
    pub protocol: Protocol,
    pub backend: BackendKey,
    pub variant: usize,
}

#[derive(Debug, Clone)]
pub enum UpstreamChoice {
    New(NewUpstream),
    Reuse(ExistingUpstream),
}

impl UpstreamChoice {
    pub fn name(&self) -> &str {
        match self {
            UpstreamChoice::New(n) => n.name.as_str(),
            UpstreamChoice::Reuse(u) => u.name.as_str(),
        }
    }
}

/// Chooses an upstream for every backend (keyed by backend key).
pub fn assign(
    backends: &[Backend],
    existing: &[ExistingUpstream],
    remaining_hosts: &BTreeSet<UpstreamName>,
    opts: &Options,
) -> Result<BTreeMap<PoolKey, UpstreamChoice>, PlanError> {
    let mut taken: BTreeSet<UpstreamName> = existing
        .iter()
        .map(|u| u.name.clone())
        .chain(remaining_hosts.iter().cloned())
        .collect();
    let mut choices: BTreeMap<PoolKey, UpstreamChoice> = BTreeMap::new();
    let mut needs_default: Vec<&Backend> = Vec::new();
    let mut deferred: HashSet<PoolKey> = HashSet::new();
    // Upstreams with a single server, by that server, in file order.
    let mut single: HashMap<&BackendKey, Vec<&ExistingUpstream>> = HashMap::new();
    for u in existing {
        if let [server] = u.servers.as_slice() {
            single.entry(server).or_default().push(u);
        }
    }
    // An upstream is one pool whoever uses it: one chosen for a pool of
    // another protocol is not free for this one (`claimed`, kept with
    // `choices`, answers without a scan).
    let mut claimed: HashMap<UpstreamName, Protocol> = HashMap::new();
    let used_by_other =
        |claimed: &HashMap<UpstreamName, Protocol>, name: &UpstreamName, p: Protocol| {
            claimed.get(name).is_some_and(|q| *q != p)
        };
    for backend in backends {
        let pool = backend.pool_key();
        if choices.contains_key(&pool) || deferred.contains(&pool) {
            continue;
        }
        if backend.variant > 0 {
            deferred.insert(pool);
            needs_default.push(backend);
            continue;
        }
        if let Some(name) = opts.names.get(&backend.key) {
            let given = UpstreamName::new(name.as_str());
            // The same backend pooled by another protocol already took the
            // name: this pool gets a name of its own.
            if used_by_other(&claimed, &given, backend.protocol) {
                needs_default.push(backend);
                continue;
            }
            if let Some(up) = existing.iter().find(|u| u.name == given) {
                if up.servers == [backend.key.clone()] {
                    claimed.insert(up.name.clone(), backend.protocol);
                    choices.insert(backend.pool_key(), UpstreamChoice::Reuse(up.clone()));
                    continue;
                }
                return Err(PlanError {
                    offset: None,
                    message: format!(
                        "--name {}={name}: an upstream \"{}\" already exists with other servers; choose another name",
                        backend.key, up.name
                    ),
                });
            }
            if remaining_hosts.contains(&given) {
                return Err(PlanError {
                    offset: None,
                    message: format!(
                        "--name {}={name}: \"{name}\" is also the host of a *_pass target that stays as it is, and nginx would refuse it next to an upstream of that name; choose another name",
                        backend.key
                    ),
                });
            }
            taken.insert(given.clone());
            claimed.insert(given.clone(), backend.protocol);
            choices.insert(
                backend.pool_key(),
                UpstreamChoice::New(NewUpstream {
                    name: given,
                    server: backend.server.clone(),
                    keepalive: opts.pool_size(name),
                }),
            );
            continue;
        }
        // Reused only when its locations' connections are like this pool's.
        let reusable = single.get(&backend.key).and_then(|ups| {
            ups.iter().find(|u| {
                u.users.iter().all(|c| *c == backend.connection)
                    && !used_by_other(&claimed, &u.name, backend.protocol)
            })
        });
        if let Some(up) = reusable {
            claimed.insert(up.name.clone(), backend.protocol);
            choices.insert(pool, UpstreamChoice::Reuse((*up).clone()));
            continue;
        }
        deferred.insert(pool);
        needs_default.push(backend);
    }

    // Hosts used with several ports get `_PORT` on every name.
    let mut ports_per_host: BTreeMap<UpstreamName, BTreeSet<Option<u16>>> = BTreeMap::new();
    for b in &needs_default {
        ports_per_host
            .entry(UpstreamName::new(b.host.as_str()))
            .or_default()
            .insert(b.port);
    }
    for backend in needs_default {
        let base = sanitize(&backend.host);
        let port_suffix = backend.port.map(|p| format!("_{p}")).unwrap_or_default();
        let mut name = if let (0, Some(given)) = (backend.variant, opts.names.get(&backend.key)) {
            given.clone()
        } else if opts.qualified_names
            || ports_per_host[&UpstreamName::new(backend.host.as_str())].len() > 1
        {
            format!("{base}{port_suffix}")
        } else {
            base.clone()
        };
        // Further pools of one backend: `_2`, `_3`, ... after its first name
        // (or after the `--name` given for it).
        if backend.variant > 0 {
            let first = opts.names.get(&backend.key).cloned().unwrap_or(name);
            name = format!("{first}_{}", backend.variant + 1);
        }
        let name = first_free(name, &format!("{base}{port_suffix}"), &taken);
        taken.insert(name.clone());
        claimed.insert(name.clone(), backend.protocol);
        choices.insert(
            backend.pool_key(),
            UpstreamChoice::New(NewUpstream {
                keepalive: opts.pool_size(name.as_str()),
                name,
                server: backend.server.clone(),
            }),
        );
    }
    Ok(choices)
}

/// The host with every character outside `[A-Za-z0-9_]` turned into `_`
/// (IPv6 brackets and the `unix:` prefix dropped first).
pub fn sanitize(host: &str) -> String {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let host = if crate::model::target::starts_with_unix(host) {
        &host[5..]
    } else {
        host
    };
    let name: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() {
        "upstream".into()
    } else {
        name
    }
}

/// `preferred` when no upstream has that name yet, else `with_port`, then
/// `with_port_2`, `with_port_3`, ...: the one collision rule for new
/// upstream names (pools named here and `--resolve`'s in `resolve.rs`).
/// Names compare as nginx does, without case.
pub(crate) fn first_free(
    preferred: String,
    with_port: &str,
    taken: &BTreeSet<UpstreamName>,
) -> UpstreamName {
    let free = |name: &str| !taken.contains(&UpstreamName::new(name));
    if free(&preferred) {
        return UpstreamName::new(preferred);
    }
    let mut name = with_port.to_string();
    let mut n = 2;
    while !free(&name) {
        name = format!("{with_port}_{n}");
        n += 1;
    }
    UpstreamName::new(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backend(url: &str) -> Backend {
        Backend::of(&ProxyTarget::parse(url).unwrap(), String::new(), 0)
    }

    #[test]
    fn default_names_and_collisions() {
        let opts = Options {
            keepalive: 32,
            ..Options::default()
        };
        let backends = vec![
            backend("http://stack-auth:8102/"),
            backend("http://stack-auth:8101/"),
            backend("http://app:3000"),
            backend("http://Billing:8080"),
            backend("http://billing:8080"),
        ];
        let remaining: BTreeSet<UpstreamName> = [UpstreamName::new("app")].into();
        let got = assign(&backends, &[], &remaining, &opts).unwrap();
        let name = |k: &str| {
            let (host, port) = k.split_once(':').unwrap();
            let key = PoolKey {
                protocol: Protocol::Proxy,
                backend: BackendKey::tcp(host, port.parse().unwrap()),
                variant: 0,
            };
            got[&key].name().to_string()
        };
        assert_eq!(name("stack-auth:8102"), "stack_auth_8102");
        assert_eq!(name("stack-auth:8101"), "stack_auth_8101");
        assert_eq!(name("app:3000"), "app_3000");
        assert_eq!(name("billing:8080"), "Billing");
        assert_eq!(got.len(), 4);
    }

    #[test]
    fn sanitizes_hosts() {
        assert_eq!(sanitize("stack-auth"), "stack_auth");
        assert_eq!(sanitize("10.0.0.1"), "10_0_0_1");
        assert_eq!(sanitize("unix:/run/app.sock"), "_run_app_sock");
        assert_eq!(sanitize("[::1]"), "__1");
    }
}
