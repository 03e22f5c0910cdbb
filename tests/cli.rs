//! The command line as users and CI scripts see it: flags, modes, exit
//! codes, error messages with path:line:column, several files at once,
//! standard input, JSON, and safe in-place writes.
//!
//! Every run goes through the shared runner (`common::run`): tables of
//! cases for exit codes, output and files afterwards (`run_all`), stories
//! for runs one after the other in one directory (`run_story`,
//! `run_story_in`), and `Case::run` with `Ran::ensure` for what a table
//! cannot say (a JSON report read field by field, modes and owners, a
//! signal, a closed pipe, a terminal).

mod common;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::run::{run_all, run_story, run_story_in, After, Case, Out, NONE, REPO};

const MOTIVATING: &str = "fixtures/01-motivating-frontend";
const MOTIVATING_INPUT: &str = "fixtures/01-motivating-frontend/input.conf";
const POOLED_INPUT: &str = "server {\n    location / {\n        proxy_pass http://api:8080;\n        proxy_set_header Host $host;\n    }\n}\n";
const POOLED: &[u8] = POOLED_INPUT.as_bytes();

fn repo() -> PathBuf {
    common::repo()
}

/// The runner this file relies on fails, and reports every failing case
/// of a table, not just the first.
#[test]
fn the_runner_can_fail() {
    let message = |cases: &[Case]| {
        let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_all(cases)))
            .expect_err("run_all passed");
        panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap()
    };
    let wrong = [
        Case {
            name: "wrong exit",
            args: &["--version"],
            status: 2,
            ..NONE
        },
        Case {
            name: "wrong stdout",
            args: &["--version"],
            stdout: &[Out::Has("no such text")],
            ..NONE
        },
        Case {
            name: "right",
            args: &["--version"],
            stdout: &[Out::Starts("upkeep ")],
            ..NONE
        },
    ];
    let m = message(&wrong);
    assert!(
        m.starts_with("2 of 3 cases failed")
            && m.contains("case `wrong exit` failed:\n  - exit Some(0), expected 2")
            && m.contains(
                "case `wrong stdout` failed:\n  - stdout does not meet Has(\"no such text\")"
            )
            && !m.contains("case `right`"),
        "{m}"
    );
    assert!(message(&[]).contains("an empty table"));
    assert!(message(&[wrong[2], wrong[2]]).contains("two cases are named `right`"));
}

#[test]
fn help_documents_every_flag() {
    run_all(&[
        Case {
            name: "--help",
            cwd: REPO,
            args: &["--help"],
            stdout: &[
                Out::Has("--diff"),
                Out::Has("--check"),
                Out::Has("--write"),
                Out::Has("--keepalive"),
                Out::Has("--name"),
                Out::Has("--websocket"),
                Out::Has("--nginx-version"),
                Out::Has("--proxy-host"),
                Out::Has("--only"),
                Out::Has("--skip"),
                Out::Has("--format"),
                Out::Has("--color"),
                Out::Has("--quiet"),
                Out::Has("--verbose"),
                Out::Has("--help"),
                Out::Has("--version"),
                Out::Has("<PATH>"),
            ],
            ..NONE
        },
        Case {
            name: "--version",
            cwd: REPO,
            args: &["--version"],
            stdout: &[Out::Starts("upkeep ")],
            ..NONE
        },
    ]);
}

#[test]
fn bad_flags_exit_2_with_claps_message() {
    let argsets: [&[&str]; 12] = [
        &["--keepalive", "0", "x.conf"],
        &["--keepalive", "gateway=many", "x.conf"],
        &["--name", "gateway=gw", "x.conf"],
        &["--websocket", "ws", "x.conf"],
        &["--nginx-version", "latest", "x.conf"],
        &["--host-header", "maybe", "x.conf"],
        &["--format", "yaml", "x.conf"],
        &["--only", "http", "x.conf"],
        &["--skip", "proxy,uwsgi", "x.conf"],
        &["--diff", "--write", "x.conf"],
        &["--check", "--write", "x.conf"],
        &[],
    ];
    let names: Vec<String> = argsets
        .iter()
        .map(|a| format!("upkeep {}", a.join(" ")))
        .collect();
    let cases: Vec<Case> = argsets
        .iter()
        .zip(&names)
        .map(|(args, name)| Case {
            name,
            cwd: REPO,
            args,
            status: 2,
            stderr: &[Out::Has("error")],
            ..NONE
        })
        .collect();
    run_all(&cases);
}

/// `--only`/`--skip` choose the protocols, on the command line and in
/// upkeep.toml; a name that is not a protocol is an error naming the
/// valid ones.
#[test]
fn only_and_skip_choose_the_protocols() {
    const INPUT: &[u8] = b"server {\n    listen 80;\n    location / { proxy_pass http://app:8080; }\n    location ~ \\.php$ { fastcgi_pass php:9000; }\n    location /c { set $memcached_key $uri; memcached_pass cache:11211; }\n}\n";
    // The summary line names the targets rewritten per protocol: these
    // and no others.
    fn rewritten(wanted: &[&str]) -> Vec<Out<'static>> {
        [
            ("proxy_pass", "proxy_pass target"),
            ("fastcgi_pass", "fastcgi_pass target"),
            ("memcached_pass", "memcached_pass target"),
        ]
        .into_iter()
        .map(|(p, said)| {
            if wanted.contains(&p) {
                Out::Has(said)
            } else {
                Out::Lacks(said)
            }
        })
        .collect()
    }
    const PROTOCOL: Case = Case {
        cwd: REPO,
        stdin: Some(INPUT),
        ..NONE
    };
    run_all(&[
        Case {
            name: "every protocol",
            args: &["--no-config", "-"],
            stderr: &rewritten(&["proxy_pass", "fastcgi_pass", "memcached_pass"]),
            ..PROTOCOL
        },
        Case {
            name: "--only fastcgi",
            args: &["--only", "fastcgi", "--no-config", "-"],
            stderr: &rewritten(&["fastcgi_pass"]),
            ..PROTOCOL
        },
        Case {
            name: "--only proxy,memcached",
            args: &["--only", "proxy,memcached", "--no-config", "-"],
            stderr: &rewritten(&["proxy_pass", "memcached_pass"]),
            ..PROTOCOL
        },
        Case {
            name: "--only twice",
            args: &["--only", "proxy", "--only", "fastcgi", "--no-config", "-"],
            stderr: &rewritten(&["proxy_pass", "fastcgi_pass"]),
            ..PROTOCOL
        },
        Case {
            name: "--skip fastcgi",
            args: &["--skip", "fastcgi", "--no-config", "-"],
            stderr: &rewritten(&["proxy_pass", "memcached_pass"]),
            ..PROTOCOL
        },
        Case {
            name: "--only and --skip",
            args: &[
                "--only",
                "proxy,fastcgi",
                "--skip",
                "proxy",
                "--no-config",
                "-",
            ],
            stderr: &rewritten(&["fastcgi_pass"]),
            ..PROTOCOL
        },
        // --name names a FastCGI backend as it names an HTTP one.
        Case {
            name: "--name for a FastCGI backend",
            args: &["--no-config", "--name", "php:9000=php_fpm", "-"],
            stdout: &[Out::Has("fastcgi_pass php_fpm;")],
            ..PROTOCOL
        },
        // A WebSocket path is one of a proxying location, not a FastCGI one.
        Case {
            name: "--websocket for a FastCGI location",
            args: &["--no-config", "--websocket", "/php/ws", "-"],
            stdin: Some(b"server {\n    location /php/ { fastcgi_pass php:9000; }\n}\n"),
            status: 2,
            ..PROTOCOL
        },
        // -v says why a skipped protocol's directive stays.
        Case {
            name: "-v --skip memcached",
            args: &["--no-config", "-v", "--skip", "memcached", "-"],
            stderr: &[Out::Has(
                "memcached_pass is left alone: memcached is not pooled in this run (--only/--skip)",
            )],
            ..PROTOCOL
        },
        // (A file, not stdin: upkeep stops at the flag before reading anything.)
        Case {
            name: "--only fcgi",
            cwd: REPO,
            args: &["--no-config", "--only", "fcgi", "x.conf"],
            status: 2,
            stderr: &[Out::Has(
                "`fcgi` is not a protocol upkeep pools: use proxy, fastcgi, grpc, memcached",
            )],
            ..NONE
        },
        // upkeep.toml: the same, with the file's line on a mistake.
        Case {
            name: "upkeep.toml only",
            args: &["site.conf"],
            files: &[
                ("site.conf", INPUT),
                ("upkeep.toml", b"only = [\"memcached\"]\n"),
            ],
            stderr: &[
                Out::Has("memcached_pass target"),
                Out::Lacks("proxy_pass target"),
            ],
            ..NONE
        },
        Case {
            name: "upkeep.toml skip php",
            args: &["site.conf"],
            files: &[("site.conf", INPUT), ("upkeep.toml", b"skip = [\"php\"]\n")],
            status: 2,
            stderr: &[Out::Has(
                "upkeep.toml:1:9: skip: `php` is not a protocol upkeep pools",
            )],
            ..NONE
        },
    ]);
}

