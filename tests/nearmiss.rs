//! Near misses (issue #28): what an operator writes that is almost right
//! must say so, instead of being read silently as something else.
//!
//! - comments that look like `# upkeep:ignore` but leave nothing alone,
//!   and the marker where it marks nothing: a warning at the comment
//!   (said without `-v`, counted), naming what upkeep read and what to
//!   write; a trailing marker works;
//! - `upkeep.toml` mistakes: the key, its line and the closest key;
//! - the caret under a syntax error, in display columns;
//! - the default names of IP and unix-socket backends.
//!
//! Every run goes through the shared runner (`common::run`).

mod common;

use common::run::{run_all, run_story, After, Case, Out, NONE};

/// A `server` block of these lines, each indented one level (its first
/// line is line 2 of the file).
macro_rules! site {
    ($($line:expr),* $(,)?) => {
        concat!("server {\n", $("    ", $line, "\n",)* "}\n")
    };
}

const NEAR_MISS_HINT: &str = "is not an ignore comment, so upkeep reads it as a plain comment: write `# upkeep:ignore` (exactly so) on the line directly above the directive to leave it alone, or after the directive on its line";

/// Each near miss of `# upkeep:ignore` is a warning at the comment,
/// without `-v`, that quotes what was written; the directive below it is
/// changed as usual (the comment is a plain comment), and the summary
/// line counts the warning.
#[test]
fn ignore_near_misses_are_warnings() {
    const SPACE: &[u8] = site!(
        "# upkeep: ignore",
        "location /a/ {",
        "    proxy_pass http://a:8080;",
        "}",
    )
    .as_bytes();
    const CASE: &[u8] = site!(
        "# UPKEEP:IGNORE",
        "location /a/ {",
        "    proxy_pass http://a:8080;",
        "}",
    )
    .as_bytes();
    const DASH: &[u8] = site!(
        "#upkeep-ignore vendor pins connections",
        "location /a/ {",
        "    proxy_pass http://a:8080;",
        "}",
    )
    .as_bytes();
    const WORDS: &[u8] = site!(
        "# upkeep ignore this one",
        "location /a/ {",
        "    proxy_pass http://a:8080;",
        "}",
    )
    .as_bytes();
    const TYPO: &[u8] = site!(
        "# upkeep:ingore",
        "location /a/ {",
        "    proxy_pass http://a:8080;",
        "}",
    )
    .as_bytes();
    const COLON_REASON: &[u8] = site!(
        "# upkeep:ignore:vendor",
        "location /a/ {",
        "    proxy_pass http://a:8080;",
        "}",
    )
    .as_bytes();
    // The summary line of each: the location was pooled, one warning.
    const POOLED: Out = Out::Has("1 upstream added, 1 proxy_pass target rewritten");
    const ONE_WARNING: Out = Out::Ends("; 1 warning (-v says why)\n");
    const REWRITTEN: Out = Out::Has("+        proxy_pass http://a;\n");
    run_all(&[
        Case {
            name: "a space after the colon",
            args: &["--no-config", "site.conf"],
            files: &[("site.conf", SPACE)],
            stdout: &[REWRITTEN],
            stderr: &[
                Out::Starts(
                    "site.conf:2:5: warning: `# upkeep: ignore` is not an ignore comment, so upkeep reads it as a plain comment: write `# upkeep:ignore` (exactly so) on the line directly above the directive to leave it alone, or after the directive on its line\n",
                ),
                POOLED,
                ONE_WARNING,
            ],
            ..NONE
        },
        Case {
            name: "upper case",
            args: &["--no-config", "site.conf"],
            files: &[("site.conf", CASE)],
            stdout: &[REWRITTEN],
            stderr: &[
                Out::Starts("site.conf:2:5: warning: `# UPKEEP:IGNORE` "),
                Out::Has(NEAR_MISS_HINT),
                ONE_WARNING,
            ],
            ..NONE
        },
        Case {
            name: "a dash and no space after #, with a reason",
            args: &["--no-config", "site.conf"],
            files: &[("site.conf", DASH)],
            stdout: &[REWRITTEN],
            // What was written up to the reason, not the reason.
            stderr: &[
                Out::Starts("site.conf:2:5: warning: `#upkeep-ignore` "),
                Out::Has(NEAR_MISS_HINT),
                ONE_WARNING,
            ],
            ..NONE
        },
        Case {
            name: "two words",
            args: &["--no-config", "site.conf"],
            files: &[("site.conf", WORDS)],
            stdout: &[REWRITTEN],
            stderr: &[
                Out::Starts("site.conf:2:5: warning: `# upkeep ignore` "),
                ONE_WARNING,
            ],
            ..NONE
        },
        Case {
            name: "a typo in ignore",
            args: &["--no-config", "site.conf"],
            files: &[("site.conf", TYPO)],
            stdout: &[REWRITTEN],
            stderr: &[
                Out::Starts("site.conf:2:5: warning: `# upkeep:ingore` "),
                ONE_WARNING,
            ],
            ..NONE
        },
        Case {
            name: "a colon before the reason",
            args: &["--no-config", "site.conf"],
            files: &[("site.conf", COLON_REASON)],
            stdout: &[REWRITTEN],
            stderr: &[
                Out::Starts("site.conf:2:5: warning: `# upkeep:ignore:vendor` "),
                ONE_WARNING,
            ],
            ..NONE
        },
        Case {
            name: "--check: still exit 1 with the diff, the warning said",
            args: &["--no-config", "--check", "site.conf"],
            files: &[("site.conf", SPACE)],
            status: 1,
            stdout: &[REWRITTEN],
            stderr: &[Out::Starts("site.conf:2:5: warning: `# upkeep: ignore` ")],
            ..NONE
        },
        Case {
            name: "-q: warnings are not errors",
            args: &["--no-config", "-q", "site.conf"],
            files: &[("site.conf", SPACE)],
            stdout: &[REWRITTEN],
            stderr: &[Out::Empty],
            ..NONE
        },
    ]);
}

