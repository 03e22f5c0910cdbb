//! Property tests: generated nginx configs (random nesting of http, server,
//! location and if; random proxy_pass targets, headers, comments, quoting,
//! indentation and line endings) always go through the pipeline with no
//! internal error; the output parses, a second run changes nothing, and
//! every changed line is covered by a reported change. The last is judged
//! against a line diff of input and output computed in the tests
//! (`common::coverage`), not by re-applying upkeep's own edits; the checker
//! is itself shown to fail when a change is left out of the report.

mod common;

use common::coverage;
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

fn options() -> impl Strategy<Value = upkeep::Options> {
    (
        prop::collection::vec(
            prop::sample::select(vec!["/api/ws", "/socket", "/app/live", "/"]),
            0..3,
        ),
        prop::bool::ANY,
        prop::bool::ANY,
        1u32..100,
        // Pool settings (issue 13): none, or into every pool.
        prop::bool::ANY,
    )
        .prop_map(
            |(ws, new_defaults, upstream_host, keepalive, tuned)| upkeep::Options {
                keepalive,
                websocket_paths: ws.into_iter().map(String::from).collect(),
                new_defaults,
                host_header: if upstream_host {
                    upkeep::HostHeaderMode::Upstream
                } else {
                    upkeep::HostHeaderMode::Keep
                },
                tuning: if tuned {
                    upkeep::Tuning {
                        backend_idle_timeout: upkeep::parse_time_flag("5s").ok(),
                        keepalive_requests: upkeep::parse_count_flag("500").ok(),
                        tune_existing: true,
                        ..Default::default()
                    }
                } else {
                    Default::default()
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
        let source = upkeep::Source::new("gen.conf", text.clone().into_bytes());
        prop_assert!(upkeep::parse(&source).is_ok(), "generator wrote invalid nginx:\n{text}");
        // `process` re-parses the output and requires a second plan to be empty.
        let rewrite = upkeep::process(&source, &opts);
        // A refusal by the behaviour check writes nothing (safe); it is a
        // planner gap listed in the issue notes, printed here.
        if let Err(e @ upkeep::FileError::Unsafe { .. }) = &rewrite {
            eprintln!("refused by the behaviour check (nothing written): {e}");
            return Ok(());
        }
        prop_assert!(rewrite.is_ok(), "{}\n{text}", rewrite.err().unwrap());
        let rewrite = rewrite.unwrap();
        // Line endings: every inserted line ends the way the file's lines do.
        let out = String::from_utf8(rewrite.new_text.clone()).unwrap();
        if crlf {
            prop_assert!(!out.replace("\r\n", "").contains('\n'), "a bare LF in a CRLF file:\n{out}");
        } else {
            prop_assert!(!out.contains('\r'));
        }
        // Every line that differs between input and output (an independent
        // line diff) is covered by a reported change, and every byte outside
        // the reported changes' ranges is kept, in order.
        let ranges: Vec<_> = rewrite.changes.iter().map(|c| c.edit.range.clone()).collect();
        let stray = coverage::uncovered(&source.text, &rewrite.new_text, &ranges);
        prop_assert!(
            stray.is_empty(),
            "no reported change covers:\n{}\n--- input\n{text}\n--- output\n{out}",
            stray.iter().map(|s| s.to_string()).collect::<Vec<_>>().join("\n")
        );
        let kept = coverage::kept_outside(&source.text, &rewrite.new_text, &ranges);
        prop_assert!(
            kept.is_ok(),
            "input bytes from offset {} are not in the output, and no reported change covers them:\n--- input\n{text}\n--- output\n{out}",
            kept.unwrap_err()
        );
    }
}

/// The checker can fail: a rewrite whose report leaves out one change (a
/// `proxy_pass` target on a line no other change touches) is caught, at
/// that line.
#[test]
fn coverage_check_catches_a_change_missing_from_the_report() {
    let text = "server {\n    listen 80;\n    location / {\n        proxy_pass http://api:8080;\n        proxy_http_version 1.1;\n        proxy_set_header Connection \"\";\n        proxy_set_header Host $host;\n        proxy_redirect off;\n    }\n}\n";
    let (source, rewrite, ranges) = rewrite_fully_covered(
        text,
        upkeep::Options {
            keepalive: 32,
            ..Default::default()
        },
    );
    // Leave the proxy_pass target change (line 4) out of the report.
    let target = rewrite
        .changes
        .iter()
        .position(|c| c.rule.as_str() == "proxy-pass-target")
        .expect("a proxy_pass target change");
    assert_eq!(
        source.line_col(rewrite.changes[target].edit.range.start).0,
        4
    );
    let mut partial = ranges.clone();
    partial.remove(target);
    let stray = coverage::uncovered(&source.text, &rewrite.new_text, &partial);
    for s in &stray {
        println!("with proxy-pass-target left out, no reported change covers {s}");
    }
    assert_eq!(
        stray,
        [coverage::Uncovered {
            lines: 4..5,
            removed: vec!["        proxy_pass http://api:8080;\n".into()],
            added: vec!["        proxy_pass http://api;\n".into()],
        }]
    );
    let offset = text.find("server {").unwrap();
    assert_eq!(
        coverage::kept_outside(&source.text, &rewrite.new_text, &partial),
        Err(offset),
        "the kept piece holding `:8080` is not in the output"
    );
}

/// Found by the property test: the line diff matched the input's
/// `Connection "upgrade"` line with the copy in the new WebSocket location
/// and so showed `location /auth/ {` as removed and added again. The
/// rewrite is covered all the same; the checker must not depend on how one
/// diff aligns equal lines.
#[test]
fn coverage_check_does_not_depend_on_the_diffs_alignment() {
    let text = "server {\n    listen 8000;\n    location / {\n        proxy_pass http://gateway;\n    }\n    location /auth/ {\n        proxy_pass \"http://stack-auth\";\n        proxy_set_header Connection \"upgrade\";\n    }\n}\n\n";
    rewrite_fully_covered(
        text,
        upkeep::Options {
            keepalive: 1,
            websocket_paths: vec!["/api/ws".into()],
            ..Default::default()
        },
    );
}

/// Rewrites `text` and checks that the full report covers every change;
/// returns the source, the rewrite and the reported ranges.
fn rewrite_fully_covered(
    text: &str,
    options: upkeep::Options,
) -> (upkeep::Source, upkeep::Rewrite, Vec<std::ops::Range<usize>>) {
    let source = upkeep::Source::new("t.conf", text.as_bytes().to_vec());
    let rewrite = upkeep::process(&source, &options).unwrap();
    let ranges: Vec<_> = rewrite
        .changes
        .iter()
        .map(|c| c.edit.range.clone())
        .collect();
    assert_eq!(
        coverage::uncovered(&source.text, &rewrite.new_text, &ranges),
        []
    );
    assert_eq!(
        coverage::kept_outside(&source.text, &rewrite.new_text, &ranges),
        Ok(())
    );
    (source, rewrite, ranges)
}

/// The checker on hand-made texts, with no upkeep involved.
#[test]
#[allow(clippy::single_range_in_vec_init)] // lists of byte and line ranges
fn coverage_check_on_hand_made_texts() {
    const NONE: [std::ops::Range<usize>; 0] = [];
    let uncovered_lines = |old: &str, new: &str, ranges: &[std::ops::Range<usize>]| {
        coverage::uncovered(old.as_bytes(), new.as_bytes(), ranges)
            .into_iter()
            .map(|u| u.lines)
            .collect::<Vec<_>>()
    };
    // A replaced line: covered by a range on it, not by one elsewhere.
    assert_eq!(uncovered_lines("a\nb\nc\n", "a\nB\nc\n", &[2..3]), NONE);
    assert_eq!(uncovered_lines("a\nb\nc\n", "a\nB\nc\n", &[]), [2..3]);
    assert_eq!(uncovered_lines("a\nb\nc\n", "a\nB\nc\n", &[0..1]), [2..3]);
    // An inserted line: covered by an insertion next to it, not by a far one.
    assert_eq!(
        uncovered_lines("a\nb\nc\nd\n", "a\nb\nc\nd\nE\n", &[8..8]),
        NONE
    );
    assert_eq!(
        uncovered_lines("a\nb\nc\nd\n", "a\nb\nc\nd\nE\n", &[0..0]),
        [5..5]
    );
    // A deleted line, and a final newline added.
    assert_eq!(uncovered_lines("a\nb\nc\n", "a\nc\n", &[2..4]), NONE);
    assert_eq!(uncovered_lines("a\nb\nc\n", "a\nc\n", &[4..6]), [2..3]);
    assert_eq!(uncovered_lines("a\nb", "a\nb\n", &[]), [2..3]);
    // An insertion into a run of equal lines may show anywhere in the run
    // (this diff puts it last, before `y`): still covered by an insertion
    // at the run's start ...
    let old = "x {\n}\n}\n}\ny\nz\n";
    let new = "x {\n}\n}\n}\n}\ny\nz\n";
    assert_eq!(
        coverage::hunks(old.as_bytes(), new.as_bytes()),
        [coverage::Hunk {
            old: 4..4,
            new: 4..5
        }]
    );
    assert_eq!(uncovered_lines(old, new, &[4..4]), NONE);
    // ... but not by one past it.
    assert_eq!(uncovered_lines(old, new, &[14..14]), [5..5]);
    // Bytes outside the ranges.
    let kept = |old: &str, new: &str, ranges: &[std::ops::Range<usize>]| {
        coverage::kept_outside(old.as_bytes(), new.as_bytes(), ranges)
    };
    assert_eq!(kept("abc", "aXc", &[1..2]), Ok(()));
    assert_eq!(kept("abc", "aXbc", &[1..1]), Ok(()));
    assert_eq!(kept("abc", "aXc", &[]), Err(0));
    assert_eq!(kept("abcdef", "abYdeZ", &[2..3]), Err(3));
    assert_eq!(kept("abcdef", "abYdeZ", &[2..3, 5..6]), Ok(()));
}