/// A WebSocket location split off is a new `location`, which a reviewer
/// must see: the summary line names each (the path and the location it
/// comes from), the first three and then how many more.
#[test]
fn the_summary_names_the_websocket_locations_split_off() {
    const TWO: &[u8] = b"server {\n    location /a/ {\n        proxy_pass http://app:8080/;\n        proxy_http_version 1.1;\n        proxy_set_header Upgrade $http_upgrade;\n        proxy_set_header Connection \"upgrade\";\n    }\n    location /b/ {\n        proxy_pass http://app:8080/b/;\n        proxy_http_version 1.1;\n        proxy_set_header Upgrade $http_upgrade;\n        proxy_set_header Connection \"upgrade\";\n    }\n}\n";
    run_all(&[
        Case {
            name: "the motivating example's /api/ws",
            cwd: REPO,
            args_file: Some(MOTIVATING),
            args: &[MOTIVATING_INPUT],
            stderr: &[Out::Has(
                ", 1 WebSocket location split off (/api/ws under /api/), ",
            )],
            ..NONE
        },
        Case {
            name: "four, from two locations",
            args: &[
                "--no-config",
                "--websocket",
                "/a/1",
                "--websocket",
                "/a/2",
                "--websocket",
                "/b/live",
                "--websocket",
                "/a/3",
                "-",
            ],
            stdin: Some(TWO),
            stdout: &[Out::Has("+    location /b/live {")],
            stderr: &[Out::Has(
                ", 4 WebSocket locations split off (/a/1 under /a/, /a/2 under /a/, /a/3 under /a/ and 1 more), ",
            )],
            ..NONE
        },
    ]);
}

#[test]
fn motivating_example_diff_and_check() {
    const MOTIVATING_RUN: Case = Case {
        cwd: REPO,
        args_file: Some(MOTIVATING),
        args: &[MOTIVATING_INPUT],
        ..NONE
    };
    run_all(&[
        Case {
            name: "diff",
            stdout: &[
                Out::Starts(
                    "--- a/fixtures/01-motivating-frontend/input.conf\n+++ b/fixtures/01-motivating-frontend/input.conf\n",
                ),
                Out::Has("+    location /api/ws {"),
            ],
            // By default stderr holds one summary line; the counts are the
            // fixture's (3 backends, 3 pooled locations and the one split
            // off, checked by hand against expected.conf).
            stderr: &[Out::Exact(
                "3 upstreams added, 3 proxy_pass targets rewritten, 1 proxy_http_version set to 1.1, \
                 3 Connection headers fixed, 1 Upgrade header moved, 1 WebSocket location split off (/api/ws under /api/), \
                 3 proxy_redirects kept in 1 file\n",
            )],
            ..MOTIVATING_RUN
        },
        // Reasons with rule ids with -v.
        Case {
            name: "-v",
            args: &["-v", MOTIVATING_INPUT],
            stderr: &[Out::Has(": websocket-split: ")],
            ..MOTIVATING_RUN
        },
        // --statistics: per-rule counts after the summary, most first.
        Case {
            name: "--statistics",
            args: &["--statistics", MOTIVATING_INPUT],
            stderr: &[
                Out::Has("\n     3  upstream-block\n"),
                Out::Ends("     1  websocket-split\n"),
            ],
            ..MOTIVATING_RUN
        },
        Case {
            name: "--check of the input",
            args: &["--check", MOTIVATING_INPUT],
            status: 1,
            ..MOTIVATING_RUN
        },
        Case {
            name: "--check of the expected output",
            args: &["--check", "fixtures/01-motivating-frontend/expected.conf"],
            stdout: &[Out::Empty],
            stderr: &[Out::Exact("nothing to change in 1 file\n")],
            ..MOTIVATING_RUN
        },
    ]);
}

#[test]
fn valid_file_without_anything_to_pool_gives_empty_diff() {
    run_all(&[Case {
        name: "nothing to pool",
        args: &["--check", "static.conf", "empty.conf"],
        files: &[
            (
                "static.conf",
                b"server {\n    listen 80;\n    root /srv;\n}\n",
            ),
            ("empty.conf", b""),
        ],
        stdout: &[Out::Empty],
        ..NONE
    }]);
}

/// `upkeep --write NAME` of a file with a syntax error: exit 2, the error
/// at NAME:LINE:COLUMN with its words and a help line, nothing on stdout,
/// the file as it was.
macro_rules! syntax_error {
    ($name:literal, $content:expr, $at:literal, $words:literal) => {
        Case {
            name: $name,
            args: &["--write", $name],
            files: &[($name, $content)],
            status: 2,
            stdout: &[Out::Empty],
            stderr: &[
                Out::Has(concat!($name, ":", $at, ":")),
                Out::Has($words),
                Out::Has("help:"),
            ],
            files_after: &[($name, After::Same)],
            ..NONE
        }
    };
}

#[test]
fn syntax_errors_name_path_line_and_column() {
    let mut garbage = vec![0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01, 0x01, 0x00];
    garbage.extend((0..512u32).map(|i| (i * 7 % 251) as u8));
    run_all(&[
        syntax_error!(
            "unbalanced.conf",
            b"http {\n    server {\n        listen 80;\n    }\n",
            "1:6",
            "not closed"
        ),
        syntax_error!(
            "extra-brace.conf",
            b"server { listen 80; }\n}\n",
            "2:1",
            "unexpected \"}\""
        ),
        syntax_error!(
            "quote.conf",
            b"server {\n    return 200 \"oops;\n}\n",
            "2:16",
            "unterminated quoted string"
        ),
        syntax_error!(
            "semicolon.conf",
            b"server {\n    location / {\n        proxy_pass http://a:1\n    }\n}\n",
            "3:30",
            "missing \";\""
        ),
        syntax_error!(
            "glued.conf",
            b"add_header X \"a\"b;\n",
            "1:17",
            "after a quoted string"
        ),
        syntax_error!(
            "bom.conf",
            b"\xEF\xBB\xBFserver { listen 80; }\n",
            "1:1",
            "byte-order mark"
        ),
        syntax_error!("binary.conf", &garbage, "1:8", "binary data"),
    ]);
}

#[test]
fn missing_paths_and_empty_directories_are_errors() {
    run_all(&[
        Case {
            name: "a missing file",
            args: &["nope.conf"],
            status: 2,
            stderr: &[Out::Has("nope.conf: no such file or directory")],
            ..NONE
        },
        Case {
            name: "a directory without configs",
            args: &["empty"],
            files: &[("empty/readme.txt", b"not a conf")],
            status: 2,
            stderr: &[Out::Has("no nginx configs here")],
            ..NONE
        },
    ]);
}

#[test]
fn one_bad_file_does_not_stop_the_others() {
    run_all(&[Case {
        name: "one bad file of three",
        args: &["--write", "sites"],
        files: &[
            ("sites/a.conf", POOLED),
            ("sites/b.conf", b"server { listen 80 }\n"),
            ("sites/nested/c.conf", POOLED),
            ("sites/ignored.txt", POOLED),
        ],
        status: 2,
        stderr: &[Out::Has("sites/b.conf:1:19")],
        stdout: &[Out::Has("sites/a.conf:"), Out::Has("sites/nested/c.conf:")],
        files_after: &[
            ("sites/a.conf", After::Has("keepalive 32;")),
            // Snippets of different directories are different http
            // contexts: c.conf gets an upstream of its own (one directory
            // would share it).
            ("sites/nested/c.conf", After::Has("proxy_pass http://api;")),
            ("sites/nested/c.conf", After::Has("upstream api")),
            ("sites/b.conf", After::Same),
            ("sites/ignored.txt", After::Same),
        ],
        ..NONE
    }]);
}

#[test]
fn stdin_in_every_mode() {
    const STDIN: Case = Case {
        cwd: REPO,
        stdin: Some(POOLED),
        ..NONE
    };
    run_all(&[
        Case {
            name: "diff",
            args: &["-"],
            stdout: &[Out::Starts("--- a/stdin\n+++ b/stdin\n")],
            ..STDIN
        },
        Case {
            name: "--check",
            args: &["--check", "-"],
            status: 1,
            ..STDIN
        },
        Case {
            name: "--write",
            args: &["--write", "-"],
            stdout: &[Out::Starts(
                "upstream api {\n    server api:8080;\n    keepalive 32;\n}\n\nserver {",
            )],
            ..STDIN
        },
        Case {
            name: "a syntax error",
            args: &["-"],
            stdin: Some(b"server {"),
            status: 2,
            stderr: &[Out::Has("-:1:")],
            ..STDIN
        },
    ]);
}

/// Where a change or its edit is: line, column, end line, end column.
fn at(v: &serde_json::Value) -> [Option<u64>; 4] {
    ["line", "column", "end_line", "end_column"].map(|k| v[k].as_u64())
}

fn place(line: u64, column: u64, end_line: u64, end_column: u64) -> [Option<u64>; 4] {
    [line, column, end_line, end_column].map(Some)
}

#[test]
fn json_report() {
    let ran = Case {
        name: "--format json",
        cwd: REPO,
        args: &["--format", "json", "--keepalive", "8", "-"],
        stdin: Some(POOLED),
        // Nothing on stderr in JSON mode but errors.
        stderr: &[Out::Empty],
        ..NONE
    }
    .run();
    let report = ran.json();
    let file = &report["files"][0];
    ran.ensure_eq(&file["status"], &"changed".into(), "the file's status");
    let changes = file["changes"].as_array().cloned().unwrap_or_default();
    let rules: Vec<Option<&str>> = changes.iter().map(|c| c["rule"].as_str()).collect();
    ran.ensure_eq(
        rules,
        [
            "upstream-block",
            "proxy-pass-target",
            "http-version",
            "proxy-redirect",
            "connection-header",
        ]
        .map(Some)
        .to_vec(),
        "the changes' rules",
    );
    ran.ensure_eq(&report["version"], &1.into(), "version");
    ran.ensure_eq(&report["errors"], &serde_json::json!([]), "errors");
    // Reported at the directive it is about (`proxy_pass …;`, line 3,
    // columns 9 to 36), the edit being its `api:8080` (columns 27 to 35).
    let target = &changes[1];
    ran.ensure_eq(at(target), place(3, 9, 3, 36), "the target change's place");
    ran.ensure_eq(at(&target["edit"]), place(3, 27, 3, 35), "its edit's place");
    // The new upstream block is inserted at 1:1 but is about the same
    // proxy_pass; the header line goes into `location /` (2:5 to 2:15).
    ran.ensure_eq(
        at(&changes[0]),
        place(3, 9, 3, 36),
        "the upstream change's place",
    );
    ran.ensure_eq(
        at(&changes[0]["edit"]),
        place(1, 1, 1, 1),
        "its edit's place",
    );
    ran.ensure_eq(
        at(&changes[4]),
        place(2, 5, 2, 15),
        "the header change's place",
    );
    ran.ensure_eq(
        (target["before"].as_str(), target["after"].as_str()),
        (Some("api:8080"), Some("api")),
        "the target before and after",
    );
    ran.ensure(
        target["reason"]
            .as_str()
            .is_some_and(|r| r.contains("implicit upstream")),
        "the target's reason names the implicit upstream",
    );
    ran.ensure_eq(&report["summary"]["changed"], &1.into(), "summary.changed");
}

