//! `*_pass` targets: what nginx makes of `http://HOST:PORT/URI` and of the
//! addresses of `fastcgi_pass`, `grpc_pass` and `memcached_pass`.
//!
//! `proxy_pass`: nginx accepts `http://` and `https://` (any case), then a
//! host name, IPv4 address, `[IPv6]` address or `unix:/path:` socket, an
//! optional port, and an optional URI. The URI is kept byte for byte by
//! every rewrite: it decides how nginx maps the request path (`proxy_pass
//! http://h/;` strips the location prefix, `proxy_pass http://h;` does not).
//!
//! `fastcgi_pass` and `memcached_pass` take `HOST:PORT` or `unix:/path`,
//! `grpc_pass` the same after an optional `grpc://` or `grpcs://`; none of
//! them has a default port or a URI part (`ngx_http_*_pass` in their
//! modules; a port-less `HOST` names an `upstream` block).

use std::ops::Range;

use crate::syntax::word::bare_char;
use crate::vocab::names::{BackendKey, UpstreamName};
use crate::vocab::Protocol;

/// A literal target of a `*_pass` directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyTarget {
    /// Which `*_pass` it is the target of.
    pub protocol: Protocol,
    /// `http`/`https` (proxy), `grpc`/`grpcs` (gRPC, `grpc` also when none
    /// is written), empty for FastCGI and memcached; lowercased.
    pub scheme: String,
    /// The host as written (`gateway`, `10.0.0.1`, `[::1]`, `unix:/run/app.sock`).
    pub host: String,
    /// The port as written, if any.
    pub port: Option<u16>,
    /// Everything after the authority, as written (may be empty).
    pub uri: String,
    /// Byte range of the authority inside the argument's *value*.
    pub authority: Range<usize>,
}

/// Why a `proxy_pass` argument is not a literal target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotLiteral {
    /// No `http://`/`https://` scheme (a variable, or a stream-style `host:port`).
    NoScheme,
    /// The host or port is (or holds) a variable, resolved per request.
    VariableHost,
    /// Something nginx would not accept as an address (bad port, empty host).
    Malformed,
}

impl ProxyTarget {
    /// The target of `protocol`'s `*_pass` directive.
    pub fn parse_as(protocol: Protocol, text: &str) -> Result<ProxyTarget, NotLiteral> {
        if protocol == Protocol::Proxy {
            return ProxyTarget::parse(text);
        }
        if text.contains('\u{FFFD}') {
            return Err(NotLiteral::Malformed);
        }
        let lower = text.get(..8).unwrap_or(text).to_ascii_lowercase();
        let (scheme, skip) = match protocol {
            Protocol::Grpc if lower.starts_with("grpc://") => ("grpc", 7),
            Protocol::Grpc if lower.starts_with("grpcs://") => ("grpcs", 8),
            Protocol::Grpc => ("grpc", 0),
            _ => ("", 0),
        };
        let rest = &text[skip..];
        if rest.contains('$') {
            return Err(NotLiteral::VariableHost);
        }
        // No URI part: nginx calls a `/` after the address an invalid host,
        // and `unix:/path:x` a URI it does not take here.
        if starts_with_unix(rest) {
            let path_ok = rest.len() > 5 && rest[5..].chars().all(|c| c != ':' && bare_char(c));
            if !path_ok {
                return Err(NotLiteral::Malformed);
            }
        } else if rest.contains(['/', '?']) || rest.contains("://") {
            return Err(NotLiteral::Malformed);
        }
        let (host, port) = if starts_with_unix(rest) {
            (rest, None)
        } else {
            split_host_port(rest).ok_or(NotLiteral::Malformed)?
        };
        // gRPC's `:authority` repeats the port as written; `050051` would
        // not read back from the number.
        if port.is_some_and(|p| !rest.ends_with(&format!(":{p}"))) {
            return Err(NotLiteral::Malformed);
        }
        Ok(ProxyTarget {
            protocol,
            scheme: scheme.to_string(),
            host: host.to_string(),
            port,
            uri: String::new(),
            authority: skip..text.len(),
        })
    }

