//! `upkeep rule`, `upkeep rule ID` and `upkeep explain FILE:LINE`, run as
//! users run them, through the shared runner (`common::run`). What they
//! must say comes from the fixtures and from nginx's semantics: the
//! changes a fixture's `expected.conf` shows at a place, the note a run
//! gives there with `-v`, the registry's list of ids.

mod common;

use common::run::{run_all, Case, Out, NONE, REPO};

const MOTIVATING: &str = "fixtures/01-motivating-frontend";
const MOTIVATING_INPUT: &str = "fixtures/01-motivating-frontend/input.conf";

/// The motivating fixture's flags (its `args`, one per line).
fn motivating_args() -> Vec<String> {
    std::fs::read_to_string(common::repo().join(MOTIVATING).join("args"))
        .unwrap()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

/// `upkeep explain FLAGS... PLACE` with the motivating fixture's flags.
fn explain_motivating(place: &str) -> Vec<String> {
    let mut argv = vec!["explain".to_string()];
    argv.extend(motivating_args());
    argv.push(place.to_string());
    argv
}

/// Borrowed, as a case takes its arguments.
fn strs(argv: &[String]) -> Vec<&str> {
    argv.iter().map(String::as_str).collect()
}

/// `upkeep rule` lists every id of the registry, one line each, in
/// report order, and nothing else: a rule added to the table and missing
/// from the list fails here.
#[test]
fn rule_lists_every_registered_rule() {
    let ran = Case {
        name: "rule lists",
        cwd: REPO,
        args: &["rule"],
        stderr: &[Out::Empty],
        ..NONE
    }
    .run();
    let registry: Vec<&str> = upkeep::rule_ids().collect();
    let stdout = ran.stdout();
    let listed: Vec<&str> = stdout
        .lines()
        .map(|l| l.split_whitespace().next().unwrap_or(""))
        .collect();
    ran.ensure_eq(listed, registry.clone(), "the ids `upkeep rule` lists");
    // Each line: the id, what one change is, the protocols (`--only`'s
    // names, or `any`).
    for line in stdout.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let last = *words.last().unwrap();
        ran.ensure(
            words.len() >= 3
                && last
                    .split(',')
                    .all(|p| ["any", "proxy", "fastcgi", "grpc", "memcached"].contains(&p)),
            format!("`{line}`: id, one line, protocol"),
        );
    }
    // What the fixtures and the README say about some of them.
    for want in ["proxy_pass target rewritten", "fastcgi_keep_conn turned on"] {
        ran.ensure(stdout.contains(want), format!("lists {want:?}"));
    }
    let line_of = |id: &str| {
        stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(id))
            .unwrap_or("")
            .to_string()
    };
    // An upstream block pools any protocol's connections; http-version is
    // proxy_pass's alone (FastCGI and gRPC have no proxy_http_version).
    ran.ensure(
        line_of("upstream-block").ends_with(" any"),
        "upstream-block: any",
    );
    ran.ensure(
        line_of("http-version").ends_with(" proxy"),
        "http-version: proxy",
    );
    ran.ensure(
        line_of("fastcgi-keep-conn").ends_with(" fastcgi"),
        "fastcgi-keep-conn: fastcgi",
    );
    ran.ensure(
        line_of("grpc-authority").ends_with(" grpc"),
        "grpc-authority: grpc",
    );
}

/// The header of the rule file that names `id` in its first line, as
/// `upkeep rule ID` must print it: `//! ` taken off, rustdoc links as
/// code spans.
fn header_of(id: &str) -> String {
    let wanted = format!("`{id}`");
    let dir = common::repo().join("src/rules");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        if text.lines().next().is_some_and(|l| l.contains(&wanted)) {
            let header: Vec<&str> = text
                .lines()
                .map_while(|l| l.strip_prefix("//!"))
                .map(|l| l.strip_prefix(' ').unwrap_or(l))
                .collect();
            found.push(header.join("\n").replace("[`", "`").replace("`]", "`"));
        }
    }
    assert_eq!(found.len(), 1, "{id}: the files naming it: {}", found.len());
    found.remove(0)
}

