//! `--resolve` and `--resolver` (issue 13): `proxy_pass` targets that
//! nginx resolves per request become pooled upstreams that re-resolve.
//!
//! nginx 1.27.3 is the first release with `server ... resolve` in
//! upstream blocks; the tests' nginx (Debian's 1.22) refuses it, so the
//! outputs cannot run here. Fixtures 63 and 64 pin the text exactly (and
//! `nginx -t` checks the rest of it, see `fixtures.rs`), the behaviour
//! check's cases are in `behaviour_check.rs`, and this file covers the
//! flags, the reasons a target is left alone, and linuxserver's SWAG
//! configs from the corpus, whose `set $upstream_app` pattern motivated
//! the feature.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;

use common::*;

fn upkeep(dir: &Path, args: &[&str]) -> Output {
    upkeep_run(dir, args, None)
}

const RESOLVE: [&str; 4] = ["--no-config", "--resolve", "--nginx-version", "1.27.3"];

const SITE: &str = "resolver 127.0.0.11;\nserver {\n    listen 80;\n    location / {\n        set $app app;\n        proxy_pass http://$app:8080;\n        proxy_set_header Host $host;\n    }\n}\n";

/// Refused for an nginx without `resolve` in upstream blocks, or when the
/// release is not given; `--resolver` only with `--resolve`; its value as
/// nginx's `resolver` takes it. Exit 2, nothing written.
#[test]
fn flags_and_their_errors() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("site.conf");
    let cases: &[(&[&str], &str)] = &[
        (
            &["--resolve"],
            "--resolve writes `server NAME:PORT resolve` into upstream blocks, which nginx accepts from 1.27.3 on: say which nginx the config runs on with --nginx-version",
        ),
        (
            &["--resolve", "--nginx-version", "1.27.2"],
            "--nginx-version is 1.27.2 (nginx resolves such targets per request and never pools them before that)",
        ),
        (
            &["--resolver", "127.0.0.11"],
            "--resolver adds a `resolver` for the upstreams --resolve creates; add --resolve",
        ),
        (
            &["--resolve", "--nginx-version", "1.27.3", "--resolver", "valid=30s"],
            "names no DNS server",
        ),
        (
            &["--resolve", "--nginx-version", "1.27.3", "--resolver", "127.0.0.11 valid=30ms"],
            "`valid=30ms`: `valid=` takes an nginx time in seconds",
        ),
        (
            &["--resolve", "--nginx-version", "1.27.3", "--resolver", "127.0.0.11:0"],
            "`127.0.0.11:0` is not an address",
        ),
        (
            &[
                "--resolve",
                "--nginx-version",
                "1.27.3",
                "--resolver",
                "127.0.0.11 ipv4=off ipv6=off",
            ],
            "leave nothing to resolve",
        ),
    ];
    for (args, message) in cases {
        std::fs::write(&file, SITE).unwrap();
        let mut argv = vec!["--no-config", "--write"];
        argv.extend_from_slice(args);
        argv.push("site.conf");
        let out = upkeep(dir.path(), &argv);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr_of(&out));
        assert!(
            stderr_of(&out).contains(message),
            "{args:?}: {}",
            stderr_of(&out)
        );
        assert_eq!(std::fs::read_to_string(&file).unwrap(), SITE, "{args:?}");
    }
    // From 1.27.3 on, with a resolver of several servers and parameters.
    let mut argv = RESOLVE.to_vec();
    argv.extend([
        "--resolver",
        "127.0.0.11:53 [::1] valid=30s ipv6=off",
        "site.conf",
    ]);
    let out = upkeep(dir.path(), &argv);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let diff = String::from_utf8_lossy(&out.stdout);
    assert!(diff.contains("+        proxy_pass http://app;\n"), "{diff}");

    // upkeep.toml: the same run.
    std::fs::create_dir(dir.path().join(".git")).unwrap();
    std::fs::write(
        dir.path().join("upkeep.toml"),
        "resolve = true\nnginx-version = \"1.27.3\"\nresolver = \"127.0.0.11\"\n",
    )
    .unwrap();
    let from_file = upkeep(dir.path(), &["site.conf"]);
    let typed = upkeep(
        dir.path(),
        &[
            "--no-config",
            "--resolve",
            "--nginx-version",
            "1.27.3",
            "--resolver",
            "127.0.0.11",
            "site.conf",
        ],
    );
    assert_eq!(
        from_file.status.code(),
        Some(0),
        "{}",
        stderr_of(&from_file)
    );
    assert_eq!(from_file.stdout, typed.stdout);
    std::fs::write(dir.path().join("upkeep.toml"), "resolver = \"[::1\"\n").unwrap();
    let out = upkeep(dir.path(), &["site.conf"]);
    assert_eq!(out.status.code(), Some(2));
    assert_stderr_has(&out, "upkeep.toml:1:12: resolver: `[::1` is not an address");
}

