//! A small reader for nginx config text, enough for the tests to find what
//! to exercise and where: `server` blocks and their names, locations,
//! `listen` directives, backend targets. It follows nginx's tokenizer
//! (words, quotes with backslash escapes, `#` comments, `;`, `{ }`) and keeps
//! byte spans so that a test can edit the text where it found something.
//! It is not upkeep's parser on purpose: the tests must not trust the code
//! they check.

use std::ops::Range;

#[derive(Debug, Clone)]
pub struct Directive {
    pub name: String,
    /// Unquoted, unescaped; bytes that are not UTF-8 become U+FFFD.
    pub args: Vec<String>,
    /// From the first byte of the name to the `;` or the closing `}`.
    pub span: Range<usize>,
    /// For a block: the byte right after its `{`.
    pub body_start: Option<usize>,
    pub block: Vec<Directive>,
}

impl Directive {
    pub fn is_block(&self) -> bool {
        self.body_start.is_some()
    }

    pub fn arg(&self, i: usize) -> &str {
        self.args.get(i).map(String::as_str).unwrap_or("")
    }
}

/// The directives of `text`, as a tree. Unbalanced input gives what could
/// be read (the tests only read configs nginx accepts).
pub fn parse(text: &[u8]) -> Vec<Directive> {
    // The open blocks, outermost first, each with its children so far; the
    // first is the file itself.
    let mut open: Vec<(Option<Directive>, Vec<Directive>)> = vec![(None, Vec::new())];
    let mut words: Vec<String> = Vec::new();
    let mut start = None;
    let mut i = 0;
    while i < text.len() {
        let c = text[i];
        match c {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'#' => {
                while i < text.len() && text[i] != b'\n' {
                    i += 1;
                }
            }
            b';' | b'{' => {
                let span_start = start.take().unwrap_or(i);
                let mut all = std::mem::take(&mut words).into_iter();
                let d = Directive {
                    name: all.next().unwrap_or_default(),
                    args: all.collect(),
                    span: span_start..i + 1,
                    body_start: (c == b'{').then_some(i + 1),
                    block: Vec::new(),
                };
                if c == b';' {
                    open.last_mut().unwrap().1.push(d);
                } else {
                    open.push((Some(d), Vec::new()));
                }
                i += 1;
            }
            b'}' => {
                words.clear();
                start = None;
                if open.len() > 1 {
                    let (d, children) = open.pop().unwrap();
                    let mut d = d.unwrap();
                    d.block = children;
                    d.span.end = i + 1;
                    open.last_mut().unwrap().1.push(d);
                }
                i += 1;
            }
            _ => {
                start.get_or_insert(i);
                let (word, next) = read_word(text, i);
                words.push(word);
                i = next;
            }
        }
    }
    open.swap_remove(0).1
}

/// One word from `at`: quoted or bare; returns it and where it ends. As in
/// nginx, a backslash escapes the next character (which then ends nothing)
/// and goes away only before a quote, a backslash, `t`, `r` or `n`.
fn read_word(text: &[u8], at: usize) -> (String, usize) {
    let mut out = Vec::new();
    let mut i = at;
    let quote = matches!(text[i], b'"' | b'\'').then(|| text[i]);
    if quote.is_some() {
        i += 1;
    }
    while i < text.len() {
        let c = text[i];
        if c == b'\\' && i + 1 < text.len() {
            match text[i + 1] {
                e @ (b'"' | b'\'' | b'\\') => out.push(e),
                b't' => out.push(b'\t'),
                b'r' => out.push(b'\r'),
                b'n' => out.push(b'\n'),
                e => out.extend_from_slice(&[c, e]),
            }
            i += 2;
            continue;
        }
        let ends = match quote {
            Some(q) => c == q,
            None => match c {
                b' ' | b'\t' | b'\r' | b'\n' | b';' => true,
                // `${var}` keeps its braces in the word.
                b'{' => out.last() != Some(&b'$'),
                b'}' => !out.contains(&b'{'),
                _ => false,
            },
        };
        if ends {
            // A closing quote belongs to the word.
            return (
                String::from_utf8_lossy(&out).into_owned(),
                i + usize::from(quote.is_some()),
            );
        }
        out.push(c);
        i += 1;
    }
    (String::from_utf8_lossy(&out).into_owned(), i)
}

