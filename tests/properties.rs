//! Property tests: generated nginx configs (random nesting of http, server,
//! location and if; random proxy_pass targets, headers, comments, quoting,
//! indentation and line endings) always go through the pipeline with no
//! internal error; the output parses, a second run changes nothing, and
//! every changed line is covered by a reported change.

use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Style {
    indent: &'static str,
    eol: &'static str,
}

fn quote(value: &str, q: u8) -> String {
    match q {
        0 => value.to_string(),
        1 => format!("\"{value}\""),
        _ => format!("'{value}'"),
    }
}

fn target() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec![
            "gateway",
            "api",
            "Billing",
            "billing",
            "stack-auth",
            "10.0.0.7",
            "[::1]",
            "app.svc",
        ]),
        prop::option::of(prop::sample::select(vec![8000u16, 8080, 8101, 80, 443])),
        prop::sample::select(vec!["", "/", "/ws", "/v1/", "$request_uri"]),
        prop::bool::weighted(0.2),
        prop::bool::weighted(0.1),
    )
        .prop_map(|(host, port, uri, https, variable)| {
            if variable {
                return "http://$backend_host".to_string();
            }
            let scheme = if https { "https" } else { "http" };
            let port = port.map(|p| format!(":{p}")).unwrap_or_default();
            let uri = if uri == "$request_uri" && port.is_empty() {
                ""
            } else {
                uri
            };
            format!("{scheme}://{host}{port}{uri}")
        })
}

fn header() -> impl Strategy<Value = (String, String)> {
    prop::sample::select(vec![
        ("Host", "$host"),
        ("X-Real-IP", "$remote_addr"),
        ("Upgrade", "$http_upgrade"),
        ("Connection", "upgrade"),
        ("Connection", ""),
        ("Connection", "$connection_upgrade"),
        ("X-Forwarded-For", "$proxy_add_x_forwarded_for"),
    ])
    .prop_map(|(n, v)| (n.to_string(), v.to_string()))
}

#[derive(Debug, Clone)]
struct Location {
    path: &'static str,
    target: String,
    headers: Vec<(String, String)>,
    version: Option<&'static str>,
    in_if: bool,
    comment: bool,
    quote: u8,
}

fn location() -> impl Strategy<Value = Location> {
    (
        prop::sample::select(vec!["/", "/api/", "/api/ws", "/auth/", "/socket", "/app/"]),
        target(),
        prop::collection::vec(header(), 0..4),
        prop::option::of(prop::sample::select(vec!["1.0", "1.1"])),
        prop::bool::weighted(0.15),
        prop::bool::ANY,
        0u8..3,
    )
        .prop_map(
            |(path, target, headers, version, in_if, comment, quote)| Location {
                path,
                target,
                headers,
                version,
                in_if,
                comment,
                quote,
            },
        )
}

#[derive(Debug, Clone)]
struct Server {
    headers: Vec<(String, String)>,
    version: Option<&'static str>,
    locations: Vec<Location>,
}

fn server() -> impl Strategy<Value = Server> {
    (
        prop::collection::vec(header(), 0..3),
        prop::option::of(prop::sample::select(vec!["1.0", "1.1"])),
        prop::collection::vec(location(), 1..4),
    )
        .prop_map(|(headers, version, locations)| Server {
            headers,
            version,
            locations,
        })
}