/// A real `# upkeep:ignore` that marks nothing says why, and what to
/// write: a blank line below it, a comment line between it and the
/// directive, nothing below it in its block, or after a block's `}`.
#[test]
fn ignore_markers_that_mark_nothing_are_warnings() {
    const BLANK: &[u8] = site!(
        "# upkeep:ignore the vendor pins connections",
        "",
        "location /a/ {",
        "    proxy_pass http://a:8080;",
        "}",
    )
    .as_bytes();
    const COMMENT_BETWEEN: &[u8] = site!(
        "# upkeep:ignore",
        "# the vendor pins connections",
        "location /a/ {",
        "    proxy_pass http://a:8080;",
        "}",
    )
    .as_bytes();
    const NOTHING_BELOW: &[u8] = site!(
        "location /a/ {",
        "    proxy_pass http://a:8080;",
        "    # upkeep:ignore",
        "}",
    )
    .as_bytes();
    const AFTER_BRACE: &[u8] = site!(
        "location /a/ {",
        "    proxy_pass http://a:8080;",
        "} # upkeep:ignore",
    )
    .as_bytes();
    const REWRITTEN: Out = Out::Has("+        proxy_pass http://a;\n");
    const ONE_WARNING: Out = Out::Ends("; 1 warning (-v says why)\n");
    run_all(&[
        Case {
            name: "a blank line",
            args: &["--no-config", "site.conf"],
            files: &[("site.conf", BLANK)],
            stdout: &[REWRITTEN],
            stderr: &[
                Out::Starts("site.conf:2:5: warning: `# upkeep:ignore` marks nothing: a blank line separates it from `location /a/`, so upkeep changes that as usual; remove the blank line to leave it alone\n"),
                ONE_WARNING,
            ],
            ..NONE
        },
        Case {
            name: "a comment line between",
            args: &["--no-config", "site.conf"],
            files: &[("site.conf", COMMENT_BETWEEN)],
            stdout: &[REWRITTEN],
            stderr: &[
                Out::Starts("site.conf:2:5: warning: `# upkeep:ignore` marks nothing: another comment line separates it from `location /a/`; write `# upkeep:ignore` on the line directly above the directive (a reason goes after it on the same line)\n"),
                ONE_WARNING,
            ],
            ..NONE
        },
        Case {
            name: "nothing below it in its block",
            args: &["--no-config", "site.conf"],
            files: &[("site.conf", NOTHING_BELOW)],
            stdout: &[REWRITTEN],
            stderr: &[
                Out::Starts("site.conf:4:9: warning: `# upkeep:ignore` marks nothing: no directive follows it in this block or file; "),
                ONE_WARNING,
            ],
            ..NONE
        },
        Case {
            name: "after a closing brace",
            args: &["--no-config", "site.conf"],
            files: &[("site.conf", AFTER_BRACE)],
            stdout: &[REWRITTEN],
            stderr: &[
                Out::Starts("site.conf:4:7: warning: `# upkeep:ignore` after a block's closing `}` marks nothing: write it on the line directly above `location /a/`, or after its `{`\n"),
                ONE_WARNING,
            ],
            ..NONE
        },
    ]);
}

