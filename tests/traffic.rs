//! Proof on real nginx: the same traffic through nginx running the original
//! config and through nginx running upkeep's output, against backends that
//! count connections and record headers.
//!
//! For each scenario: N sequential requests per proxied path plus WebSocket
//! sessions, before and after. Asserts that before, the backend accepts
//! about one connection per request; after, a handful for all of them; that
//! every response is identical; that every header the backend saw before it
//! sees after with the same value (except `Connection`, and `Host` with
//! `--host-header upstream`); and that WebSocket upgrades return 101 and
//! echo frames.
//!
//! Each scenario runs in a private network namespace where the host names
//! resolve to 127.0.0.1 (`common/netns.rs`); backend ports are free
//! loopback ports, substituted for the fixture's `host:port` consistently in
//! the original and in upkeep's output.

mod common;

use std::collections::BTreeMap;

use common::backend::{Backend, SeenRequest};
use common::nginx::Nginx;
use common::*;

const N: usize = 200;

struct Scenario {
    /// The test's own name, to run it again in a private network namespace.
    test: &'static str,
    fixture: &'static str,
    extra_args: &'static [&'static str],
    /// (host, port as written in the fixture)
    backends: &'static [(&'static str, u16)],
    /// (request path, index into `backends` that must serve it)
    paths: &'static [(&'static str, usize)],
    /// (WebSocket path, backend index)
    websockets: &'static [(&'static str, usize)],
    host_may_change: bool,
}

#[derive(Default, Debug)]
struct Run {
    responses: BTreeMap<usize, (u16, String)>,
    seen: BTreeMap<usize, SeenRequest>,
    connections: Vec<usize>,
    requests: Vec<usize>,
    websocket_echoes: Vec<(u16, Vec<String>)>,
}

fn drive(
    nginx_bin: &std::path::Path,
    config: &str,
    hosts: &[String],
    backends: &[Backend],
    s: &Scenario,
) -> Run {
    let before_conns: Vec<usize> = backends.iter().map(Backend::connections).collect();
    let before_reqs: Vec<usize> = backends.iter().map(Backend::requests).collect();
    for b in backends {
        b.stats.seen.lock().unwrap().clear();
    }
    let nginx = Nginx::start(nginx_bin, config, hosts);
    let mut run = Run::default();
    for (p, (path, _)) in s.paths.iter().enumerate() {
        for i in 0..N {
            let seq = p * 100_000 + i;
            let uri = format!("{path}item-{i}?q={i}");
            run.responses.insert(seq, nginx.get(&uri, seq));
        }
    }
    for (path, _) in s.websockets {
        run.websocket_echoes
            .push(nginx.websocket(path, &["hello", "upkeep", "keepalive"]));
    }
    // nginx may still be finishing a response to the backend side; stop it
    // so every connection has been accepted and counted.
    let log = nginx.error_log();
    drop(nginx);
    assert!(!log.contains("[emerg]") && !log.contains("[crit]"), "{log}");
    run.connections = backends
        .iter()
        .zip(&before_conns)
        .map(|(b, c)| b.connections() - c)
        .collect();
    run.requests = backends
        .iter()
        .zip(&before_reqs)
        .map(|(b, r)| b.requests() - r)
        .collect();
    for b in backends {
        for req in b.seen() {
            if let Some(seq) = req.headers.get("x-seq").and_then(|v| v.parse().ok()) {
                run.seen.insert(seq, req);
            }
        }
    }
    run
}

