//! The behaviour check refuses rewrites that change more than connection
//! reuse: each case below hands `check_behaviour` a deliberately wrong
//! rewrite of a real fixture (a dropped pin, a shared pool, a mangled byte)
//! and expects the difference named; the fixtures' own expected outputs
//! pass it.

use upkeep::Source;

fn problems(before: &[u8], after: &[u8], args: &[&str]) -> Vec<String> {
    let options = upkeep::options_for(args).unwrap();
    let (b, a) = (
        Source::new("before", before.to_vec()),
        Source::new("after", after.to_vec()),
    );
    upkeep::check_behaviour(&b, &a, &options).unwrap()
}

fn fixture(name: &str, file: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/fixtures/{name}/{file}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn args(name: &str) -> Vec<String> {
    std::fs::read_to_string(format!(
        "{}/fixtures/{name}/args",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap_or_default()
    .lines()
    .filter(|l| !l.trim().is_empty())
    .map(String::from)
    .collect()
}

fn replace(text: &[u8], from: &str, to: &str) -> Vec<u8> {
    let s = String::from_utf8_lossy(text);
    assert!(s.contains(from), "{from} not in the fixture");
    s.replacen(from, to, 1).into_bytes()
}

#[test]
fn expected_outputs_pass() {
    for name in [
        "01-motivating-frontend",
        "34-tls-pools-by-connection-settings",
        "35-proxy-host-used-by-name",
        "44-fastcgi-pools",
        "45-grpc-pools",
        "46-grpc-authority-accepted",
        "50-grpcs-tls-name",
        "47-memcached-pools",
        "48-protocols-keep-their-own-pools",
        "65-host-variable-reaches-its-pattern",
        "67-variable-target-names-upstreams",
        "68-websocket-through-named-location",
        "70-proxy-cache-exact-location-key",
    ] {
        let a = args(name);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let p = problems(
            &fixture(name, "input.conf"),
            &fixture(name, "expected.conf"),
            &a,
        );
        assert!(p.is_empty(), "{name}: {p:?}");
    }
}

#[test]
fn a_dropped_redirect_pin_is_refused() {
    let name = "01-motivating-frontend";
    let wrong = replace(
        &fixture(name, "expected.conf"),
        "        proxy_redirect http://stack-auth:8101/ /auth/;\n",
        "",
    );
    let a = args(name);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let p = problems(&fixture(name, "input.conf"), &wrong, &a);
    assert!(
        p.iter()
            .any(|l| l.contains("location /auth/#0: proxy_redirect changes")),
        "{p:?}"
    );
}

#[test]
fn a_shared_tls_pool_is_refused() {
    let name = "34-tls-pools-by-connection-settings";
    // /strict/ pointed at the lax locations' pool.
    let wrong = replace(
        &fixture(name, "expected.conf"),
        "proxy_pass https://tls_backend_2/;",
        "proxy_pass https://tls_backend/;",
    );
    let p = problems(&fixture(name, "input.conf"), &wrong, &[]);
    assert!(
        p.iter()
            .any(|l| l.contains("would share the pool of upstream \"tls_backend\"")),
        "{p:?}"
    );
}

#[test]
fn a_changed_proxy_port_value_is_refused() {
    let name = "35-proxy-host-used-by-name";
    let wrong = replace(
        &fixture(name, "expected.conf"),
        "X-Forwarded-Port 18081",
        "X-Forwarded-Port $proxy_port",
    );
    let p = problems(&fixture(name, "input.conf"), &wrong, &[]);
    assert!(
        p.iter().any(|l| l.contains("the headers sent changes")),
        "{p:?}"
    );
}

#[test]
fn mangled_bytes_are_refused() {
    let name = "40-non-utf8-bytes-copied";
    let expected = fixture(name, "expected.conf");
    // The copy in /api/ws with the byte 0xE9 turned into U+FFFD.
    let at = expected
        .windows(8)
        .rposition(|w| w == b"br\xfbl\xe9e\";")
        .unwrap();
    let mut wrong = expected[..at + 4].to_vec();
    wrong.extend_from_slice("\u{FFFD}".as_bytes());
    wrong.extend_from_slice(&expected[at + 5..]);
    let a = args(name);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let p = problems(&fixture(name, "input.conf"), &wrong, &a);
    assert!(
        p.iter()
            .any(|l| l.contains("api/ws") && l.contains("headers")),
        "{p:?}"
    );
}

#[test]
fn a_literal_target_a_variable_may_name_stays() {
    let name = "37-variable-target-keeps-implicit-upstream";
    let expected = String::from_utf8(fixture(name, "expected.conf")).unwrap();
    assert!(
        expected.contains("proxy_pass http://shop-a:18081/healthz;"),
        "{expected}"
    );
}

#[test]
fn a_grpc_authority_taken_from_the_new_name_is_refused() {
    let name = "45-grpc-pools";
    // The location whose `:authority` comes from the target, pooled anyway
    // (its new upstream added by hand so the backend still resolves).
    let wrong = replace(
        &fixture(name, "expected.conf"),
        "grpc_pass grpc://legacy:50053;",
        "grpc_pass grpc://legacy_pool;",
    );
    let wrong = replace(
        &wrong,
        "server {",
        "upstream legacy_pool { server legacy:50053; keepalive 8; }\nserver {",
    );
    let p = problems(&fixture(name, "input.conf"), &wrong, &[]);
    assert!(
        p.iter().any(
            |l| l.contains("location /legacy.Legacy/#0: the headers sent changes")
                && l.contains("legacy:50053")
                && l.contains("legacy_pool")
        ),
        "{p:?}"
    );
    // Pinning it with `grpc_set_header Host` sends `host`, not `:authority`.
    let pinned = replace(
        &wrong,
        "grpc_pass grpc://legacy_pool;",
        "grpc_pass grpc://legacy_pool; grpc_set_header Host legacy:50053;",
    );
    let p = problems(&fixture(name, "input.conf"), &pinned, &[]);
    assert!(
        p.iter().any(
            |l| l.contains("location /legacy.Legacy/#0: the headers sent changes")
                && l.contains("(\":authority\", \"legacy:50053\")")
                && l.contains("(\"host\", \"legacy:50053\")")
        ),
        "{p:?}"
    );
    // With --proxy-host upstream the user accepts the new `:authority`.
    let p = problems(
        &fixture(name, "input.conf"),
        &wrong,
        &["--proxy-host", "upstream"],
    );
    assert!(p.is_empty(), "{p:?}");
}

#[test]
fn a_dropped_grpc_tls_name_pin_is_refused() {
    let name = "50-grpcs-tls-name";
    let wrong = replace(
        &fixture(name, "expected.conf"),
        "        grpc_ssl_name billing.internal;\n",
        "",
    );
    let p = problems(&fixture(name, "input.conf"), &wrong, &[]);
    assert!(
        p.iter().any(|l| l.contains("location /billing.Billing/#0: the TLS name changes from Some(\"billing.internal\") to Some(\"billing_internal\")")),
        "{p:?}"
    );
}

#[test]
fn fastcgi_keep_conn_without_a_pool_is_refused() {
    let name = "44-fastcgi-pools";
    // The flag turned on where the target stays an implicit upstream: the
    // application is asked to keep a connection nginx will not reuse.
    let wrong = replace(
        &fixture(name, "input.conf"),
        "fastcgi_pass php-fpm:9000;\n    }\n\n    location /status",
        "fastcgi_pass php-fpm:9000;\n        fastcgi_keep_conn on;\n    }\n\n    location /status",
    );
    let p = problems(&fixture(name, "input.conf"), &wrong, &[]);
    assert!(
        p.iter()
            .any(|l| l.contains("fastcgi_keep_conn changes from false to true")),
        "{p:?}"
    );
}

#[test]
fn one_pool_for_two_protocols_is_refused() {
    let name = "48-protocols-keep-their-own-pools";
    // The FastCGI location sent to the HTTP backend's pool: nginx would hand
    // it connections that speak HTTP.
    let wrong = replace(
        &fixture(name, "expected.conf"),
        "fastcgi_pass app_8080;",
        "fastcgi_pass app;",
    );
    let p = problems(&fixture(name, "input.conf"), &wrong, &[]);
    assert!(
        p.iter()
            .any(|l| l.contains("would share the pool of upstream \"app\"")
                && l.contains("protocol=fastcgi")),
        "{p:?}"
    );
}

// ------------------------------------------------------- --resolve

/// `--resolve` rewrites of fixtures 63 and 64, each spoiled in one way the
/// rules must not: every one is named by the check; the expected outputs
/// pass.
fn resolve_problems(name: &str, from: &str, to: &str) -> Vec<String> {
    let a = args(name);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let expected = fixture(name, "expected.conf");
    let after = if from.is_empty() {
        expected
    } else {
        replace(&expected, from, to)
    };
    problems(&fixture(name, "input.conf"), &after, &a)
}

#[test]
fn resolve_outputs_pass() {
    for name in ["63-resolve-set-variables", "64-resolve-resolver-and-tuning"] {
        let p = resolve_problems(name, "", "");
        assert!(p.is_empty(), "{name}: {p:?}");
    }
}

#[test]
fn resolve_spoiled_rewrites_are_refused() {
    let name = "63-resolve-set-variables";
    let cases = [
        // nginx would build a default proxy_redirect for `http://app`.
        (
            "        proxy_redirect off;\n",
            "",
            "location /static/#0: proxy_redirect changes",
        ),
        // $proxy_host is `app` now: Host would change.
        (
            "        proxy_set_header Host app:8080;\n",
            "",
            "location /static/#0: the headers sent changes",
        ),
        // A fixed URI without variables replaces the location prefix.
        (
            "proxy_pass http://$upstream_app:8080/fixed/;",
            "proxy_pass http://app/fixed/;",
            "location /fixed/#0: the proxied URI changes",
        ),
        // Another port.
        (
            "server app:8080 resolve;",
            "server app:8081 resolve;",
            "location /static/#0: the backend changes",
        ),
        // Resolved once at start-up instead of following the name.
        (
            "server app:8080 resolve;",
            "server app:8080;",
            "location /static/#0: the backend changes",
        ),
    ];
    for (from, to, wanted) in cases {
        let p = resolve_problems(name, from, to);
        assert!(p.iter().any(|l| l.contains(wanted)), "{from} → {to}: {p:?}");
    }
    // The location's own resolver, copied into the upstream, must be the
    // one it used.
    let p = resolve_problems(
        "64-resolve-resolver-and-tuning",
        "        resolver 127.0.0.11 valid=10s;\n        resolver_timeout 5s;\n        keepalive 32;",
        "        resolver 10.0.0.1;\n        keepalive 32;",
    );
    assert!(
        p.iter()
            .any(|l| l.contains("location /#0: the backend changes")),
        "{p:?}"
    );
}

/// Fixture 67 spoiled: a target with variables may speak HTTP/1.1 without
/// `Connection: close` only when every upstream its values name keeps
/// connections, and its pools follow the pool rules like any location's.
#[test]
fn a_variable_target_pooled_only_in_part_is_refused() {
    let name = "67-variable-target-names-upstreams";
    let input = fixture(name, "input.conf");
    let expected = fixture(name, "expected.conf");
    let unpooled = "a target with variables that is not pooled";
    // (the input and the output spoiled alike, the output alone, wanted)
    let cases = [
        // lemmy-ui left without keepalive: its requests change for nothing.
        (
            None,
            (
                "server \"lemmy-ui:1234\";\n    keepalive 32;",
                "server \"lemmy-ui:1234\";",
            ),
            unpooled,
        ),
        // A value that names no upstream block is resolved per request.
        (
            Some((
                "\"http://lemmy\";\n        }\n        if",
                "\"http://lemmy.example\";\n        }\n        if",
            )),
            ("", ""),
            unpooled,
        ),
        // A server changed behind the variable is a changed backend.
        (
            None,
            ("server \"lemmy-ui:1234\";", "server \"lemmy-ui:1235\";"),
            "the backend changes",
        ),
        // lemmy's pool shared with a location that binds elsewhere.
        (
            Some((
                "proxy_pass \"http://lemmy\";",
                "proxy_pass \"http://lemmy\";\n        proxy_bind 127.0.0.2;",
            )),
            ("", ""),
            "would share the pool of upstream \"lemmy\"",
        ),
    ];
    for (both, (from, to), wanted) in cases {
        let (mut before, mut after) = (input.clone(), expected.clone());
        if let Some((f, t)) = both {
            (before, after) = (replace(&before, f, t), replace(&after, f, t));
        }
        if !from.is_empty() {
            after = replace(&after, from, to);
        }
        let p = problems(&before, &after, &[]);
        assert!(p.iter().any(|l| l.contains(wanted)), "{wanted}: {p:?}");
    }
}

/// Fixture 69: a `grpc_set_header Host` that keeps the old `:authority` is
/// the same request on nginx 1.31.4 and later (the value is sent as
/// `:authority`), and a different one before (a `host` header, no
/// `:authority`) or on an unknown version.
#[test]
fn a_grpc_authority_pin_holds_only_on_1_31_4() {
    let name = "69-grpc-authority-pinned-on-1.31.4";
    let (input, expected) = (fixture(name, "input.conf"), fixture(name, "expected.conf"));
    for version in ["1.31.4", "1.32.0"] {
        let p = problems(&input, &expected, &["--nginx-version", version]);
        assert!(p.is_empty(), "{version}: {p:?}");
    }
    for args in [&["--nginx-version", "1.31.3"][..], &[][..]] {
        let p = problems(&input, &expected, args);
        assert!(
            p.iter()
                .any(|l| l.contains("/orders.Orders/") && l.contains(":authority")),
            "{args:?}: {p:?}"
        );
    }
    // An empty Host falls back to the target's authority from 1.31.4 on.
    let spoil = |t: &[u8]| {
        replace(
            t,
            "grpc_set_header X-Request-Id $request_id;",
            "grpc_set_header X-Request-Id $request_id;\n        grpc_set_header Host $http_x_host;",
        )
    };
    let after = replace(
        &spoil(&expected),
        "        grpc_set_header Host search:50052;\n",
        "",
    );
    let p = problems(&spoil(&input), &after, &["--nginx-version", "1.31.4"]);
    assert!(
        p.iter().any(|l| l.contains("or search:50052 when empty")),
        "{p:?}"
    );
}

/// Fixture 70: the default key of an exact location written out is the
/// same key; written without the arguments, or dropped, it is not.
#[test]
fn an_exact_location_cache_key_spelled_wrong_is_refused() {
    let name = "70-proxy-cache-exact-location-key";
    let (input, expected) = (fixture(name, "input.conf"), fixture(name, "expected.conf"));
    for (from, to) in [
        ("plausible.js$is_args$args;", "plausible.js;"),
        (
            "        proxy_cache_key http://plausible:18000/js/plausible.js$is_args$args;\n",
            "",
        ),
    ] {
        let p = problems(&input, &replace(&expected, from, to), &[]);
        assert!(
            p.iter().any(|l| l.contains("the cache key changes")),
            "{to}: {p:?}"
        );
    }
}
