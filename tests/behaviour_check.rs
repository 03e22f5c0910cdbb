//! The behaviour check refuses rewrites that change more than connection
//! reuse: each [`Case`] below hands `check_behaviour` a deliberately wrong
//! rewrite of a real fixture (a dropped pin, a shared pool, a mangled byte)
//! and expects the difference named; the fixtures' own expected outputs
//! pass it. [`run`] runs the whole table and reports every failing case;
//! an edit whose `from` is not in the text fails its case, so that a
//! fixture edit cannot make a case silently check nothing.

use std::collections::BTreeSet;

use upkeep::Source;

/// One replacement in a text, of its first (or last) occurrence.
#[derive(Clone, Copy, Debug)]
struct Edit {
    from: &'static [u8],
    to: &'static [u8],
    last: bool,
}

/// The first occurrence of `from` replaced with `to`.
const fn edit(from: &'static str, to: &'static str) -> Edit {
    Edit {
        from: from.as_bytes(),
        to: to.as_bytes(),
        last: false,
    }
}

/// The text `check_behaviour` gets as the rewrite, before the case's
/// `edits`.
#[derive(Clone, Copy, Debug)]
enum After {
    /// The fixture's `expected.conf`.
    Expected,
    /// The fixture's `input.conf` (a spoil upkeep would never write).
    Input,
}

/// The options of the check.
#[derive(Clone, Copy, Debug)]
enum Args {
    /// The fixture's `args` file (none: no arguments).
    Fixture,
    /// These alone.
    Only(&'static [&'static str]),
}

#[derive(Clone, Copy, Debug)]
enum Want {
    /// Not set: a case must say what it expects.
    Unset,
    /// No problem at all.
    Clean,
    /// Some problem that holds every one of these texts.
    Problem(&'static [&'static str]),
}

#[derive(Clone, Copy, Debug)]
struct Case {
    name: &'static str,
    /// A directory of `fixtures/`.
    fixture: &'static str,
    /// Applied, in order, to the input and the rewrite alike.
    both: &'static [Edit],
    after: After,
    /// Applied, in order, to the rewrite (after `both`).
    edits: &'static [Edit],
    args: Args,
    want: Want,
}

const BASE: Case = Case {
    name: "",
    fixture: "",
    both: &[],
    after: After::Expected,
    edits: &[],
    args: Args::Fixture,
    want: Want::Unset,
};

/// A fixture's expected output passes the check with the fixture's args.
const fn passes(fixture: &'static str) -> Case {
    Case {
        name: fixture,
        fixture,
        want: Want::Clean,
        ..BASE
    }
}

const UNPOOLED: &str = "a target with variables that is not pooled";