fn run_scenario(s: &Scenario) {
    if !netns::isolated(s.test) {
        return;
    }
    let Some(nginx_bin) = require_nginx() else {
        return;
    };
    let fixture = fixtures()
        .into_iter()
        .find(|f| f.name == s.fixture)
        .expect("fixture exists");
    let mut args = fixture.args.clone();
    args.extend(s.extra_args.iter().map(|a| a.to_string()));
    let config = config_for(&args);
    let source = upkeep::Source::new(s.fixture, fixture.input.clone());
    let rewrite = upkeep::process(&source, &config).expect("upkeep rewrites the fixture");
    let mut before = String::from_utf8(fixture.input.clone()).unwrap();
    let mut after = String::from_utf8(rewrite.new_text).unwrap();
    let backends: Vec<Backend> = s
        .backends
        .iter()
        .map(|(h, p)| Backend::start(&format!("{h}:{p}")))
        .collect();
    for ((host, port), backend) in s.backends.iter().zip(&backends) {
        let from = format!("{host}:{port}");
        let to = format!("{host}:{}", backend.port);
        before = before.replace(&from, &to);
        after = after.replace(&from, &to);
    }
    let hosts = host_names(&format!("{before}\n{after}"));
    let scratch = tempfile::tempdir().unwrap();
    netns::map_hosts(&hosts, scratch.path());

    let old = drive(&nginx_bin, &before, &hosts, &backends, s);
    let new = drive(&nginx_bin, &after, &hosts, &backends, s);

    println!("{}:", s.fixture);
    println!(
        "  {:<24} {:>9} {:>17} {:>16}",
        "backend", "requests", "connections before", "connections after"
    );
    for (i, (host, port)) in s.backends.iter().enumerate() {
        println!(
            "  {:<24} {:>9} {:>17} {:>16}",
            format!("{host}:{port}"),
            new.requests[i],
            old.connections[i],
            new.connections[i]
        );
    }

    let mut failures = Vec::new();
    for (i, (host, port)) in s.backends.iter().enumerate() {
        let ordinary = s.paths.iter().filter(|(_, b)| *b == i).count() * N;
        let sockets = s.websockets.iter().filter(|(_, b)| *b == i).count();
        if ordinary == 0 {
            continue;
        }
        if old.connections[i] < ordinary * 9 / 10 {
            failures.push(format!(
                "{host}:{port}: before, only {} connections for {ordinary} requests",
                old.connections[i]
            ));
        }
        if new.connections[i] > sockets + 4 {
            failures.push(format!(
                "{host}:{port}: after, {} connections for {ordinary} requests and {sockets} WebSocket sessions: the pool does not work",
                new.connections[i]
            ));
        }
    }
    assert_eq!(old.responses.len(), new.responses.len());
    for (seq, response) in &old.responses {
        if response.0 != 200 {
            failures.push(format!("request {seq}: status {} before", response.0));
        }
        if new.responses.get(seq) != Some(response) {
            failures.push(format!(
                "request {seq}: response before {response:?}, after {:?}",
                new.responses.get(seq)
            ));
        }
    }
    for (p, (_, backend)) in s.paths.iter().enumerate() {
        let expected = format!(
            "backend={}:{} ",
            s.backends[*backend].0, s.backends[*backend].1
        );
        if !old.responses[&(p * 100_000)].1.starts_with(&expected) {
            failures.push(format!(
                "path {p} was not served by {expected}: {:?}",
                old.responses[&(p * 100_000)]
            ));
        }
    }
    for (seq, seen_before) in &old.seen {
        let Some(seen_after) = new.seen.get(seq) else {
            failures.push(format!("request {seq} never reached a backend after"));
            continue;
        };
        if (&seen_before.method, &seen_before.uri) != (&seen_after.method, &seen_after.uri) {
            failures.push(format!(
                "request {seq}: backend saw {} {} before, {} {} after",
                seen_before.method, seen_before.uri, seen_after.method, seen_after.uri
            ));
        }
        let ignored = |name: &str| name == "connection" || (s.host_may_change && name == "host");
        let strip = |h: &BTreeMap<String, String>| -> BTreeMap<String, String> {
            h.iter()
                .filter(|(k, _)| !ignored(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        };
        if strip(&seen_before.headers) != strip(&seen_after.headers) {
            failures.push(format!(
                "request {seq}: headers before {:?}\n  after {:?}",
                seen_before.headers, seen_after.headers
            ));
        }
        if let Some(c) = seen_after
            .headers
            .get("connection")
            .filter(|c| !c.is_empty())
        {
            failures.push(format!(
                "request {seq}: ordinary request still sends Connection: {c}"
            ));
        }
        if seen_after.version != "HTTP/1.1" {
            failures.push(format!(
                "request {seq}: nginx spoke {} to the backend after",
                seen_after.version
            ));
        }
    }
    for (i, (when, run)) in [("before", &old), ("after", &new)].iter().enumerate() {
        let _ = i;
        for ((path, _), (status, echoed)) in s.websockets.iter().zip(&run.websocket_echoes) {
            if *status != 101 || echoed != &["hello", "upkeep", "keepalive"] {
                failures.push(format!(
                    "{when}: WebSocket {path}: status {status}, echoed {echoed:?}"
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{}:\n{}",
        s.fixture,
        failures.join("\n")
    );
}

#[test]
fn motivating_frontend() {
    run_scenario(&Scenario {
        test: "motivating_frontend",
        fixture: "01-motivating-frontend",
        extra_args: &[],
        backends: &[
            ("gateway", 8000),
            ("stack-auth", 8102),
            ("stack-auth", 8101),
        ],
        paths: &[("/api/", 0), ("/auth/api/", 1), ("/auth/", 2)],
        websockets: &[("/api/ws", 0), ("/api/ws/chat", 0)],
        host_may_change: false,
    });
}

#[test]
fn inherited_server_headers() {
    run_scenario(&Scenario {
        test: "inherited_server_headers",
        fixture: "02-inheritance-server-headers",
        extra_args: &[],
        backends: &[("orders", 8080), ("users", 8080)],
        paths: &[("/orders/", 0), ("/users/", 1)],
        websockets: &[],
        host_may_change: false,
    });
}

#[test]
fn existing_upstream_with_websocket_map() {
    run_scenario(&Scenario {
        test: "existing_upstream_with_websocket_map",
        fixture: "31-existing-upstream-with-map",
        extra_args: &[],
        backends: &[("app", 8080)],
        paths: &[("/", 0)],
        websockets: &[("/socket", 0)],
        host_may_change: false,
    });
}

#[test]
fn name_collision_with_fastcgi_host() {
    run_scenario(&Scenario {
        test: "name_collision_with_fastcgi_host",
        fixture: "11-name-collides-with-fastcgi-host",
        extra_args: &[],
        backends: &[("app", 3000)],
        paths: &[("/pages/", 0)],
        websockets: &[],
        host_may_change: false,
    });
}

#[test]
fn one_line_blocks_with_pinned_host() {
    run_scenario(&Scenario {
        test: "one_line_blocks_with_pinned_host",
        fixture: "24-one-line-blocks",
        extra_args: &[],
        backends: &[("api", 8080)],
        paths: &[("/a/", 0), ("/b/", 0)],
        websockets: &[],
        host_may_change: false,
    });
}

#[test]
fn one_line_blocks_with_upstream_host() {
    run_scenario(&Scenario {
        test: "one_line_blocks_with_upstream_host",
        fixture: "24-one-line-blocks",
        extra_args: &["--host-header", "upstream"],
        backends: &[("api", 8080)],
        paths: &[("/a/", 0), ("/b/", 0)],
        websockets: &[],
        host_may_change: true,
    });
}

#[test]
fn crlf_and_tabs() {
    run_scenario(&Scenario {
        test: "crlf_and_tabs",
        fixture: "25-crlf-tabs-no-final-newline",
        extra_args: &[],
        backends: &[("api", 8080)],
        paths: &[("/api/", 0)],
        websockets: &[],
        host_may_change: false,
    });
}

#[test]
fn split_with_inherited_headers() {
    run_scenario(&Scenario {
        test: "split_with_inherited_headers",
        fixture: "29-split-with-inherited-headers",
        extra_args: &[],
        backends: &[("app", 8000)],
        paths: &[("/app/", 0)],
        websockets: &[("/app/live", 0)],
        host_may_change: false,
    });
}

/// What the migration buys a running nginx: the motivating fixture before
/// and after, under wrk at several concurrency levels. A benchmark, not a
/// test (it asserts nothing about speed): run it with
/// `scripts/bench-traffic.sh`, which installs wrk and prints the table.
#[test]
#[ignore = "benchmark; run scripts/bench-traffic.sh"]
fn wrk_before_and_after() {
    let Some(nginx_bin) = require_nginx() else {
        return;
    };
    let seconds: u32 = std::env::var("UPKEEP_WRK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let fixture = fixtures()
        .into_iter()
        .find(|f| f.name == "01-motivating-frontend")
        .unwrap();
    let config = config_for(&fixture.args);
    let source = upkeep::Source::new("frontend.conf", fixture.input.clone());
    let after_text =
        String::from_utf8(upkeep::process(&source, &config).unwrap().new_text).unwrap();
    let backend = Backend::start("gateway:8000");
    let replace = |t: &str| t.replace("gateway:8000", &format!("gateway:{}", backend.port));
    let (before, after) = (
        replace(&String::from_utf8_lossy(&fixture.input)),
        replace(&after_text),
    );
    let hosts = host_names(&format!("{before}\n{after}"));
    println!("| config | connections | req/s | p50 | p99 | backend connections opened | errors |");
    println!("|---|---|---|---|---|---|---|");
    let mut results = Vec::new();
    for (label, text) in [("before", &before), ("after", &after)] {
        for connections in [1u32, 16, 64] {
            let nginx = Nginx::start(&nginx_bin, text, &hosts);
            let opened = backend.connections();
            let out = std::process::Command::new("wrk")
                .args([
                    "--latency",
                    "-t",
                    if connections == 1 { "1" } else { "2" },
                    "-c",
                    &connections.to_string(),
                    "-d",
                    &format!("{seconds}s"),
                    &format!("http://127.0.0.1:{}/api/users", nginx.port),
                ])
                .output()
                .expect("wrk is installed (scripts/bench-traffic.sh installs it)");
            let report = String::from_utf8_lossy(&out.stdout).into_owned();
            drop(nginx);
            let opened = backend.connections() - opened;
            let field = |prefix: &str| {
                report
                    .lines()
                    .find(|l| l.trim_start().starts_with(prefix))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .unwrap_or("?")
                    .to_string()
            };
            let errors: u64 = report
                .lines()
                .filter(|l| l.contains("Socket errors") || l.contains("Non-2xx"))
                .flat_map(|l| {
                    l.split(|c: char| !c.is_ascii_digit())
                        .filter_map(|n| n.parse::<u64>().ok())
                })
                .sum();
            let rps = field("Requests/sec:");
            println!(
                "| {label} | {connections} | {rps} | {} | {} | {opened} | {errors} |",
                field("50%"),
                field("99%")
            );
            results.push((
                label,
                connections,
                rps.parse::<f64>().unwrap_or(0.0),
                opened,
            ));
        }
    }
    println!();
    println!("| connections | req/s after / before | backend connections before → after |");
    println!("|---|---|---|");
    for c in [1u32, 16, 64] {
        let b = results
            .iter()
            .find(|r| r.0 == "before" && r.1 == c)
            .unwrap();
        let a = results.iter().find(|r| r.0 == "after" && r.1 == c).unwrap();
        println!("| {c} | {:.2}x | {} → {} |", a.2 / b.2.max(1.0), b.3, a.3);
    }
}
