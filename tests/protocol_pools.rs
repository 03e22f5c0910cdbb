//! Groundwork for pooling `fastcgi_pass`, `memcached_pass` and `grpc_pass`
//! (issue 13), measured on real nginx: hand-written configs, no upkeep
//! involved yet. Each test starts nginx on a config, sends the same
//! sequential requests, and counts the connections the backend accepted.
//! The expected counts are facts about nginx, measured here and explained
//! from its source in `notes/issue13-nginx-semantics.md`:
//!
//! - FastCGI: nginx reuses a connection only when the upstream has a
//!   `keepalive` pool *and* `fastcgi_keep_conn on` applies to the location;
//!   either one alone gives one connection per request (with
//!   `fastcgi_buffering off` nginx would reuse without the flag, but only
//!   with an application that ignores it and keeps the connection).
//! - memcached: an upstream with `keepalive` reuses one connection for hits
//!   and misses alike; `memcached_pass` to an address does not.
//! - gRPC: an upstream with `keepalive` reuses one HTTP/2 connection, one
//!   stream after another (ids 1, 3, 5, ...); `grpc_pass` to an address
//!   opens one per call. Nothing else is needed in the location.
//!
//! Each test runs in a private network namespace (`common/netns.rs`), with
//! the backends on loopback ports or unix sockets there.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::fastcgi::{self, FastCgi, FcgiRequest};
use common::memcached::Memcached;
use common::nginx::{send, Nginx};
use common::*;

/// Sequential requests per case: enough that "one per request" and "one
/// for all" cannot be confused.
const N: usize = 20;

/// One client request, sent over a fresh client connection.
struct Request {
    seq: usize,
    method: &'static str,
    path: String,
    body: Option<String>,
}

/// `method path` with `X-Seq: seq` (and `body`, as text/plain) to nginx on
/// 127.0.0.1:`port`, over a fresh client connection (`common::nginx::send`:
/// `Connection: close`, so that the client side never reuses anything).
/// Returns (status, body without chunked framing); status 0 and the reason
/// when the exchange fails.
fn http(port: u16, r: &Request) -> (u16, String) {
    let mut headers = vec![("X-Seq".to_string(), r.seq.to_string())];
    if r.body.is_some() {
        headers.push(("Content-Type".into(), "text/plain".into()));
    }
    let response = send(
        port,
        r.method,
        "app.test",
        &r.path,
        &headers,
        r.body.as_deref(),
    );
    (
        response.status,
        String::from_utf8_lossy(&response.body).into_owned(),
    )
}

/// What every case needs: to run inside a private network namespace
/// (`None` outside it: `netns::isolated` has run the test in one, or
/// skipped it visibly), nginx, and a scratch directory with the hosts
/// mapped.
fn prepared(test: &str) -> Option<(std::path::PathBuf, tempfile::TempDir)> {
    if !netns::isolated(test) {
        return None;
    }
    let nginx = require_nginx()?;
    let scratch = tempfile::tempdir().unwrap();
    netns::map_hosts(&[], scratch.path());
    Some((nginx, scratch))
}

/// Error-log lines at `error` level or worse.
fn log_errors(log: &str) -> Vec<String> {
    log.lines()
        .filter(|l| {
            ["[error]", "[crit]", "[alert]", "[emerg]"]
                .iter()
                .any(|level| l.contains(level))
        })
        .map(String::from)
        .collect()
}

// ---------------------------------------------------------------- FastCGI