/// A trailing marker leaves alone the directive it follows on its line
/// (what `# noqa`-style comments taught operators to expect): after `;`,
/// after a block's `{`, after a one-line block; with its reason, and
/// without a warning. In a CRLF file too.
#[test]
fn a_trailing_marker_leaves_its_directive_alone() {
    const AFTER_SEMICOLON: &[u8] = site!(
        "location /a/ {",
        "    proxy_pass http://a:8080; # upkeep:ignore the vendor pins connections",
        "}",
    )
    .as_bytes();
    const AFTER_BRACE: &[u8] = site!(
        "location /a/ { # upkeep:ignore",
        "    proxy_pass http://a:8080;",
        "}",
    )
    .as_bytes();
    const ONE_LINE: &[u8] =
        site!("location /a/ { proxy_pass http://a:8080; } # upkeep:ignore").as_bytes();
    const CRLF: &[u8] =
        b"server {\r\n    location /a/ {\r\n        proxy_pass http://a:8080; # upkeep:ignore\r\n    }\r\n}\r\n";
    const NOTHING: Out = Out::Empty;
    run_all(&[
        Case {
            name: "after the semicolon, with a reason",
            args: &["--no-config", "-v", "site.conf"],
            files: &[("site.conf", AFTER_SEMICOLON)],
            stdout: &[NOTHING],
            stderr: &[
                Out::Line("site.conf:3:9: note: proxy_pass left alone (upkeep:ignore: the vendor pins connections)"),
                Out::Lacks("warning"),
                Out::Has("1 directive left alone by upkeep:ignore"),
            ],
            files_after: &[("site.conf", After::Same)],
            ..NONE
        },
        Case {
            name: "after the block's opening brace",
            args: &["--no-config", "-v", "site.conf"],
            files: &[("site.conf", AFTER_BRACE)],
            stdout: &[NOTHING],
            stderr: &[
                Out::Line("site.conf:2:5: note: location and what it proxies left alone (upkeep:ignore: no reason given)"),
                Out::Lacks("warning"),
            ],
            ..NONE
        },
        Case {
            name: "after a one-line block",
            args: &["--no-config", "--check", "site.conf"],
            files: &[("site.conf", ONE_LINE)],
            stdout: &[NOTHING],
            stderr: &[Out::Lacks("warning")],
            ..NONE
        },
        Case {
            name: "CRLF",
            args: &["--no-config", "--check", "site.conf"],
            files: &[("site.conf", CRLF)],
            stdout: &[NOTHING],
            stderr: &[Out::Lacks("warning")],
            ..NONE
        },
    ]);
}

/// Comments that talk about upkeep, or about the marker, are prose: no
/// warning, and the locations below them are pooled.
#[test]
fn prose_about_upkeep_is_no_near_miss() {
    const PROSE: &[u8] = site!(
        "# upkeep ignores stream blocks, so this one is ours",
        "# upkeep: this server is migrated by hand",
        "# see upkeep:ignore in the README",
        "# run upkeep --check in CI",
        "location /a/ {",
        "    proxy_pass http://a:8080;",
        "}",
    )
    .as_bytes();
    run_all(&[Case {
        name: "prose",
        args: &["--no-config", "site.conf"],
        files: &[("site.conf", PROSE)],
        stdout: &[Out::Has("+        proxy_pass http://a;\n")],
        stderr: &[Out::Lacks("warning"), Out::Lacks("(-v says why)")],
        ..NONE
    }]);
}

