//! The differential proof, per fixture. upkeep promises that a rewrite
//! changes connection reuse and nothing else a client or backend can
//! observe; for every `fixtures/<case>/` with `input.conf` and
//! `expected.conf`, real nginx runs the input ("before") and the expected
//! output ("after") against the same recording backends, gets the same
//! requests, and every observation must be equal:
//!
//! - per request: status, body, the client-visible response headers
//!   (`Location` and `Refresh` among them; not `Date`, `Expires`, the framing
//!   headers, or `Content-Length` apart from the body), which backend served
//!   it, and the method, URI and every header as the backend received it,
//!   except `Connection` and `Keep-Alive` (and the HTTP version: speaking
//!   1.1 to keep connections is the point); for WebSocket sessions the
//!   handshake status and the echoed frames;
//! - across the run: no backend accepts more connections after than before.
//!
//! With `--proxy-host upstream` or `--host-header upstream` in the args the
//! user accepted new `$proxy_host` values: `Host`, `Location` and `Refresh`
//! are not compared. With `--nginx-version` 1.29.7 or later the output
//! relies on that nginx's defaults, so connection counts are not compared.
//!
//! Backends: every literal `host:port` the input names (`*_pass` targets,
//! upstream `server` entries, `map` values) and every port-less target;
//! TLS when an `https://` target names it; a unix socket for `unix:`
//! targets. Each speaks what names it: HTTP, or FastCGI, gRPC (h2c) or
//! memcached for `fastcgi_pass`, `grpc_pass` and `memcached_pass` (and the
//! `server`s of upstream blocks they name); what those receive during a
//! request (FastCGI params and stdin but `REMOTE_PORT` and the keep-conn
//! flag, the gRPC body, the memcached key) is compared like an HTTP
//! request's headers, and their answers like any response. Cases no test
//! backend can serve are listed in `NOT_RUN` with what proves them instead. Each gets a free loopback port, substituted for the fixture's
//! port in both texts. A backend on its scheme's default port (80, 443)
//! keeps that port instead (the namespace is private, so it is free):
//! nginx leaves a default port out of `$proxy_host` and of the default
//! `proxy_redirect`, and the expected output may pin exactly those texts.
//!
//! Requests: for every `location` with a literal path (nested ones too),
//! `PATH` + `item-1?q=1` and `PATH` + `redirect-me/1` (the backend answers
//! that with a redirect to its own address); `= /exact` as is; then the
//! lines of `fixtures/<case>/requests` (`PATH | Header: value | ...`, or
//! `websocket PATH`). Three rounds, sequentially, in that order, so that a
//! location that could ride another location's pooled connection does. A
//! `proxy_cache` case gets a warm-up run on the input first and all runs
//! share the cache directory, so that a changed cache key shows as requests
//! reaching the backend.
//!
//! Trees (`fixtures/trees/`) get the same proof per main config, with
//! the includes of `input/` and `expected/` spliced in as nginx reads them
//! (`every_tree_behaves_the_same_on_real_nginx`); their `requests` file
//! works the same way.
//!
//! Everything runs in a private network namespace (`common/netns.rs`).
//! `UPKEEP_DIFF_AGAINST=upkeep` compares the input with what the current
//! upkeep writes instead of `expected.conf` (a case without one fails
//! otherwise, saying how to bless it);
//! `UPKEEP_DIFF_ONLY=34,35` runs the cases whose names start with those
//! prefixes. Differences listed in `tests/differential-known.txt` wait for a
//! fix in upkeep: they are printed but do not fail the test, and a listed
//! one that no longer occurs does, so that the list only shrinks.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Instant;

use common::backend::{escape_bytes, tls_config, Backend, Identity, Listener, SeenRequest};
use common::conf::{self, Endpoint, Match, Protocol};
use common::fastcgi::FastCgi;
use common::grpc::Grpc;
use common::memcached::Memcached;
use common::nginx::{free_port, request, websocket, Nginx};
use common::trees;
use common::*;

const ROUNDS: usize = 3;
/// Request numbers: round × `PER_ROUND` + index in the round.
const PER_ROUND: usize = 1000;
const WEBSOCKET_MESSAGES: [&str; 2] = ["hello", "upkeep"];
const KNOWN: &str = "tests/differential-known.txt";

/// Cases no test backend can serve, and what proves them instead. Any
/// other case that cannot run fails the test under `CI`; a listed case
/// that runs fails it too, so that the list only shrinks.
const NOT_RUN: &[(&str, &str)] = &[
    (
        "48-protocols-keep-their-own-pools",
        "one address answers proxy_pass and fastcgi_pass, which no real backend does; the separate pools are proven by behaviour_check::one_pool_for_two_protocols_is_refused and fixture 11 (two protocols, two ports) runs here",
    ),
    (
        "63-resolve-set-variables",
        "`server ... resolve` needs nginx 1.27.3 and Debian's is 1.22.1; the rewrite is proven by the behaviour check (behaviour_check.rs spoils it six ways) and was run by hand on nginx 1.31.5 (see CHANGELOG)",
    ),
    (
        "64-resolve-resolver-and-tuning",
        "as 63: needs nginx 1.27.3 for `resolve`; proven by the behaviour check",
    ),
    (
        "trees/links-dangling",
        "nothing is rewritten (a link whose target is missing leaves its places undecided: `--check` exits 2), so there is no before and after to compare; tests/trees.rs checks the exit code and the warning",
    ),
    (
        "50-grpcs-tls-name",
        "the test gRPC server speaks cleartext h2c only; the TLS name pin is proven by behaviour_check::a_dropped_grpc_tls_name_pin_is_refused",
    ),
];