/// `upkeep rule ID` prints the What / Why / Example / Safety header of
/// the rule's own file, for every id; an id that shares a file with
/// others prints the same header.
#[test]
fn rule_id_prints_the_header_of_its_file() {
    for id in upkeep::rule_ids() {
        let argv = ["rule", id];
        let ran = Case {
            name: id,
            cwd: REPO,
            args: &argv,
            stderr: &[Out::Empty],
            ..NONE
        }
        .run();
        let header = header_of(id);
        ran.ensure_eq(
            ran.stdout(),
            format!("{header}\n"),
            "the rule's documentation",
        );
        for section in ["**What**: ", "**Why**: ", "**Example**: ", "**Safety**: "] {
            ran.ensure(ran.stdout().contains(section), section);
        }
    }
}

/// An unknown id exits 2 and names the closest id and how to list them.
#[test]
fn unknown_rule_names_the_closest() {
    run_all(&[
        Case {
            name: "misspelt",
            args: &["rule", "conection-header"],
            status: 2,
            stdout: &[Out::Empty],
            stderr: &[
                Out::Has("no rule is named `conection-header`"),
                Out::Has("did you mean `connection-header`?"),
                Out::Has("`upkeep rule` lists every rule"),
            ],
            ..NONE
        },
        Case {
            name: "a part of an id",
            args: &["rule", "redirect"],
            status: 2,
            stderr: &[Out::Has("did you mean `proxy-redirect`?")],
            ..NONE
        },
        Case {
            name: "spelt as the summary line counts it",
            args: &["rule", "proxy_redirect"],
            status: 2,
            stderr: &[Out::Has("did you mean `proxy-redirect`?")],
            ..NONE
        },
        Case {
            name: "two ids",
            args: &["rule", "http-version", "proxy-redirect"],
            status: 2,
            stdout: &[Out::Empty],
            ..NONE
        },
    ]);
}

/// explain on the motivating fixture, place by place, against what its
/// expected.conf shows there.
#[test]
fn explain_names_the_rules_expected_conf_shows() {
    // Line 16, `proxy_pass http://gateway:8000/;`: expected.conf has
    // `proxy_pass http://gateway/;` (target rewritten), the
    // `proxy_redirect http://gateway:8000/ /api/;` nginx derived from the
    // old URL after it, and `upstream gateway { server gateway:8000;
    // keepalive 64; }` for it; its location /api/ is split for /api/ws.
    // The location already had proxy_http_version 1.1: no http-version.
    let at_16 = explain_motivating(&format!("{MOTIVATING_INPUT}:16"));
    // Line 38, `proxy_pass http://stack-auth:8101/;` in location /auth/,
    // which had no proxy_http_version and no Connection header:
    // expected.conf adds `proxy_http_version 1.1;` and `Connection ""`
    // to the location, and rewrites the target to stack_auth_dashboard.
    let at_38 = explain_motivating(&format!("{MOTIVATING_INPUT}:38"));
    // Line 19, `proxy_set_header Connection "upgrade";`: expected.conf
    // makes it `Connection ""` in /api/; line 18, Upgrade, is gone there.
    let at_19 = explain_motivating(&format!("{MOTIVATING_INPUT}:19"));
    let at_18 = explain_motivating(&format!("{MOTIVATING_INPUT}:18"));
    // Line 45, `try_files` in `location /`, which proxies nothing.
    let at_45 = explain_motivating(&format!("{MOTIVATING_INPUT}:45"));
    // Line 2, `server {`: the three upstream blocks are written there.
    let at_2 = explain_motivating(&format!("{MOTIVATING_INPUT}:2"));
    let (a16, a38, a19, a18, a45, a2) = (
        strs(&at_16),
        strs(&at_38),
        strs(&at_19),
        strs(&at_18),
        strs(&at_45),
        strs(&at_2),
    );
    run_all(&[
        Case {
            name: "proxy_pass of /api/",
            cwd: REPO,
            args: &a16,
            stdout: &[
                Out::Starts(
                    "fixtures/01-motivating-frontend/input.conf:16: `proxy_pass http://gateway:8000/;`, in `location /api/` (line 15), in `server` (line 2)\n",
                ),
                Out::Has(
                    "input.conf:16:9: proxy-pass-target: gateway:8000 is an implicit upstream",
                ),
                Out::Has("upstream \"gateway\" pools them"),
                Out::Has("input.conf:16:9: upstream-block: pools connections to gateway:8000 (keepalive 64)"),
                Out::Has("input.conf:16:9: proxy-redirect: keeps rewriting redirects to http://gateway:8000/"),
                Out::Line("`location /api/` (line 15):"),
                Out::Has("input.conf:15:5: websocket-split: WebSocket traffic under /api/ws"),
                Out::Lacks("http-version"),
                Out::Lacks("nothing here concerns upkeep"),
                Out::Has("upkeep rule ID (upstream-block, proxy-pass-target, proxy-redirect, websocket-split)"),
            ],
            stderr: &[Out::Empty],
            ..NONE
        },
        Case {
            name: "proxy_pass of /auth/",
            cwd: REPO,
            args: &a38,
            stdout: &[
                Out::Has("input.conf:38:9: proxy-pass-target: stack-auth:8101 is an implicit upstream"),
                Out::Has("upstream \"stack_auth_dashboard\" pools them"),
                Out::Line("`location /auth/` (line 37):"),
                Out::Has("input.conf:37:5: http-version: "),
                Out::Has("input.conf:37:5: connection-header: "),
                Out::Lacks("websocket"),
            ],
            ..NONE
        },
        Case {
            name: "Connection upgrade",
            cwd: REPO,
            args: &a19,
            stdout: &[
                Out::Has("input.conf:19:9: connection-header: `Connection: upgrade` on ordinary requests"),
                Out::Lacks("upgrade-header"),
            ],
            ..NONE
        },
        Case {
            name: "Upgrade moved",
            cwd: REPO,
            args: &a18,
            stdout: &[Out::Has("input.conf:18:9: upgrade-header: ")],
            ..NONE
        },
        Case {
            name: "a location that proxies nothing",
            cwd: REPO,
            args: &a45,
            stdout: &[
                Out::Starts("fixtures/01-motivating-frontend/input.conf:45: `try_files $uri $uri/ /index.html;`, in `location /` (line 44), in `server` (line 2)\n"),
                Out::Has("nothing here concerns upkeep"),
                Out::Lacks("upkeep rule ID"),
            ],
            ..NONE
        },
        Case {
            name: "where the upstream blocks go",
            cwd: REPO,
            args: &a2,
            stdout: &[
                Out::Line("written at line 2 for a directive elsewhere:"),
                Out::Times("upstream-block: pools connections to", 3),
                Out::Has("stack-auth:8102 (keepalive 16)"),
                Out::Has("stack-auth:8101 (keepalive 8)"),
            ],
            ..NONE
        },
    ]);
}