const CASES: &[Case] = &[
    // ------------------------------------------- the expected outputs pass
    passes("01-motivating-frontend"),
    passes("34-tls-pools-by-connection-settings"),
    passes("35-proxy-host-used-by-name"),
    passes("44-fastcgi-pools"),
    passes("45-grpc-pools"),
    passes("46-grpc-authority-accepted"),
    passes("50-grpcs-tls-name"),
    passes("47-memcached-pools"),
    passes("48-protocols-keep-their-own-pools"),
    passes("65-host-variable-reaches-its-pattern"),
    passes("67-variable-target-names-upstreams"),
    passes("68-websocket-through-named-location"),
    passes("70-proxy-cache-exact-location-key"),
    passes("63-resolve-set-variables"),
    passes("64-resolve-resolver-and-tuning"),
    // ------------------------------------------------- wrong rewrites
    Case {
        name: "a dropped redirect pin",
        fixture: "01-motivating-frontend",
        edits: &[edit(
            "        proxy_redirect http://stack-auth:8101/ /auth/;\n",
            "",
        )],
        want: Want::Problem(&["location /auth/#0: proxy_redirect changes"]),
        ..BASE
    },
    Case {
        name: "a shared TLS pool",
        fixture: "34-tls-pools-by-connection-settings",
        // /strict/ pointed at the lax locations' pool.
        edits: &[edit(
            "proxy_pass https://tls_backend_2/;",
            "proxy_pass https://tls_backend/;",
        )],
        args: Args::Only(&[]),
        want: Want::Problem(&["would share the pool of upstream \"tls_backend\""]),
        ..BASE
    },
    Case {
        name: "a changed $proxy_port value",
        fixture: "35-proxy-host-used-by-name",
        edits: &[edit("X-Forwarded-Port 18081", "X-Forwarded-Port $proxy_port")],
        args: Args::Only(&[]),
        want: Want::Problem(&["the headers sent changes"]),
        ..BASE
    },
    Case {
        name: "mangled bytes",
        fixture: "40-non-utf8-bytes-copied",
        // The copy in /api/ws with the byte 0xE9 turned into U+FFFD.
        edits: &[Edit {
            from: b"br\xfbl\xe9e\";",
            to: b"br\xfbl\xef\xbf\xbde\";",
            last: true,
        }],
        want: Want::Problem(&["api/ws", "headers"]),
        ..BASE
    },
    // The location whose `:authority` comes from the target, pooled anyway
    // (its new upstream added by hand so the backend still resolves).
    Case {
        name: "a gRPC :authority taken from the new name",
        fixture: "45-grpc-pools",
        edits: GRPC_LEGACY_POOLED,
        args: Args::Only(&[]),
        want: Want::Problem(&[
            "location /legacy.Legacy/#0: the headers sent changes",
            "legacy:50053",
            "legacy_pool",
        ]),
        ..BASE
    },
    // Pinning it with `grpc_set_header Host` sends `host`, not `:authority`.
    Case {
        name: "a gRPC :authority pinned with grpc_set_header Host",
        fixture: "45-grpc-pools",
        edits: &[
            GRPC_LEGACY_POOLED[0],
            GRPC_LEGACY_POOLED[1],
            edit(
                "grpc_pass grpc://legacy_pool;",
                "grpc_pass grpc://legacy_pool; grpc_set_header Host legacy:50053;",
            ),
        ],
        args: Args::Only(&[]),
        want: Want::Problem(&[
            "location /legacy.Legacy/#0: the headers sent changes",
            "(\":authority\", \"legacy:50053\")",
            "(\"host\", \"legacy:50053\")",
        ]),
        ..BASE
    },
    // With --proxy-host upstream the user accepts the new `:authority`.
    Case {
        name: "a gRPC :authority from the new name with --proxy-host upstream",
        fixture: "45-grpc-pools",
        edits: GRPC_LEGACY_POOLED,
        args: Args::Only(&["--proxy-host", "upstream"]),
        want: Want::Clean,
        ..BASE
    },
    Case {
        name: "a dropped gRPC TLS name pin",
        fixture: "50-grpcs-tls-name",
        edits: &[edit("        grpc_ssl_name billing.internal;\n", "")],
        args: Args::Only(&[]),
        want: Want::Problem(&["location /billing.Billing/#0: the TLS name changes from Some(\"billing.internal\") to Some(\"billing_internal\")"]),
        ..BASE
    },
    // The flag turned on where the target stays an implicit upstream: the
    // application is asked to keep a connection nginx will not reuse.
    Case {
        name: "fastcgi_keep_conn without a pool",
        fixture: "44-fastcgi-pools",
        after: After::Input,
        edits: &[edit(
            "fastcgi_pass php-fpm:9000;\n    }\n\n    location /status",
            "fastcgi_pass php-fpm:9000;\n        fastcgi_keep_conn on;\n    }\n\n    location /status",
        )],
        args: Args::Only(&[]),
        want: Want::Problem(&["fastcgi_keep_conn changes from false to true"]),
        ..BASE
    },
    // The FastCGI location sent to the HTTP backend's pool: nginx would hand
    // it connections that speak HTTP.
    Case {
        name: "one pool for two protocols",
        fixture: "48-protocols-keep-their-own-pools",
        edits: &[edit("fastcgi_pass app_8080;", "fastcgi_pass app;")],
        args: Args::Only(&[]),
        want: Want::Problem(&[
            "would share the pool of upstream \"app\"",
            "protocol=fastcgi",
        ]),
        ..BASE
    },
    // ------------------------------------------------------- --resolve
    // `--resolve` rewrites of fixtures 63 and 64, each spoiled in one way
    // the rules must not.
    //
    // nginx would build a default proxy_redirect for `http://app`.
    Case {
        name: "--resolve: a dropped proxy_redirect off",
        fixture: "63-resolve-set-variables",
        edits: &[edit("        proxy_redirect off;\n", "")],
        want: Want::Problem(&["location /static/#0: proxy_redirect changes"]),
        ..BASE
    },
    // $proxy_host is `app` now: Host would change.
    Case {
        name: "--resolve: a dropped Host pin",
        fixture: "63-resolve-set-variables",
        edits: &[edit("        proxy_set_header Host app:8080;\n", "")],
        want: Want::Problem(&["location /static/#0: the headers sent changes"]),
        ..BASE
    },
    // A fixed URI without variables replaces the location prefix.
    Case {
        name: "--resolve: a fixed URI without variables",
        fixture: "63-resolve-set-variables",
        edits: &[edit(
            "proxy_pass http://$upstream_app:8080/fixed/;",
            "proxy_pass http://app/fixed/;",
        )],
        want: Want::Problem(&["location /fixed/#0: the proxied URI changes"]),
        ..BASE
    },
    // Another port.
    Case {
        name: "--resolve: another port",
        fixture: "63-resolve-set-variables",
        edits: &[edit("server app:8080 resolve;", "server app:8081 resolve;")],
        want: Want::Problem(&["location /static/#0: the backend changes"]),
        ..BASE
    },
    // Resolved once at start-up instead of following the name.
    Case {
        name: "--resolve: resolved once at start-up",
        fixture: "63-resolve-set-variables",
        edits: &[edit("server app:8080 resolve;", "server app:8080;")],
        want: Want::Problem(&["location /static/#0: the backend changes"]),
        ..BASE
    },
    // The location's own resolver, copied into the upstream, must be the
    // one it used.
    Case {
        name: "--resolve: another resolver",
        fixture: "64-resolve-resolver-and-tuning",
        edits: &[edit(
            "        resolver 127.0.0.11 valid=10s;\n        resolver_timeout 5s;\n        keepalive 32;",
            "        resolver 10.0.0.1;\n        keepalive 32;",
        )],
        want: Want::Problem(&["location /#0: the backend changes"]),
        ..BASE
    },
    // ------------------------------------- fixture 67: variable targets
    // A target with variables may speak HTTP/1.1 without `Connection:
    // close` only when every upstream its values name keeps connections,
    // and its pools follow the pool rules like any location's.
    //
    // lemmy-ui left without keepalive: its requests change for nothing.
    Case {
        name: "a variable target: one upstream it names not pooled",
        fixture: "67-variable-target-names-upstreams",
        edits: &[edit(
            "server \"lemmy-ui:1234\";\n    keepalive 32;",
            "server \"lemmy-ui:1234\";",
        )],
        args: Args::Only(&[]),
        want: Want::Problem(&[UNPOOLED]),
        ..BASE
    },
    // A value that names no upstream block is resolved per request.
    Case {
        name: "a variable target: a value that names no upstream",
        fixture: "67-variable-target-names-upstreams",
        both: &[edit(
            "\"http://lemmy\";\n        }\n        if",
            "\"http://lemmy.example\";\n        }\n        if",
        )],
        args: Args::Only(&[]),
        want: Want::Problem(&[UNPOOLED]),
        ..BASE
    },
    // A server changed behind the variable is a changed backend.
    Case {
        name: "a variable target: a server changed behind it",
        fixture: "67-variable-target-names-upstreams",
        edits: &[edit(
            "server \"lemmy-ui:1234\";",
            "server \"lemmy-ui:1235\";",
        )],
        args: Args::Only(&[]),
        want: Want::Problem(&["the backend changes"]),
        ..BASE
    },
    // lemmy's pool shared with a location that binds elsewhere.
    Case {
        name: "a variable target: its pool shared with another bind",
        fixture: "67-variable-target-names-upstreams",
        both: &[edit(
            "proxy_pass \"http://lemmy\";",
            "proxy_pass \"http://lemmy\";\n        proxy_bind 127.0.0.2;",
        )],
        args: Args::Only(&[]),
        want: Want::Problem(&["would share the pool of upstream \"lemmy\""]),
        ..BASE
    },
    // ---------------------------- fixture 69: a gRPC :authority pin
    // A `grpc_set_header Host` that keeps the old `:authority` is the same
    // request on nginx 1.31.4 and later (the value is sent as
    // `:authority`), and a different one before (a `host` header, no
    // `:authority`) or on an unknown version.
    Case {
        name: "a gRPC :authority pin on 1.31.4",
        fixture: "69-grpc-authority-pinned-on-1.31.4",
        args: Args::Only(&["--nginx-version", "1.31.4"]),
        want: Want::Clean,
        ..BASE
    },
    Case {
        name: "a gRPC :authority pin on 1.32.0",
        fixture: "69-grpc-authority-pinned-on-1.31.4",
        args: Args::Only(&["--nginx-version", "1.32.0"]),
        want: Want::Clean,
        ..BASE
    },
    Case {
        name: "a gRPC :authority pin on 1.31.3",
        fixture: "69-grpc-authority-pinned-on-1.31.4",
        args: Args::Only(&["--nginx-version", "1.31.3"]),
        want: Want::Problem(&["/orders.Orders/", ":authority"]),
        ..BASE
    },
    Case {
        name: "a gRPC :authority pin on an unknown version",
        fixture: "69-grpc-authority-pinned-on-1.31.4",
        args: Args::Only(&[]),
        want: Want::Problem(&["/orders.Orders/", ":authority"]),
        ..BASE
    },
    // An empty Host falls back to the target's authority from 1.31.4 on.
    Case {
        name: "a gRPC Host that may be empty, pin dropped",
        fixture: "69-grpc-authority-pinned-on-1.31.4",
        both: &[edit(
            "grpc_set_header X-Request-Id $request_id;",
            "grpc_set_header X-Request-Id $request_id;\n        grpc_set_header Host $http_x_host;",
        )],
        edits: &[edit("        grpc_set_header Host search:50052;\n", "")],
        args: Args::Only(&["--nginx-version", "1.31.4"]),
        want: Want::Problem(&["or search:50052 when empty"]),
        ..BASE
    },
    // ------------------------- fixture 70: an exact location's cache key
    // The default key of an exact location written out is the same key;
    // written without the arguments, or dropped, it is not.
    Case {
        name: "a cache key without the arguments",
        fixture: "70-proxy-cache-exact-location-key",
        edits: &[edit("plausible.js$is_args$args;", "plausible.js;")],
        args: Args::Only(&[]),
        want: Want::Problem(&["the cache key changes"]),
        ..BASE
    },
    Case {
        name: "a dropped cache key",
        fixture: "70-proxy-cache-exact-location-key",
        edits: &[edit(
            "        proxy_cache_key http://plausible:18000/js/plausible.js$is_args$args;\n",
            "",
        )],
        args: Args::Only(&[]),
        want: Want::Problem(&["the cache key changes"]),
        ..BASE
    },
];