fn render(servers: &[Server], main: bool, with_map: bool, style: &Style) -> String {
    let Style { indent, eol } = style;
    let mut out = String::new();
    let base = if main {
        indent.to_string()
    } else {
        String::new()
    };
    if main {
        out.push_str(&format!(
            "events {{{eol}{indent}worker_connections 64;{eol}}}{eol}{eol}http {{{eol}"
        ));
    }
    if with_map {
        out.push_str(&format!("{base}map $http_upgrade $connection_upgrade {{{eol}{base}{indent}default upgrade;{eol}{base}{indent}'' close;{eol}{base}}}{eol}{eol}"));
    }
    for (i, s) in servers.iter().enumerate() {
        let l1 = format!("{base}{indent}");
        let l2 = format!("{l1}{indent}");
        out.push_str(&format!(
            "{base}server {{{eol}{l1}listen {};{eol}",
            8000 + i
        ));
        for (n, v) in &s.headers {
            out.push_str(&format!(
                "{l1}proxy_set_header {n} {};{eol}",
                quote(v, if v.is_empty() { 1 } else { 0 })
            ));
        }
        if let Some(v) = s.version {
            out.push_str(&format!("{l1}proxy_http_version {v};{eol}"));
        }
        let mut seen = Vec::new();
        for loc in &s.locations {
            if seen.contains(&loc.path) {
                continue;
            }
            seen.push(loc.path);
            if loc.comment {
                out.push_str(&format!("{eol}{l1}# location {}{eol}", loc.path));
            }
            out.push_str(&format!("{l1}location {} {{{eol}", loc.path));
            let target = if loc.in_if {
                loc.target
                    .split("://")
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            } else {
                vec![]
            };
            let pass_target = if loc.in_if {
                // proxy_pass in `if` may not have a URI part.
                let rest = &target[1];
                let authority = rest.split(['/', '$']).next().unwrap_or(rest);
                format!("{}://{}", target[0], authority)
            } else {
                loc.target.clone()
            };
            let pass = format!("proxy_pass {};", quote(&pass_target, loc.quote));
            if loc.in_if {
                out.push_str(&format!(
                    "{l2}if ($http_x_canary) {{{eol}{l2}{indent}{pass}{eol}{l2}}}{eol}"
                ));
            } else {
                out.push_str(&format!("{l2}{pass}{eol}"));
            }
            if let Some(v) = loc.version {
                out.push_str(&format!("{l2}proxy_http_version {v};{eol}"));
            }
            for (n, v) in &loc.headers {
                out.push_str(&format!(
                    "{l2}proxy_set_header {n} {};{eol}",
                    quote(
                        v,
                        if v.is_empty() {
                            1 + loc.quote % 2
                        } else {
                            loc.quote % 2
                        }
                    )
                ));
            }
            out.push_str(&format!("{l1}}}{eol}"));
        }
        out.push_str(&format!("{base}}}{eol}{eol}"));
    }
    if main {
        out.push_str(&format!("}}{eol}"));
    }
    out
}

fn options() -> impl Strategy<Value = upkeep::plan::Options> {
    (
        prop::collection::vec(
            prop::sample::select(vec!["/api/ws", "/socket", "/app/live", "/"]),
            0..3,
        ),
        prop::bool::ANY,
        prop::bool::ANY,
        1u32..100,
    )
        .prop_map(
            |(ws, new_defaults, upstream_host, keepalive)| upkeep::plan::Options {
                keepalive,
                websocket_paths: ws.into_iter().map(String::from).collect(),
                new_defaults,
                host_header: if upstream_host {
                    upkeep::plan::HostHeaderMode::Upstream
                } else {
                    upkeep::plan::HostHeaderMode::Keep
                },
                ..Default::default()
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(400)))]

    #[test]
    fn generated_configs_rewrite_safely(
        servers in prop::collection::vec(server(), 1..4),
        main in prop::bool::ANY,
        with_map in prop::bool::ANY,
        tabs in prop::bool::ANY,
        crlf in prop::bool::ANY,
        opts in options(),
    ) {
        let style = Style { indent: if tabs { "\t" } else { "    " }, eol: if crlf { "\r\n" } else { "\n" } };
        let text = render(&servers, main, with_map, &style);
        let source = upkeep::source::Source::new("gen.conf", text.clone().into_bytes());
        prop_assert!(upkeep::parse::parse(&source).is_ok(), "generator wrote invalid nginx:\n{text}");
        // `process` re-parses the output and requires a second plan to be empty.
        let rewrite = upkeep::process(&source, &opts);
        prop_assert!(rewrite.is_ok(), "{}\n{text}", rewrite.err().unwrap());
        let rewrite = rewrite.unwrap();
        // Line endings: every inserted line ends the way the file's lines do.
        let out = String::from_utf8(rewrite.new_text.clone()).unwrap();
        if crlf {
            prop_assert!(!out.replace("\r\n", "").contains('\n'), "a bare LF in a CRLF file:\n{out}");
        } else {
            prop_assert!(!out.contains('\r'));
        }
        // Bytes outside the edits are unchanged: applying the reported
        // changes' edits to the input gives exactly the output.
        let mut edits: Vec<_> = rewrite.changes.iter().map(|c| c.edit.clone()).collect();
        upkeep::edit::normalize(&mut edits).unwrap();
        prop_assert_eq!(upkeep::edit::apply(&source.text, &edits), rewrite.new_text);
    }
}