/// explain says what `-v` says, word for word: every change and note line
/// it prints is a line of `upkeep -v`'s stderr for the same file and
/// flags.
#[test]
fn explain_uses_the_words_of_verbose() {
    let mut verbose = motivating_args();
    verbose.extend(["-v".to_string(), MOTIVATING_INPUT.to_string()]);
    let verbose = strs(&verbose);
    let ran = Case {
        name: "-v",
        cwd: REPO,
        args: &verbose,
        stdout: &[Out::Starts("--- a/")],
        ..NONE
    }
    .run();
    let said: std::collections::HashSet<String> = ran.stderr().lines().map(String::from).collect();
    let mut checked = 0;
    for line in [15, 16, 18, 19, 29, 37, 38] {
        let argv = explain_motivating(&format!("{MOTIVATING_INPUT}:{line}"));
        let argv = strs(&argv);
        let name = format!("explain :{line}");
        let explained = Case {
            name: &name,
            cwd: REPO,
            args: &argv,
            ..NONE
        }
        .run();
        for l in explained.stdout().lines() {
            let Some(quoted) = l.strip_prefix("  ") else {
                continue;
            };
            explained.ensure(said.contains(quoted), format!("`{quoted}` is a line of -v"));
            checked += 1;
        }
    }
    assert!(checked >= 12, "only {checked} lines compared");
}

