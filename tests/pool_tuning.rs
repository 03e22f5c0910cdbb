//! Pool tuning (issue 13): `--keepalive-timeout`, `--keepalive-requests`,
//! `--keepalive-time`, `--backend-idle-timeout` and `--tune-existing`.
//!
//! - The flags as users meet them: the errors (exit 2, nothing written),
//!   upkeep.toml's keys, the notes.
//! - The values upkeep accepts are the ones nginx accepts: a table of
//!   times and counts through upkeep's parsers and through real `nginx -t`.
//! - On real nginx, in a private network namespace, against a backend with
//!   an idle timeout (`common/idle.rs`): what upkeep writes does what it
//!   claims. With `--backend-idle-timeout 2s` (gunicorn's default) nginx
//!   closes an idle pooled connection before the backend would; with
//!   nginx's default `keepalive_timeout` (60 s) the backend closes it
//!   first, which is the race that fails requests with "upstream
//!   prematurely closed connection". `--keepalive-requests` and
//!   `--keepalive-time` end connections where they say.

mod common;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use common::idle::{Connection, End, IdleBackend};
use common::nginx::Nginx;
use common::*;

fn upkeep(dir: &Path, args: &[&str]) -> Output {
    upkeep_run(dir, args, None)
}

fn stderr(o: &Output) -> String {
    stderr_of(o)
}

const POOLED: &str = "server {\n    listen 80;\n\n    location /app/ {\n        proxy_pass http://app:8000/;\n        proxy_set_header Host $host;\n    }\n}\n";

/// Wrong values and wrong combinations: exit 2, a message that says what
/// to change, and nothing written.
#[test]
fn wrong_values_and_combinations_exit_2_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("site.conf");
    let cases: &[(&[&str], &str)] = &[
        (
            &["--keepalive-timeout", "5s", "--backend-idle-timeout", "5s"],
            "--keepalive-timeout 5s is not below --backend-idle-timeout 5s",
        ),
        (
            &["--keepalive-timeout", "1m", "--backend-idle-timeout", "5s"],
            "or leave it out and upkeep writes 4s",
        ),
        (
            &["--keepalive-time", "1h", "--nginx-version", "1.19.9"],
            "--keepalive-time writes `keepalive_time` into upstream blocks, which nginx accepts there from 1.19.10 on; --nginx-version is 1.19.9",
        ),
        (
            &["--keepalive-timeout", "4s", "--nginx-version", "1.15.2"],
            "which nginx accepts there from 1.15.3 on",
        ),
        (
            &["--keepalive-requests", "100", "--nginx-version", "1.14.0"],
            "--keepalive-requests writes `keepalive_requests`",
        ),
        (
            &["--backend-idle-timeout", "5s", "--nginx-version", "1.14.2"],
            "--backend-idle-timeout writes `keepalive_timeout`",
        ),
        (
            &["--keepalive-timeout", "5 sec"],
            "`5 sec` is not an nginx time",
        ),
        (&["--keepalive-timeout", "1y"], "`1y` is not an nginx time"),
        (&["--keepalive-time", "0s"], "`0s` is zero"),
        (&["--backend-idle-timeout", "30s1m"], "is not an nginx time"),
        (
            &["--keepalive-requests=-1"],
            "`-1` is not a number nginx accepts",
        ),
        (&["--keepalive-requests", "0"], "`0` is zero"),
        (
            &["--tune-existing"],
            "--tune-existing writes the pool settings into existing upstream blocks, but none was given",
        ),
    ];
    for (args, message) in cases {
        std::fs::write(&file, POOLED).unwrap();
        let mut argv = vec!["--no-config", "--write"];
        argv.extend_from_slice(args);
        argv.push("site.conf");
        let out = upkeep(dir.path(), &argv);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(message), "{args:?}: {}", stderr(&out));
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            POOLED,
            "{args:?} wrote"
        );
    }
    // The versions that have the directives.
    for args in [
        &["--keepalive-time", "1h", "--nginx-version", "1.19.10"][..],
        &["--keepalive-timeout", "4s", "--nginx-version", "1.15.3"],
        &[
            "--keepalive-timeout",
            "4999ms",
            "--backend-idle-timeout",
            "5s",
        ],
    ] {
        let mut argv = vec!["--no-config"];
        argv.extend_from_slice(args);
        argv.push("site.conf");
        let out = upkeep(dir.path(), &argv);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
    }
}