#[test]
fn every_fixture_behaves_the_same_on_real_nginx() {
    if !netns::isolated("every_fixture_behaves_the_same_on_real_nginx") {
        return;
    }
    let Some(nginx) = require_nginx() else { return };
    let settings = settings();
    let (mut skipped, mut cases, mut missing) = (Vec::new(), Vec::new(), Vec::new());
    for f in fixtures() {
        if !settings.picks(&f.name) {
            continue;
        }
        match after_text(&f, settings.against_upkeep) {
            Ok(after) => cases.push((f, after)),
            // A case without expected.conf is a failure, not a skip.
            Err(why) if !settings.against_upkeep => missing.push(why),
            Err(why) => skipped.push(format!("{}: {why}", f.name)),
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
    let scratch = tempfile::tempdir().unwrap();
    println!(
        "before: nginx on input.conf; after: nginx on {}",
        settings.against("expected.conf")
    );
    prove(&nginx, &cases, &settings.known, skipped, scratch.path());
}

/// What the environment asks of a run (see the module's docs).
struct Settings {
    against_upkeep: bool,
    only: Vec<String>,
    known: BTreeMap<String, Vec<String>>,
}

impl Settings {
    /// Whether `UPKEEP_DIFF_ONLY` (when set) picks the case `name`.
    fn picks(&self, name: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|p| name.starts_with(p.as_str()))
    }

    /// What the "after" runs use, for the header line.
    fn against(&self, expected: &str) -> String {
        if self.against_upkeep {
            "what today's upkeep writes".into()
        } else {
            expected.into()
        }
    }
}

fn settings() -> Settings {
    let against_upkeep = match std::env::var("UPKEEP_DIFF_AGAINST").as_deref() {
        Ok("upkeep") => true,
        Ok("expected") | Err(_) => false,
        Ok(other) => panic!("UPKEEP_DIFF_AGAINST={other}: use `expected` or `upkeep`"),
    };
    Settings {
        against_upkeep,
        only: std::env::var("UPKEEP_DIFF_ONLY")
            .map(|v| v.split(',').map(|s| s.trim().to_string()).collect())
            .unwrap_or_default(),
        known: if against_upkeep {
            BTreeMap::new()
        } else {
            known_differences()
        },
    }
}

/// The same proof for every tree of `fixtures/trees/` that has an
/// `expected/`: for each main config its `nginx-t` names, the config nginx
/// reads from a copy of `input/` (before) and of `expected/` (after), each
/// `include` spliced in where it stands (`conf::flatten`, the tests' own
/// reader: `--path-map` and `--prefix` from the case's args, globs in
/// nginx's order). Real nginx runs the spliced text; `nginx -T` on the
/// trees themselves is `tests/trees.rs`. Directives that name the
/// machine's own paths (`user`, `pid`, `error_log`, `access_log`) are left
/// out of both runs: the harness owns the process and its logs, and none
/// of them changes what a client or backend sees.
#[test]
fn every_tree_behaves_the_same_on_real_nginx() {
    if !netns::isolated("every_tree_behaves_the_same_on_real_nginx") {
        return;
    }
    let Some(nginx) = require_nginx() else { return };
    let settings = settings();
    let scratch = tempfile::tempdir().unwrap();
    let (mut cases, mut skipped) = (Vec::new(), Vec::new());
    for case in trees::tree_cases() {
        let name = format!("trees/{}", case.name);
        if !settings.picks(&name) {
            continue;
        }
        match case.outcome() {
            Ok(trees::Outcome::Writes) => {}
            Ok(trees::Outcome::Refuses(_)) => {
                println!("{name}: upkeep refuses the tree (its `exit`): nothing is written, nothing to compare");
                continue;
            }
            Err(e) => panic!("{e}"),
        }
        if case.mains().is_empty() {
            skipped.push(format!("{name}: no main config to run (no `nginx-t`)"));
            continue;
        }
        let work = scratch.path().join(&case.name);
        let (before, after) = (work.join("before"), work.join("after"));
        pointed_into(&case, &before).copy("input", &before);
        if settings.against_upkeep {
            let placed = pointed_into(&case, &after);
            placed.copy("input", &after);
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_upkeep"))
                .args(&placed.args)
                .args(["--write", "--color=never"])
                .current_dir(&after)
                .output()
                .unwrap();
            if !matches!(out.status.code(), Some(0 | 1)) {
                skipped.push(format!(
                    "{name}: today's upkeep refuses the tree: {}",
                    String::from_utf8_lossy(&out.stderr)
                ));
                continue;
            }
        } else {
            pointed_into(&case, &after).copy("expected", &after);
        }
        for main in case.mains() {
            let read = |root: &Path| -> Result<Vec<u8>, String> {
                let prefix = match case.args.iter().position(|a| a == "--prefix") {
                    Some(i) => root.join(&case.args[i + 1]),
                    None => root.join(&main).parent().unwrap().to_path_buf(),
                };
                let maps: Vec<(PathBuf, PathBuf)> = case
                    .path_maps()
                    .into_iter()
                    .map(|(from, to)| (PathBuf::from(from), root.join(to)))
                    .collect();
                conf::flatten(&root.join(&main), &prefix, &maps).map(|t| host_paths_removed(&t))
            };
            match (read(&before), read(&after)) {
                (Ok(input), Ok(after)) => cases.push((
                    Fixture {
                        name: format!("{name}/{main}"),
                        dir: case.dir.clone(),
                        input,
                        expected: None,
                        args: case.args.clone(),
                    },
                    after,
                )),
                (Err(e), _) | (_, Err(e)) => panic!("{name}/{main}: {e}"),
            }
        }
    }
    println!(
        "before: nginx on input/; after: nginx on {}",
        settings.against("expected/")
    );
    prove(&nginx, &cases, &settings.known, skipped, scratch.path());
}

/// The case with its links out of the tree (`$OUTSIDE`) leading into the
/// copy at `tree`, where its `--path-map $OUTSIDE=DIR` says the
/// repository's copy is: nginx then reads through the links what upkeep
/// read.
fn pointed_into(case: &trees::TreeCase, tree: &Path) -> trees::TreeCase {
    if case.links().is_empty() {
        return case.clone();
    }
    let machine = tree.with_extension("machine");
    let placed = case.pointed(&machine);
    let to = placed
        .path_maps()
        .into_iter()
        .find(|(from, _)| Path::new(from) == machine)
        .map(|(_, to)| to)
        .expect("a tree with links out of it maps them back (--path-map $OUTSIDE=DIR)");
    std::fs::create_dir_all(machine.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(tree.join(to), &machine).unwrap();
    placed
}

/// `text` without the directives that name the machine's own paths.
fn host_paths_removed(text: &[u8]) -> Vec<u8> {
    let tree = conf::parse(text);
    let edits = conf::walk(&tree)
        .into_iter()
        .filter(|(ctx, d)| {
            matches!(d.name.as_str(), "access_log" | "error_log")
                || (ctx.is_empty() && matches!(d.name.as_str(), "user" | "pid"))
        })
        .map(|(_, d)| (d.span.clone(), Vec::new()))
        .collect();
    conf::splice(text, edits)
}

/// Runs every case (a fixture, with the text nginx runs after) and fails
/// on any unexpected difference; `skipped` lists cases that cannot run.
fn prove(
    nginx: &Path,
    cases: &[(Fixture, Vec<u8>)],
    known: &BTreeMap<String, Vec<String>>,
    mut skipped: Vec<String>,
    scratch: &Path,
) {
    let mut names: Vec<String> = Vec::new();
    for (f, after) in cases {
        for name in host_names_of(&f.input, after) {
            if !names.iter().any(|n| n.eq_ignore_ascii_case(&name)) {
                names.push(name);
            }
        }
    }
    netns::map_hosts(&names, scratch);

    let started = Instant::now();
    let (mut compared, mut failed) = (0, Vec::new());
    for (f, after) in cases {
        let listed = known.get(&f.name).cloned().unwrap_or_default();
        match check(nginx, f, after, &listed, scratch) {
            Ok(problems) => {
                compared += 1;
                if !problems.is_empty() {
                    failed.push(format!("{}:\n  {}", f.name, problems.join("\n  ")));
                }
            }
            Err(why) => skipped.push(format!("{}: {why}", f.name)),
        }
    }
    println!(
        "\n{compared} cases compared in {:.1} s; {} differ; {} skipped",
        started.elapsed().as_secs_f64(),
        failed.len(),
        skipped.len()
    );
    for s in &skipped {
        println!("  skipped: {s}");
    }
    let declared = |s: &String| {
        NOT_RUN
            .iter()
            .any(|(name, _)| s.starts_with(&format!("{name}:")))
    };
    for (name, instead) in NOT_RUN {
        println!("  not run by design: {name}: {instead}");
    }
    let ran_anyway: Vec<&str> = NOT_RUN
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| {
            cases.iter().any(|(f, _)| f.name == *name)
                && !skipped.iter().any(|s| s.starts_with(&format!("{name}:")))
        })
        .collect();
    assert!(
        ran_anyway.is_empty(),
        "listed in NOT_RUN but ran: {ran_anyway:?}; remove them from the list"
    );
    let undeclared: Vec<&String> = skipped.iter().filter(|s| !declared(s)).collect();
    assert!(
        undeclared.is_empty() || std::env::var_os("CI").is_none(),
        "cases that could not run (CI is set): {undeclared:?}"
    );
    assert!(compared > 0, "no case ran: nothing proves anything");
    assert!(
        failed.is_empty(),
        "before and after differ:\n\n{}",
        failed.join("\n\n")
    );
}

/// The "after" config: expected.conf, or what upkeep writes today.
fn after_text(f: &Fixture, against_upkeep: bool) -> Result<Vec<u8>, String> {
    if !against_upkeep {
        return f.expected().map(<[u8]>::to_vec);
    }
    let config = try_config_for(&f.args).map_err(|e| {
        format!(
            "today's upkeep does not take the args: {}",
            e.lines().next().unwrap_or("")
        )
    })?;
    let source = upkeep::Source::new(format!("{}/input.conf", f.name), f.input.clone());
    upkeep::process(&source, &config)
        .map(|r| r.new_text)
        .map_err(|e| format!("today's upkeep refuses the input: {e}"))
}

/// `FIXTURE: KIND, KIND` lines of [`KNOWN`], by fixture.
fn known_differences() -> BTreeMap<String, Vec<String>> {
    let text = std::fs::read_to_string(repo().join(KNOWN)).unwrap_or_default();
    text.lines()
        .map(|l| l.split('#').next().unwrap().trim())
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (name, kinds) = l
                .split_once(':')
                .unwrap_or_else(|| panic!("{KNOWN}: `{l}` is not `FIXTURE: KIND, ...`"));
            let kinds = kinds.split(',').map(|k| k.trim().to_string()).collect();
            (name.trim().to_string(), kinds)
        })
        .collect()
}