/// A mistake in upkeep.toml names the key, its line and column, and what
/// would be right: the closest key for a misspelt one, the type and an
/// example for a wrong value. Exit 2, nothing read, nothing shown on
/// stdout.
#[test]
fn upkeep_toml_mistakes_name_the_key() {
    const SITE: &[u8] =
        b"server {\n    location / {\n        proxy_pass http://api:8080;\n    }\n}\n";
    run_all(&[
        Case {
            name: "a misspelt key",
            args: &["site.conf"],
            files: &[
                ("site.conf", SITE),
                ("upkeep.toml", b"paths = [\"site.conf\"]\nkeepalive = 32\nkeepalive_timout = \"30s\"\n"),
            ],
            status: 2,
            stdout: &[Out::Empty],
            stderr: &[Out::Exact(
                "error: upkeep.toml:3:1: unknown key `keepalive_timout`; did you mean `keepalive-timeout`?\n",
            )],
            ..NONE
        },
        Case {
            name: "a table spelt in the singular",
            args: &["site.conf"],
            files: &[("site.conf", SITE), ("upkeep.toml", b"[upstream]\napi = 64\n")],
            status: 2,
            stderr: &[Out::Exact(
                "error: upkeep.toml:1:2: unknown key `upstream`; did you mean `upstreams`?\n",
            )],
            ..NONE
        },
        Case {
            name: "a key nothing is close to",
            args: &["site.conf"],
            files: &[("site.conf", SITE), ("upkeep.toml", b"format = \"json\"\n")],
            status: 2,
            stderr: &[Out::Starts(
                "error: upkeep.toml:1:1: unknown key `format`; the keys are `paths`, `root`, `prefix`, `keepalive`,",
            )],
            ..NONE
        },
        Case {
            name: "a number written as a string",
            args: &["site.conf"],
            files: &[("site.conf", SITE), ("upkeep.toml", b"keepalive = \"32\"\n")],
            status: 2,
            stderr: &[Out::Exact(
                "error: upkeep.toml:1:13: `keepalive` must be a whole number, not a string: write `keepalive = 32`\n",
            )],
            ..NONE
        },
        Case {
            name: "a pool size in [upstreams] written as a string",
            args: &["site.conf"],
            files: &[("site.conf", SITE), ("upkeep.toml", b"[upstreams]\napi = \"64\"\n")],
            status: 2,
            stderr: &[Out::Exact(
                "error: upkeep.toml:2:7: `upstreams.api` must be a whole number, not a string: write `gateway = 64`\n",
            )],
            ..NONE
        },
        Case {
            name: "a list written as one string",
            args: &["site.conf"],
            files: &[("site.conf", SITE), ("upkeep.toml", b"websocket = \"/ws\"\n")],
            status: 2,
            stderr: &[Out::Exact(
                "error: upkeep.toml:1:13: `websocket` must be a list of strings, not a string: write `websocket = [\"/api/ws\"]`\n",
            )],
            ..NONE
        },
        Case {
            name: "a switch written as a string",
            args: &["site.conf"],
            files: &[("site.conf", SITE), ("upkeep.toml", b"tune-existing = \"yes\"\n")],
            status: 2,
            stderr: &[Out::Exact(
                "error: upkeep.toml:1:17: `tune-existing` must be `true` or `false`, not a string: write `tune-existing = true`\n",
            )],
            ..NONE
        },
        Case {
            name: "a value of the right type still goes through the flag's check",
            args: &["site.conf"],
            files: &[("site.conf", SITE), ("upkeep.toml", b"keepalive = 0\n")],
            status: 2,
            stderr: &[Out::Starts("error: upkeep.toml:1:13: keepalive: `0` is not a pool size")],
            ..NONE
        },
    ]);
}