/// Every directive with the names of the blocks around it, outermost
/// first, in source order.
pub fn walk(tree: &[Directive]) -> Vec<(Vec<&str>, &Directive)> {
    fn go<'a>(
        list: &'a [Directive],
        ctx: &mut Vec<&'a str>,
        out: &mut Vec<(Vec<&'a str>, &'a Directive)>,
    ) {
        for d in list {
            out.push((ctx.clone(), d));
            if d.is_block() {
                ctx.push(&d.name);
                go(&d.block, ctx, out);
                ctx.pop();
            }
        }
    }
    let mut out = Vec::new();
    go(tree, &mut Vec::new(), &mut out);
    out
}

/// The `server` blocks of the http context (a main config's `http { }`, or
/// the top level of a snippet), in source order.
pub fn http_servers(tree: &[Directive]) -> Vec<&Directive> {
    walk(tree)
        .into_iter()
        .filter(|(ctx, d)| d.name == "server" && d.is_block() && ctx.iter().all(|c| *c == "http"))
        .map(|(_, d)| d)
        .collect()
}

/// Whether the config has a `stream { }` context.
pub fn has_stream(tree: &[Directive]) -> bool {
    tree.iter().any(|d| d.name == "stream" && d.is_block())
}

/// Whether the config is a main config (it has `http`, `events` or
/// `stream` at the top) rather than a snippet included from `http`.
pub fn is_main(tree: &[Directive]) -> bool {
    tree.iter()
        .any(|d| matches!(d.name.as_str(), "http" | "events" | "stream"))
}

/// The first name of a server that a client can send as `Host`: not `_`,
/// empty, a wildcard, a regex or a variable.
pub fn plain_server_name(server: &Directive) -> Option<String> {
    server
        .block
        .iter()
        .filter(|d| d.name == "server_name")
        .flat_map(|d| d.args.iter())
        .find(|n| {
            !n.is_empty()
                && *n != "_"
                && !n.starts_with('~')
                && !n.starts_with('.')
                && !n.contains(['*', '$'])
        })
        .cloned()
}

/// How a location matches.
#[derive(Debug, Clone, PartialEq)]
pub enum Match {
    Prefix(String),
    Exact(String),
    /// Regex or named: no path to derive requests from.
    Other(String),
}

/// The locations of a server, nested ones after their parent, in source
/// order.
pub fn locations(server: &Directive) -> Vec<(&Directive, Match)> {
    fn go<'a>(list: &'a [Directive], out: &mut Vec<(&'a Directive, Match)>) {
        for d in list.iter().filter(|d| d.name == "location" && d.is_block()) {
            let m = match (d.arg(0), d.args.len()) {
                ("=", 2) => Match::Exact(d.arg(1).to_string()),
                ("^~", 2) => Match::Prefix(d.arg(1).to_string()),
                (p, 1) if p.starts_with('/') => Match::Prefix(p.to_string()),
                _ => Match::Other(d.args.join(" ")),
            };
            out.push((d, m));
            go(&d.block, out);
        }
    }
    let mut out = Vec::new();
    go(&server.block, &mut out);
    out
}

/// A backend address as a config names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `host` as written (a name, an IPv4 address or `[IPv6]`); `port` as
    /// written, `None` when the config relies on the default port.
    Tcp {
        host: String,
        port: Option<u16>,
    },
    Unix {
        path: String,
    },
}

/// One place a config names a backend.
#[derive(Debug, Clone)]
pub struct Target {
    pub endpoint: Endpoint,
    /// `https://` (or `grpcs://`).
    pub tls: bool,
    /// What the backend speaks, by the `*_pass` that names it (or names
    /// the upstream block it is a `server` of): `proxy_pass` and map
    /// values are HTTP.
    pub protocol: Protocol,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Http,
    FastCgi,
    Grpc,
    Memcached,
}

impl Protocol {
    fn of(directive: &str) -> Protocol {
        match directive {
            "fastcgi_pass" => Protocol::FastCgi,
            "grpc_pass" => Protocol::Grpc,
            "memcached_pass" => Protocol::Memcached,
            _ => Protocol::Http,
        }
    }
}