/// Host names nginx must resolve: every name the configs connect to.
fn host_names_of(input: &[u8], after: &[u8]) -> Vec<String> {
    let mut names = host_names(&format!(
        "{}\n{}",
        String::from_utf8_lossy(input),
        String::from_utf8_lossy(after)
    ));
    let tree = conf::parse(input);
    for t in conf::targets(&tree, &conf::upstream_names(&tree)) {
        if let Endpoint::Tcp { host, .. } = t.endpoint {
            if host.parse::<IpAddr>().is_err() && !host.starts_with('[') {
                names.push(host);
            }
        }
    }
    names.retain(|n| n != "localhost");
    names
}

struct Request {
    /// Index of the http `server` it goes to.
    server: usize,
    path: String,
    headers: Vec<(String, String)>,
    websocket: bool,
}

impl Request {
    fn describe(&self) -> String {
        let mut s = format!(
            "{}{}",
            if self.websocket { "websocket " } else { "" },
            self.path
        );
        for (n, v) in &self.headers {
            let _ = write!(s, " | {n}: {v}");
        }
        s
    }
}

/// Runs one case and prints its table. Returns what makes it fail (empty:
/// it passes), or why it cannot run here (a skip).
fn check(
    nginx: &Path,
    f: &Fixture,
    after: &[u8],
    known: &[String],
    scratch: &Path,
) -> Result<Vec<String>, String> {
    let started = Instant::now();
    // `server ... resolve` (`--resolve`) needs nginx 1.27.3; an older
    // nginx cannot run the output (fixtures.rs checks its text).
    let installed = nginx_version(nginx).unwrap_or((0, 0, 0));
    if installed < RESOLVE_SINCE && without_resolve(after).is_some() {
        return Err(format!(
            "the output's `server ... resolve` needs nginx 1.27.3; this nginx is {}.{}.{}",
            installed.0, installed.1, installed.2
        ));
    }
    let tree = conf::parse(&f.input);
    if conf::has_stream(&tree) && !Path::new(STREAM_MODULE).exists() {
        return Err(format!("the stream context needs {STREAM_MODULE}"));
    }
    let arg = |name: &str| {
        f.args.iter().enumerate().find_map(|(i, a)| {
            a.strip_prefix(&format!("{name}="))
                .map(str::to_string)
                .or_else(|| (a == name).then(|| f.args.get(i + 1).cloned()).flatten())
        })
    };
    let newer_nginx = arg("--nginx-version").is_some_and(|v| {
        let n: Vec<u32> = v.split('.').filter_map(|p| p.parse().ok()).collect();
        n >= vec![1, 29, 7]
    });
    let host_may_change = arg("--proxy-host").as_deref() == Some("upstream")
        || arg("--host-header").as_deref() == Some("upstream");
    let mut notes = Vec::new();

    let case_dir = tempfile::tempdir_in(scratch).unwrap();
    let Setup {
        backends,
        before,
        after,
    } = plan_backends(&tree, &f.input, after, case_dir.path())?;
    let requests = match plan_requests(f, &tree, &mut notes) {
        Ok(r) => r,
        Err(e) => return Ok(vec![e]),
    };
    let uses_cache = conf::walk(&tree)
        .iter()
        .any(|(_, d)| d.name == "proxy_cache" && d.arg(0) != "off");

    // Both runs on the same ports, so that absolute redirects compare.
    let servers = conf::http_servers(&tree)
        .len()
        .max(conf::http_servers(&conf::parse(&after)).len());
    let ports: Vec<u16> = (0..servers).map(|_| free_port()).collect();
    let prefix = case_dir.path().join("prefix");
    let nginx_on =
        |config: &[u8], name: &str| run(nginx, config, &prefix, name, &ports, &backends, &requests);
    // nginx runs every input here (the stream module is checked above): a
    // failure is the harness's, and must show.
    let input_fails = |e: String| Ok(vec![format!("nginx on the input: {e}")]);
    if uses_cache {
        if let Err(e) = nginx_on(&before, "warm-up") {
            return input_fails(e);
        }
        notes
            .push("proxy_cache: after a warm-up run on the input, all runs share its cache".into());
    }
    let old = match nginx_on(&before, "before") {
        Ok(run) => run,
        Err(e) => return input_fails(e),
    };
    let new = match nginx_on(&after, "after") {
        Ok(run) => run,
        // The input runs, so the output must.
        Err(e) => return Ok(vec![format!("nginx on the output: {e}")]),
    };

    let mut diffs = compare(&requests, &old, &new, host_may_change);
    let mut table = format!(
        "   {:<26} {:>6} {:>22} {:>25}\n",
        "backend", "port", "requests before/after", "connections before/after"
    );
    for (i, b) in backends.iter().enumerate() {
        let (cb, ca) = (old.connections[i], new.connections[i]);
        let _ = writeln!(
            table,
            "   {:<26} {:>6} {:>22} {:>25}",
            b.name,
            b.port,
            format!("{} / {}", old.requests[i], new.requests[i]),
            format!("{cb} / {ca}")
        );
        if ca > cb && !newer_nginx {
            diffs.push(Difference {
                kind: "connections".into(),
                text: format!(
                    "backend {}: {ca} connections after, {cb} before: the rewrite must not open more",
                    b.name
                ),
            });
        }
    }
    if newer_nginx {
        notes.push(
            "--nginx-version 1.29.7+: the output relies on that nginx's defaults; connection counts not compared"
                .into(),
        );
    }
    if host_may_change {
        notes.push("new $proxy_host accepted: Host, Location and Refresh not compared".into());
    }

    let (expected, unexpected): (Vec<_>, Vec<_>) =
        diffs.iter().partition(|d| known.contains(&d.kind));
    let stale: Vec<&String> = known
        .iter()
        .filter(|k| !diffs.iter().any(|d| &d.kind == *k))
        .collect();
    let websockets = requests.iter().filter(|r| r.websocket).count();
    println!(
        "\n== {}: {} requests{} × {ROUNDS} rounds in {:.2} s: {}",
        f.name,
        requests.len() - websockets,
        if websockets > 0 {
            format!(
                " and {websockets} WebSocket session{}",
                if websockets == 1 { "" } else { "s" }
            )
        } else {
            String::new()
        },
        started.elapsed().as_secs_f64(),
        match (diffs.is_empty(), unexpected.is_empty()) {
            (true, _) => "same",
            (false, true) => "known differences only",
            (false, false) => "DIFFERENT",
        }
    );
    print!("{table}");
    for n in &notes {
        println!("   note: {n}");
    }
    for d in &expected {
        println!("   known ({KNOWN}): {}", d.text);
    }
    let mut problems: Vec<String> = unexpected.iter().map(|d| d.text.clone()).collect();
    problems.extend(stale.iter().map(|k| {
        format!("`{k}` is listed in {KNOWN} but no longer differs: remove it from the list")
    }));
    for p in &problems {
        println!("   differs: {p}");
    }
    Ok(problems)
}