#[test]
fn notes_say_what_was_left_alone() {
    const NOTES: Case = Case {
        cwd: REPO,
        stdin: Some(b"http { server { location / { proxy_pass http://$backend; } } }\nstream { server { listen 1; proxy_pass db:5432; } }\n"),
        ..NONE
    };
    run_all(&[
        // The variable target is a place left alone; a stream proxy_pass is
        // no HTTP proxying, so nothing upkeep declined.
        Case {
            name: "the summary",
            args: &["-"],
            stdout: &[Out::Empty],
            stderr: &[Out::Exact(
                "nothing to change in 1 file; 1 place left alone (-v says why)\n",
            )],
            ..NOTES
        },
        Case {
            name: "-v",
            args: &["-v", "-"],
            stderr: &[
                Out::Has("-:1:30: note: proxy_pass http://$backend"),
                Out::Has("-:2:29: note: proxy_pass in a stream/mail context"),
            ],
            ..NOTES
        },
        Case {
            name: "-q",
            args: &["-q", "-"],
            stderr: &[Out::Empty],
            ..NOTES
        },
    ]);
}

/// Colors per stream, as anstream decides: `--color always|never` win;
/// `auto` colors a terminal unless NO_COLOR, CLICOLOR=0 or TERM=dumb, and
/// CLICOLOR_FORCE colors even a pipe (NO_COLOR still wins). stderr (reasons
/// with -v) follows the same rules as the diff. (The runner removes
/// NO_COLOR, CLICOLOR, CLICOLOR_FORCE, CI and TERM before each case's own
/// environment, as this test always did.)
#[test]
fn colors_follow_the_flag_and_the_environment() {
    const GREEN_PLUS: &str = "\x1b[32m+";
    const RULE: &str = "\x1b[35mproxy-pass-target:";
    const ESC: &str = "\x1b";
    const COLORED: Case = Case {
        cwd: REPO,
        args: &["--no-config", "-v", MOTIVATING_INPUT],
        stdout: &[Out::Has(GREEN_PLUS), Out::Has(ESC)],
        stderr: &[Out::Has(RULE), Out::Has(ESC)],
        ..NONE
    };
    const PLAIN: Case = Case {
        stdout: &[Out::Lacks(GREEN_PLUS), Out::Lacks(ESC)],
        stderr: &[Out::Lacks(RULE), Out::Lacks(ESC)],
        ..COLORED
    };
    run_all(&[
        Case {
            name: "--color always beats NO_COLOR",
            args: &["--no-config", "-v", "--color", "always", MOTIVATING_INPUT],
            env: &[("NO_COLOR", "1")],
            ..COLORED
        },
        Case {
            name: "--color never beats CLICOLOR_FORCE",
            args: &["--no-config", "-v", "--color", "never", MOTIVATING_INPUT],
            env: &[("CLICOLOR_FORCE", "1")],
            ..PLAIN
        },
        Case {
            name: "a pipe is not a terminal",
            ..PLAIN
        },
        Case {
            name: "CLICOLOR_FORCE colors a pipe",
            env: &[("CLICOLOR_FORCE", "1")],
            ..COLORED
        },
        Case {
            name: "NO_COLOR beats CLICOLOR_FORCE",
            env: &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")],
            ..PLAIN
        },
    ]);
    // On a terminal (a pseudo-terminal from util-linux's `script`, which
    // puts stdout and stderr on its own stdout).
    if which("script").is_err() {
        common::skip(
            "colors on a terminal",
            "no `script` (util-linux) to make a terminal",
        );
        return;
    }
    const TERMINAL: Case = Case {
        cwd: REPO,
        args: &["--no-config", "-v", MOTIVATING_INPUT],
        // `script -qec "upkeep ARGS" /dev/null`: the arguments have no
        // spaces, so "$*" is the command line.
        via: &["sh", "-c", "exec script -qec \"$*\" /dev/null", "sh"],
        env: &[("TERM", "xterm")],
        stdout: &[
            Out::Has("proxy-pass-target"),
            Out::Has(GREEN_PLUS),
            Out::Has(RULE),
        ],
        ..NONE
    };
    const TERMINAL_PLAIN: &[Out] = &[
        Out::Has("proxy-pass-target"),
        Out::Lacks(GREEN_PLUS),
        Out::Lacks(RULE),
    ];
    run_all(&[
        Case {
            name: "a terminal",
            ..TERMINAL
        },
        Case {
            name: "a terminal with TERM=dumb",
            env: &[("TERM", "dumb")],
            stdout: TERMINAL_PLAIN,
            ..TERMINAL
        },
        Case {
            name: "a terminal with CLICOLOR=0",
            env: &[("TERM", "xterm"), ("CLICOLOR", "0")],
            stdout: TERMINAL_PLAIN,
            ..TERMINAL
        },
        Case {
            name: "a terminal with NO_COLOR",
            env: &[("TERM", "xterm"), ("NO_COLOR", "1")],
            stdout: TERMINAL_PLAIN,
            ..TERMINAL
        },
    ]);
}

fn which(program: &str) -> Result<PathBuf, ()> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(program))
        .find(|p| p.is_file())
        .ok_or(())
}

#[cfg(unix)]
#[test]
fn write_keeps_permissions_follows_symlinks_and_refuses_read_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real.conf");
    std::fs::write(&real, POOLED_INPUT).unwrap();
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o640)).unwrap();
    std::os::unix::fs::symlink("real.conf", dir.path().join("link.conf")).unwrap();
    let ran = Case {
        name: "-w through a symlink",
        args: &["-w", "link.conf"],
        files_after: &[("real.conf", After::Has("keepalive 32;"))],
        ..NONE
    }
    .run_in(dir.path());
    ran.ensure(
        std::fs::symlink_metadata(dir.path().join("link.conf"))
            .unwrap()
            .file_type()
            .is_symlink(),
        "link.conf is still a symlink",
    );
    ran.ensure_eq(
        std::fs::metadata(&real).unwrap().permissions().mode() & 0o777,
        0o640,
        "real.conf's mode",
    );
    // No temporary files left behind.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    ran.ensure_eq(names.len(), 2, format!("files left: {names:?}"));

    let ro = dir.path().join("ro.conf");
    std::fs::write(&ro, POOLED_INPUT).unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o444)).unwrap();
    Case {
        name: "-w of a read-only file",
        args: &["-w", "ro.conf"],
        status: 2,
        stderr: &[Out::Has("read-only")],
        files_after: &[("ro.conf", After::Is(POOLED))],
        ..NONE
    }
    .run_in(dir.path());
    let unchanged_before = std::fs::metadata(&real).unwrap().modified().unwrap();
    let ran = Case {
        name: "-w of an unchanged file",
        args: &["-w", "real.conf"],
        // An unchanged file is not reported as written.
        stdout: &[Out::Empty],
        ..NONE
    }
    .run_in(dir.path());
    ran.ensure_eq(
        std::fs::metadata(&real).unwrap().modified().unwrap(),
        unchanged_before,
        "real.conf's modification time",
    );
}

#[test]
fn huge_file_is_refused_without_reading_it() {
    let dir = tempfile::tempdir().unwrap();
    let big = std::fs::File::create(dir.path().join("huge.conf")).unwrap();
    big.set_len(100 * 1024 * 1024).unwrap();
    Case {
        name: "a 100 MiB file",
        args: &["--check", "huge.conf", "ok.conf"],
        files: &[("ok.conf", POOLED)],
        status: 2,
        stderr: &[Out::Has(
            "huge.conf: file is 100 MiB, larger than the 64 MiB",
        )],
        // The other file is still processed.
        stdout: &[Out::Has("+++ b/ok.conf")],
        ..NONE
    }
    .run_in(dir.path());
}

#[test]
fn non_utf8_bytes_are_kept_byte_for_byte() {
    let mut text = b"# caf\xe9 cr\xe8me (Latin-1)\n".to_vec();
    text.extend_from_slice(POOLED);
    text.extend_from_slice(b"# \xff\xfe trailing\n");
    run_all(&[Case {
        name: "Latin-1 bytes",
        args: &["-w", "latin1.conf"],
        files: &[("latin1.conf", &text)],
        files_after: &[
            (
                "latin1.conf",
                After::Starts(b"# caf\xe9 cr\xe8me (Latin-1)\nupstream api {"),
            ),
            ("latin1.conf", After::Ends(b"# \xff\xfe trailing\n")),
        ],
        ..NONE
    }]);
}