/// Backend addresses named in the http context: `*_pass` targets, `server`
/// entries of `upstream` blocks and `host:port` values of `map` blocks.
/// A port-less `proxy_pass http://NAME` naming one of `upstreams` is not a
/// backend, and neither is a target with a variable in its host.
pub fn targets(tree: &[Directive], upstreams: &[String]) -> Vec<Target> {
    // The protocol of each upstream block: that of a `*_pass` naming it.
    let mut spoken: Vec<(String, Protocol)> = Vec::new();
    for (_, d) in walk(tree) {
        if d.name.ends_with("_pass") && !d.is_block() {
            if let Some((Endpoint::Tcp { host, port: None }, _)) = pass_target(d.arg(0)) {
                spoken.push((host.to_ascii_lowercase(), Protocol::of(&d.name)));
            }
        }
    }
    let mut out = Vec::new();
    let mut upstream: Option<String> = None;
    for (ctx, d) in walk(tree) {
        if d.name == "upstream" && d.is_block() {
            upstream = Some(d.arg(0).to_ascii_lowercase());
        }
        if ctx.contains(&"stream") || ctx.contains(&"mail") || d.is_block() {
            continue;
        }
        // Only proxy_pass and upstream servers have a default port.
        let (found, port_optional) = if d.name.ends_with("_pass") {
            (pass_target(d.arg(0)), d.name == "proxy_pass")
        } else if d.name == "server" && ctx.last() == Some(&"upstream") {
            (pass_target(d.arg(0)).map(|(e, _)| (e, false)), true)
        } else if ctx.last() == Some(&"map") && d.args.len() == 1 {
            (pass_target(d.arg(0)), false)
        } else {
            continue;
        };
        let Some((endpoint, tls)) = found else {
            continue;
        };
        if let Endpoint::Tcp { host, port: None } = &endpoint {
            let names_upstream = upstreams.iter().any(|u| u.eq_ignore_ascii_case(host));
            if !port_optional || (names_upstream && ctx.last() != Some(&"upstream")) {
                continue;
            }
        }
        let protocol = if d.name == "server" {
            let name = upstream.as_deref().unwrap_or("");
            spoken
                .iter()
                .find(|(n, _)| n == name)
                .map_or(Protocol::Http, |(_, p)| *p)
        } else {
            Protocol::of(&d.name)
        };
        out.push(Target {
            endpoint,
            tls,
            protocol,
        });
    }
    out
}

/// Names of the `upstream` blocks.
pub fn upstream_names(tree: &[Directive]) -> Vec<String> {
    walk(tree)
        .into_iter()
        .filter(|(_, d)| d.name == "upstream" && d.is_block())
        .map(|(_, d)| d.arg(0).to_string())
        .collect()
}