/// Every `proxy_pass` with variables that `--resolve` leaves alone gets a
/// note saying why (with -v), at its line.
#[test]
fn what_stays_is_explained() {
    let input = "resolver 127.0.0.11;
server {
    listen 80;
    location /fixed/ {
        set $app app;
        proxy_pass http://$app:8080/fixed/;
    }
    location /unknown/ {
        proxy_pass http://$http_x_target:8080;
    }
    location /late/ {
        rewrite ^/late/(.*)$ /$1 break;
        set $late late;
        proxy_pass http://$late:8080;
    }
    location /branch/ {
        set $branch one;
        if ($arg_b) {
            set $branch two;
        }
        proxy_pass http://$branch:8080;
    }
    location /in-if/ {
        set $inner inner;
        if ($arg_x) {
            proxy_pass http://$inner:8080;
        }
    }
    location /address/ {
        set $ip 10.0.0.5;
        proxy_pass http://$ip:8080;
    }
    location /literal/ {
        proxy_pass http://shared:8080;
    }
    location /shared/ {
        set $shared shared;
        proxy_pass http://$shared:8080;
    }
    location /whole/ {
        set $whole http://whole:8080;
        proxy_pass $whole;
    }
    location /captured/ {
        set $cap cap;
        if ($uri ~ ^/captured/(?<cap>[a-z]+)) {
            return 404;
        }
        proxy_pass http://$cap:8080;
    }
}
";
    let mut argv = RESOLVE.to_vec();
    argv.extend(["-v", "-"]);
    let out = upkeep_run(Path::new("."), &argv, Some(input.as_bytes()));
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    for (line, reason) in [
        (
            6,
            "with variables nginx sends its URI part (/fixed/) as it is",
        ),
        (
            9,
            "no `set` in its location fixes the variables of its host",
        ),
        (
            14,
            "no `set` in its location fixes the variables of its host",
        ),
        (
            21,
            "no `set` in its location fixes the variables of its host",
        ),
        (26, "it is inside an `if` or `limit_except` block"),
        (
            31,
            "it evaluates to http://10.0.0.5:8080, an address: there is no name to resolve",
        ),
        (
            38,
            "which nginx finds among the implicit upstreams of the literal proxy_pass targets here",
        ),
        (
            42,
            "a variable holds more of the URL than its host and port",
        ),
        (
            49,
            "no `set` in its location fixes the variables of its host",
        ),
    ] {
        let wanted = format!("-:{line}:");
        assert!(
            err.lines().any(|l| l.starts_with(&wanted)
                && l.contains("is left alone")
                && l.contains(reason)),
            "line {line}: {reason}\n{err}"
        );
    }
    // And nothing changes: each of them stays as it is.
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // No resolver in effect: a note, or with --resolver one for the http
    // context.
    let bare = "server {\n    location / {\n        set $app app;\n        proxy_pass http://$app:8080;\n    }\n}\n";
    let mut argv = RESOLVE.to_vec();
    argv.extend(["-v", "-"]);
    let out = upkeep_run(Path::new("."), &argv, Some(bare.as_bytes()));
    assert_stderr_has(
        &out,
        "-:4:9: note: proxy_pass http://$app:8080 is left alone: no `resolver` is in effect here",
    );
    let mut argv = RESOLVE.to_vec();
    argv.extend(["--resolver", "127.0.0.11", "-"]);
    let out = upkeep_run(Path::new("."), &argv, Some(bare.as_bytes()));
    let diff = String::from_utf8_lossy(&out.stdout);
    assert!(
        diff.contains("+resolver 127.0.0.11;\n+\n server {"),
        "{diff}"
    );
}