#[cfg(unix)]
#[test]
fn unreadable_file_is_an_error_and_others_go_on() {
    // Root reads any file, so read as an unprivileged user when we are root.
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("secret.conf"), POOLED_INPUT).unwrap();
    std::fs::write(dir.path().join("ok.conf"), POOLED_INPUT).unwrap();
    std::fs::set_permissions(
        dir.path().join("secret.conf"),
        std::fs::Permissions::from_mode(0o000),
    )
    .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let as_nobody: &[&str] = if common::is_root() {
        &[
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
        ]
    } else {
        &[]
    };
    Case {
        name: "an unreadable file",
        args: &["--check", "secret.conf", "ok.conf"],
        via: as_nobody,
        status: 2,
        stderr: &[Out::Has("secret.conf: permission denied")],
        stdout: &[Out::Has("+++ b/ok.conf")],
        ..NONE
    }
    .run_in(dir.path());
}

#[cfg(unix)]
#[test]
fn write_keeps_the_owner() {
    use std::os::unix::fs::MetadataExt;
    if !common::is_root() {
        common::skip(
            "write_keeps_the_owner",
            "not root, and only root can give a file to another owner (run the tests as root)",
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("owned.conf");
    std::fs::write(&path, POOLED_INPUT).unwrap();
    std::os::unix::fs::chown(&path, Some(65534), Some(65534)).unwrap();
    let ran = Case {
        name: "-w of another user's file",
        args: &["-w", "owned.conf"],
        ..NONE
    }
    .run_in(dir.path());
    let meta = std::fs::metadata(&path).unwrap();
    ran.ensure_eq((meta.uid(), meta.gid()), (65534, 65534), "owner and group");
}

#[test]
fn kill_during_write_leaves_old_or_new_never_a_mix() {
    // A large config takes long enough to write that a kill -9 lands at
    // different points; whatever happens, the file is one or the other.
    let mut original = String::new();
    for i in 0..4000 {
        original.push_str(&format!(
            "server {{\n    listen {};\n    location /api/ {{\n        proxy_pass http://api{}:8080/;\n        proxy_set_header Host $host;\n    }}\n}}\n",
            10000 + i,
            i % 50
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let expected = Case {
        name: "-w, not killed",
        args: &["-w", "big.conf"],
        files: &[("big.conf", original.as_bytes())],
        ..NONE
    }
    .run_in(dir.path())
    .file("big.conf");
    for delay_ms in [0u64, 5, 20, 60, 150] {
        let name = format!("-w, killed after {delay_ms} ms");
        let case = Case {
            name: &name,
            args: &["-w", "-q", "big.conf"],
            ..NONE
        };
        std::fs::write(dir.path().join("big.conf"), &original).unwrap();
        let mut child = case
            .command(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill();
        let ran = case.ran(dir.path(), child.wait_with_output().unwrap());
        let now = ran.file("big.conf");
        ran.ensure(
            now == original.as_bytes() || now == expected,
            format!("a kill after {delay_ms} ms left a mix"),
        );
        // A killed run may leave its temporary file (nothing can remove it
        // after SIGKILL); it never has the config's name.
        for entry in std::fs::read_dir(dir.path()).unwrap().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            ran.ensure(
                name == "big.conf"
                    || (name.starts_with(".big.conf.upkeep-") && name.ends_with(".tmp")),
                format!("left behind: {name}"),
            );
        }
    }
}

/// Output for nginx ≥ 1.29.7 drops what older nginx needs to pool; upkeep
/// says so on stderr, since run on nginx 1.22 it would not pool at all.
#[test]
fn new_defaults_output_warns_that_it_needs_the_new_nginx() {
    const WARNING: &str = "relies on that nginx's defaults";
    run_all(&[
        Case {
            name: "--nginx-version 1.30.0",
            args: &["--nginx-version", "1.30.0", "a.conf"],
            files: &[("a.conf", POOLED)],
            stderr: &[Out::Has(WARNING)],
            ..NONE
        },
        Case {
            name: "no --nginx-version",
            args: &["a.conf"],
            files: &[("a.conf", POOLED)],
            stderr: &[Out::Lacks(WARNING)],
            ..NONE
        },
    ]);
}

/// A tree is written all or nothing: with one file that cannot be written
/// (read-only), no file of the run changes and no temporary file is left.
#[test]
fn a_tree_is_written_all_or_nothing() {
    use std::os::unix::fs::PermissionsExt;
    let site = |port: u16, backend: &str| {
        format!("server {{\n    listen {port};\n    location / {{\n        proxy_pass http://{backend};\n        proxy_set_header Host $host;\n    }}\n}}\n")
    };
    let (a, b) = (site(8081, "a:8080"), site(8082, "b:8080"));
    const NGINX_CONF: &[u8] = b"events {}\nhttp {\n    include sites/*.conf;\n}\n";
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("sites")).unwrap();
    std::fs::write(root.join("nginx.conf"), NGINX_CONF).unwrap();
    std::fs::write(root.join("sites/a.conf"), &a).unwrap();
    std::fs::write(root.join("sites/b.conf"), &b).unwrap();
    let b_conf = root.join("sites/b.conf");
    std::fs::set_permissions(&b_conf, std::fs::Permissions::from_mode(0o444)).unwrap();
    let ran = Case {
        name: "--write with a read-only file",
        args: &["--write", "nginx.conf"],
        status: 2,
        stderr: &[Out::Has("sites/b.conf"), Out::Has("no file was changed")],
        files_after: &[
            ("nginx.conf", After::Is(NGINX_CONF)),
            ("sites/a.conf", After::Is(a.as_bytes())),
            ("sites/b.conf", After::Is(b.as_bytes())),
        ],
        ..NONE
    }
    .run_in(root);
    let leftovers: Vec<_> = std::fs::read_dir(root.join("sites"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    ran.ensure(
        leftovers.is_empty(),
        format!("temporary files left: {leftovers:?}"),
    );
    // Made writable, the same run writes both sites.
    std::fs::set_permissions(&b_conf, std::fs::Permissions::from_mode(0o644)).unwrap();
    Case {
        name: "--write, every file writable",
        args: &["--write", "nginx.conf"],
        files_after: &[
            ("sites/a.conf", After::Has("keepalive 32;")),
            ("sites/b.conf", After::Has("keepalive 32;")),
        ],
        ..NONE
    }
    .run_in(root);
}

/// A file named twice (directly and through `..`) is one file, processed once.
#[test]
fn a_path_given_twice_is_one_file() {
    run_all(&[Case {
        name: "a path given twice",
        args: &["conf/site.conf", "conf/../conf/site.conf"],
        files: &[("conf/site.conf", POOLED)],
        stdout: &[Out::Times("+++ b/conf/site.conf", 1)],
        ..NONE
    }]);
}

/// Diff paths are relative to the current directory whatever the argument
/// looked like, so that `git apply` works from there.
#[test]
fn diff_paths_are_relative_to_the_current_directory() {
    let dir = tempfile::tempdir().unwrap();
    let absolute = dir
        .path()
        .canonicalize()
        .unwrap()
        .join("frontend/nginx.conf");
    Case {
        name: "an absolute path",
        args: &[absolute.to_str().unwrap()],
        files: &[("frontend/nginx.conf", POOLED)],
        stdout: &[Out::Starts(
            "--- a/frontend/nginx.conf\n+++ b/frontend/nginx.conf\n",
        )],
        ..NONE
    }
    .run_in(dir.path());
}

/// The nginx check itself must be able to fail: this is the collision the
/// naming rules avoid (`upstream "app" may not have port 9000`).
#[test]
fn nginx_check_rejects_an_upstream_named_like_a_remaining_target_host() {
    let Some(nginx) = common::require_nginx() else {
        return;
    };
    let bad = b"upstream app { server app:3000; }\nserver { listen 80; location / { proxy_pass http://app; } location ~ \\.php$ { fastcgi_pass app:9000; } }\n";
    let err = common::nginx_check(&nginx, bad, &["app".to_string()]).unwrap_err();
    assert!(err.contains("may not have port"), "{err}");
}

/// The snippets of one directory are one http context: a conf.d directory gets one
/// upstream per backend across its files, reuses upstreams defined in its
/// other files, and real nginx accepts the result as a whole. Other
/// directories may load into the same context unseen, so the new name
/// carries its port.
#[test]
fn a_conf_d_directory_is_one_http_context() {
    let site = |port: u16, extra: &str| {
        format!("server {{\n    listen {port};\n    location /api/ {{\n        proxy_pass http://api:9000/;\n        proxy_set_header Host $host;\n    }}\n{extra}}}\n")
    };
    let a = site(80, "    location / {\n        proxy_pass http://backend;\n        proxy_set_header Host $host;\n    }\n");
    let b = site(81, "    location /app/ {\n        proxy_pass http://app:8080/;\n        proxy_set_header Host $host;\n    }\n");
    let ran = Case {
        name: "--write conf.d",
        args: &["--write", "conf.d"],
        files: &[
            (
                "conf.d/00-upstreams.conf",
                b"upstream backend {\n    server app:8080;\n    keepalive 16;\n}\n",
            ),
            ("conf.d/a.conf", a.as_bytes()),
            ("conf.d/b.conf", b.as_bytes()),
        ],
        files_after: &[
            // Shared by a.conf and b.conf: in the first file nginx reads.
            (
                "conf.d/00-upstreams.conf",
                After::Starts(b"upstream api_9000 {\n    server api:9000;\n    keepalive 32;\n}\n"),
            ),
            // The sites reuse the upstreams of the first file.
            ("conf.d/a.conf", After::Lacks("upstream ")),
            ("conf.d/b.conf", After::Lacks("upstream ")),
            ("conf.d/b.conf", After::Has("proxy_pass http://api_9000/;")),
            ("conf.d/b.conf", After::Has("proxy_pass http://backend/;")),
        ],
        ..NONE
    }
    .run();
    let Some(nginx) = common::require_nginx() else {
        return;
    };
    let combined = format!("include {}/*.conf;\n", ran.dir.join("conf.d").display());
    if let Err(e) = common::nginx_check(&nginx, combined.as_bytes(), &["app".into(), "api".into()])
    {
        ran.ensure(false, format!("nginx -t refuses the result: {e}"));
    }
}

/// A flag value that names nothing in the configs is a typo: exit 2, the
/// flag and what does exist, no diff, nothing written. The same values
/// spelled right are accepted, also on the migrated config (where the
/// backends live in upstream blocks), so that `--check` passes after
/// `--write`.
#[test]
fn flag_values_that_match_nothing_are_errors() {
    let original = std::fs::read(repo().join(MOTIVATING_INPUT)).unwrap();
    const WSS: &str = "--websocket /wss: no pooled location serves /wss; pooled locations: /api/, /auth/, /auth/api/";
    // In JSON they are the run's errors, not entries of `files`.
    let ran = Case {
        name: "--format json",
        args: &["--format", "json", "--websocket", "/wss", "nginx.conf"],
        files: &[("nginx.conf", &original)],
        status: 2,
        ..NONE
    }
    .run();
    let report = ran.json();
    ran.ensure_eq(
        &report["errors"][0]["message"],
        &format!("{WSS} (nothing was changed)").into(),
        "the error",
    );
    ran.ensure_eq(&report["files"], &serde_json::json!([]), "files");
    ran.ensure_eq(&report["summary"]["errors"], &1.into(), "summary.errors");

    run_story(&[
        Case {
            name: "three typos",
            args: &[
                "--write",
                "--keepalive",
                "gatway=64",
                "--name",
                "nothere:1=x",
                "--websocket",
                "/wss",
                "nginx.conf",
            ],
            files: &[("nginx.conf", &original)],
            status: 2,
            stdout: &[Out::Empty],
            stderr: &[
                Out::Has("error: --keepalive gatway=64: no upstream is named `gatway`; upstreams (existing and new): gateway, stack_auth_8101, stack_auth_8102"),
                Out::Has("error: --name nothere:1=x: no proxy_pass goes to nothere:1; proxy_pass backends: gateway:8000, stack-auth:8101, stack-auth:8102"),
                Out::Has(&format!("error: {WSS}")),
            ],
            files_after: &[("nginx.conf", After::Same)],
            ..NONE
        },
        Case {
            name: "--write, spelled right",
            args_file: Some(MOTIVATING),
            args: &["--write", "nginx.conf"],
            ..NONE
        },
        Case {
            name: "--check after --write",
            args_file: Some(MOTIVATING),
            args: &["--check", "nginx.conf"],
            ..NONE
        },
    ]);
}

/// The workflow the README documents: the migration's flags kept in
/// upkeep.toml, `upkeep --write` with no arguments, then a plain
/// `upkeep --check` passes. A mistake in the file is exit 2 with its line,
/// and nothing is read or written.
#[test]
fn upkeep_toml_holds_the_flags_for_ci() {
    let original = std::fs::read(repo().join(MOTIVATING_INPUT)).unwrap();
    let expected = std::fs::read(repo().join(MOTIVATING).join("expected.conf")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join(".git")).unwrap();
    std::fs::create_dir(dir.path().join("frontend")).unwrap();
    std::fs::write(dir.path().join("frontend/nginx.conf"), &original).unwrap();
    std::fs::write(
        dir.path().join("upkeep.toml"),
        "paths = [\"frontend/nginx.conf\"]\nwebsocket = [\"/api/ws\"]\n\n[upstreams]\ngateway = 64\nstack_auth_api = 16\nstack_auth_dashboard = 8\n\n[names]\n\"stack-auth:8102\" = \"stack_auth_api\"\n\"stack-auth:8101\" = \"stack_auth_dashboard\"\n",
    )
    .unwrap();
    // From a subdirectory of the repository.
    Case {
        name: "--check in frontend/",
        args: &["--check"],
        status: 1,
        ..NONE
    }
    .run_in(&dir.path().join("frontend"));
    run_story_in(
        dir.path(),
        &[
            Case {
                name: "--write",
                args: &["--write"],
                // The same bytes as the fixture's expected output, made with
                // its args.
                files_after: &[("frontend/nginx.conf", After::Is(&expected))],
                ..NONE
            },
            Case {
                name: "--check after --write",
                args: &["--check"],
                ..NONE
            },
            Case {
                name: "a mistake in upkeep.toml",
                args: &["--write"],
                files: &[
                    ("frontend/nginx.conf", &original),
                    ("upkeep.toml", b"websocket = [\"/api/ws\"]\nkeepalive = 0\n"),
                ],
                status: 2,
                stderr: &[Out::Has(
                    "upkeep.toml:2:13: keepalive: `0` is not a pool size",
                )],
                files_after: &[("frontend/nginx.conf", After::Same)],
                ..NONE
            },
            // --config names another file; --no-config ignores the broken one.
            Case {
                name: "--config ci.toml",
                args: &["--config", "ci.toml", "frontend/nginx.conf"],
                files: &[("ci.toml", b"keepalive = 8\nwebsocket = [\"/api/ws\"]\n")],
                stdout: &[Out::Has("keepalive 8;")],
                ..NONE
            },
            Case {
                name: "--no-config",
                args: &["--no-config", "frontend/nginx.conf"],
                stdout: &[Out::Has("keepalive 32;")],
                ..NONE
            },
        ],
    );
}

/// `upkeep --check | head`: the reader goes away before upkeep writes; the
/// exit code is still 1 (changes found), for text and JSON, with no error.
#[test]
fn a_closed_pipe_keeps_the_exit_code() {
    for (name, format) in [
        ("a closed pipe, text", "text"),
        ("a closed pipe, json", "json"),
    ] {
        let case = Case {
            name,
            args: &["--no-config", "--check", "--format", format, "-"],
            stdin: Some(POOLED),
            status: 1,
            stderr: &[Out::Lacks("error")],
            ..NONE
        };
        let dir = repo();
        let mut child = case
            .command(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Close the reading end first: every write upkeep makes fails.
        drop(child.stdout.take());
        child.stdin.take().unwrap().write_all(POOLED).unwrap();
        case.check(&dir, child.wait_with_output().unwrap());
    }
}

/// `# upkeep:ignore` leaves a directive alone; the JSON report lists each
/// marked directive once with its reason, and the summary counts them.
/// (What is left unchanged is the fixture 43-upkeep-ignore, proven on real
/// nginx by the differential tests.)
#[test]
fn upkeep_ignore_is_reported() {
    let input = repo().join("fixtures/43-upkeep-ignore/input.conf");
    let input = input.to_str().unwrap();
    let ran = Case {
        name: "--format json",
        cwd: REPO,
        args: &["--no-config", "--format", "json", input],
        ..NONE
    }
    .run();
    let report = ran.json();
    let suppressed: Vec<(Option<u64>, Option<&str>)> = report["files"][0]["suppressed"]
        .as_array()
        .map(|s| {
            s.iter()
                .map(|s| (s["line"].as_u64(), s["message"].as_str()))
                .collect()
        })
        .unwrap_or_default();
    ran.ensure_eq(
        suppressed,
        vec![
            (Some(6), Some("upstream \"payments\" left alone (upkeep:ignore: owned by the payments team, pooled in their own change)")),
            (Some(14), Some("location and what it proxies left alone (upkeep:ignore: the vendor's load balancer pins clients by connection)")),
            (Some(20), Some("proxy_pass left alone (upkeep:ignore: no reason given)")),
        ],
        "suppressed",
    );
    ran.ensure_eq(
        &report["summary"]["suppressed"],
        &3.into(),
        "summary.suppressed",
    );
    run_all(&[Case {
        name: "text",
        cwd: REPO,
        args: &["--no-config", input],
        stderr: &[Out::Ends("; 3 directives left alone by upkeep:ignore\n")],
        ..NONE
    }]);
}

/// `--format github`: one workflow command per changed location (a
/// warning on its proxy_pass line, every rule there folded into it), per
/// note said without -v (warning) and per error, each on the file's line;
/// background notes are no annotation (tests/github.rs has the rest);
/// `-o FILE` takes what stdout would get.
#[test]
fn github_annotations_and_output_file() {
    const INPUT: &[u8] = b"http {\n    server {\n        location /x/ {\n            include snippets/x.conf;\n            proxy_pass http://x:9000;\n        }\n        location /api/ {\n            proxy_pass http://api:8080;\n        }\n    }\n}\n";
    let ran = Case {
        name: "--format github",
        cwd: REPO,
        args: &["--no-config", "--format", "github", "-"],
        stdin: Some(INPUT),
        stdout: &[
            Out::LineStarts("::warning file=-,line=8,col=13,endLine=8,endColumn=40,title=upkeep upstream-block%2C proxy-pass-target%2C http-version%2C"),
            Out::Has("%0Aproxy-pass-target: api:8080 is an implicit upstream that opens a new connection per request; upstream \"api\" pools them%0A"),
            Out::Times("::warning file=-,line=8,", 1),
            Out::LineStarts("::warning file=-,line=4,col=13,title=upkeep warning::`include snippets/x.conf` could not be read"),
            Out::LineStarts("::warning file=-,line=5,col=13,title=upkeep warning::left alone: `include snippets/x.conf`"),
            // The pool's default timeout is background: no annotation.
            Out::Lacks("upstream \"api\" keeps idle connections"),
        ],
        ..NONE
    }
    .run();
    for line in ran.stdout().lines() {
        let command = line
            .split_once("::")
            .and_then(|(_, rest)| rest.split_once("::"));
        ran.ensure(
            command.is_some_and(|(head, message)| {
                ["warning file=", "notice file=", "error file="]
                    .iter()
                    .any(|p| head.starts_with(p))
                    && !message.is_empty()
            }),
            format!("not a workflow command: {line}"),
        );
    }
    run_all(&[
        Case {
            name: "--format github, a syntax error",
            cwd: REPO,
            args: &["--no-config", "--format", "github", "-"],
            stdin: Some(b"server {\n"),
            status: 2,
            stdout: &[Out::Starts(
                "::error file=-,line=1,col=8,title=upkeep error::",
            )],
            ..NONE
        },
        Case {
            name: "-o out.diff",
            args: &["--no-config", "-o", "out.diff", "site.conf"],
            files: &[("site.conf", INPUT)],
            stdout: &[Out::Empty],
            files_after: &[(
                "out.diff",
                After::Starts(b"--- a/site.conf\n+++ b/site.conf\n"),
            )],
            ..NONE
        },
    ]);
}

/// The paths and statuses of a JSON report's files, sorted.
fn files_of(ran: &common::run::Ran) -> Vec<String> {
    let mut paths: Vec<String> = ran.json()["files"]
        .as_array()
        .map(|files| {
            files
                .iter()
                .map(|f| {
                    format!(
                        "{} {}",
                        f["path"].as_str().unwrap_or("?"),
                        f["status"].as_str().unwrap_or("?")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    paths.sort();
    paths
}

/// Walking a directory: hidden entries and what `.gitignore` ignores (in a
/// git repository only) are skipped, `--exclude` (or upkeep.toml's
/// `exclude`) leaves out globs, files in `sites-enabled/` count without
/// `.conf`, and an entry that cannot be read is an error of its own while
/// the other files are still processed.
#[test]
fn walking_follows_gitignore_hidden_and_excludes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let site = "server {\n    location / {\n        proxy_pass http://a:1;\n    }\n}\n";
    for f in [
        "conf.d/app.conf",
        ".hidden/x.conf",
        "node_modules/pkg/x.conf",
        "generated/g.conf",
        "sites-enabled/site",
        "sites-enabled/.site.swp",
        "conf.d/notes.txt",
    ] {
        let path = root.join(f);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, site).unwrap();
    }
    std::fs::write(root.join(".gitignore"), "node_modules/\n").unwrap();
    std::os::unix::fs::symlink("nowhere.conf", root.join("conf.d/dangling.conf")).unwrap();
    // Not a repository: .gitignore means nothing yet.
    let ran = Case {
        name: "not a repository",
        args: &["--no-config", "--format", "json", "."],
        status: 2,
        ..NONE
    }
    .run_in(root);
    ran.ensure_eq(
        files_of(&ran),
        [
            "conf.d/app.conf changed",
            "conf.d/dangling.conf error",
            "generated/g.conf changed",
            "node_modules/pkg/x.conf changed",
            "sites-enabled/site changed",
        ]
        .map(String::from)
        .to_vec(),
        "files",
    );
    std::fs::create_dir(root.join(".git")).unwrap();
    std::fs::remove_file(root.join("conf.d/dangling.conf")).unwrap();
    let ran = Case {
        name: "a repository, --exclude generated/",
        args: &[
            "--no-config",
            "--format",
            "json",
            "--exclude",
            "generated/",
            ".",
        ],
        ..NONE
    }
    .run_in(root);
    ran.ensure_eq(
        files_of(&ran),
        ["conf.d/app.conf changed", "sites-enabled/site changed"]
            .map(String::from)
            .to_vec(),
        "files",
    );
    // The same exclude from upkeep.toml; a file named as an argument is
    // read even when excluded or hidden.
    let ran = Case {
        name: "upkeep.toml's exclude",
        args: &["--format", "json", ".", ".hidden/x.conf"],
        files: &[("upkeep.toml", b"exclude = [\"generated\"]\n")],
        ..NONE
    }
    .run_in(root);
    let paths: Vec<String> = files_of(&ran);
    ran.ensure_eq(paths.len(), 3, format!("files: {paths:?}"));
    ran.ensure(
        paths.iter().any(|p| p.starts_with(".hidden/x.conf ")),
        format!(".hidden/x.conf is read: {paths:?}"),
    );
    ran.ensure(
        !paths.iter().any(|p| p.contains("generated")),
        format!("generated/ is left out: {paths:?}"),
    );
    Case {
        name: "a bad glob",
        args: &["--no-config", "--exclude", "a{b", "."],
        status: 2,
        stderr: &[Out::Has("`a{b` is not a glob")],
        ..NONE
    }
    .run_in(root);
}

/// `upkeep completions SHELL` and `upkeep man` come from the parser's own
/// definition: bash completes a flag and a flag's values when the script
/// is sourced, every shell gets its script, and `man` renders the page
/// with every flag in it.
#[test]
fn completions_and_man_page() {
    let script = Case {
        name: "completions bash",
        cwd: REPO,
        args: &["completions", "bash"],
        ..NONE
    }
    .run();
    let path = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(path.path(), &script.out.stdout).unwrap();
    // `_upkeep CMD CUR PREV` as bash calls a completion function.
    let complete = |words: &str, cword: usize, cur: &str, prev: &str| {
        let program = format!(
            "source {}; COMP_WORDS=({words}); COMP_CWORD={cword}; _upkeep upkeep '{cur}' '{prev}'; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            path.path().display()
        );
        let out = Command::new("bash")
            .args(["-c", &program])
            .output()
            .unwrap();
        script.ensure(
            out.status.success(),
            format!(
                "bash completing {words:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            ),
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(String::from)
            .collect::<Vec<_>>()
    };
    script.ensure_eq(
        complete("upkeep --webs", 1, "--webs", "upkeep"),
        vec!["--websocket".to_string()],
        "bash completes --webs",
    );
    script.ensure_eq(
        complete("upkeep --format ''", 2, "", "--format"),
        ["text", "json", "github", "sarif", "gitlab"]
            .map(String::from)
            .to_vec(),
        "bash completes --format's values",
    );
    const SHELL: Case = Case { cwd: REPO, ..NONE };
    run_all(&[
        Case {
            name: "completions zsh",
            args: &["completions", "zsh"],
            stdout: &[Out::Has("#compdef upkeep"), Out::Has("websocket")],
            ..SHELL
        },
        Case {
            name: "completions fish",
            args: &["completions", "fish"],
            stdout: &[Out::Has("complete -c upkeep"), Out::Has("websocket")],
            ..SHELL
        },
        Case {
            name: "completions powershell",
            args: &["completions", "powershell"],
            stdout: &[
                Out::Has("Register-ArgumentCompleter"),
                Out::Has("websocket"),
            ],
            ..SHELL
        },
        Case {
            name: "completions elvish",
            args: &["completions", "elvish"],
            stdout: &[
                Out::Has("edit:completion:arg-completer[upkeep]"),
                Out::Has("websocket"),
            ],
            ..SHELL
        },
        Case {
            name: "completions tcsh",
            args: &["completions", "tcsh"],
            status: 2,
            ..SHELL
        },
    ]);

    let page = Case {
        name: "man",
        cwd: REPO,
        args: &["man"],
        stdout: &[Out::Has(".TH upkeep 1")],
        ..NONE
    }
    .run();
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &page.out.stdout).unwrap();
    let rendered = Command::new("man")
        .arg("-l")
        .arg(file.path())
        .env("MANWIDTH", "200")
        .env("MANPAGER", "cat")
        .output();
    let Ok(rendered) = rendered else {
        common::skip("rendering the man page", "no `man` (man-db)");
        return;
    };
    let text = String::from_utf8_lossy(&rendered.stdout);
    page.ensure(
        rendered.status.success(),
        format!(
            "man -l fails: {}",
            String::from_utf8_lossy(&rendered.stderr)
        ),
    );
    for section in ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS"] {
        page.ensure(
            text.contains(section),
            format!("the rendered page lacks {section}:\n{text}"),
        );
    }
    for flag in [
        "--check",
        "--write",
        "--websocket",
        "--keepalive",
        "--exclude",
        "--format",
    ] {
        page.ensure(
            text.contains(flag),
            format!("the rendered page lacks {flag}:\n{text}"),
        );
    }
}

/// `--stdin-filename NAME`: standard input is shown as NAME in the diff,
/// the JSON report, annotations and errors; with no PATH it reads stdin.
#[test]
fn stdin_takes_the_name_an_editor_gives() {
    const NAMED: Case = Case {
        cwd: REPO,
        stdin: Some(POOLED),
        ..NONE
    };
    let ran = Case {
        name: "--format json",
        args: &[
            "--no-config",
            "--stdin-filename",
            "conf/site.conf",
            "--format",
            "json",
            "-",
        ],
        ..NAMED
    }
    .run();
    ran.ensure_eq(
        &ran.json()["files"][0]["path"],
        &"conf/site.conf".into(),
        "the file's path",
    );
    run_all(&[
        Case {
            name: "diff",
            args: &["--no-config", "--stdin-filename", "conf/site.conf"],
            stdout: &[Out::Starts(
                "--- a/conf/site.conf\n+++ b/conf/site.conf\n",
            )],
            ..NAMED
        },
        Case {
            name: "--format github, a syntax error",
            args: &[
                "--no-config",
                "--stdin-filename",
                "conf/site.conf",
                "--format",
                "github",
            ],
            stdin: Some(b"server {"),
            status: 2,
            stdout: &[Out::Starts("::error file=conf/site.conf,line=1,col=8,title=upkeep error::conf/site.conf:1:8: unexpected end of file")],
            stderr: &[Out::Has("error: conf/site.conf:1:8:")],
            ..NAMED
        },
    ]);
}

/// The pre-commit hooks run upkeep on the whole tree (never on a batch of
/// changed files) with arguments upkeep accepts.
#[test]
fn pre_commit_hooks_see_the_whole_tree() {
    let text = std::fs::read_to_string(repo().join(".pre-commit-hooks.yaml")).unwrap();
    let hooks: Vec<&str> = text.split("\n- id: ").skip(1).collect();
    assert_eq!(hooks.len(), 2, "{text}");
    for hook in hooks {
        let field = |name: &str| {
            hook.lines()
                .find_map(|l| l.trim().strip_prefix(&format!("{name}: ")))
                .unwrap_or_else(|| panic!("no {name} in {hook}"))
        };
        assert_eq!(field("pass_filenames"), "false", "{hook}");
        assert_eq!(field("language"), "rust", "{hook}");
        let entry: Vec<&str> = field("entry").split_whitespace().collect();
        assert_eq!(entry[0], "upkeep");
        upkeep::options_for(&entry[1..]).unwrap_or_else(|e| panic!("{hook}: {e}"));
    }
}

/// The README's first command (the motivating example) and its section
/// "What you will see" are what upkeep does: the command's flags are the
/// fixture's, and its stdout and stderr are the section's two blocks.
#[test]
fn the_readme_shows_what_upkeep_prints() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let block = |after: &str, fence: &str| -> String {
        let start = readme.find(after).unwrap_or_else(|| panic!("no {after:?}"));
        let open = readme[start..].find(fence).unwrap() + start + fence.len();
        let close = readme[open..].find("\n```").unwrap() + open;
        readme[open..close + 1].to_string()
    };
    let command = block("## Two commands on a fresh machine", "```sh\n");
    let args: Vec<&str> = command
        .trim()
        .strip_prefix("cargo run --release -- ")
        .expect("the README runs upkeep through cargo")
        .split_whitespace()
        .collect();
    let (path, flags) = args.split_last().unwrap();
    assert_eq!(*path, MOTIVATING_INPUT);
    // The same flags as the fixture's args file (order of pairs aside).
    let pairs = |flags: &[String]| {
        let mut p: Vec<(String, String)> = flags
            .chunks(2)
            .map(|c| (c[0].to_string(), c[1].to_string()))
            .collect();
        p.sort();
        p
    };
    let flags: Vec<String> = flags.iter().map(|f| f.to_string()).collect();
    let fixture = Case {
        args_file: Some(MOTIVATING),
        ..NONE
    }
    .argv();
    assert_eq!(pairs(&flags), pairs(&fixture));

    let mut argv = vec!["--no-config"];
    argv.extend(&args);
    let section = "### What you will see";
    let (diff, summary) = (block(section, "```diff\n"), block(section, "```text\n"));
    run_all(&[Case {
        name: "the README's command",
        cwd: REPO,
        args: &argv,
        stdout: &[Out::Exact(&diff)],
        stderr: &[Out::Exact(&summary)],
        ..NONE
    }]);
}

/// uwsgi and SCGI connections are never kept by nginx (neither module
/// marks one reusable; notes/issue13-nginx-semantics.md): `uwsgi_pass` and
/// `scgi_pass` are left as they are, with a note each, and their hosts stay
/// taken as upstream names.
#[test]
fn uwsgi_and_scgi_are_left_alone_with_a_note() {
    run_all(&[Case {
        name: "uwsgi and scgi",
        cwd: REPO,
        args: &["--no-config", "-v", "-"],
        stdin: Some(b"server {\n    location /py/ {\n        uwsgi_pass app:3031;\n    }\n    location /s/ { scgi_pass unix:/run/s.sock; }\n    location /api/ { proxy_pass http://app:8080; }\n}\n"),
        stderr: &[
            Out::Line("-:3:9: note: uwsgi_pass is left alone: nginx keeps no uwsgi or SCGI connections for reuse, with or without an upstream `keepalive`"),
            Out::Line("-:5:20: note: scgi_pass is left alone: nginx keeps no uwsgi or SCGI connections for reuse, with or without an upstream `keepalive`"),
        ],
        stdout: &[
            Out::Lacks("-        uwsgi_pass"),
            // `app` is the uwsgi backend's host: the new upstream for
            // app:8080 must not take that name (nginx would send uwsgi_pass
            // to it).
            Out::Has("+upstream app_8080 {"),
        ],
        ..NONE
    }]);
}

/// An error at a place in an included file is reported there: the JSON
/// report's `error_at` and the GitHub annotation name the included file
/// and its line, while the report belongs to the main config.
#[test]
fn errors_point_at_their_place() {
    const FILES: &[(&str, &[u8])] = &[
        ("nginx.conf", b"http {\n include bad.conf;\n}\n"),
        ("bad.conf", b"server {\n  location / {\n"),
    ];
    let ran = Case {
        name: "--format json",
        args: &["--no-config", "--format", "json", "nginx.conf"],
        files: FILES,
        status: 2,
        ..NONE
    }
    .run();
    let report = ran.json();
    let file = &report["files"][0];
    ran.ensure_eq(&file["path"], &"nginx.conf".into(), "the file's path");
    ran.ensure_eq(
        &file["error_at"],
        &serde_json::json!({ "path": "bad.conf", "line": 2, "column": 14 }),
        "error_at",
    );
    run_all(&[Case {
        name: "--format github",
        args: &["--no-config", "--format", "github", "nginx.conf"],
        files: FILES,
        status: 2,
        stdout: &[Out::Starts(
            "::error file=bad.conf,line=2,col=14,title=upkeep error::bad.conf:2:14: ",
        )],
        ..NONE
    }]);
}

/// Units are processed on every core; what is printed comes out in the
/// order of one thread: the files as named, an error where its file is.
#[test]
fn many_trees_print_in_the_order_of_one_thread() {
    let mut texts = Vec::new();
    for i in 0..40 {
        let name = format!("site-{i:02}.conf");
        // Sizes differ so that the units finish out of order.
        let locations: String = (0..(40 - i) * 2)
            .map(|j| {
                format!(
                    "        location /l{j}/ {{ proxy_pass http://api-{i}:{}/; }}\n",
                    8000 + j
                )
            })
            .collect();
        let text = if i % 13 == 5 {
            "events {}\nhttp {\n    server {\n        listen 80\n    }\n".to_string()
        } else {
            format!("events {{}}\nhttp {{\n    server {{\n{locations}    }}\n}}\n")
        };
        texts.push((name, text));
    }
    let names: Vec<&str> = texts.iter().map(|(n, _)| n.as_str()).collect();
    let files: Vec<(&str, &[u8])> = texts
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_bytes()))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in &files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let run = |threads: &str, format: &str| {
        let mut args = vec!["--format", format];
        args.extend(&names);
        let name = format!("--format {format} on {threads} threads");
        Case {
            name: &name,
            args: &args,
            env: &[("RAYON_NUM_THREADS", threads)],
            status: 2,
            ..NONE
        }
        .run_in(dir.path())
    };
    for format in ["text", "json"] {
        let (one, eight) = (run("1", format), run("8", format));
        eight.ensure_eq(
            (eight.stdout(), eight.stderr()),
            (one.stdout(), one.stderr()),
            format!("--format {format} on 8 threads as on 1"),
        );
    }
    let ran = run("8", "text");
    let (diff, errors) = (ran.stdout(), ran.stderr());
    let diffed: Vec<&str> = diff
        .lines()
        .filter_map(|l| l.strip_prefix("--- a/"))
        .collect();
    let expected: Vec<&str> = names
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 13 != 5)
        .map(|(_, n)| *n)
        .collect();
    ran.ensure_eq(diffed, expected, "the files diffed, in order");
    let failed: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| errors.contains(&format!("{n}:")))
        .collect();
    ran.ensure_eq(
        failed,
        vec!["site-05.conf", "site-18.conf", "site-31.conf"],
        "the files with an error",
    );
}

/// An include upkeep cannot read leaves alone what depends on it; that is
/// a warning without -v, `--check` cannot be green (exit 2, "could not
/// decide"), the JSON, SARIF and GitHub outputs carry the same, and an
/// include declared irrelevant (`--ignore-include`, upkeep.toml's
/// `ignore-includes`) counts as read.
#[test]
fn what_upkeep_cannot_read_is_never_green() {
    const UNREAD: Case = Case {
        cwd: REPO,
        stdin: Some(b"http {\n    server {\n        location /x/ {\n            include snippets/x.conf;\n            proxy_pass http://x:9000;\n        }\n    }\n}\n"),
        ..NONE
    };
    // Declared irrelevant: read as empty, so the location is pooled.
    const IGNORED: Case = Case {
        status: 1,
        stderr: &[Out::Lacks("warning")],
        stdout: &[Out::Has("+            proxy_pass http://x;")],
        ..UNREAD
    };
    run_all(&[
        Case {
            name: "--check",
            args: &["--no-config", "--check", "-"],
            status: 2,
            stdout: &[Out::Empty],
            stderr: &[
                Out::Has("-:4:13: warning: `include snippets/x.conf` could not be read"),
                Out::Has("-:5:13: warning: left alone: `include snippets/x.conf` could not be read"),
                Out::Has("error: could not decide 2 places: -:4:13, -:5:13: "),
                Out::Has("nothing to change in 1 file; 2 places left alone, 2 warnings (-v says why); 1 error\n"),
            ],
            ..UNREAD
        },
        // Without --check the warnings are the same, and the run is no error.
        Case {
            name: "diff",
            args: &["--no-config", "-"],
            stderr: &[Out::LastLine(
                "nothing to change in 1 file; 2 places left alone, 2 warnings (-v says why)",
            )],
            ..UNREAD
        },
        Case {
            name: "--ignore-include snippets/*",
            args: &["--no-config", "--check", "--ignore-include", "snippets/*", "-"],
            ..IGNORED
        },
        Case {
            name: "--ignore-include *x.conf",
            args: &["--no-config", "--check", "--ignore-include", "*x.conf", "-"],
            ..IGNORED
        },
        // A glob that matches another include changes nothing.
        Case {
            name: "--ignore-include of another include",
            args: &["--no-config", "--check", "--ignore-include", "mime.types", "-"],
            status: 2,
            ..UNREAD
        },
        Case {
            name: "--ignore-include, a bad glob",
            args: &["--no-config", "--ignore-include", "[a", "-"],
            status: 2,
            stderr: &[Out::Has("`[a` is not a glob")],
            ..UNREAD
        },
    ]);

    let json = Case {
        name: "--check --format json",
        args: &["--no-config", "--check", "--format", "json", "-"],
        status: 2,
        ..UNREAD
    }
    .run();
    let report = json.json();
    let kinds: Vec<(Option<&str>, Option<u64>)> = report["files"][0]["notes"]
        .as_array()
        .map(|notes| {
            notes
                .iter()
                .map(|n| (n["kind"].as_str(), n["line"].as_u64()))
                .collect()
        })
        .unwrap_or_default();
    json.ensure_eq(
        kinds,
        vec![(Some("undecided"), Some(4)), (Some("undecided"), Some(5))],
        "the notes' kinds and lines",
    );
    let summary = &report["summary"];
    json.ensure_eq(
        [
            &summary["undecided"],
            &summary["left_alone"],
            &summary["warnings"],
        ],
        [&2.into(), &2.into(), &2.into()],
        "summary: undecided, left_alone, warnings",
    );
    json.ensure(
        report["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("could not decide 2 places: -:4:13, -:5:13")),
        "the run's error says what could not be decided",
    );

    let sarif = Case {
        name: "--format sarif",
        args: &["--no-config", "--format", "sarif", "-"],
        ..UNREAD
    }
    .run();
    let log = sarif.json();
    let levels: Vec<Option<&str>> = log["runs"][0]["results"]
        .as_array()
        .map(|r| r.iter().map(|r| r["level"].as_str()).collect())
        .unwrap_or_default();
    sarif.ensure_eq(
        levels,
        vec![Some("warning"), Some("warning")],
        "the results' levels",
    );
}

/// Roots: in a git work tree the diff names files relative to its root, so
/// `git apply` applies it from any directory in it; a file read from
/// outside the roots is said once per run, on stderr without -v, and is
/// never written.
#[test]
fn diffs_are_relative_to_the_repository_and_outside_files_are_said_once() {
    let repo = tempfile::tempdir().unwrap();
    let machine = tempfile::tempdir().unwrap();
    let git = |args: &[&str], dir: &Path| {
        let s = std::process::Command::new("git")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("run git");
        assert!(s.status.success(), "{}", String::from_utf8_lossy(&s.stderr));
    };
    git(&["init", "-q"], repo.path());
    let deploy = repo.path().join("deploy");
    std::fs::create_dir(&deploy).unwrap();
    let headers = machine.path().join("headers.conf");
    std::fs::write(&headers, "proxy_set_header X-Edge 1;\n").unwrap();
    let site = format!(
        "events {{}}\nhttp {{\n    server {{\n        location / {{\n            include {};\n            proxy_pass http://app:8080;\n        }}\n    }}\n}}\n",
        headers.display()
    );
    let outside = format!(
        "warning: read 1 file from outside the repository {} (upkeep writes only there, never these): {}",
        std::fs::canonicalize(repo.path()).unwrap().display(),
        std::fs::canonicalize(&headers).unwrap().display()
    );
    let ran = Case {
        name: "diff",
        args: &["--no-config", "a.conf", "b.conf"],
        files: &[("a.conf", site.as_bytes()), ("b.conf", site.as_bytes())],
        stdout: &[
            Out::Starts("--- a/deploy/a.conf\n+++ b/deploy/a.conf\n"),
            Out::Has("--- a/deploy/b.conf\n"),
        ],
        stderr: &[
            Out::Times("from outside", 1),
            // Counted in the summary with the notes' warnings.
            Out::Ends(" in 2 files; 1 warning (-v says why)\n"),
            Out::Has(&outside),
        ],
        ..NONE
    }
    .run_in(&deploy);
    Case {
        name: "--format github",
        args: &["--no-config", "--format", "github", "a.conf", "b.conf"],
        stdout: &[Out::Has(
            "::warning title=upkeep warning::read 1 file from outside the repository",
        )],
        ..NONE
    }
    .run_in(&deploy);
    // `git apply` from the subdirectory applies the root-relative paths.
    std::fs::write(repo.path().join("change.diff"), &ran.out.stdout).unwrap();
    git(&["apply", "../change.diff"], &deploy);
    let again = Case {
        name: "--check after git apply",
        args: &["--no-config", "--check", "a.conf", "b.conf"],
        ..NONE
    }
    .run_in(&deploy);
    again.ensure_eq(
        std::fs::read_to_string(&headers).unwrap(),
        "proxy_set_header X-Edge 1;\n".to_string(),
        "the file outside the repository",
    );
}

/// A file of `conf.d/` given alone is read with its siblings, which are
/// context only: a change the sibling would need (keepalive for its
/// upstream that the given file uses) is an error at its line, and
/// nothing is written; named too, the sibling is changed.
#[test]
fn siblings_read_as_context_are_never_edited() {
    run_story(&[
        Case {
            name: "the site alone",
            args: &["--no-config", "--write", "conf.d/site.conf"],
            files: &[
                ("conf.d/00-up.conf", b"upstream shared {\n    server app:8080;\n}\n"),
                (
                    "conf.d/site.conf",
                    b"server {\n    listen 81;\n    location / {\n        proxy_pass http://shared;\n    }\n}\n",
                ),
            ],
            status: 2,
            stderr: &[Out::Has("error: conf.d/00-up.conf:3:1: the change needs this file edited, which upkeep read only as context")],
            files_after: &[
                ("conf.d/00-up.conf", After::Same),
                ("conf.d/site.conf", After::Same),
            ],
            ..NONE
        },
        Case {
            name: "the site and its sibling",
            args: &[
                "--no-config",
                "--write",
                "conf.d/site.conf",
                "conf.d/00-up.conf",
            ],
            files_after: &[("conf.d/00-up.conf", After::Has("    keepalive 32;\n"))],
            ..NONE
        },
    ]);
}

/// `--websocket` for a location that hands its requests to a named
/// location (PeerTube's `try_files /dev/null @api_websocket;`): the named
/// location is dedicated when every location handing to it is named with
/// `--websocket` (fixture 68); otherwise exit 2 with what to do instead,
/// and nothing changed.
#[test]
fn websocket_through_a_shared_named_location_says_what_to_do() {
    const FIXTURE: Case = Case {
        cwd: Some("fixtures/68-websocket-through-named-location"),
        ..NONE
    };
    run_all(&[
        Case {
            name: "--websocket /socket.io",
            args: &["--websocket", "/socket.io", "input.conf"],
            status: 2,
            stdout: &[Out::Empty],
            stderr: &[Out::Has("error: --websocket /socket.io: /socket.io cannot get a dedicated WebSocket location: named location @api_websocket serves it (try_files/error_page) and also serves /tracker/socket;")],
            ..FIXTURE
        },
        Case {
            name: "--websocket /socket.io/x",
            args: &["--websocket", "/socket.io/x", "input.conf"],
            status: 2,
            stderr: &[Out::Has("named location @api_websocket serves it through location /socket.io (try_files/error_page), which also serves other paths")],
            ..FIXTURE
        },
        // Both of them: @api_websocket is the WebSocket location (no map).
        Case {
            name: "--websocket for both",
            args: &[
                "--websocket",
                "/socket.io",
                "--websocket",
                "/tracker/socket",
                "input.conf",
            ],
            stdout: &[Out::Lacks("connection_upgrade")],
            ..FIXTURE
        },
    ]);
}

/// An existing FastCGI upstream that gets `keepalive`: `-v` names the
/// protocol that uses it, and the php-fpm sizing note appears as for a new
/// FastCGI upstream.
#[test]
fn an_existing_fastcgi_upstream_is_named_by_its_protocol() {
    run_all(&[Case {
        name: "an existing FastCGI upstream",
        cwd: REPO,
        args: &["--no-config", "-v", "-"],
        stdin: Some(b"upstream php {\n    server php:9000;\n}\nserver {\n    listen 80;\n    location ~ \\.php$ {\n        fastcgi_pass php;\n    }\n}\n"),
        stderr: &[
            Out::Has("upstream \"php\" is used by fastcgi_pass but keeps no idle connections"),
            Out::Has("upstream \"php\" keeps up to 32 idle FastCGI connections per nginx worker"),
            Out::Has("pm.max_children"),
        ],
        ..NONE
    }]);
}

/// The summary line points to `-v` for the reasons, except under `-v`,
/// where they are printed above it.
#[test]
fn summary_points_to_verbose_only_without_it() {
    const LEFT_ALONE: Case = Case {
        cwd: REPO,
        stdin: Some(
            b"server {\n    location / {\n        proxy_pass http://$arg_to:8080;\n    }\n}\n",
        ),
        ..NONE
    };
    run_all(&[
        Case {
            name: "plain",
            args: &["--no-config", "-"],
            stderr: &[Out::Has("1 place left alone (-v says why)")],
            ..LEFT_ALONE
        },
        Case {
            name: "-v",
            args: &["--no-config", "-v", "-"],
            stderr: &[Out::Has("1 place left alone"), Out::Lacks("-v says why")],
            ..LEFT_ALONE
        },
    ]);
}