/// What nginx's `fastcgi_params` file sets, written out so that the test
/// does not depend on a file of the system's nginx package, plus
/// `SCRIPT_FILENAME`. `REMOTE_PORT` (the client's ephemeral port) and
/// `SERVER_PORT` (each nginx run listens on a free port of its own) are the
/// two that legitimately differ between runs; everything else must not.
const FASTCGI_PARAMS: &str = "
        fastcgi_param  QUERY_STRING       $query_string;
        fastcgi_param  REQUEST_METHOD     $request_method;
        fastcgi_param  CONTENT_TYPE       $content_type;
        fastcgi_param  CONTENT_LENGTH     $content_length;
        fastcgi_param  SCRIPT_NAME        $fastcgi_script_name;
        fastcgi_param  SCRIPT_FILENAME    $document_root$fastcgi_script_name;
        fastcgi_param  REQUEST_URI        $request_uri;
        fastcgi_param  DOCUMENT_URI       $document_uri;
        fastcgi_param  DOCUMENT_ROOT      $document_root;
        fastcgi_param  SERVER_PROTOCOL    $server_protocol;
        fastcgi_param  REQUEST_SCHEME     $scheme;
        fastcgi_param  HTTPS              $https if_not_empty;
        fastcgi_param  GATEWAY_INTERFACE  CGI/1.1;
        fastcgi_param  SERVER_SOFTWARE    nginx/$nginx_version;
        fastcgi_param  REMOTE_ADDR        $remote_addr;
        fastcgi_param  REMOTE_PORT        $remote_port;
        fastcgi_param  SERVER_ADDR        $server_addr;
        fastcgi_param  SERVER_PORT        $server_port;
        fastcgi_param  SERVER_NAME        $server_name;
        fastcgi_param  REDIRECT_STATUS    200;
";

/// Params whose values differ between two runs of the same request for
/// reasons that have nothing to do with pooling (see [`FASTCGI_PARAMS`]).
const PARAMS_THAT_DIFFER: &[&str] = &["REMOTE_PORT", "SERVER_PORT"];

/// GETs with query strings, and every fourth a POST with a body, so that
/// stdin crosses pooled connections too.
fn fastcgi_requests() -> Vec<Request> {
    (0..N)
        .map(|i| {
            let post = i % 4 == 3;
            Request {
                seq: i,
                method: if post { "POST" } else { "GET" },
                path: format!("/app/item-{i}.php?q={i}&r=x%20y"),
                body: post.then(|| format!("payload-{i}")),
            }
        })
        .collect()
}

/// The FastCGI application a case runs against.
#[derive(Clone, Copy, PartialEq)]
enum App {
    /// On a loopback port; closes the connection after a request without
    /// FCGI_KEEP_CONN, as the specification says.
    Tcp,
    /// The same on a unix socket.
    Unix,
    /// On a loopback port, never closing a connection itself: shows what
    /// nginx alone is willing to reuse. Only with unbuffered responses:
    /// buffered, without FCGI_KEEP_CONN, nginx reads a response until the
    /// application closes the connection, so each request would wait for
    /// the responder's read timeout (measured in the notes).
    TcpKeepingEveryConnection,
}

struct FastCgiCase {
    name: &'static str,
    /// The config; `{TARGET}` becomes the responder's address
    /// (`127.0.0.1:PORT` or `unix:PATH`), `{PARAMS}` the params.
    config: &'static str,
    app: App,
    /// Whether nginx is expected to set FCGI_KEEP_CONN.
    keep_conn: bool,
    /// Connections the responder must accept for the N requests.
    connections: usize,
}

#[derive(Debug)]
struct FastCgiRun {
    connections: usize,
    requests: usize,
    closed_by_responder: usize,
    responses: BTreeMap<usize, (u16, String)>,
    seen: BTreeMap<usize, FcgiRequest>,
    errors: Vec<String>,
    log_errors: Vec<String>,
}

fn run_fastcgi(nginx_bin: &Path, case: &FastCgiCase, scratch: &Path) -> FastCgiRun {
    // The same label for the TCP and the unix responder: they stand for
    // the same application, and their answers are compared.
    let backend = match case.app {
        App::Tcp => FastCgi::start("php"),
        App::Unix => FastCgi::start_unix("php", &scratch.join(format!("{}.sock", case.name))),
        App::TcpKeepingEveryConnection => FastCgi::start_ignoring_keep_conn("php"),
    };
    let config = case
        .config
        .replace("{TARGET}", &backend.address())
        .replace("{PARAMS}", FASTCGI_PARAMS);
    let nginx = Nginx::start(nginx_bin, &config, &[]);
    let mut responses = BTreeMap::new();
    for r in fastcgi_requests() {
        responses.insert(r.seq, http(nginx.port, &r));
    }
    let log = nginx.error_log();
    // Stopping nginx closes the pooled connections; every connection has
    // been accepted and counted by then.
    drop(nginx);
    let seen = backend
        .seen()
        .into_iter()
        .filter_map(|r| Some((r.param("HTTP_X_SEQ").parse().ok()?, r)))
        .collect();
    FastCgiRun {
        connections: backend.connections(),
        requests: backend.requests(),
        closed_by_responder: backend.closed_by_responder(),
        responses,
        seen,
        errors: backend.errors(),
        log_errors: log_errors(&log),
    }
}