/// A place upkeep leaves alone gets the note `-v` gives there.
#[test]
fn explain_says_why_a_place_is_left_alone() {
    run_all(&[
        // `proxy_pass http://$backend;`: nginx resolves a variable host
        // per request and never pools it.
        Case {
            name: "variable host",
            cwd: REPO,
            args: &["explain", "fixtures/20-variable-host-left-alone/input.conf:7"],
            stdout: &[
                Out::Has("input.conf:7:9: note: proxy_pass http://$backend has a variable in its address: nginx resolves it per request, so it is left alone"),
                Out::Lacks("proxy-pass-target"),
            ],
            ..NONE
        },
        // The same file's literal target is pooled.
        Case {
            name: "literal host beside it",
            cwd: REPO,
            args: &["explain", "fixtures/20-variable-host-left-alone/input.conf:11"],
            stdout: &[Out::Has("input.conf:11:9: proxy-pass-target: fixed:9000")],
            ..NONE
        },
        // `# upkeep:ignore REASON` above the location: the reason given.
        Case {
            name: "upkeep:ignore on the location",
            cwd: REPO,
            args: &["explain", "fixtures/43-upkeep-ignore/input.conf:15"],
            stdout: &[
                Out::Line("`location /vendor/` (line 14):"),
                Out::Has("input.conf:14:5: note: location and what it proxies left alone (upkeep:ignore: the vendor's load balancer pins clients by connection)"),
                Out::Lacks("proxy-pass-target"),
            ],
            ..NONE
        },
    ]);
}

/// explain reads FILE as the run does: the flags given with it,
/// upkeep.toml, and the includes nginx reads.
#[test]
fn explain_reads_the_file_as_a_run_does() {
    const SITE: &[u8] = b"http {\n    include proxy.conf;\n    server {\n        listen 80;\n        location / {\n            proxy_pass http://app:3000;\n        }\n    }\n}\n";
    // An http-level `proxy_http_version 1.1;` is inherited by the location
    // (it sets none itself): nothing to add there. Connection is still
    // nginx's `close` by default.
    const VERSION_11: &[u8] = b"proxy_http_version 1.1;\n";
    run_all(&[
        Case {
            name: "--only leaves proxy_pass alone",
            args: &["explain", "--only", "fastcgi", "site.conf:6"],
            files: &[("site.conf", SITE), ("proxy.conf", VERSION_11)],
            stdout: &[
                Out::Has("site.conf:6:13: note: proxy_pass is left alone"),
                Out::Lacks("proxy-pass-target"),
            ],
            ..NONE
        },
        Case {
            name: "flags after the place",
            args: &["explain", "site.conf:6", "--skip", "proxy"],
            files: &[("site.conf", SITE), ("proxy.conf", VERSION_11)],
            stdout: &[
                Out::Has("note: proxy_pass is left alone"),
                Out::Lacks("proxy-pass-target"),
            ],
            ..NONE
        },
        Case {
            name: "upkeep.toml",
            args: &["explain", "site.conf:6"],
            files: &[
                ("site.conf", SITE),
                ("proxy.conf", VERSION_11),
                ("upkeep.toml", b"skip = [\"proxy\"]\n"),
            ],
            stdout: &[Out::Has("note: proxy_pass is left alone")],
            ..NONE
        },
        Case {
            name: "--no-config ignores upkeep.toml",
            args: &["explain", "--no-config", "site.conf:6"],
            files: &[
                ("site.conf", SITE),
                ("proxy.conf", VERSION_11),
                ("upkeep.toml", b"skip = [\"proxy\"]\n"),
            ],
            stdout: &[Out::Has("site.conf:6:13: proxy-pass-target: app:3000")],
            ..NONE
        },
        Case {
            name: "the include's proxy_http_version counts",
            args: &["explain", "site.conf:6"],
            files: &[("site.conf", SITE), ("proxy.conf", VERSION_11)],
            stdout: &[
                Out::Has("site.conf:6:13: proxy-pass-target: app:3000"),
                Out::Line("`location /` (line 5):"),
                Out::Has("site.conf:5:9: connection-header: "),
                Out::Lacks("http-version:"),
            ],
            ..NONE
        },
        Case {
            name: "without it the location gets one",
            args: &["explain", "site.conf:6"],
            files: &[("site.conf", SITE), ("proxy.conf", b"# nothing\n")],
            stdout: &[Out::Has("site.conf:5:9: http-version: ")],
            ..NONE
        },
    ]);
}

