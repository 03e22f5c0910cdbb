//! Upstream names for the backends upkeep pools.
//!
//! The rules, in order:
//! 1. `--name HOST:PORT=NAME` wins.
//! 2. An existing `upstream` whose only server is this backend is reused.
//! 3. Otherwise a host name gives the name: the host with every
//!    character outside `[A-Za-z0-9_]` turned into `_`; when one host is
//!    used with several ports, each name gets `_PORT`. An address (IPv4,
//!    `[IPv6]`) or a unix socket says nothing about the backend, so its
//!    name is read from where it is used ([`readable_base`]): the socket's
//!    file name, else the path of the first location proxying to it, else
//!    its server's first `server_name`, else `backend`. Host-name backends
//!    are named first, so that such a name never takes theirs.
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
use crate::model::{DirId, LevelId, LevelKind, LocationKind, Model};
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
    /// For an address or a unix socket: the name read from where it is
    /// used ([`readable_base`]), which replaces the sanitized host.
    pub readable: Option<String>,
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
            readable: None,
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

    // Host names first: a name read from a location or a server_name for
    // an address must not take the name a host gives its own backend.
    needs_default.sort_by_key(|b| b.readable.is_some());
    // Hosts used with several ports get `_PORT` on every name.
    let mut ports_per_host: BTreeMap<UpstreamName, BTreeSet<Option<u16>>> = BTreeMap::new();
    for b in &needs_default {
        ports_per_host
            .entry(UpstreamName::new(b.host.as_str()))
            .or_default()
            .insert(b.port);
    }
    for backend in needs_default {
        let base = match &backend.readable {
            Some(readable) => readable.clone(),
            None => sanitize(&backend.host),
        };
        let port_suffix = backend.port.map(|p| format!("_{p}")).unwrap_or_default();
        // A readable name is not the host's, so the host's other ports do
        // not make it ambiguous: only a collision adds `_PORT`.
        let several_ports = backend.readable.is_none()
            && ports_per_host[&UpstreamName::new(backend.host.as_str())].len() > 1;
        let mut name = if let (0, Some(given)) = (backend.variant, opts.names.get(&backend.key)) {
            given.clone()
        } else if opts.qualified_names || several_ports {
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

/// The default name of an address or unix-socket backend, read from
/// where it is used; `None` for a host name, which names itself. In order:
///
/// 1. a unix socket's file name without its extension
///    (`unix:/run/app.sock` → `app`, `php8.2-fpm.sock` → `php8_2_fpm`);
/// 2. the path of the location proxying to it (the first in source order,
///    the nearest one around an `if`): its words joined by `_`
///    (`location /api/` → `api`, `= /auth/login` → `auth_login`,
///    `@backend` → `backend`); regex locations say nothing;
/// 3. the first `server_name` of its server that is a name
///    (`app.example.com` → `app_example_com`; not `_`, a regex or `""`);
/// 4. `backend`.
///
/// Each is lower case, made of `[a-z0-9_]`, and starts with a letter (a
/// word that does not, such as `/2024/`, is skipped): a valid upstream name
/// that reads as a word. It depends on the config alone, so a second run
/// reads the same name (and by then the target names the upstream).
pub(crate) fn readable_base(model: &Model, pass: DirId, target: &ProxyTarget) -> Option<String> {
    if !(target.is_unix() || is_address(&target.host)) {
        return None;
    }
    let socket = target.is_unix().then(|| {
        let path = target.host[5..].trim_end_matches(':');
        let file = path.rsplit('/').next().unwrap_or("");
        let stem = file.rsplit_once('.').map_or(file, |(stem, _)| stem);
        words(stem)
    });
    let chain: Vec<LevelId> = model.ancestors(model.dirs[pass].level).collect();
    let location = chain.iter().find_map(|l| {
        let path = model.location_path(*l)?;
        match path.kind {
            LocationKind::Regex => None,
            _ => words(path.path.trim_start_matches('@')),
        }
    });
    let server_name = || {
        let server = chain
            .iter()
            .find(|l| model.levels[**l].kind == LevelKind::Server)?;
        model
            .named(*server, "server_name")
            .into_iter()
            .flat_map(|d| model.dirs[d].args.iter())
            .filter(|a| !a.value.starts_with('~'))
            .find_map(|a| words(a.value.trim_start_matches("*.").trim_end_matches(".*")))
    };
    Some(
        socket
            .flatten()
            .or(location)
            .or_else(server_name)
            .unwrap_or_else(|| "backend".into()),
    )
}

/// An IPv4 address (digits and dots, as nginx's `ngx_inet_addr` reads
/// them) or a bracketed IPv6 one.
fn is_address(host: &str) -> bool {
    host.starts_with('[')
        || (!host.is_empty() && host.bytes().all(|b| b.is_ascii_digit() || b == b'.'))
}

/// The words of `text` (runs of ASCII letters and digits), lower case,
/// joined by `_`, a word repeated right after itself once (gRPC's
/// `/ledger.Ledger/` → `ledger`); `None` when there are none or the
/// first is not led by a letter.
fn words(text: &str) -> Option<String> {
    let mut words: Vec<String> = text
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    words.dedup();
    let first = words.first()?;
    first
        .starts_with(|c: char| c.is_ascii_alphabetic())
        .then(|| words.join("_"))
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

    /// The readable name of an address or socket backend, from a
    /// config's first `*_pass` (`None` for a host name).
    fn readable(conf: &str) -> Option<String> {
        let source = crate::syntax::source::Source::new("t.conf", conf.as_bytes().to_vec());
        let tree = crate::syntax::parse::parse(&source).unwrap();
        let model = Model::build(&source, &tree);
        let pass = model.index.pass[0];
        let target = ProxyTarget::parse(model.dirs[pass].arg(0).unwrap()).unwrap();
        readable_base(&model, pass, &target)
    }

    #[test]
    fn addresses_and_sockets_are_named_where_they_are_used() {
        let at = |location: &str, target: &str| {
            readable(&format!(
                "server {{\n server_name app.example.com www.example.com;\n location {location} {{\n  proxy_pass {target};\n }}\n}}\n"
            ))
        };
        let named = |s: &str| Some(s.to_string());
        // Host names name themselves.
        assert_eq!(at("/api/", "http://gateway:8000"), None);
        assert_eq!(at("/api/", "http://127.0.0.1:3000"), named("api"));
        assert_eq!(at("/api/v1/", "http://10.0.0.5"), named("api_v1"));
        assert_eq!(
            at("= /auth/Login", "http://[::1]:9000"),
            named("auth_login")
        );
        assert_eq!(at("@backend", "http://127.0.0.1:3000"), named("backend"));
        assert_eq!(
            at("/ledger.Ledger/", "http://127.0.0.1:3000"),
            named("ledger")
        );
        // No words, digits first, a regex: the server_name.
        assert_eq!(at("/", "http://127.0.0.1:3000"), named("app_example_com"));
        assert_eq!(
            at("/2024/", "http://127.0.0.1:3000"),
            named("app_example_com")
        );
        assert_eq!(
            at("~ ^/api/", "http://127.0.0.1:3000"),
            named("app_example_com")
        );
        // A socket names itself by its file.
        assert_eq!(at("/", "http://unix:/run/app.sock:"), named("app"));
        assert_eq!(
            at("/", "http://unix:/run/php/php8.2-fpm.sock:/x"),
            named("php8_2_fpm")
        );
        assert_eq!(at("/api/", "http://unix:/run/1.sock"), named("api"));
        // Inside an `if`: the location around it.
        assert_eq!(
            readable("server {\n location /pay/ {\n  if ($x) { proxy_pass http://127.0.0.1:1; }\n }\n}\n"),
            named("pay")
        );
        // server_name: not `_`, not a regex; wildcards lose their `*.`.
        for (names, want) in [
            ("_ app.test", "app_test"),
            ("~^(?<x>.+)$ *.example.org", "example_org"),
            ("\"\"", "backend"),
            ("_", "backend"),
        ] {
            assert_eq!(
                readable(&format!(
                    "server {{\n server_name {names};\n location / {{ proxy_pass http://127.0.0.1:1; }}\n}}\n"
                )),
                named(want),
                "{names}"
            );
        }
        // No server, no location: the fallback.
        assert_eq!(
            readable("http {\n upstream x { server a:1; }\n server { proxy_pass http://127.0.0.1:1; }\n}\n"),
            named("backend")
        );
    }

    /// Readable names go through the one collision rule, after every host
    /// name: a host keeps its name, an address that would take it gets
    /// `_PORT`; two addresses read alike get `NAME`, `NAME_PORT`.
    #[test]
    fn readable_names_never_take_a_hosts_name() {
        let opts = Options {
            keepalive: 32,
            ..Options::default()
        };
        let with = |url: &str, readable: &str| Backend {
            readable: Some(readable.to_string()),
            ..backend(url)
        };
        let backends = vec![
            with("http://127.0.0.1:3000", "api"),
            backend("http://api:8000"),
            with("http://127.0.0.1:3001", "web"),
            with("http://127.0.0.1:3002", "web"),
        ];
        let got = assign(&backends, &[], &BTreeSet::new(), &opts).unwrap();
        let name = |host: &str, port: u16| {
            got[&PoolKey {
                protocol: Protocol::Proxy,
                backend: BackendKey::tcp(host, port),
                variant: 0,
            }]
                .name()
                .to_string()
        };
        assert_eq!(name("api", 8000), "api");
        assert_eq!(name("127.0.0.1", 3000), "api_3000");
        assert_eq!(name("127.0.0.1", 3001), "web");
        assert_eq!(name("127.0.0.1", 3002), "web_3002");
    }

    #[test]
    fn sanitizes_hosts() {
        assert_eq!(sanitize("stack-auth"), "stack_auth");
        assert_eq!(sanitize("10.0.0.1"), "10_0_0_1");
        assert_eq!(sanitize("unix:/run/app.sock"), "_run_app_sock");
        assert_eq!(sanitize("[::1]"), "__1");
    }
}