const FASTCGI_DIRECT: &str = "
server {
    listen 80;
    server_name app.test;
    root /srv/www;
    location /app/ {
        fastcgi_pass {TARGET};
{PARAMS}
    }
}
";

const FASTCGI_POOL_WITHOUT_KEEP_CONN: &str = "
upstream php {
    server {TARGET};
    keepalive 8;
}
server {
    listen 80;
    server_name app.test;
    root /srv/www;
    location /app/ {
        fastcgi_pass php;
{PARAMS}
    }
}
";

const FASTCGI_POOL_WITH_KEEP_CONN: &str = "
upstream php {
    server {TARGET};
    keepalive 8;
}
server {
    listen 80;
    server_name app.test;
    root /srv/www;
    location /app/ {
        fastcgi_pass php;
        fastcgi_keep_conn on;
{PARAMS}
    }
}
";

/// `fastcgi_keep_conn` at the http level (the snippet is included from
/// `http { }`), inherited by the location.
const FASTCGI_POOL_WITH_INHERITED_KEEP_CONN: &str = "
fastcgi_keep_conn on;
upstream php {
    server {TARGET};
    keepalive 8;
}
server {
    listen 80;
    server_name app.test;
    root /srv/www;
    location /app/ {
        fastcgi_pass php;
{PARAMS}
    }
}
";

/// Unbuffered responses: nginx's non-buffered FastCGI filter marks the
/// connection reusable at `END_REQUEST` whatever `fastcgi_keep_conn` says,
/// so the pool keeps it although nginx did not ask the application to keep
/// it. Against an application that keeps it anyway nginx reuses it; one
/// that follows the specification closes it, and a request that nginx sends
/// on it before the close arrives fails (a POST with 502, as it is not
/// retried): a race, measured in the notes, not tested here.
const FASTCGI_POOL_UNBUFFERED_WITHOUT_KEEP_CONN: &str = "
upstream php {
    server {TARGET};
    keepalive 8;
}
server {
    listen 80;
    server_name app.test;
    root /srv/www;
    location /app/ {
        fastcgi_pass php;
        fastcgi_buffering off;
{PARAMS}
    }
}
";

const FASTCGI_KEEP_CONN_WITHOUT_POOL: &str = "
server {
    listen 80;
    server_name app.test;
    root /srv/www;
    location /app/ {
        fastcgi_pass {TARGET};
        fastcgi_keep_conn on;
{PARAMS}
    }
}
";