    /// A `proxy_pass` target.
    pub fn parse(url: &str) -> Result<ProxyTarget, NotLiteral> {
        // Bytes that are not UTF-8 arrive here as U+FFFD; such a target
        // cannot be written back faithfully, so it is left alone.
        if url.contains('\u{FFFD}') {
            return Err(NotLiteral::Malformed);
        }
        let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
        let scheme_len = if lower.starts_with("http://") {
            7
        } else if lower.starts_with("https://") {
            8
        } else {
            return Err(NotLiteral::NoScheme);
        };
        let scheme = url[..scheme_len - 3].to_ascii_lowercase();
        let rest = &url[scheme_len..];
        if starts_with_unix(rest) {
            // unix:/path/to.sock[:URI] — the path ends at the next ':'.
            let path_end = rest[5..].find(':').map(|i| i + 5).unwrap_or(rest.len());
            let host = &rest[..path_end];
            if host.contains('$') {
                return Err(NotLiteral::VariableHost);
            }
            if path_end == 5 {
                return Err(NotLiteral::Malformed);
            }
            let uri = rest.get(path_end + 1..).unwrap_or("");
            // A socket path upkeep can write back as it is, and a URI that
            // is a path (`unix:/run/app.sock:/api/`).
            let path_ok = host[5..].chars().all(bare_char);
            if !path_ok || !(uri.is_empty() || uri.starts_with('/')) {
                return Err(NotLiteral::Malformed);
            }
            return Ok(ProxyTarget {
                protocol: Protocol::Proxy,
                scheme,
                host: host.to_string(),
                port: None,
                uri: uri.to_string(),
                authority: scheme_len..scheme_len + (path_end + 1).min(rest.len()),
            });
        }
        // The host part cannot hold '/', '?' or (after an IPv6 bracket) ':'.
        let host_start = if rest.starts_with('[') {
            rest.find(']').ok_or(NotLiteral::Malformed)? + 1
        } else {
            0
        };
        let end = rest[host_start..]
            .find(['/', '?'])
            .map_or(rest.len(), |i| i + host_start);
        // `http://host:port$request_uri`: these variables always start
        // with "/", so the authority ends where they begin.
        let authority_len = match rest[host_start..end].find('$').map(|i| i + host_start) {
            Some(dollar) if dollar > 0 && starts_with_path_variable(&rest[dollar..]) => dollar,
            _ => end,
        };
        let authority = &rest[..authority_len];
        if authority.contains('$') {
            return Err(NotLiteral::VariableHost);
        }
        let (host, port) = split_host_port(authority).ok_or(NotLiteral::Malformed)?;
        Ok(ProxyTarget {
            protocol: Protocol::Proxy,
            scheme,
            host: host.to_string(),
            port,
            uri: rest[authority_len..].to_string(),
            authority: scheme_len..scheme_len + authority_len,
        })
    }

    pub fn is_unix(&self) -> bool {
        starts_with_unix(&self.host)
    }

    /// The port nginx connects to (80/443 when a `proxy_pass` target has
    /// none; the other protocols have no default port).
    pub fn effective_port(&self) -> Option<u16> {
        if self.is_unix() {
            return None;
        }
        match self.protocol {
            Protocol::Proxy => {
                Some(
                    self.port
                        .unwrap_or(if self.scheme == "https" { 443 } else { 80 }),
                )
            }
            _ => self.port,
        }
    }

    /// Whether the target names an `upstream` block rather than an address:
    /// `http://NAME` without a port (nginx looks it up among upstream blocks
    /// first), or a port-less `NAME` for the other protocols (nginx knows
    /// no default port for them, so only an upstream block can be meant).
    pub fn names_upstream(&self) -> bool {
        self.port.is_none() && !self.is_unix()
    }

    /// Whether connections are TLS (`https://`, `grpcs://`).
    pub fn tls(&self) -> bool {
        matches!(self.scheme.as_str(), "https" | "grpcs")
    }

    /// Identifies the backend: host names compare case-insensitively.
    pub fn backend_key(&self) -> BackendKey {
        match self.effective_port() {
            Some(port) => BackendKey::tcp(&self.host, port),
            None => BackendKey::unix(&self.host),
        }
    }

    /// The host as an upstream name (nginx's implicit upstream of a
    /// literal target shares the namespace of `upstream` blocks).
    pub fn host_name(&self) -> UpstreamName {
        UpstreamName::new(self.host.as_str())
    }

    /// gRPC's default `:authority`: the host and port as written, or
    /// `localhost` for a unix socket (`ngx_http_grpc_pass`).
    pub fn grpc_authority(&self) -> String {
        if self.is_unix() {
            return "localhost".into();
        }
        match self.port {
            Some(port) => format!("{}:{port}", self.host),
            None => self.host.clone(),
        }
    }

    /// The backend an upstream `server` entry names (`host[:port]`, port 80
    /// when none is written, as nginx assumes there; `unix:PATH`).
    pub fn server_key(entry: &str) -> BackendKey {
        if starts_with_unix(entry) {
            return BackendKey::unix(entry);
        }
        match ProxyTarget::parse(&format!("http://{entry}")) {
            Ok(t) => t.backend_key(),
            Err(_) => BackendKey::other(entry),
        }
    }