/// Fixture 45's `/legacy.Legacy/` sent to a new pool, which resolves.
const GRPC_LEGACY_POOLED: &[Edit] = &[
    edit(
        "grpc_pass grpc://legacy:50053;",
        "grpc_pass grpc://legacy_pool;",
    ),
    edit(
        "server {",
        "upstream legacy_pool { server legacy:50053; keepalive 8; }\nserver {",
    ),
];

#[test]
fn wrong_rewrites_are_named_and_expected_outputs_pass() {
    if let Err(e) = run(CASES) {
        panic!("{e}");
    }
}

/// Not a rewrite: fixture 37's expected output keeps the literal target
/// that a variable target may also name.
#[test]
fn a_literal_target_a_variable_may_name_stays() {
    let expected = String::from_utf8(fixture(
        "37-variable-target-keeps-implicit-upstream",
        "expected.conf",
    ))
    .unwrap();
    assert!(
        expected.contains("proxy_pass http://shop-a:18081/healthz;"),
        "{expected}"
    );
}

/// The runner itself fails: on an empty table, two cases of one name, an
/// edit that finds nothing, a case without an expectation, and an
/// expectation the check does not meet.
#[test]
fn the_runner_can_fail() {
    let wrong = |cases: &[Case], says: &str| {
        let e = run(cases).expect_err(says);
        assert!(e.contains(says), "wanted {says:?} in:\n{e}");
    };
    wrong(&[], "an empty table");
    wrong(
        &[passes("45-grpc-pools"), passes("45-grpc-pools")],
        "two cases are named `45-grpc-pools`",
    );
    const VACUOUS: Case = Case {
        name: "vacuous",
        fixture: "45-grpc-pools",
        edits: &[edit("no such text", "")],
        want: Want::Clean,
        ..BASE
    };
    wrong(&[VACUOUS], "\"no such text\" is not in");
    wrong(
        &[Case {
            name: "unset",
            fixture: "45-grpc-pools",
            ..BASE
        }],
        "says nothing it expects",
    );
    let missed = Case {
        name: "missed",
        want: Want::Problem(&["no check says this"]),
        ..passes("45-grpc-pools")
    };
    let spoiled = Case {
        name: "spoiled",
        edits: GRPC_LEGACY_POOLED,
        args: Args::Only(&[]),
        want: Want::Clean,
        ..passes("45-grpc-pools")
    };
    // Both failures are reported, not just the first.
    let e = run(&[missed, spoiled]).unwrap_err();
    assert!(
        e.starts_with("2 of 2 cases failed")
            && e.contains("case `missed`")
            && e.contains("case `spoiled`: expected no problems"),
        "{e}"
    );
}