#[test]
fn fastcgi_reuses_only_with_keepalive_and_keep_conn() {
    let Some((nginx_bin, scratch)) = prepared("fastcgi_reuses_only_with_keepalive_and_keep_conn")
    else {
        return;
    };
    let cases = [
        FastCgiCase {
            name: "a-direct",
            config: FASTCGI_DIRECT,
            app: App::Tcp,
            keep_conn: false,
            connections: N,
        },
        FastCgiCase {
            name: "b-keepalive-without-keep-conn",
            config: FASTCGI_POOL_WITHOUT_KEEP_CONN,
            app: App::Tcp,
            keep_conn: false,
            connections: N,
        },
        FastCgiCase {
            name: "c-keepalive-with-keep-conn",
            config: FASTCGI_POOL_WITH_KEEP_CONN,
            app: App::Tcp,
            keep_conn: true,
            connections: 1,
        },
        FastCgiCase {
            name: "d-keepalive-with-keep-conn-unix",
            config: FASTCGI_POOL_WITH_KEEP_CONN,
            app: App::Unix,
            keep_conn: true,
            connections: 1,
        },
        FastCgiCase {
            name: "e-keep-conn-inherited-from-http",
            config: FASTCGI_POOL_WITH_INHERITED_KEEP_CONN,
            app: App::Tcp,
            keep_conn: true,
            connections: 1,
        },
        FastCgiCase {
            name: "f-keep-conn-without-keepalive",
            config: FASTCGI_KEEP_CONN_WITHOUT_POOL,
            app: App::Tcp,
            keep_conn: true,
            connections: N,
        },
        FastCgiCase {
            name: "g-unbuffered-app-keeps-anyway",
            config: FASTCGI_POOL_UNBUFFERED_WITHOUT_KEEP_CONN,
            app: App::TcpKeepingEveryConnection,
            keep_conn: false,
            connections: 1,
        },
    ];
    let runs: Vec<FastCgiRun> = cases
        .iter()
        .map(|c| run_fastcgi(&nginx_bin, c, scratch.path()))
        .collect();

    println!("FastCGI, {N} sequential requests per case:");
    println!(
        "  {:<34} {:>8} {:>11} {:>9} {:>19}",
        "case", "requests", "connections", "KEEP_CONN", "closed by responder"
    );
    for (case, run) in cases.iter().zip(&runs) {
        let flags: Vec<bool> = run.seen.values().map(|r| r.keep_conn).collect();
        let flag = if flags.iter().all(|&f| f) {
            "all"
        } else if flags.iter().any(|&f| f) {
            "some"
        } else {
            "none"
        };
        println!(
            "  {:<34} {:>8} {:>11} {:>9} {:>19}",
            case.name, run.requests, run.connections, flag, run.closed_by_responder
        );
    }

    let mut failures = Vec::new();
    let reference = &runs[0];
    for (case, run) in cases.iter().zip(&runs) {
        let name = case.name;
        if run.connections != case.connections {
            failures.push(format!(
                "{name}: {} connections for {N} requests, expected {}",
                run.connections, case.connections
            ));
        }
        if run.requests != N || run.seen.len() != N {
            failures.push(format!(
                "{name}: the responder saw {} requests ({} with X-Seq), expected {N}",
                run.requests,
                run.seen.len()
            ));
        }
        if let Some(r) = run.seen.values().find(|r| r.keep_conn != case.keep_conn) {
            failures.push(format!(
                "{name}: request {} came with FCGI_KEEP_CONN {}, expected {}",
                r.param("HTTP_X_SEQ"),
                r.keep_conn,
                case.keep_conn
            ));
        }
        if !run.errors.is_empty() {
            failures.push(format!("{name}: responder errors: {:?}", run.errors));
        }
        if !run.log_errors.is_empty() {
            failures.push(format!("{name}: nginx error log: {:?}", run.log_errors));
        }
        // The same answers and the same params whatever the connection
        // handling: pooling must change nothing else.
        for (seq, response) in &run.responses {
            if response.0 != 200 {
                failures.push(format!("{name}: request {seq}: {response:?}"));
            }
            if Some(response) != reference.responses.get(seq) {
                failures.push(format!(
                    "{name}: request {seq}: {response:?}, but {:?} in {}",
                    reference.responses.get(seq),
                    cases[0].name
                ));
            }
        }
        for (seq, seen) in &run.seen {
            let Some(before) = reference.seen.get(seq) else {
                continue;
            };
            let strip = |r: &FcgiRequest| -> BTreeMap<String, String> {
                r.params
                    .iter()
                    .filter(|(k, _)| !PARAMS_THAT_DIFFER.contains(&k.as_str()))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            };
            if strip(seen) != strip(before) || seen.stdin != before.stdin {
                failures.push(format!(
                    "{name}: request {seq}: params {:?} stdin {:?}\n  but in {}: {:?} stdin {:?}",
                    seen.params, seen.stdin, cases[0].name, before.params, before.stdin
                ));
            }
        }
    }
    // The answers name the request as the responder read it.
    for r in fastcgi_requests() {
        let (_, body) = &reference.responses[&r.seq];
        let expected = fastcgi::body_for("php", &reference.seen[&r.seq]);
        if body != &expected {
            failures.push(format!(
                "request {}: body {body:?}, expected {expected:?}",
                r.seq
            ));
        }
        let seen = &reference.seen[&r.seq];
        let script = r.path.split('?').next().unwrap();
        if seen.param("SCRIPT_NAME") != script
            || seen.param("REQUEST_URI") != r.path
            || seen.param("QUERY_STRING") != r.path.split_once('?').unwrap().1
            || seen.stdin != r.body.as_deref().unwrap_or("").as_bytes()
        {
            failures.push(format!(
                "request {}: recorded as {:?} with stdin {:?}",
                r.seq, seen.params, seen.stdin
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn fastcgi_params_round_trip_with_both_length_forms() {
    let long = "x".repeat(300);
    let pairs = [
        ("SCRIPT_NAME", "/index.php"),
        ("LONG", long.as_str()),
        ("EMPTY", ""),
    ];
    let encoded = fastcgi::encode_params(&pairs);
    // 300 takes the 4-byte form, top bit set: 0x80 0x00 0x01 0x2c.
    assert!(encoded.windows(4).any(|w| w == [0x80, 0, 1, 44]));
    let decoded = fastcgi::decode_params(&encoded).unwrap();
    let expected: Vec<(String, String)> = pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    assert_eq!(decoded, expected);
    assert!(fastcgi::decode_params(&encoded[..encoded.len() - 1]).is_err());
}

#[test]
fn fastcgi_records_are_padded_to_eight_bytes() {
    let r = fastcgi::record(fastcgi::STDOUT, 1, b"hello");
    assert_eq!(r.len(), 16);
    assert_eq!(&r[..8], &[1, fastcgi::STDOUT, 0, 1, 0, 5, 3, 0]);
    assert_eq!(fastcgi::record(fastcgi::STDOUT, 1, &[]).len(), 8);
}

// -------------------------------------------------------------- memcached

struct MemcachedCase {
    name: &'static str,
    config: &'static str,
    /// Which requests ask for a missing key.
    miss: fn(usize) -> bool,
    connections: usize,
}

const MEMCACHED_DIRECT: &str = "
server {
    listen 80;
    server_name app.test;
    location /cache/ {
        set $memcached_key $uri;
        memcached_pass {TARGET};
    }
}
";

const MEMCACHED_POOL: &str = "
upstream cache {
    server {TARGET};
    keepalive 8;
}
server {
    listen 80;
    server_name app.test;
    location /cache/ {
        set $memcached_key $uri;
        memcached_pass cache;
    }
}
";

#[derive(Debug)]
struct MemcachedRun {
    connections: usize,
    requests: usize,
    /// Key → (status, body) as the client saw them.
    responses: BTreeMap<String, (u16, String)>,
    keys: Vec<String>,
    unknown: Vec<String>,
    log_errors: Vec<String>,
}

fn run_memcached(nginx_bin: &Path, case: &MemcachedCase) -> MemcachedRun {
    let backend = Memcached::start("cache");
    let config = case.config.replace("{TARGET}", &backend.address());
    let nginx = Nginx::start(nginx_bin, &config, &[]);
    let mut responses = BTreeMap::new();
    for seq in 0..N {
        let path = if (case.miss)(seq) {
            format!("/cache/miss-{seq}")
        } else {
            format!("/cache/hit-{seq}")
        };
        let r = Request {
            seq,
            method: "GET",
            path: path.clone(),
            body: None,
        };
        responses.insert(path, http(nginx.port, &r));
    }
    let log = nginx.error_log();
    drop(nginx);
    MemcachedRun {
        connections: backend.connections(),
        requests: backend.requests(),
        responses,
        keys: backend.seen().into_iter().map(|g| g.key).collect(),
        unknown: backend.unknown(),
        log_errors: log_errors(&log),
    }
}

#[test]
fn memcached_reuses_with_keepalive_for_hits_and_misses() {
    let Some((nginx_bin, _scratch)) =
        prepared("memcached_reuses_with_keepalive_for_hits_and_misses")
    else {
        return;
    };
    let cases = [
        MemcachedCase {
            name: "direct, hits",
            config: MEMCACHED_DIRECT,
            miss: |_| false,
            connections: N,
        },
        MemcachedCase {
            name: "direct, misses",
            config: MEMCACHED_DIRECT,
            miss: |_| true,
            connections: N,
        },
        MemcachedCase {
            name: "keepalive, hits",
            config: MEMCACHED_POOL,
            miss: |_| false,
            connections: 1,
        },
        MemcachedCase {
            name: "keepalive, misses",
            config: MEMCACHED_POOL,
            miss: |_| true,
            connections: 1,
        },
        MemcachedCase {
            name: "keepalive, hits and misses",
            config: MEMCACHED_POOL,
            miss: |seq| seq % 2 == 1,
            connections: 1,
        },
    ];
    let runs: Vec<MemcachedRun> = cases.iter().map(|c| run_memcached(&nginx_bin, c)).collect();

    println!("memcached, {N} sequential requests per case:");
    println!("  {:<28} {:>8} {:>11}", "case", "requests", "connections");
    for (case, run) in cases.iter().zip(&runs) {
        println!(
            "  {:<28} {:>8} {:>11}",
            case.name, run.requests, run.connections
        );
    }

    let mut failures = Vec::new();
    for (case, run) in cases.iter().zip(&runs) {
        let name = case.name;
        if run.connections != case.connections {
            failures.push(format!(
                "{name}: {} connections for {N} requests, expected {}",
                run.connections, case.connections
            ));
        }
        let expected_keys: Vec<&String> = run.responses.keys().collect();
        let mut keys: Vec<&String> = run.keys.iter().collect();
        keys.sort();
        if keys != expected_keys {
            failures.push(format!("{name}: keys asked for: {:?}", run.keys));
        }
        if !run.unknown.is_empty() {
            failures.push(format!("{name}: unexpected commands {:?}", run.unknown));
        }
        if !run.log_errors.is_empty() {
            failures.push(format!("{name}: nginx error log: {:?}", run.log_errors));
        }
        for (key, (status, body)) in &run.responses {
            let expected = match common::memcached::value_for("cache", key) {
                Some(value) => (200, value),
                None => (404, String::new()),
            };
            if *status != expected.0 || (expected.0 == 200 && *body != expected.1) {
                failures.push(format!(
                    "{name}: {key}: {status} {body:?}, expected {expected:?}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ------------------------------------------------------------------- gRPC

const GRPC_DIRECT: &str = "
server {
    listen 80;
    server_name app.test;
    location /echo.Echo/ {
        grpc_pass grpc://{TARGET};
    }
}
";

const GRPC_POOL: &str = "
upstream echo {
    server {TARGET};
    keepalive 8;
}
server {
    listen 80;
    server_name app.test;
    location /echo.Echo/ {
        grpc_pass grpc://echo;
    }
}
";

/// Calls with a body (one gRPC message naming the call) and, every fourth,
/// a GET without one, which nginx sends as HEADERS that end the stream.
fn grpc_requests() -> Vec<Request> {
    (0..N)
        .map(|i| {
            let bodiless = i % 4 == 3;
            let payload = format!("seq={i}");
            Request {
                seq: i,
                method: if bodiless { "GET" } else { "POST" },
                path: format!("/echo.Echo/Say?i={i}"),
                body: (!bodiless)
                    .then(|| String::from_utf8(common::grpc::message(payload.as_bytes())).unwrap()),
            }
        })
        .collect()
}

struct GrpcCase {
    name: &'static str,
    config: &'static str,
    unix: bool,
    connections: usize,
}

#[derive(Debug)]
struct GrpcRun {
    connections: usize,
    calls: Vec<common::grpc::Call>,
    responses: Vec<(u16, String)>,
    errors: Vec<String>,
    log_errors: Vec<String>,
}

fn run_grpc(nginx_bin: &Path, case: &GrpcCase, scratch: &Path) -> GrpcRun {
    let backend = if case.unix {
        common::grpc::Grpc::start_unix("echo", &scratch.join("grpc.sock"))
    } else {
        common::grpc::Grpc::start("echo")
    };
    let config = case.config.replace("{TARGET}", &backend.address());
    let nginx = Nginx::start(nginx_bin, &config, &[]);
    let responses = grpc_requests()
        .iter()
        .map(|r| http(nginx.port, r))
        .collect();
    let log = nginx.error_log();
    drop(nginx);
    GrpcRun {
        connections: backend.connections(),
        calls: backend.seen(),
        responses,
        errors: backend.errors(),
        log_errors: log_errors(&log),
    }
}

#[test]
fn grpc_reuses_with_keepalive() {
    let Some((nginx_bin, scratch)) = prepared("grpc_reuses_with_keepalive") else {
        return;
    };
    let cases = [
        GrpcCase {
            name: "direct",
            config: GRPC_DIRECT,
            unix: false,
            connections: N,
        },
        GrpcCase {
            name: "keepalive",
            config: GRPC_POOL,
            unix: false,
            connections: 1,
        },
        GrpcCase {
            name: "keepalive, unix socket",
            config: GRPC_POOL,
            unix: true,
            connections: 1,
        },
    ];
    let runs: Vec<GrpcRun> = cases
        .iter()
        .map(|c| run_grpc(&nginx_bin, c, scratch.path()))
        .collect();

    println!("gRPC, {N} sequential calls per case:");
    println!(
        "  {:<24} {:>6} {:>11} {:>18}",
        "case", "calls", "connections", "stream ids"
    );
    for (case, run) in cases.iter().zip(&runs) {
        let ids: Vec<u32> = run.calls.iter().map(|c| c.stream_id).collect();
        let shown = match (ids.first(), ids.last()) {
            (Some(a), Some(b)) => format!("{a}..{b}"),
            _ => "-".into(),
        };
        println!(
            "  {:<24} {:>6} {:>11} {:>18}",
            case.name,
            run.calls.len(),
            run.connections,
            shown
        );
    }

    let mut failures = Vec::new();
    let requests = grpc_requests();
    for (case, run) in cases.iter().zip(&runs) {
        let name = case.name;
        if run.connections != case.connections {
            failures.push(format!(
                "{name}: {} connections for {N} calls, expected {}",
                run.connections, case.connections
            ));
        }
        if run.calls.len() != N {
            failures.push(format!("{name}: {} calls, expected {N}", run.calls.len()));
        }
        // Sequential calls: the i-th call the server saw is request i. On
        // one pooled connection nginx numbers the streams 1, 3, 5, ...; on
        // a fresh connection each call is stream 1.
        for (i, (call, r)) in run.calls.iter().zip(&requests).enumerate() {
            let body = r.body.as_deref().unwrap_or("").as_bytes();
            if call.body != body {
                failures.push(format!("{name}: call {i} carried {:?}", call.body));
            }
            let expected_id = if case.connections == 1 {
                2 * i as u32 + 1
            } else {
                1
            };
            if call.stream_id != expected_id {
                failures.push(format!(
                    "{name}: call {i} on stream {}, expected {expected_id}",
                    call.stream_id
                ));
            }
        }
        if !run.errors.is_empty() {
            failures.push(format!("{name}: server errors: {:?}", run.errors));
        }
        if !run.log_errors.is_empty() {
            failures.push(format!("{name}: nginx error log: {:?}", run.log_errors));
        }
        for (r, response) in requests.iter().zip(&run.responses) {
            let body = r.body.as_deref().unwrap_or("").as_bytes();
            let expected = common::grpc::message(common::grpc::answer_for("echo", body).as_bytes());
            let expected = (200, String::from_utf8(expected).unwrap());
            if response != &expected {
                failures.push(format!(
                    "{name}: request {}: {response:?}, expected {expected:?}",
                    r.seq
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