/// A backend of a case, speaking what the config's `*_pass` expects.
struct TestBackend {
    name: String,
    port: u16,
    served: Served,
}

enum Served {
    Http(Backend),
    FastCgi(FastCgi),
    Grpc(Grpc),
    Memcached(Memcached),
}

impl TestBackend {
    fn connections(&self) -> usize {
        match &self.served {
            Served::Http(b) => b.connections(),
            Served::FastCgi(b) => b.connections(),
            Served::Grpc(b) => b.connections(),
            Served::Memcached(b) => b.connections(),
        }
    }

    fn requests(&self) -> usize {
        match &self.served {
            Served::Http(b) => b.requests(),
            Served::FastCgi(b) => b.requests(),
            Served::Grpc(b) => b.requests(),
            Served::Memcached(b) => b.requests(),
        }
    }

    /// What reached an HTTP backend (each request carries its number in
    /// `X-Upkeep-Seq`), taken out of its record.
    fn take_http(&self) -> Vec<SeenRequest> {
        match &self.served {
            Served::Http(b) => b.stats.seen.lock().unwrap().drain(..).collect(),
            _ => Vec::new(),
        }
    }

    /// What reached a FastCGI, gRPC or memcached backend since the last
    /// call, as requests: requests run one at a time, so whatever arrived
    /// while one ran is its. What a pooled connection may change is left
    /// out (`REMOTE_PORT`, the `FCGI_KEEP_CONN` flag, connection and
    /// stream numbers); everything else is compared.
    fn take_calls(&self) -> Vec<SeenRequest> {
        let seen = |method: &str, uri: String, headers: BTreeMap<String, String>| SeenRequest {
            method: method.into(),
            uri,
            version: String::new(),
            headers,
        };
        match &self.served {
            Served::Http(_) => Vec::new(),
            Served::FastCgi(b) => b
                .stats
                .seen
                .lock()
                .unwrap()
                .drain(..)
                .map(|r| {
                    let mut params: BTreeMap<String, String> = r
                        .params
                        .iter()
                        .filter(|(n, _)| n.as_str() != "REMOTE_PORT")
                        .map(|(n, v)| (format!("param {n}"), v.clone()))
                        .collect();
                    params.insert("stdin".into(), escape_bytes(&r.stdin));
                    seen("FastCGI", r.param("SCRIPT_FILENAME").to_string(), params)
                })
                .collect(),
            Served::Grpc(b) => b
                .stats
                .seen
                .lock()
                .unwrap()
                .drain(..)
                .map(|c| {
                    let body = [("body".to_string(), escape_bytes(&c.body))].into();
                    seen("gRPC call", String::new(), body)
                })
                .collect(),
            Served::Memcached(b) => b
                .stats
                .seen
                .lock()
                .unwrap()
                .drain(..)
                .map(|g| seen("memcached get", g.key, BTreeMap::new()))
                .collect(),
        }
    }
}