/// The caret under a syntax error is under the offending character as a
/// terminal shows the line, after multi-byte and wide characters; the
/// `line:column` of the message stays a byte column (as README and the
/// JSON report say columns are).
#[test]
fn the_caret_is_under_the_offending_character() {
    run_all(&[
        Case {
            name: "after é and CJK characters",
            args: &["--no-config", "site.conf"],
            files: &[(
                "site.conf",
                "server {\n    server_name café.example;\n    location /日本/ { add_header X \"値\"y; }\n}\n".as_bytes(),
            )],
            status: 2,
            stderr: &[Out::Starts(concat!(
                // byte column: 4 + 10 + 6 + 18 + 3 + 1 = 42, plus one.
                "error: site.conf:3:43: unexpected \"y\" right after a quoted string\n",
                "  |\n",
                "3 |     location /日本/ { add_header X \"値\"y; }\n",
                // display columns: 4 + 10 + 4 + 18 + 2 + 1 = 39 before it.
                "  |                                        ^\n",
            ))],
            ..NONE
        },
        Case {
            name: "tabs are kept",
            args: &["--no-config", "site.conf"],
            files: &[(
                "site.conf",
                "server {\n\tlocation /ü/ { proxy_pass http://a:1 }\n}\n".as_bytes(),
            )],
            status: 2,
            stderr: &[Out::Has(concat!(
                "2 | \tlocation /ü/ { proxy_pass http://a:1 }\n",
                // after the tab: 10 + 1 (ü) + 25 = 36 columns.
                "  | \t                                    ^\n",
            ))],
            ..NONE
        },
        Case {
            name: "ASCII is as before",
            args: &["--no-config", "site.conf"],
            files: &[("site.conf", b"server {\n    listen 80\n}\n")],
            status: 2,
            stderr: &[Out::Starts(concat!(
                "error: site.conf:2:14: missing \";\" at the end of this directive\n",
                "  |\n",
                "2 |     listen 80\n",
                "  |              ^\n",
            ))],
            ..NONE
        },
    ]);
}

/// An address or a unix socket says nothing about the backend, so its
/// default upstream name is read from where it is used: the socket's
/// file name, the location's path, the server's `server_name`, else
/// `backend`; host names keep theirs, and a name a host gives is never
/// taken. A second run changes nothing (`--check` exits 0 on the output).
#[test]
fn address_and_socket_backends_get_readable_names() {
    const SITE: &[u8] = b"server {\n    server_name shop.example.com;\n\n    location /api/ {\n        proxy_pass http://127.0.0.1:3000;\n    }\n\n    location / {\n        proxy_pass http://[::1]:8080;\n    }\n\n    location /app/ {\n        proxy_pass http://unix:/run/gunicorn.sock:/;\n    }\n\n    location /gateway/ {\n        proxy_pass http://10.0.0.7:9000;\n    }\n\n    location /other/ {\n        proxy_pass http://gateway:8000;\n    }\n}\n";
    run_story(&[
        Case {
            name: "names from the location, the server_name and the socket",
            args: &["--no-config", "--write", "site.conf"],
            files: &[("site.conf", SITE)],
            stderr: &[Out::Has("5 upstreams added")],
            files_after: &[
                ("site.conf", After::Starts(b"upstream api {\n    server 127.0.0.1:3000;\n    keepalive 32;\n}\n\nupstream shop_example_com {\n    server [::1]:8080;\n    keepalive 32;\n}\n\nupstream gunicorn {\n    server unix:/run/gunicorn.sock;\n    keepalive 32;\n}\n\nupstream gateway_9000 {\n    server 10.0.0.7:9000;\n    keepalive 32;\n}\n\nupstream gateway {\n    server gateway:8000;\n    keepalive 32;\n}\n")),
                ("site.conf", After::Has("        proxy_pass http://api;\n")),
                ("site.conf", After::Has("        proxy_pass http://shop_example_com;\n")),
                ("site.conf", After::Has("        proxy_pass http://gunicorn/;\n")),
                ("site.conf", After::Has("        proxy_pass http://gateway_9000;\n")),
                ("site.conf", After::Has("        proxy_pass http://gateway;\n")),
            ],
            ..NONE
        },
        Case {
            name: "a second run changes nothing",
            args: &["--no-config", "--check", "site.conf"],
            stdout: &[Out::Empty],
            stderr: &[Out::Has("nothing to change in 1 file")],
            ..NONE
        },
    ]);
}
