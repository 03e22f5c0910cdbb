//! The parsers of flag values, shared by the command line and
//! `upkeep.toml` (one message for one mistake, wherever it is written).
//! A leaf of `cli`: it knows values, not flags or files.

use crate::vocab::names::BackendKey;
use crate::vocab::tuning;
use crate::vocab::Protocol;

#[derive(Debug, Clone)]
pub enum KeepaliveArg {
    Default(u32),
    Named(String, u32),
}

/// `proxy,fastcgi` → the protocols `--only`/`--skip` name.
pub(crate) fn parse_protocols(text: &str) -> Result<Vec<Protocol>, String> {
    text.split(',')
        .map(|name| {
            Protocol::from_name(name.trim()).ok_or_else(|| {
                let names: Vec<&str> = Protocol::ALL.iter().map(|p| p.as_str()).collect();
                format!(
                    "`{}` is not a protocol upkeep pools: use {}",
                    name.trim(),
                    names.join(", ")
                )
            })
        })
        .collect()
}

/// An `--exclude` glob, checked by the walker's own glob parser.
pub(crate) fn parse_exclude(text: &str) -> Result<String, String> {
    let mut check = ignore::overrides::OverrideBuilder::new("/");
    check
        .add(&format!("!{text}"))
        .map_err(|e| format!("`{text}` is not a glob: {e}"))?;
    Ok(text.to_string())
}

/// An `--ignore-include` glob (`glob` syntax, as nginx's own `include`).
pub(crate) fn parse_include_glob(text: &str) -> Result<glob::Pattern, String> {
    if text.is_empty() {
        return Err("an empty glob matches no include; name the include, e.g. mime.types".into());
    }
    glob::Pattern::new(text).map_err(|e| format!("`{text}` is not a glob: {e}"))
}

pub(crate) fn parse_path_map(
    text: &str,
) -> Result<(std::path::PathBuf, std::path::PathBuf), String> {
    match text.split_once('=') {
        Some((from, to)) if from.starts_with('/') && !to.is_empty() => Ok((from.into(), to.into())),
        _ => Err(format!(
            "`{text}`: expected FROM=TO with an absolute FROM, e.g. /etc/nginx=deploy/nginx"
        )),
    }
}

/// The largest `keepalive N` upkeep writes. nginx allocates every slot of
/// a pool when it loads the config (`ngx_http_upstream_init_keepalive`:
/// about 150 bytes a slot, per upstream), so `keepalive 4294967295` asks for
/// 652 GB and fails, and 100,000,000 takes 15 GB and most of a minute. A
/// pool upkeep writes has one backend address, and from one local address
/// nginx can open at most 65,535 TCP connections to it (one per local
/// port), so a larger pool could never fill; 65,535 slots cost about 10 MB.
pub const MAX_POOL_SIZE: u32 = 65_535;

fn parse_pool_size(text: &str) -> Result<u32, String> {
    match text.parse::<u64>() {
        Ok(n) if n > u64::from(MAX_POOL_SIZE) => Err(format!(
            "`{text}` is larger than {MAX_POOL_SIZE}, the most TCP connections nginx can open from one local address to one backend (one per local port); nginx reserves memory for every slot at start-up"
        )),
        Ok(n) if n >= 1 => Ok(n as u32),
        _ => Err(format!(
            "`{text}` is not a pool size: use a whole number from 1 to {MAX_POOL_SIZE}"
        )),
    }
}

pub(crate) fn parse_keepalive(text: &str) -> Result<KeepaliveArg, String> {
    match text.split_once('=') {
        Some((name, n)) => {
            check_upstream_name(name)?;
            Ok(KeepaliveArg::Named(name.to_string(), parse_pool_size(n)?))
        }
        None => Ok(KeepaliveArg::Default(parse_pool_size(text)?)),
    }
}

fn check_upstream_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not an upstream name upkeep writes: use letters, digits, `_`, `-` and `.`"
        ))
    }
}

/// `HOST:PORT=NAME` → (lowercased `host:port` backend key, NAME).
pub(crate) fn parse_name(text: &str) -> Result<(BackendKey, String), String> {
    let (backend, name) = text.rsplit_once('=').ok_or_else(|| {
        format!("`{text}`: expected HOST:PORT=NAME, e.g. stack-auth:8102=stack_auth_api")
    })?;
    check_upstream_name(name)?;
    if backend.to_ascii_lowercase().starts_with("unix:") {
        return Ok((BackendKey::unix(backend), name.to_string()));
    }
    let (host, port) = backend
        .rsplit_once(':')
        .ok_or_else(|| format!("`{backend}`: expected HOST:PORT (the port is required)"))?;
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("`{port}` is not a port number"))?;
    if host.is_empty() || host.contains(['/', '$', ' ']) {
        return Err(format!("`{host}` is not a host name or address"));
    }
    Ok((BackendKey::tcp(host, port), name.to_string()))
}

pub(crate) fn parse_websocket(text: &str) -> Result<String, String> {
    if !text.starts_with('/') {
        return Err(format!(
            "`{text}` is not a URI path: it must start with `/`"
        ));
    }
    // The path is written into a `location` line as one bare word: these
    // would end it, open a block, quote or comment in nginx's syntax.
    if let Some(c) = text.chars().find(|c| {
        c.is_whitespace()
            || c.is_control()
            || matches!(c, ';' | '{' | '}' | '"' | '\'' | '#' | '\\')
    }) {
        let what = match c {
            c if c.is_whitespace() => "whitespace".to_string(),
            c if c.is_control() => format!("the control character {:?}", c),
            c => format!("`{c}`"),
        };
        return Err(format!(
            "`{text}` holds {what}, which nginx's config syntax would read as more than a path; give the URI path alone, e.g. /api/ws"
        ));
    }
    Ok(text.to_string())
}