/// `--name` and `--keepalive NAME=N` name re-resolving upstreams like any
/// other.
#[test]
fn names_and_pool_sizes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("site.conf"), SITE).unwrap();
    let mut argv = RESOLVE.to_vec();
    argv.extend([
        "--name",
        "app:8080=app_pool",
        "--keepalive",
        "app_pool=8",
        "site.conf",
    ]);
    let out = upkeep(dir.path(), &argv);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let diff = String::from_utf8_lossy(&out.stdout);
    assert!(
        diff.contains("+upstream app_pool {\n+    zone app_pool 64k;\n+    server app:8080 resolve;\n+    keepalive 8;\n+}\n"),
        "{diff}"
    );
    assert!(
        diff.contains("+        proxy_pass http://app_pool;\n"),
        "{diff}"
    );
}

/// linuxserver's SWAG proxy confs (`linuxserver-reverse-proxy-confs` in
/// the corpus, with SWAG's own snippets from `linuxserver-docker-swag`
/// where they include `/config/nginx/...`): upkeep pools their
/// `set $upstream_app` targets without an internal error, the result is
/// stable (`--check` passes on what `--write` wrote), and every target it
/// leaves alone has a reason. SWAG writes `resolver.conf` and `ssl.conf`
/// at start-up; the test writes stand-ins.
#[test]
fn swag_proxy_confs_pool_through_re_resolving_upstreams() {
    let Some(corpus) = corpus("swag_proxy_confs_pool_through_re_resolving_upstreams") else {
        return;
    };
    let confs = corpus.join("linuxserver-reverse-proxy-confs");
    let snippets = corpus.join("linuxserver-docker-swag");
    assert!(confs.is_dir() && snippets.is_dir(), "the corpus lacks SWAG");
    let work = tempfile::tempdir().unwrap();
    let nginx = work.path().join("config-nginx");
    std::fs::create_dir(&nginx).unwrap();
    for entry in std::fs::read_dir(&snippets).unwrap().flatten() {
        if entry.path().is_file() {
            std::fs::copy(entry.path(), nginx.join(entry.file_name())).unwrap();
        }
    }
    std::fs::write(
        nginx.join("resolver.conf"),
        "resolver 127.0.0.11 valid=30s;\n",
    )
    .unwrap();
    std::fs::write(nginx.join("ssl.conf"), "# TLS settings\n").unwrap();
    let sites = work.path().join("proxy-confs");
    std::fs::create_dir(&sites).unwrap();
    let mut files = 0;
    for entry in std::fs::read_dir(&confs).unwrap().flatten() {
        if entry.file_name().to_string_lossy().ends_with(".conf") {
            let copy = sites.join(entry.file_name());
            std::fs::copy(entry.path(), &copy).unwrap();
            // The corpus is read-only; its copies are for --write.
            std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o644)).unwrap();
            files += 1;
        }
    }
    let map = format!("/config/nginx={}", nginx.display());
    let run = |extra: &[&str]| {
        let mut argv = RESOLVE.to_vec();
        argv.extend(["--path-map", &map]);
        argv.extend_from_slice(extra);
        argv.push("proxy-confs");
        upkeep(work.path(), &argv)
    };
    let out = run(&["-v"]);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains("internal error"), "{err}");
    let summary = err.lines().last().unwrap_or_default().to_string();
    let counts = summary
        .rsplit_once(" in ")
        .map_or(summary.as_str(), |(c, _)| c);
    let pooled: usize = counts
        .split(", ")
        .find_map(|p| p.strip_suffix(" proxy_pass targets rewritten"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    let left: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("is left alone"))
        .collect();
    println!(
        "SWAG: {files} proxy confs, {pooled} runtime-resolved targets pooled, {} left alone:",
        left.len()
    );
    for l in &left {
        println!("  {l}");
    }
    println!("  {summary}");
    assert!(pooled >= 300, "{summary}");
    // What stays, stays for a reason upkeep names.
    for l in &left {
        assert!(
            l.contains("not fixed by a `set`")
                || l.contains("not an http(s) address")
                || l.contains("no `resolver` is in effect"),
            "{l}"
        );
    }
    // Stable: after --write, --check finds nothing.
    let write = run(&["--write"]);
    assert_eq!(write.status.code(), Some(0), "{}", stderr_of(&write));
    let check = run(&["--check"]);
    assert_eq!(check.status.code(), Some(0), "{}", stderr_of(&check));
}