/// The backends of a case and the texts nginx runs.
struct Setup {
    /// In the order the input names them.
    backends: Vec<TestBackend>,
    before: Vec<u8>,
    after: Vec<u8>,
}

/// Starts a backend per address the input names and substitutes their
/// ports (and unix socket paths) in both texts.
fn plan_backends(
    tree: &[conf::Directive],
    input: &[u8],
    after: &[u8],
    scratch: &Path,
) -> Result<Setup, String> {
    // One per backend: hosts compare case-insensitively, a port-less
    // target means its scheme's default port; the first spelling is kept.
    let key = |t: &conf::Target| match &t.endpoint {
        Endpoint::Tcp { host, port } => format!(
            "{}:{}",
            host.to_ascii_lowercase(),
            port.unwrap_or(if t.tls { 443 } else { 80 })
        ),
        Endpoint::Unix { path } => format!("unix:{path}"),
    };
    let mut specs: Vec<conf::Target> = Vec::new();
    for t in conf::targets(tree, &conf::upstream_names(tree)) {
        match specs.iter_mut().find(|s| key(s) == key(&t)) {
            Some(s) if s.protocol != t.protocol => {
                return Err(format!(
                    "{} is named by *_pass directives of two protocols ({:?}, {:?}); no test backend speaks both",
                    key(&t),
                    s.protocol,
                    t.protocol
                ))
            }
            Some(s) => s.tls |= t.tls,
            None => specs.push(t),
        }
    }

    let (mut before, mut after) = (input.to_vec(), after.to_vec());
    let mut backends = Vec::new();
    for (n, spec) in specs.into_iter().enumerate() {
        let (listener, label, authority) = match &spec.endpoint {
            Endpoint::Unix { path } => {
                let socket = scratch.join(format!("backend-{n}.sock"));
                let listener = Listener::unix(&socket)
                    .map_err(|e| format!("bind {}: {e}", socket.display()))?;
                let new = format!("unix:{}", socket.display());
                before = replace_path(&before, &format!("unix:{path}"), &new);
                after = replace_path(&after, &format!("unix:{path}"), &new);
                (listener, format!("unix:{path}"), format!("{new}:"))
            }
            Endpoint::Tcp { host, port } => {
                let default_port = if spec.tls { 443 } else { 80 };
                let written_port = port.unwrap_or(default_port);
                let keep_port = written_port == default_port;
                // A non-loopback address moves to loopback (also in the
                // texts); names resolve to 127.0.0.1.
                let (ip, new_host) = match host.trim_matches(['[', ']']).parse::<IpAddr>() {
                    Ok(ip) if ip.is_loopback() => (ip, None),
                    Ok(IpAddr::V6(_)) => (Ipv6Addr::LOCALHOST.into(), Some("[::1]".to_string())),
                    Ok(IpAddr::V4(_)) => {
                        (Ipv4Addr::LOCALHOST.into(), Some("127.0.0.1".to_string()))
                    }
                    Err(_) => (Ipv4Addr::LOCALHOST.into(), None),
                };
                if keep_port && new_host.is_some() {
                    return Err(format!(
                        "backend {host}:{written_port}: a non-loopback address on its default port cannot move to loopback"
                    ));
                }
                let listener = Listener::tcp(SocketAddr::new(
                    ip,
                    if keep_port { written_port } else { 0 },
                ))
                .map_err(|e| format!("backend {host}:{written_port}: {e}"))?;
                let real = listener.port();
                if !keep_port {
                    let new_host = new_host.as_deref();
                    before = replace_authority(&before, host, written_port, new_host, real);
                    after = replace_authority(&after, host, written_port, new_host, real);
                    // upkeep writes an old `$proxy_port` out as a bare
                    // number (`X-Forwarded-Port 18081`); fixtures give such
                    // backends ports of 10000 and up, used for nothing else.
                    if written_port >= 10000 {
                        before = replace_port(&before, written_port, real);
                        after = replace_port(&after, written_port, real);
                    }
                }
                let shown = new_host.unwrap_or_else(|| host.clone());
                let authority = match port {
                    Some(_) => format!("{shown}:{real}"),
                    None => shown,
                };
                (listener, format!("{host}:{written_port}"), authority)
            }
        };
        let tls = match (&spec.endpoint, spec.tls) {
            (Endpoint::Tcp { host, .. }, true) if spec.protocol == Protocol::Http => {
                let pki = pki::pki()?;
                let (cert, key) = pki.server(&host.to_ascii_lowercase())?;
                Some(tls_config(&cert, &key, &pki.ca())?)
            }
            (_, true) => {
                return Err(format!(
                "{label}: a {:?} backend over TLS (the test backends speak it in cleartext only)",
                spec.protocol
            ))
            }
            _ => None,
        };
        let port = listener.port();
        let served = match spec.protocol {
            Protocol::Http => Served::Http(Backend::serve(
                listener,
                Identity {
                    label: label.clone(),
                    authority,
                    tls,
                },
            )),
            Protocol::FastCgi => Served::FastCgi(FastCgi::on(listener, &label)),
            Protocol::Grpc => Served::Grpc(Grpc::on(listener, &label)),
            Protocol::Memcached => Served::Memcached(Memcached::on(listener, &label)),
        };
        backends.push(TestBackend {
            name: label,
            port,
            served,
        });
    }
    Ok(Setup {
        backends,
        before,
        after,
    })
}

