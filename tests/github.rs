//! `--format github` within what GitHub shows. GitHub keeps at most 10
//! annotations of each level (error, warning, notice) per step
//! (actions/toolkit, docs/problem-matchers.md, "Limitations") and at most
//! 1 MiB of step summary per step (GitHub's docs on
//! `GITHUB_STEP_SUMMARY`). Expectations here come from the fixtures'
//! own lines and from those documented limits.

mod common;

use common::run::{repo, run_all, After, Case, Out, NONE};

/// GitHub's limit per level and step.
const SHOWN: usize = 10;

fn workflow_commands<'a>(stdout: &'a str, level: &str) -> Vec<&'a str> {
    let head = format!("::{level} ");
    stdout.lines().filter(|l| l.starts_with(&head)).collect()
}

/// The 1-based numbers of the lines of `text` holding `what`.
fn lines_with(text: &str, what: &str) -> Vec<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| l.contains(what))
        .map(|(i, _)| i + 1)
        .collect()
}

/// One annotation per changed location, on its `proxy_pass` line, and
/// nothing else: the motivating fixture rewrites all three of its
/// `proxy_pass` lines (see its expected.conf), fixture 09 its one, and
/// the `map` fixture 09 adds goes with the location that needs it.
#[test]
fn every_changed_location_is_one_annotation_on_its_proxy_pass_line() {
    for fixture in ["01-motivating-frontend", "09-websocket-map-new"] {
        let dir = format!("fixtures/{fixture}");
        let input = std::fs::read_to_string(repo().join(&dir).join("input.conf")).unwrap();
        let expected = std::fs::read_to_string(repo().join(&dir).join("expected.conf")).unwrap();
        let passes = lines_with(&input, "proxy_pass ");
        assert!(!passes.is_empty(), "{fixture} has proxy_pass lines");
        for line in &passes {
            let before = input.lines().nth(line - 1).unwrap();
            assert!(
                !expected.lines().any(|l| l == before),
                "{fixture}:{line} is rewritten by the fixture's expected output"
            );
        }
        let ran = Case {
            name: fixture,
            cwd: Some(&dir),
            args_file: Some(&dir),
            args: &["--no-config", "--format", "github", "input.conf"],
            ..NONE
        }
        .run();
        let stdout = ran.stdout();
        let warnings = workflow_commands(&stdout, "warning");
        ran.ensure_eq(warnings.len(), passes.len(), "one warning per location");
        for line in &passes {
            // The diff's path: relative to the repository's root.
            let at = format!("::warning file={dir}/input.conf,line={line},");
            ran.ensure(
                warnings.iter().filter(|w| w.starts_with(&at)).count() == 1,
                format!("one annotation at line {line}"),
            );
        }
        for w in &warnings {
            ran.ensure(
                w.contains("title=upkeep upstream-block%2C proxy-pass-target%2C"),
                format!("the rules are folded into one title: {w}"),
            );
        }
        ran.ensure(
            workflow_commands(&stdout, "notice").is_empty(),
            "no notice: nothing is left alone",
        );
    }
}

/// `count` locations in one server, each proxying to `target(i)`.
fn config(count: usize, target: impl Fn(usize) -> String) -> String {
    let mut text = String::from("http {\n    server {\n");
    for i in 0..count {
        text.push_str(&format!(
            "        location /l{i}/ {{\n            proxy_pass {};\n        }}\n",
            target(i)
        ));
    }
    text.push_str("    }\n}\n");
    text
}

/// 25 changed locations and 15 left alone: 9 annotations of each level,
/// a 10th that counts the rest, and the rest as log lines, so that every
/// place is in the job log once.
#[test]
fn more_than_github_shows_is_counted_and_logged() {
    let pooled = config(25, |i| format!("http://backend{i}:8080"));
    let variable = config(15, |i| format!("http://$host{i}"));
    for (name, text, level, total) in [
        ("25 changed locations", &pooled, "warning", 25),
        ("15 places left alone", &variable, "notice", 15),
    ] {
        let ran = Case {
            name,
            args: &["--no-config", "--format", "github", "site.conf"],
            files: &[("site.conf", text.as_bytes())],
            ..NONE
        }
        .run();
        let stdout = ran.stdout();
        let shown = workflow_commands(&stdout, level);
        ran.ensure_eq(shown.len(), SHOWN, "GitHub's limit, exactly");
        let more = total - (SHOWN - 1);
        ran.ensure(
            shown[SHOWN - 1].starts_with(&format!(
                "::{level} title=upkeep::{more} more {level}s are not shown as annotations (GitHub shows 10 of a kind per step)"
            )),
            format!("the last one counts the rest: {}", shown[SHOWN - 1]),
        );
        // Every proxy_pass line is named once: by an annotation or a log line.
        for line in lines_with(text, "proxy_pass ") {
            let annotation = format!("::{level} file=site.conf,line={line},");
            let logged = format!("site.conf:{line}:");
            let said = stdout
                .lines()
                .filter(|l| l.starts_with(&annotation) || l.starts_with(&logged))
                .count();
            ran.ensure_eq(said, 1, format!("line {line} said once"));
        }
        let other = if level == "warning" {
            "notice"
        } else {
            "warning"
        };
        ran.ensure(
            workflow_commands(&stdout, other).is_empty(),
            format!("no {other}"),
        );
    }
}