/// upkeep.toml's keys mean the flags: the same output; a wrong value or
/// combination in the file is an error (with its line where it has one).
#[test]
fn upkeep_toml_keys_are_the_flags() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join(".git")).unwrap();
    std::fs::write(dir.path().join("site.conf"), POOLED).unwrap();
    let toml = dir.path().join("upkeep.toml");
    std::fs::write(
        &toml,
        "backend-idle-timeout = \"5s\"\nkeepalive-requests = 500\nkeepalive-time = \"1h\"\ntune-existing = true\n",
    )
    .unwrap();
    let from_file = upkeep(dir.path(), &["site.conf"]);
    assert_eq!(from_file.status.code(), Some(0), "{}", stderr(&from_file));
    let typed = upkeep(
        dir.path(),
        &[
            "--no-config",
            "--backend-idle-timeout",
            "5s",
            "--keepalive-requests",
            "500",
            "--keepalive-time",
            "1h",
            "--tune-existing",
            "site.conf",
        ],
    );
    assert_eq!(from_file.stdout, typed.stdout);
    let diff = String::from_utf8_lossy(&typed.stdout);
    assert!(
        diff.contains("+    keepalive 32;\n+    keepalive_timeout 4s;\n+    keepalive_requests 500;\n+    keepalive_time 1h;\n"),
        "{diff}"
    );

    std::fs::write(&toml, "keepalive-timeout = \"4 s\"\n").unwrap();
    let out = upkeep(dir.path(), &["site.conf"]);
    assert_eq!(out.status.code(), Some(2));
    assert_stderr_has(
        &out,
        "upkeep.toml:1:21: keepalive-timeout: `4 s` is not an nginx time",
    );
    // A combination the file makes with a typed flag.
    std::fs::write(&toml, "backend-idle-timeout = \"2s\"\n").unwrap();
    let out = upkeep(dir.path(), &["--keepalive-timeout", "3s", "site.conf"]);
    assert_eq!(out.status.code(), Some(2));
    assert_stderr_has(
        &out,
        "--keepalive-timeout 3s is not below --backend-idle-timeout 2s",
    );
}