/// `host:port` → `host:new_port` wherever a config names it (the host in
/// any letter case, kept as written, or replaced by `new_host`); not inside a
/// longer name or port.
fn replace_authority(
    text: &[u8],
    host: &str,
    port: u16,
    new_host: Option<&str>,
    new_port: u16,
) -> Vec<u8> {
    let needle = format!("{host}:{port}").into_bytes();
    let name_byte = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_');
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let end = i + needle.len();
        let here = end <= text.len()
            && text[i..end].eq_ignore_ascii_case(&needle)
            && (host.starts_with('[') || i == 0 || !name_byte(text[i - 1]))
            && text.get(end).is_none_or(|b| !b.is_ascii_digit());
        if here {
            match new_host {
                Some(h) => out.extend_from_slice(h.as_bytes()),
                None => out.extend_from_slice(&text[i..i + host.len()]),
            }
            out.extend_from_slice(format!(":{new_port}").as_bytes());
            i = end;
        } else {
            out.push(text[i]);
            i += 1;
        }
    }
    out
}

/// A port number standing alone (not inside a longer number).
fn replace_port(text: &[u8], port: u16, new_port: u16) -> Vec<u8> {
    let needle = port.to_string().into_bytes();
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let end = i + needle.len();
        let here = text[i..].starts_with(&needle)
            && (i == 0 || !text[i - 1].is_ascii_digit())
            && text.get(end).is_none_or(|b| !b.is_ascii_digit());
        if here {
            out.extend_from_slice(new_port.to_string().as_bytes());
            i = end;
        } else {
            out.push(text[i]);
            i += 1;
        }
    }
    out
}

/// `unix:/path` → `unix:/new` where the path ends there.
fn replace_path(text: &[u8], from: &str, to: &str) -> Vec<u8> {
    let path_byte = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'/');
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let end = i + from.len();
        if text[i..].starts_with(from.as_bytes()) && !text.get(end).is_some_and(path_byte) {
            out.extend_from_slice(to.as_bytes());
            i = end;
        } else {
            out.push(text[i]);
            i += 1;
        }
    }
    out
}