/// The step summary: appended (what an earlier step wrote stays), with
/// the outcome, a row per changed location, the places left alone and
/// the diff; only in GitHub format and only where GitHub names a file.
#[test]
fn step_summary_is_appended_with_the_diff() {
    const SITE: &[u8] = b"http {\n    server {\n        location /api/ {\n            proxy_pass http://api:8080;\n        }\n        location /v/ {\n            # upkeep:ignore legacy box\n            proxy_pass http://other:9000;\n        }\n    }\n}\n";
    const EARLIER: &[u8] = b"earlier step\n";
    let env: &[(&str, &str)] = &[("GITHUB_STEP_SUMMARY", "summary.md")];
    run_all(&[
        Case {
            name: "diff mode",
            args: &["--no-config", "--format", "github", "site.conf"],
            env,
            files: &[("site.conf", SITE), ("summary.md", EARLIER)],
            files_after: &[
                ("summary.md", After::Starts(b"earlier step\n## upkeep\n\n**1 file(s) need changes: `upkeep --write` applies the diff below.**\n")),
                ("summary.md", After::Has("\n| `site.conf:4` | upstream-block, proxy-pass-target, http-version, connection-header, host-header, proxy-redirect | ")),
                ("summary.md", After::Has("### Left alone\n")),
                ("summary.md", After::Has("| `site.conf:8` | upkeep:ignore | proxy_pass left alone (upkeep:ignore: legacy box) |\n")),
                ("summary.md", After::Has("```diff\n--- a/site.conf\n+++ b/site.conf\n")),
                ("summary.md", After::Has("+            proxy_pass http://api;\n")),
                ("summary.md", After::Ends(b"```\n\n</details>\n")),
                ("site.conf", After::Same),
            ],
            ..NONE
        },
        Case {
            name: "written",
            args: &["--no-config", "--format", "github", "--write", "site.conf"],
            env,
            files: &[("site.conf", SITE)],
            files_after: &[
                ("summary.md", After::Starts(b"## upkeep\n\n**1 file(s) changed and written.**\n")),
                ("summary.md", After::Lacks("```diff")),
                ("site.conf", After::Has("proxy_pass http://api;")),
            ],
            ..NONE
        },
        Case {
            name: "a syntax error",
            args: &["--no-config", "--format", "github", "site.conf"],
            env,
            files: &[("site.conf", b"http {\n    server {\n")],
            status: 2,
            files_after: &[
                ("summary.md", After::Has("**upkeep failed (exit 2): see the messages below.**")),
                ("summary.md", After::Has("### Errors and warnings\n\n- site.conf:2:")),
            ],
            ..NONE
        },
        Case {
            name: "nothing to change",
            args: &["--no-config", "--format", "github", "--check", "site.conf"],
            env,
            files: &[("site.conf", b"http {\n}\n")],
            files_after: &[("summary.md", After::Starts(b"## upkeep\n\n**No change needed.**\n"))],
            ..NONE
        },
        Case {
            name: "text format",
            args: &["--no-config", "site.conf"],
            env,
            files: &[("site.conf", SITE)],
            stdout: &[Out::Starts("--- a/site.conf\n")],
            files_after: &[("summary.md", After::Absent)],
            ..NONE
        },
        Case {
            name: "no GITHUB_STEP_SUMMARY",
            args: &["--no-config", "--format", "github", "site.conf"],
            files: &[("site.conf", SITE)],
            files_after: &[("summary.md", After::Absent)],
            ..NONE
        },
    ]);
}