/// Runs every case and describes each that failed.
fn run(cases: &[Case]) -> Result<(), String> {
    if cases.is_empty() {
        return Err("an empty table checks nothing".into());
    }
    let mut names = BTreeSet::new();
    for case in cases {
        if !names.insert(case.name) {
            return Err(format!("two cases are named `{}`", case.name));
        }
    }
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|c| check(c).err().map(|e| format!("case `{}`: {e}", c.name)))
        .collect();
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} of {} cases failed:\n\n{}",
            failures.len(),
            cases.len(),
            failures.join("\n\n")
        ))
    }
}

fn check(case: &Case) -> Result<(), String> {
    let input = read(case.fixture, "input.conf")?;
    let mut before = input.clone();
    let mut after = match case.after {
        After::Expected => read(case.fixture, "expected.conf")?,
        After::Input => input,
    };
    for e in case.both {
        before = apply(&before, e, "input.conf")?;
        after = apply(&after, e, "the rewrite")?;
    }
    for e in case.edits {
        after = apply(&after, e, "the rewrite")?;
    }
    let args: Vec<String> = match case.args {
        // A fixture without an `args` file takes no arguments.
        Args::Fixture => std::fs::read_to_string(path(case.fixture, "args"))
            .or_else(|e| match e.kind() {
                std::io::ErrorKind::NotFound => Ok(String::new()),
                _ => Err(format!("{}: {e}", path(case.fixture, "args"))),
            })?
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(String::from)
            .collect(),
        Args::Only(args) => args.iter().map(|a| a.to_string()).collect(),
    };
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let options = upkeep::options_for(&args).map_err(|e| format!("args {args:?}: {e}"))?;
    let problems = upkeep::check_behaviour(
        &Source::new("before", before),
        &Source::new("after", after),
        &options,
    )
    .map_err(|e| format!("check_behaviour failed: {e:?}"))?;
    let listed = || {
        problems
            .iter()
            .map(|p| format!("\n    {p}"))
            .collect::<String>()
    };
    match case.want {
        Want::Unset => Err("says nothing it expects (want: Want::Unset)".into()),
        Want::Clean if problems.is_empty() => Ok(()),
        Want::Clean => Err(format!(
            "expected no problems (args {args:?}), got:{}",
            listed()
        )),
        Want::Problem(texts) if problems.iter().any(|p| texts.iter().all(|t| p.contains(t))) => {
            Ok(())
        }
        Want::Problem(texts) => Err(format!(
            "expected a problem holding {texts:?} (args {args:?}), got:{}",
            if problems.is_empty() {
                " none".to_string()
            } else {
                listed()
            }
        )),
    }
}

/// `e` applied to `text`, or why not (its `from` is not there).
fn apply(text: &[u8], e: &Edit, what: &str) -> Result<Vec<u8>, String> {
    let mut at = text
        .windows(e.from.len())
        .enumerate()
        .filter(|(_, w)| *w == e.from)
        .map(|(i, _)| i);
    let at = if e.last { at.next_back() } else { at.next() };
    let Some(at) = at.filter(|_| !e.from.is_empty()) else {
        return Err(format!(
            "{:?} is not in {what}: the fixture changed, and the case would check nothing",
            String::from_utf8_lossy(e.from)
        ));
    };
    let mut out = text[..at].to_vec();
    out.extend_from_slice(e.to);
    out.extend_from_slice(&text[at + e.from.len()..]);
    Ok(out)
}

fn path(name: &str, file: &str) -> String {
    format!("{}/fixtures/{name}/{file}", env!("CARGO_MANIFEST_DIR"))
}

fn read(name: &str, file: &str) -> Result<Vec<u8>, String> {
    let path = path(name, file);
    std::fs::read(&path).map_err(|e| format!("{path}: {e}"))
}

fn fixture(name: &str, file: &str) -> Vec<u8> {
    read(name, file).unwrap()
}