/// The requests for a case: derived from its locations, then the lines of
/// its `requests` file.
fn plan_requests(
    f: &Fixture,
    tree: &[conf::Directive],
    notes: &mut Vec<String>,
) -> Result<Vec<Request>, String> {
    let servers = conf::http_servers(tree);
    let has_resolver = conf::walk(tree).iter().any(|(_, d)| d.name == "resolver");
    let host_of = |s: &conf::Directive| conf::plain_server_name(s).unwrap_or("app.test".into());
    let mut requests = Vec::new();
    for (i, server) in servers.iter().enumerate() {
        let host = host_of(server);
        for (location, m) in conf::locations(server) {
            let paths = match &m {
                Match::Prefix(p) => vec![format!("{p}item-1?q=1"), format!("{p}redirect-me/1")],
                Match::Exact(p) => vec![p.clone()],
                Match::Other(what) => {
                    notes.push(format!(
                        "location {what}: regex or named, not requested unless listed in `requests`"
                    ));
                    continue;
                }
            };
            if has_resolver && conf::proxies_to_variable(location) {
                notes.push(format!(
                    "location {}: its target is resolved per request through `resolver`, and no DNS server answers in the private namespace",
                    location.args.join(" ")
                ));
                continue;
            }
            for path in paths {
                requests.push(Request {
                    server: i,
                    path,
                    headers: vec![("Host".into(), host.clone())],
                    websocket: false,
                });
            }
        }
    }
    let Ok(text) = std::fs::read_to_string(f.dir.join("requests")) else {
        return Ok(requests);
    };
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut parts = line.split(" | ");
        let first = parts.next().unwrap().trim();
        let (websocket, path) = match first.strip_prefix("websocket ") {
            Some(p) => (true, p.trim()),
            None => (false, first),
        };
        let mut headers = Vec::new();
        for h in parts {
            let (n, v) = h
                .split_once(':')
                .ok_or_else(|| format!("requests: `{h}` is not `Name: value`"))?;
            headers.push((n.trim().to_string(), v.trim().to_string()));
        }
        // A Host naming a server goes to that server; otherwise the first.
        let named = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("host"))
            .map(|(_, v)| v.clone());
        let server = named
            .as_ref()
            .and_then(|h| {
                servers.iter().position(|s| {
                    s.block
                        .iter()
                        .any(|d| d.name == "server_name" && d.args.contains(h))
                })
            })
            .unwrap_or(0);
        if named.is_none() {
            headers.insert(
                0,
                (
                    "Host".into(),
                    servers
                        .first()
                        .map(|s| host_of(s))
                        .unwrap_or("app.test".into()),
                ),
            );
        }
        requests.push(Request {
            server,
            path: path.to_string(),
            headers,
            websocket,
        });
    }
    Ok(requests)
}

/// What one run saw.
struct Run {
    /// By request number.
    observed: BTreeMap<usize, Observation>,
    connections: Vec<usize>,
    requests: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq)]
struct Observation {
    status: u16,
    body: String,
    headers: BTreeMap<String, String>,
    /// What reached a backend, with the backend's label.
    reached: Vec<(String, SeenRequest)>,
    echoed: Vec<String>,
}

/// Response headers that differ between any two runs, or only with the
/// body.
const UNSTABLE: [&str; 6] = [
    "date",
    "expires",
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
];

fn run(
    nginx: &Path,
    config: &[u8],
    prefix: &Path,
    name: &str,
    ports: &[u16],
    backends: &[TestBackend],
    requests: &[Request],
) -> Result<Run, String> {
    let conns: Vec<usize> = backends.iter().map(TestBackend::connections).collect();
    let reqs: Vec<usize> = backends.iter().map(TestBackend::requests).collect();
    // The hosts are mapped for the whole namespace already.
    let server = Nginx::launch(nginx, config, &[], prefix, name, ports)?;
    let mut observed = BTreeMap::new();
    for round in 0..ROUNDS {
        for (i, r) in requests.iter().enumerate() {
            let seq = round * PER_ROUND + i;
            let mut headers = r.headers.clone();
            headers.push(("X-Upkeep-Seq".into(), seq.to_string()));
            headers.push(("User-Agent".into(), "upkeep-differential".into()));
            let host = headers
                .iter()
                .position(|(n, _)| n.eq_ignore_ascii_case("host"))
                .map(|i| headers.remove(i).1)
                .unwrap_or_else(|| "app.test".into());
            let port = server.ports.get(r.server).copied().unwrap_or(server.port);
            let observation = if r.websocket {
                let (status, echoed) =
                    websocket(port, &host, &r.path, &headers, &WEBSOCKET_MESSAGES);
                Observation {
                    status,
                    body: String::new(),
                    headers: BTreeMap::new(),
                    reached: Vec::new(),
                    echoed,
                }
            } else {
                let response = request(port, &host, &r.path, &headers);
                Observation {
                    status: response.status,
                    body: escape_bytes(&response.body),
                    headers: response
                        .headers
                        .iter()
                        .filter(|(n, _)| !UNSTABLE.contains(&n.as_str()))
                        .map(|(n, v)| (n.clone(), v.clone()))
                        .collect(),
                    reached: Vec::new(),
                    echoed: Vec::new(),
                }
            };
            let mut observation = observation;
            for b in backends {
                for call in b.take_calls() {
                    observation.reached.push((b.name.clone(), call));
                }
            }
            observed.insert(seq, observation);
        }
    }
    // Stopped, nginx has closed every backend connection it opened, and
    // every one of them has been accepted and counted.
    drop(server);
    for b in backends {
        for s in b.take_http() {
            let seq = s.headers.get("x-upkeep-seq").and_then(|v| v.parse().ok());
            if let Some(o) = seq.and_then(|seq: usize| observed.get_mut(&seq)) {
                o.reached.push((b.name.clone(), s));
            }
        }
    }
    Ok(Run {
        observed,
        connections: backends
            .iter()
            .zip(conns)
            .map(|(b, c)| b.connections() - c)
            .collect(),
        requests: backends
            .iter()
            .zip(reqs)
            .map(|(b, r)| b.requests() - r)
            .collect(),
    })
}