/// The backend a `*_pass` value, an upstream `server` or a map value names:
/// `[scheme://]host[:port][/uri]` or `[scheme://]unix:/path[:uri]`. `None`
/// for variables in the host and for anything else.
pub fn pass_target(value: &str) -> Option<(Endpoint, bool)> {
    let lower = value.to_ascii_lowercase();
    let (rest, tls) = match lower.find("://") {
        Some(i) => (&value[i + 3..], matches!(&lower[..i], "https" | "grpcs")),
        None => (value, false),
    };
    if rest
        .get(..5)
        .is_some_and(|p| p.eq_ignore_ascii_case("unix:"))
    {
        let path = rest[5..].split(':').next().unwrap_or("");
        return (!path.is_empty() && !path.contains('$')).then(|| {
            (
                Endpoint::Unix {
                    path: path.to_string(),
                },
                tls,
            )
        });
    }
    let authority = rest.split(['/', '?', '$']).next().unwrap_or("");
    // `http://$backend`, `http://app-$tenant:8080`: resolved per request.
    // (`http://pages:8000$request_uri` has a literal host and port.)
    if rest[authority.len()..].starts_with('$') && !authority.contains(':') {
        return None;
    }
    let (host, port) = if authority.starts_with('[') {
        let end = authority.find(']')?;
        let port = authority[end + 1..].strip_prefix(':');
        (&authority[..=end], port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let port = match port {
        Some(p) => Some(p.parse::<u16>().ok()?),
        None => None,
    };
    let name_like = host.starts_with('[')
        || (!host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')));
    name_like.then(|| {
        (
            Endpoint::Tcp {
                host: host.to_string(),
                port,
            },
            tls,
        )
    })
}

/// Whether a location (or an `if` inside it) proxies to a target whose host
/// is a variable.
pub fn proxies_to_variable(location: &Directive) -> bool {
    walk(std::slice::from_ref(location))
        .into_iter()
        .any(|(ctx, d)| {
            d.name == "proxy_pass"
                && !ctx.iter().skip(1).any(|c| *c == "location")
                && d.arg(0).contains('$')
                && pass_target(d.arg(0)).is_none()
        })
}

/// Replaces byte ranges of `text` (non-overlapping, any order).
pub fn splice(text: &[u8], mut edits: Vec<(Range<usize>, Vec<u8>)>) -> Vec<u8> {
    edits.sort_by_key(|(r, _)| r.start);
    let mut out = Vec::with_capacity(text.len());
    let mut at = 0;
    for (range, with) in edits {
        out.extend_from_slice(&text[at..range.start]);
        out.extend_from_slice(&with);
        at = range.end;
    }
    out.extend_from_slice(&text[at..]);
    out
}

/// Gives each http `server` its own loopback port: its first `listen`
/// becomes `listen 127.0.0.1:PORT;`, other `listen`s go, and a server
/// without one gets one. `stream` servers keep theirs. `ports[i]` is for
/// the i-th server of [`http_servers`].
pub fn listen_on(text: &[u8], ports: &[u16]) -> Vec<u8> {
    let tree = parse(text);
    let mut edits = Vec::new();
    for (server, port) in http_servers(&tree).into_iter().zip(ports) {
        let listen = format!("listen 127.0.0.1:{port};").into_bytes();
        let mut listens = server.block.iter().filter(|d| d.name == "listen");
        match listens.next() {
            Some(first) => edits.push((first.span.clone(), listen)),
            None => {
                let at = server.body_start.unwrap();
                edits.push((at..at, [b" ".as_slice(), &listen, b" "].concat()));
            }
        }
        edits.extend(listens.map(|d| (d.span.clone(), Vec::new())));
    }
    splice(text, edits)
}

#[test]
fn reads_words_quotes_comments_and_blocks() {
    let text = b"# c\nserver { listen 80; # x\n location '/a b/' { proxy_pass http://h:1/$uri; } location ~ ^/x${y}\\.$ { } }\n";
    let tree = parse(text);
    let servers = http_servers(&tree);
    assert_eq!(servers.len(), 1);
    let locs = locations(servers[0]);
    assert_eq!(locs[0].1, Match::Prefix("/a b/".into()));
    assert_eq!(locs[1].1, Match::Other("~ ^/x${y}\\.$".into()));
    assert_eq!(
        pass_target(&locs[0].0.block[0].args[0]),
        Some((
            Endpoint::Tcp {
                host: "h".into(),
                port: Some(1)
            },
            false
        ))
    );
    let moved = listen_on(text, &[9]);
    assert!(String::from_utf8_lossy(&moved).contains("server { listen 127.0.0.1:9; # x"));
}

#[test]
fn reads_targets() {
    let t = |v: &str| pass_target(v);
    assert_eq!(
        t("https://[::1]:18443/"),
        Some((
            Endpoint::Tcp {
                host: "[::1]".into(),
                port: Some(18443)
            },
            true
        ))
    );
    assert_eq!(
        t("http://unix:/run/app.sock:/"),
        Some((
            Endpoint::Unix {
                path: "/run/app.sock".into()
            },
            false
        ))
    );
    assert_eq!(
        t("http://pages:8000$request_uri"),
        Some((
            Endpoint::Tcp {
                host: "pages".into(),
                port: Some(8000)
            },
            false
        ))
    );
    assert_eq!(t("http://$tenant"), None);
    assert_eq!(
        t("http://billing.svc"),
        Some((
            Endpoint::Tcp {
                host: "billing.svc".into(),
                port: None
            },
            false
        ))
    );
}

/// The config nginx reads from the main config `main`: every `include`
/// replaced by the files it names, in place, the way `ngx_conf_include`
/// parses them in the including context. A relative name is taken from
/// `prefix` (nginx's conf prefix, the main config's directory); an absolute
/// one through the first of `maps` (`FROM`, `TO`) whose `FROM` it starts
/// with; a name with `*`, `?` or `[` is a glob, expanded as `glob(3)` does
/// in the C locale (whole paths sorted by bytes, no dot files), and may
/// match nothing; any other name must exist.
///
/// nginx's `include` works on tokens, so text spliced in at the directive
/// (with a line break either side, which ends any comment) is the same
/// configuration. Written here, apart from upkeep's own include handling,
/// so that the tests do not trust the code they check.
pub fn flatten(
    main: &std::path::Path,
    prefix: &std::path::Path,
    maps: &[(std::path::PathBuf, std::path::PathBuf)],
) -> Result<Vec<u8>, String> {
    use std::path::{Path, PathBuf};
    fn files(
        name: &str,
        prefix: &Path,
        maps: &[(PathBuf, PathBuf)],
    ) -> Result<Vec<PathBuf>, String> {
        let written = Path::new(name);
        let full = if written.is_absolute() {
            maps.iter()
                .find_map(|(from, to)| written.strip_prefix(from).ok().map(|rest| to.join(rest)))
                .unwrap_or_else(|| written.to_path_buf())
        } else {
            prefix.join(written)
        };
        if !name.contains(['*', '?', '[']) {
            return Ok(vec![full]);
        }
        let options = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: true,
        };
        let mut found: Vec<PathBuf> = glob::glob_with(&full.to_string_lossy(), options)
            .map_err(|e| format!("include {name}: {e}"))?
            .flatten()
            .filter(|p| !p.is_dir())
            .collect();
        found.sort_by(|a, b| {
            use std::os::unix::ffi::OsStrExt;
            a.as_os_str().as_bytes().cmp(b.as_os_str().as_bytes())
        });
        Ok(found)
    }
    fn expand(
        path: &Path,
        prefix: &Path,
        maps: &[(PathBuf, PathBuf)],
        depth: usize,
    ) -> Result<Vec<u8>, String> {
        if depth > 32 {
            return Err(format!(
                "{}: includes nest too deep (a cycle?)",
                path.display()
            ));
        }
        let text = std::fs::read(path).map_err(|e| format!("include {}: {e}", path.display()))?;
        let tree = parse(&text);
        let mut edits = Vec::new();
        for (_, d) in walk(&tree) {
            if d.name != "include" || d.is_block() {
                continue;
            }
            let mut with = Vec::new();
            for file in files(d.arg(0), prefix, maps)? {
                with.push(b'\n');
                with.extend(expand(&file, prefix, maps, depth + 1)?);
                with.push(b'\n');
            }
            edits.push((d.span.clone(), with));
        }
        Ok(splice(&text, edits))
    }
    expand(main, prefix, maps, 0)
}

#[test]
fn flattens_includes_as_nginx_reads_them() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let write = |name: &str, text: &str| {
        let path = root.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write(
        "nginx.conf",
        "http { include s/*.conf; include /etc/nginx/p; } # end",
    );
    // Byte order: `B` sorts before `a`; a dot file is not matched by `*`.
    write(
        "s/a.conf",
        "server { listen 1; } # no newline after this comment",
    );
    write("s/B.conf", "server { listen 2; include s/l; }");
    write("s/.hidden.conf", "server { listen 3; }");
    write("s/l", "location / { }");
    write("mapped/p", "proxy_set_header A b;");
    let maps = [("/etc/nginx".into(), root.join("mapped"))];
    let flat = flatten(&root.join("nginx.conf"), root, &maps).unwrap();
    let tree = parse(&flat);
    let listens: Vec<&str> = walk(&tree)
        .into_iter()
        .filter(|(_, d)| d.name == "listen")
        .map(|(_, d)| d.arg(0))
        .collect();
    assert_eq!(listens, ["2", "1"]);
    let http = &tree[0];
    assert_eq!(http.block.len(), 3, "{}", String::from_utf8_lossy(&flat));
    assert_eq!(http.block[0].block[1].name, "location");
    assert_eq!(http.block[2].name, "proxy_set_header");
    // A file that does not exist is an error, as it is for nginx.
    write("nginx.conf", "http { include missing; }");
    assert!(flatten(&root.join("nginx.conf"), root, &[]).is_err());
}