    /// The `server` entry of an upstream block for this backend.
    pub fn server_entry(&self) -> String {
        match self.effective_port() {
            Some(port) => format!("{}:{port}", self.host),
            None => self.host.clone(),
        }
    }

    /// nginx's `$proxy_host` for this target: the host, with the port only
    /// when it is not the scheme's default; "localhost" for a unix socket.
    pub fn proxy_host(&self) -> String {
        if self.is_unix() {
            return "localhost".into();
        }
        let default = if self.scheme == "https" { 443 } else { 80 };
        match self.port {
            Some(port) if port != default => format!("{}:{port}", self.host),
            _ => self.host.clone(),
        }
    }
}

/// `unix:` in any case, without slicing inside a multi-byte character.
pub fn starts_with_unix(text: &str) -> bool {
    text.as_bytes()
        .get(..5)
        .is_some_and(|p| p.eq_ignore_ascii_case(b"unix:"))
}

/// Variables whose value always starts with `/`.
fn starts_with_path_variable(text: &str) -> bool {
    [
        "$request_uri",
        "$uri",
        "$document_uri",
        "${request_uri}",
        "${uri}",
        "${document_uri}",
    ]
    .iter()
    .any(|v| {
        text.starts_with(v)
            && !text[v.len()..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
    })
}

/// `host`, `host:port`, `[v6]`, `[v6]:port`. `None` for an empty host or a
/// port that is not a number nginx accepts.
fn split_host_port(authority: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if authority.starts_with('[') {
        let close = authority.find(']')?;
        let after = &authority[close + 1..];
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return None,
        };
        (&authority[..=close], port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() || host.contains(':') && !host.starts_with('[') {
        return None;
    }
    // Host names, IPv4 and bracketed IPv6 only: anything else (`#web`,
    // `a{b`) is not an address upkeep can write back into a `server` entry.
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_');
    let valid = if let Some(inner) = host.strip_prefix('[') {
        inner.strip_suffix(']').is_some_and(|v6| {
            !v6.is_empty()
                && v6
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() || matches!(c, ':' | '.' | '%'))
        })
    } else {
        host.chars().all(plain)
    };
    if !valid {
        return None;
    }
    let port = match port {
        Some(p) => Some(p.parse::<u16>().ok().filter(|p| *p > 0)?),
        None => None,
    };
    Some((host, port))
}

/// The literal host of any `*_pass` target (`fastcgi_pass app:9000`,
/// `grpc_pass grpc://api:50051`, `uwsgi_pass app`); `None` for variables
/// and unix sockets.
pub fn literal_pass_host(target: &str) -> Option<UpstreamName> {
    let rest = match target.find("://") {
        Some(i) => &target[i + 3..],
        None => target,
    };
    if rest.contains('$') || rest.to_ascii_lowercase().starts_with("unix:") {
        return None;
    }
    let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
    let (host, _) = split_host_port(authority)?;
    Some(UpstreamName::new(host))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_target_forms_nginx_accepts() {
        let t = ProxyTarget::parse("http://gateway:8000/").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.uri.as_str()),
            ("gateway", Some(8000), "/")
        );
        assert_eq!(t.proxy_host(), "gateway:8000");
        let t = ProxyTarget::parse("HTTPS://[::1]:8443$request_uri").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.uri.as_str()),
            ("[::1]", Some(8443), "$request_uri")
        );
        let t = ProxyTarget::parse("http://unix:/run/app.sock:/api/").unwrap();
        assert_eq!(
            (t.host.as_str(), t.uri.as_str()),
            ("unix:/run/app.sock", "/api/")
        );
        assert_eq!(t.proxy_host(), "localhost");
        let t = ProxyTarget::parse("https://billing.svc").unwrap();
        assert_eq!(
            (t.effective_port(), t.proxy_host().as_str()),
            (Some(443), "billing.svc")
        );
        assert_eq!(
            ProxyTarget::parse("http://$backend/"),
            Err(NotLiteral::VariableHost)
        );
        assert_eq!(ProxyTarget::parse("backend:80"), Err(NotLiteral::NoScheme));
        assert_eq!(
            ProxyTarget::parse("http://a:x/"),
            Err(NotLiteral::Malformed)
        );
    }

    #[test]
    fn literal_hosts_of_other_pass_directives() {
        assert_eq!(
            literal_pass_host("app:9000"),
            Some(UpstreamName::new("app"))
        );
        let api = literal_pass_host("grpc://API:50051").unwrap();
        assert!(api.is("api"));
        assert_eq!(api.as_str(), "API");
        assert_eq!(literal_pass_host("unix:/run/php.sock"), None);
        assert_eq!(literal_pass_host("$backend"), None);
    }
}