/// One difference between the runs; `kind` names what differs
/// (`status`, `response header location`, `backend saw header host`, ...).
struct Difference {
    kind: String,
    text: String,
}

/// Every difference between the runs; one per request, kind and values,
/// with the rounds it occurred in.
fn compare(requests: &[Request], old: &Run, new: &Run, host_may_change: bool) -> Vec<Difference> {
    // (request, rank of the kind, kind, before, after) → rounds; the rank
    // puts the telling differences of a request first.
    let mut found: BTreeMap<(usize, usize, String, String, String), Vec<usize>> = BTreeMap::new();
    let rank = |kind: &str| {
        [
            "status",
            "reached",
            "body",
            "echoed frames",
            "response header",
            "backend saw",
        ]
        .iter()
        .position(|k| kind.starts_with(k))
        .unwrap_or(usize::MAX)
    };
    let ignored_response = |n: &str| host_may_change && (n == "location" || n == "refresh");
    let ignored_request =
        |n: &str| n == "connection" || n == "keep-alive" || (host_may_change && n == "host");
    for (seq, before) in &old.observed {
        let after = &new.observed[seq];
        let (round, index) = (seq / PER_ROUND + 1, seq % PER_ROUND);
        let mut differ = |kind: String, b: String, a: String| {
            if b != a {
                found
                    .entry((index, rank(&kind), kind, b, a))
                    .or_default()
                    .push(round);
            }
        };
        differ(
            "status".into(),
            before.status.to_string(),
            after.status.to_string(),
        );
        differ("body".into(), quote(&before.body), quote(&after.body));
        differ(
            "echoed frames".into(),
            format!("{:?}", before.echoed),
            format!("{:?}", after.echoed),
        );
        // With another status the headers differ as a matter of course.
        if before.status == after.status {
            let names: BTreeSet<&String> =
                before.headers.keys().chain(after.headers.keys()).collect();
            for n in names.into_iter().filter(|n| !ignored_response(n)) {
                differ(
                    format!("response header {n}"),
                    shown(before.headers.get(n)),
                    shown(after.headers.get(n)),
                );
            }
        }
        let reached = |o: &Observation| -> String {
            let all: Vec<String> = o
                .reached
                .iter()
                .map(|(b, s)| format!("{b} got {} {}", s.method, s.uri))
                .collect();
            if all.is_empty() {
                "no backend".into()
            } else {
                all.join("; ")
            }
        };
        if reached(before) != reached(after) {
            differ("reached".into(), reached(before), reached(after));
            continue;
        }
        for ((_, b), (_, a)) in before.reached.iter().zip(&after.reached) {
            let names: BTreeSet<&String> = b.headers.keys().chain(a.headers.keys()).collect();
            for n in names.into_iter().filter(|n| !ignored_request(n)) {
                // nginx caches TLS sessions per peer of an upstream. Before,
                // every location naming one host:port shared one implicit
                // upstream, so a location with a client certificate resumed
                // a session another location opened without one and sent
                // none. Separate pools (required: connections must not be
                // shared across TLS settings) end that: the certificate the
                // config names is now sent. Allowed in this direction only.
                if n == "x-tls-client-cert"
                    && b.headers.get(n).map(String::as_str) == Some("no")
                    && a.headers.get(n).map(String::as_str) == Some("yes")
                {
                    continue;
                }
                differ(
                    format!("backend saw header {n}"),
                    shown(b.headers.get(n)),
                    shown(a.headers.get(n)),
                );
            }
        }
    }
    found
        .into_iter()
        .map(|((index, _, kind, b, a), rounds)| Difference {
            text: format!(
                "`{}` (round{} {}): {kind}: before {b}, after {a}",
                requests[index].describe(),
                if rounds.len() == 1 { "" } else { "s" },
                rounds
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            kind,
        })
        .collect()
}

/// A value in quotes, line breaks visible; `\xNN` stands for a byte that
/// is not UTF-8.
fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\r', "\\r").replace('\n', "\\n"))
}

fn shown(v: Option<&String>) -> String {
    v.map_or_else(|| "(none)".into(), |v| quote(v))
}

#[test]
fn ports_are_replaced_only_where_the_backend_is_named() {
    let text = b"proxy_pass http://Api:8080/; server api:8080; x-api:8080 api:80801 api:8080$uri";
    assert_eq!(
        String::from_utf8(replace_authority(text, "api", 8080, None, 41000)).unwrap(),
        "proxy_pass http://Api:41000/; server api:41000; x-api:8080 api:80801 api:41000$uri"
    );
    assert_eq!(
        String::from_utf8(replace_authority(
            b"server 10.0.0.5:8000;",
            "10.0.0.5",
            8000,
            Some("127.0.0.1"),
            9
        ))
        .unwrap(),
        "server 127.0.0.1:9;"
    );
    assert_eq!(
        String::from_utf8(replace_path(
            b"unix:/run/a.sock:/ unix:/run/a.sock; unix:/run/a.sock2",
            "unix:/run/a.sock",
            "unix:/t/b.sock"
        ))
        .unwrap(),
        "unix:/t/b.sock:/ unix:/t/b.sock; unix:/run/a.sock2"
    );
}