/// A diff over GitHub's 1 MiB: the summary stays within it, cut at a line
/// end, and says so; the tables stop at 200 rows and count the rest.
#[test]
fn a_summary_over_githubs_limit_is_cut() {
    let text = config(7000, |i| format!("http://backend{i}:8080"));
    let ran = Case {
        name: "7000 locations",
        args: &["--no-config", "--format", "github", "site.conf"],
        env: &[("GITHUB_STEP_SUMMARY", "summary.md")],
        files: &[("site.conf", text.as_bytes())],
        stdout: &[Out::Has("::warning title=upkeep::6991 more warnings")],
        files_after: &[
            (
                "summary.md",
                After::Has("*… and 6800 more (the job log has them all).*"),
            ),
            ("summary.md", After::Has("\n*The diff is cut at ")),
        ],
        ..NONE
    }
    .run();
    let summary = ran.file("summary.md");
    ran.ensure(
        summary.len() <= 1024 * 1024,
        format!("{} bytes: within GitHub's 1 MiB", summary.len()),
    );
    let summary = String::from_utf8(summary).unwrap();
    let diff = &summary[summary.find("```diff\n").unwrap()..];
    let body = &diff[..diff.find("\n```\n").unwrap() + 1];
    ran.ensure(
        body.lines()
            .skip(1)
            .all(|l| l.is_empty() || [' ', '+', '-', '@'].iter().any(|c| l.starts_with(*c))),
        "the cut diff has whole lines only",
    );
}

/// Background notes (said with -v in text mode) are no annotation; with
/// -v they are log lines.
#[test]
fn background_notes_are_log_lines_with_verbose() {
    const SITE: &[u8] =
        b"http {\n    server {\n        location /api/ {\n            proxy_pass http://api:8080;\n        }\n    }\n}\n";
    run_all(&[
        Case {
            name: "quiet about background",
            args: &["--no-config", "--format", "github", "site.conf"],
            files: &[("site.conf", SITE)],
            stdout: &[
                Out::Lacks("keeps idle connections"),
                Out::Times("::warning ", 1),
            ],
            ..NONE
        },
        Case {
            name: "-v",
            args: &["--no-config", "-v", "--format", "github", "site.conf"],
            files: &[("site.conf", SITE)],
            stdout: &[
                Out::LineStarts(
                    "site.conf:4:13: upkeep note: upstream \"api\" keeps idle connections",
                ),
                Out::Lacks("::notice"),
            ],
            ..NONE
        },
    ]);
}

/// Annotations point at the file a pull request changes, as the diff names
/// it: through a symlink (Debian's sites-enabled → sites-available), and
/// relative to the repository's root from a subdirectory.
#[test]
fn annotations_name_the_file_the_diff_names() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let git = std::process::Command::new("git")
        .args(["init", "-q", "."])
        .current_dir(root)
        .status();
    if !git.is_ok_and(|s| s.success()) {
        common::skip(
            "annotations_name_the_file_the_diff_names",
            "git is not installed",
        );
        return;
    }
    std::fs::create_dir_all(root.join("sites-available")).unwrap();
    std::fs::create_dir_all(root.join("sites-enabled")).unwrap();
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::write(
        root.join("sites-available/app"),
        "server {\n    location / {\n        proxy_pass http://app:3000;\n    }\n}\n",
    )
    .unwrap();
    std::os::unix::fs::symlink("../sites-available/app", root.join("sites-enabled/app")).unwrap();
    let sub = root.join("sub");
    let diff = Case {
        name: "diff",
        args: &["--no-config", "../sites-enabled/app"],
        stdout: &[Out::Starts(
            "--- a/sites-available/app\n+++ b/sites-available/app\n",
        )],
        ..NONE
    };
    diff.run_in(&sub);
    let github = Case {
        name: "github",
        args: &["--no-config", "--format", "github", "../sites-enabled/app"],
        stdout: &[
            Out::LineStarts("::warning file=sites-available/app,line=3,col=9,"),
            Out::Lacks("file=../"),
            Out::Lacks("file=sites-enabled"),
        ],
        ..NONE
    };
    github.run_in(&sub);
    let sarif = Case {
        name: "sarif",
        args: &["--no-config", "--format", "sarif", "../sites-enabled/app"],
        stdout: &[
            Out::Has("\"uri\": \"sites-available/app\""),
            Out::Lacks("\"uri\": \"../"),
        ],
        ..NONE
    };
    sarif.run_in(&sub);
    let gitlab = Case {
        name: "gitlab",
        args: &["--no-config", "--format", "gitlab", "../sites-enabled/app"],
        stdout: &[
            Out::Has("\"path\": \"sites-available/app\""),
            Out::Lacks("\"path\": \"../"),
        ],
        ..NONE
    };
    gitlab.run_in(&sub);
}