/// A `--resolver` value: the arguments of nginx's `resolver` directive
/// (`ngx_resolver_create`): addresses (`IPv4`, `[IPv6]` or a name, with an
/// optional port) and the parameters `valid=TIME`, `ipv4=on|off`,
/// `ipv6=on|off`; at least one address, and not both families off.
pub(crate) fn parse_resolver(text: &str) -> Result<String, String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut addresses = 0;
    let mut off = 0;
    for word in &words {
        if let Some(time) = word.strip_prefix("valid=") {
            if tuning::parse_sec(time).is_none() {
                return Err(format!(
                    "`{word}`: `valid=` takes an nginx time in seconds, e.g. valid=30s"
                ));
            }
        } else if let Some(value) = word
            .strip_prefix("ipv4=")
            .or_else(|| word.strip_prefix("ipv6="))
        {
            match value {
                "on" => {}
                "off" => off += 1,
                _ => return Err(format!("`{word}`: use on or off")),
            }
        } else {
            let (host, port) = match word.strip_prefix('[') {
                Some(v6) => {
                    let (addr, rest) = v6
                        .split_once(']')
                        .ok_or_else(|| format!("`{word}` is not an address"))?;
                    if addr.is_empty()
                        || !addr
                            .chars()
                            .all(|c| c.is_ascii_hexdigit() || matches!(c, ':' | '.'))
                    {
                        return Err(format!("`{word}` is not an address"));
                    }
                    (addr, rest.strip_prefix(':'))
                }
                None => match word.split_once(':') {
                    Some((h, p)) => (h, Some(p)),
                    None => (*word, None),
                },
            };
            let host_ok = !host.is_empty()
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'));
            let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0));
            if !host_ok || !port_ok {
                return Err(format!("`{word}` is not an address: use IPv4, [IPv6] or a name, with an optional :PORT"));
            }
            addresses += 1;
        }
    }
    if addresses == 0 {
        return Err(format!(
            "`{text}` names no DNS server: e.g. 127.0.0.11 (Docker's embedded DNS)"
        ));
    }
    if off == 2 {
        return Err("ipv4=off and ipv6=off together leave nothing to resolve".into());
    }
    Ok(words.join(" "))
}

/// What `--nginx-version` says: the nginx.org core the config runs on, when
/// it is known (`None`: any version, as without the flag).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NginxVersion(pub Option<(u32, u32, u32)>);

/// `X.Y.Z` (nginx.org, whose versions are 0.x and 1.x), or `FORK:VERSION`.
/// A fork's own version number says nothing about the defaults upkeep
/// depends on, so it never switches on what depends on a version:
/// `openresty:A.B.C.D` is nginx A.B.C (OpenResty's version is its nginx
/// core's and one more number, `util/ver`, and its patches keep the core's
/// proxy defaults); `angie:`, `tengine:` and `freenginx:` mean any version.
/// Angie 1.12.0 speaks HTTP/1.1 without `Connection: close` by default but
/// left `keepalive` off in upstream blocks; Tengine 3.2.0 carries nginx
/// 1.31.3's defaults; freenginx (its GitHub mirror, 1.27.2) nginx 1.27's:
/// none of them follows its own number, and no fork pools an implicit
/// upstream. A bare version outside nginx.org's range (`3.2.0`) is an
/// error rather than a fork's number taken for nginx.org's.
pub(crate) fn parse_version(text: &str) -> Result<NginxVersion, String> {
    let (fork, number) = match text.split_once(':') {
        Some((fork, number)) => (fork.to_ascii_lowercase(), number),
        None => (String::from("nginx"), text),
    };
    let parts: Vec<Option<u32>> = number.split('.').map(|p| p.parse().ok()).collect();
    let bad = || {
        format!("`{text}` is not a version: use X.Y.Z, e.g. 1.29.7, or FORK:VERSION for openresty, angie, freenginx or tengine")
    };
    let three = |parts: &[Option<u32>]| match parts {
        [Some(a), Some(b), Some(c)] => Some((*a, *b, *c)),
        [Some(a), Some(b)] => Some((*a, *b, 0)),
        _ => None,
    };
    match fork.as_str() {
        "nginx" => {
            let v = three(&parts).ok_or_else(bad)?;
            if v.0 > 1 {
                return Err(format!(
                    "`{text}` is not an nginx.org version (those are 1.x.y): a fork's own number says nothing about nginx's defaults; write FORK:{number} (openresty, angie, freenginx, tengine)"
                ));
            }
            Ok(NginxVersion(Some(v)))
        }
        "openresty" => match parts.as_slice() {
            [Some(a), Some(b), Some(c), Some(_)] | [Some(a), Some(b), Some(c)] => {
                Ok(NginxVersion(Some((*a, *b, *c))))
            }
            _ => Err(bad()),
        },
        "angie" | "tengine" | "freenginx" => {
            three(&parts).ok_or_else(bad)?;
            Ok(NginxVersion(None))
        }
        _ => Err(format!(
            "`{fork}` is not a fork upkeep knows: use X.Y.Z for nginx.org's nginx, or openresty:, angie:, freenginx:, tengine:"
        )),
    }
}