/// A place explain cannot read exits 2 and says which path and what is
/// wrong, before any run.
#[test]
fn bad_places_are_errors() {
    const CONF: &[u8] =
        b"server {\n    location / {\n        proxy_pass http://app:3000;\n    }\n}\n";
    let files: &[(&str, &[u8])] = &[("site.conf", CONF)];
    // A case that must fail with `error: …MESSAGE…` and print nothing.
    macro_rules! bad {
        ($name:expr, $args:expr, $message:expr $(,)?) => {
            Case {
                name: $name,
                args: $args,
                files,
                status: 2,
                stdout: &[Out::Empty],
                stderr: &[Out::Starts("error: "), Out::Has($message)],
                ..NONE
            }
        };
    }
    run_all(&[
        bad!(
            "no colon",
            &["explain", "site.conf"],
            "`site.conf` is not a place: give FILE:LINE",
        ),
        bad!(
            "line 0",
            &["explain", "site.conf:0"],
            "site.conf:0: lines count from 1"
        ),
        // The file has 5 lines.
        bad!(
            "past the end",
            &["explain", "site.conf:6"],
            "site.conf:6: past the end of the file: site.conf has 5 lines",
        ),
        bad!(
            "not a number",
            &["explain", "site.conf:three"],
            "`three` is not a line number",
        ),
        bad!(
            "no such file",
            &["explain", "missing.conf:3"],
            "missing.conf: no such file or directory",
        ),
        bad!(
            "a directory",
            &["explain", ".:1"],
            "is a directory, not a regular file",
        ),
        bad!(
            "two places",
            &["explain", "site.conf:1", "site.conf:2"],
            "explain takes one FILE:LINE, not 2",
        ),
        bad!(
            "standard input",
            &["explain", "--", "-:1"],
            "explain reads a file, not standard input",
        ),
        bad!(
            "--write",
            &["explain", "--write", "site.conf:3"],
            "--write: explain says what a run would do at one place and writes nothing",
        ),
        bad!(
            "--format json",
            &["explain", "--format", "json", "site.conf:3"],
            "--format: explain prints text for one place",
        ),
        bad!(
            "a subcommand's name",
            &["explain", "rule"],
            "`rule` is not a place but a subcommand's name",
        ),
        Case {
            name: "no place at all",
            args: &["explain"],
            status: 2,
            stderr: &[Out::Has("FILE:LINE")],
            ..NONE
        },
    ]);
}

/// A syntax error in FILE is the run's error, with its place; exit 2.
#[test]
fn a_file_that_does_not_parse_gets_the_runs_error() {
    run_all(&[Case {
        name: "unclosed block",
        args: &["explain", "broken.conf:2"],
        files: &[(
            "broken.conf",
            b"server {\n    location / {\n        proxy_pass http://app:3000;\n",
        )],
        status: 2,
        stdout: &[Out::Empty],
        stderr: &[Out::Starts("error: broken.conf:")],
        ..NONE
    }]);
}

/// Files named like the subcommands are still configs: written as a
/// path (`./rule`) or after `--`; `explain rule:3` explains the file
/// `rule`. Bare `upkeep rule` is the subcommand, as `--help` says.
#[test]
fn files_named_like_subcommands() {
    const CONF: &[u8] =
        b"server {\n    location / {\n        proxy_pass http://app:3000;\n    }\n}\n";
    let files: &[(&str, &[u8])] = &[("rule", CONF), ("explain", CONF)];
    run_all(&[
        Case {
            name: "./rule",
            args: &["./rule"],
            files,
            stdout: &[Out::Starts("--- a/rule\n+++ b/rule\n"), Out::Has("+upstream app {")],
            files_after: &[("rule", common::run::After::Same)],
            ..NONE
        },
        Case {
            name: "-- explain",
            args: &["--", "explain"],
            files,
            stdout: &[Out::Starts("--- a/explain\n+++ b/explain\n")],
            ..NONE
        },
        Case {
            name: "after a flag",
            args: &["--check", "explain"],
            files,
            status: 1,
            stdout: &[Out::Starts("--- a/explain\n")],
            ..NONE
        },
        Case {
            name: "explain rule:3",
            args: &["explain", "rule:3"],
            files,
            stdout: &[
                Out::Starts("rule:3: `proxy_pass http://app:3000;`, in `location /` (line 2), in `server` (line 1)\n"),
                Out::Has("rule:3:9: proxy-pass-target: app:3000"),
            ],
            ..NONE
        },
        Case {
            name: "bare rule is the subcommand",
            args: &["rule"],
            files,
            stdout: &[Out::Has("proxy-pass-target")],
            ..NONE
        },
        Case {
            name: "--help says how",
            args: &["--help"],
            stdout: &[
                Out::Has("`upkeep ./rule`, `upkeep -- rule`"),
                Out::Has("explain"),
            ],
            ..NONE
        },
    ]);
}