/// A pool added with nginx's default `keepalive_timeout` and no known
/// backend idle timeout gets a note (with -v, and in JSON); with
/// `--backend-idle-timeout` it does not, and a pool left untuned that
/// keeps connections longer than the backends do gets a warning, said
/// without -v and counted in the summary line.
#[test]
fn notes_about_idle_timeouts() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("site.conf"), POOLED).unwrap();
    let default = "site.conf:5:9: note: upstream \"app\" keeps idle connections for nginx's default keepalive_timeout (60s)";
    let out = upkeep(dir.path(), &["--no-config", "-v", "site.conf"]);
    assert_stderr_has(&out, default);
    let quiet = upkeep(dir.path(), &["--no-config", "site.conf"]);
    assert!(!stderr(&quiet).contains("note:"), "{}", stderr(&quiet));
    let json = upkeep(
        dir.path(),
        &["--no-config", "--format", "json", "site.conf"],
    );
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let notes = report["files"][0]["notes"].as_array().unwrap();
    assert!(
        notes.iter().any(|n| n["message"]
            .as_str()
            .unwrap()
            .contains("--backend-idle-timeout")),
        "{notes:?}"
    );
    let tuned = upkeep(
        dir.path(),
        &[
            "--no-config",
            "-v",
            "--backend-idle-timeout",
            "5s",
            "site.conf",
        ],
    );
    assert!(!stderr(&tuned).contains("default keepalive_timeout"));

    // An existing pool, not tuned: it keeps connections 60 s, the
    // backends 5 s.
    let existing = "upstream app {\n    server app:8000;\n    keepalive 8;\n}\n\nserver {\n    location / {\n        proxy_pass http://app;\n        proxy_http_version 1.1;\n        proxy_set_header Connection \"\";\n    }\n}\n";
    std::fs::write(dir.path().join("existing.conf"), existing).unwrap();
    let out = upkeep(
        dir.path(),
        &[
            "--no-config",
            "-v",
            "--backend-idle-timeout",
            "5s",
            "existing.conf",
        ],
    );
    assert_eq!(out.status.code(), Some(0));
    assert!(
        out.stdout.is_empty(),
        "nothing changes without --tune-existing"
    );
    let risk = "existing.conf:1:1: warning: upstream \"app\" keeps idle connections for 60s (nginx's default keepalive_timeout), not less than the backends' idle timeout (5s)";
    assert_stderr_has(&out, risk);
    let plain = upkeep(
        dir.path(),
        &[
            "--no-config",
            "--backend-idle-timeout",
            "5s",
            "existing.conf",
        ],
    );
    assert_eq!(plain.status.code(), Some(0));
    let err = stderr(&plain);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(lines[0].starts_with(risk), "{err}");
    assert_eq!(
        lines[1],
        "nothing to change in 1 file; 1 warning (-v says why)"
    );
}

/// `--help` documents every new flag.
#[test]
fn help_documents_the_tuning_flags() {
    let out = upkeep(Path::new("."), &["--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--keepalive-timeout <DUR>",
        "--keepalive-requests <N>",
        "--keepalive-time <DUR>",
        "--backend-idle-timeout <DUR>",
        "--tune-existing",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
}

/// upkeep's parsers agree with real nginx on every value of a table that
/// covers each branch of `ngx_parse_time` and `ngx_atoi`: a value upkeep
/// would write is one nginx accepts, and what nginx refuses upkeep refuses
/// (zero aside: nginx takes it, upkeep refuses it because it turns pooling
/// off).
#[test]
fn values_are_read_as_nginx_reads_them() {
    let Some(nginx) = require_nginx() else { return };
    let times = [
        "4s",
        "4",
        "500ms",
        "1m30s",
        "1m 30s",
        "1h",
        "2d",
        "1w",
        "1h30m15s250ms",
        "1m30",
        "5 3",
        "1hs",
        "0",
        "s",
        "ms",
        "5x",
        "1y",
        "1M",
        "30s1m",
        "1s1s",
        "1ms1s",
        "5 s",
        "-5s",
        "1.5s",
        " 5s",
        "4S",
        "9223372036854776s",
    ];
    let mut disagree = Vec::new();
    for text in times {
        let config = format!(
            "upstream u {{\n    server 127.0.0.1:9;\n    keepalive 1;\n    keepalive_timeout \"{text}\";\n}}\n"
        );
        let nginx_accepts = nginx_check(&nginx, config.as_bytes(), &[]).is_ok();
        let upkeep_reads = upkeep::parse_msec(text).is_some();
        if nginx_accepts != upkeep_reads {
            disagree.push(format!(
                "keepalive_timeout {text:?}: nginx {nginx_accepts}, upkeep {upkeep_reads}"
            ));
        }
        // The flag takes what nginx takes, except zero.
        let flag = upkeep::parse_time_flag(text).is_ok();
        assert_eq!(
            flag,
            nginx_accepts && upkeep::parse_msec(text) != Some(0),
            "{text:?}"
        );
    }
    for text in [
        "1000",
        "0",
        "-1",
        "+1",
        "1e3",
        "9223372036854775807",
        "9223372036854775808",
    ] {
        let config = format!(
            "upstream u {{\n    server 127.0.0.1:9;\n    keepalive 1;\n    keepalive_requests \"{text}\";\n}}\n"
        );
        let nginx_accepts = nginx_check(&nginx, config.as_bytes(), &[]).is_ok();
        let upkeep_reads = upkeep::parse_count(text).is_some();
        if nginx_accepts != upkeep_reads {
            disagree.push(format!(
                "keepalive_requests {text:?}: nginx {nginx_accepts}, upkeep {upkeep_reads}"
            ));
        }
    }
    assert!(disagree.is_empty(), "{disagree:#?}");
}

// ------------------------------------------------------------ real nginx

/// The backends' idle timeout in the traffic tests: gunicorn's default.
const IDLE: Duration = Duration::from_secs(2);

/// A location proxying to the backend on `port` by the name `app`.
fn site(port: u16) -> String {
    POOLED.replace("app:8000", &format!("app:{port}"))
}

/// What upkeep writes for `input` with `args` (the library, as the CLI
/// runs it).
fn rewritten(input: &str, args: &[&str]) -> String {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    // Checked together, as the command line checks them.
    let config = try_config_for(&args).unwrap();
    let source = upkeep::Source::new("site.conf", input.as_bytes().to_vec());
    let rewrite = upkeep::process(&source, &config).unwrap();
    String::from_utf8(rewrite.new_text).unwrap()
}

enum Step {
    Get,
    Pause(Duration),
}

/// nginx on `config` against a fresh backend with [`IDLE`]; runs `steps`,
/// then waits for the backend's connections to end (nginx still running)
/// and returns them. Every response must be a 200.
fn run(nginx_bin: &Path, config: &str, steps: &[Step]) -> Vec<Connection> {
    let backend = IdleBackend::start(IDLE);
    let config = config.replace("app:8000", &format!("app:{}", backend.port));
    let nginx = Nginx::start(nginx_bin, &config, &["app".to_string()]);
    let mut seq = 0;
    for step in steps {
        match step {
            Step::Get => {
                let (status, body) = nginx.get("/app/item", seq);
                assert_eq!(status, 200, "{body}\n{}", nginx.error_log());
                seq += 1;
            }
            Step::Pause(d) => std::thread::sleep(*d),
        }
    }
    let connections = backend.wait_ended(IDLE + Duration::from_secs(3));
    let log = nginx.error_log();
    assert!(
        !log.contains("[error]"),
        "nginx logged errors:\n{log}\nconfig:\n{config}"
    );
    drop(nginx);
    connections
}

fn describe(connections: &[Connection]) -> String {
    connections
        .iter()
        .map(|c| match c.end {
            Some(End::ByNginx { idle }) => format!(
                "{} requests, closed by nginx after {} ms idle",
                c.requests,
                idle.as_millis()
            ),
            Some(End::ByBackend { idle }) => format!(
                "{} requests, closed by the backend after {} ms idle",
                c.requests,
                idle.as_millis()
            ),
            Some(End::AfterClose) => format!("{} requests, `Connection: close`", c.requests),
            None => format!("{} requests, still open", c.requests),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Runs test `name` in a private network namespace where `app` is
/// 127.0.0.1: there, nginx and the scratch directory holding the hosts
/// file; `None` outside (after the test ran inside) or when it is skipped.
fn with_app(name: &str) -> Option<(std::path::PathBuf, tempfile::TempDir)> {
    if !netns::isolated(name) {
        return None;
    }
    let nginx = require_nginx()?;
    let scratch = tempfile::tempdir().unwrap();
    netns::map_hosts(&["app".to_string()], scratch.path());
    Some((nginx, scratch))
}

/// The claim of `--backend-idle-timeout`, on real nginx: an idle pooled
/// connection is closed by nginx before the backend's idle timeout; with
/// nginx's default `keepalive_timeout` the backend closes it.
#[test]
fn nginx_closes_idle_connections_before_the_backend_does() {
    let Some((nginx_bin, _scratch)) =
        with_app("nginx_closes_idle_connections_before_the_backend_does")
    else {
        return;
    };
    let input = site(8000);
    let default = rewritten(&input, &[]);
    assert!(!default.contains("keepalive_timeout"), "{default}");
    let tuned = rewritten(&input, &["--backend-idle-timeout", "2s"]);
    assert!(
        tuned.contains("    keepalive 32;\n    keepalive_timeout 1s;\n"),
        "{tuned}"
    );
    // Two requests back to back, then idle until the connection ends.
    let steps = [Step::Get, Step::Get];
    let before = run(&nginx_bin, &input, &steps);
    let pooled = run(&nginx_bin, &default, &steps);
    let below = run(&nginx_bin, &tuned, &steps);
    println!(
        "backend idle timeout {} ms; two requests, then idle:",
        IDLE.as_millis()
    );
    println!("  input (no pool):               {}", describe(&before));
    println!("  pooled, nginx's default 60s:   {}", describe(&pooled));
    println!("  --backend-idle-timeout 2s:     {}", describe(&below));

    assert_eq!(before.len(), 2, "{}", describe(&before));
    assert!(before.iter().all(|c| c.end == Some(End::AfterClose)));
    assert_eq!(
        pooled.len(),
        1,
        "one pooled connection: {}",
        describe(&pooled)
    );
    assert_eq!(
        below.len(),
        1,
        "one pooled connection: {}",
        describe(&below)
    );
    assert_eq!((pooled[0].requests, below[0].requests), (2, 2));
    match pooled[0].end {
        Some(End::ByBackend { idle }) => assert!(idle >= IDLE, "{idle:?}"),
        other => panic!("with nginx's default the backend closes first: {other:?}"),
    }
    match below[0].end {
        Some(End::ByNginx { idle }) => assert!(
            idle >= Duration::from_millis(900) && idle < IDLE,
            "nginx closes after its 1s keepalive_timeout, before the backend's 2s: {idle:?}"
        ),
        other => panic!("with --backend-idle-timeout nginx closes first: {other:?}"),
    }
}

/// `--keepalive-requests 3`: nginx gives a connection up after its third
/// request. `--keepalive-time 1s`: a connection older than a second is not
/// reused after the request that finds it so.
#[test]
fn keepalive_requests_and_time_end_connections_where_they_say() {
    let Some((nginx_bin, _scratch)) =
        with_app("keepalive_requests_and_time_end_connections_where_they_say")
    else {
        return;
    };
    let input = site(8000);

    let requests = rewritten(&input, &["--keepalive-requests", "3"]);
    assert!(
        requests.contains("    keepalive_requests 3;\n"),
        "{requests}"
    );
    let seven: Vec<Step> = (0..7).map(|_| Step::Get).collect();
    let by_requests = run(&nginx_bin, &requests, &seven);
    println!(
        "--keepalive-requests 3, 7 requests: {}",
        describe(&by_requests)
    );
    let counts: Vec<usize> = by_requests.iter().map(|c| c.requests).collect();
    assert_eq!(counts, [3, 3, 1], "{}", describe(&by_requests));
    for c in &by_requests[..2] {
        assert!(
            matches!(c.end, Some(End::ByNginx { idle }) if idle < Duration::from_millis(500)),
            "closed by nginx right after its third request: {}",
            describe(&by_requests)
        );
    }

    let time = rewritten(&input, &["--keepalive-time", "1s"]);
    assert!(time.contains("    keepalive_time 1s;\n"), "{time}");
    let steps = [
        Step::Get,
        Step::Pause(Duration::from_millis(1300)),
        Step::Get,
        Step::Get,
    ];
    let by_time = run(&nginx_bin, &time, &steps);
    println!(
        "--keepalive-time 1s, a request, 1.3 s, two requests: {}",
        describe(&by_time)
    );
    let counts: Vec<usize> = by_time.iter().map(|c| c.requests).collect();
    assert_eq!(counts, [2, 1], "{}", describe(&by_time));
    assert!(
        matches!(by_time[0].end, Some(End::ByNginx { idle }) if idle < Duration::from_millis(500)),
        "{}",
        describe(&by_time)
    );
}
