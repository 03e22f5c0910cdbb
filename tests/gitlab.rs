//! `--format gitlab`: a GitLab Code Quality report. What GitLab requires
//! of each issue (docs.gitlab.com, "Code Quality report format"): a
//! `description`, a `check_name`, a `fingerprint` that tells the issue
//! apart, a `severity` among `info`, `minor`, `major`, `critical` and
//! `blocker`, and a `location` with a `path` and `lines.begin`.

mod common;

use common::run::{Case, NONE};

const SEVERITIES: [&str; 5] = ["info", "minor", "major", "critical", "blocker"];

/// Every issue has the fields GitLab requires, with the types it reads,
/// and no two share a fingerprint.
fn check_issues(ran: &common::run::Ran) -> Vec<serde_json::Value> {
    let issues = ran.json().as_array().cloned().unwrap_or_default();
    let mut fingerprints = std::collections::BTreeSet::new();
    for i in &issues {
        ran.ensure(i["description"].is_string(), format!("description: {i}"));
        ran.ensure(i["check_name"].is_string(), format!("check_name: {i}"));
        ran.ensure(
            i["severity"]
                .as_str()
                .is_some_and(|s| SEVERITIES.contains(&s)),
            format!("severity: {i}"),
        );
        ran.ensure(i["location"]["path"].is_string(), format!("path: {i}"));
        ran.ensure(
            i["location"]["lines"]["begin"]
                .as_u64()
                .is_some_and(|l| l >= 1),
            format!("lines.begin: {i}"),
        );
        let f = i["fingerprint"].as_str().unwrap_or_default().to_string();
        ran.ensure(!f.is_empty(), format!("fingerprint: {i}"));
        ran.ensure(fingerprints.insert(f), format!("fingerprint repeated: {i}"));
    }
    issues
}

const SITE: &str = "http {\n    server {\n        location /a/ {\n            proxy_pass http://a:8080;\n        }\n        location /b/ {\n            # upkeep:ignore legacy\n            proxy_pass http://b:8080;\n        }\n    }\n}\n";

/// A change per issue at the directive it is about, `# upkeep:ignore` as
/// `info`; moving the file's lines moves the issues but keeps their
/// fingerprints (GitLab then sees the same issues, not new ones).
#[test]
fn issues_have_what_gitlab_requires_and_keep_their_fingerprints() {
    let run = |text: &str| {
        let ran = Case {
            name: "--format gitlab",
            args: &["--no-config", "--format", "gitlab", "site.conf"],
            files: &[("site.conf", text.as_bytes())],
            ..NONE
        }
        .run();
        let issues = check_issues(&ran);
        (ran, issues)
    };
    let (ran, issues) = run(SITE);
    let checks: Vec<&str> = issues
        .iter()
        .filter_map(|i| i["check_name"].as_str())
        .collect();
    ran.ensure(
        checks.contains(&"upkeep/proxy-pass-target"),
        format!("{checks:?}"),
    );
    let target = issues
        .iter()
        .find(|i| i["check_name"] == "upkeep/proxy-pass-target")
        .unwrap();
    ran.ensure_eq(
        target["location"]["lines"]["begin"].as_u64(),
        Some(4),
        "the proxy_pass line",
    );
    ran.ensure_eq(
        target["severity"].as_str(),
        Some("minor"),
        "a change is minor",
    );
    let ignored: Vec<&serde_json::Value> = issues
        .iter()
        .filter(|i| i["check_name"] == "upkeep/ignore")
        .collect();
    ran.ensure_eq(ignored.len(), 1, "the ignored directive");
    ran.ensure_eq(
        ignored[0]["severity"].as_str(),
        Some("info"),
        "ignored is info",
    );
    ran.ensure_eq(
        ignored[0]["location"]["lines"]["begin"].as_u64(),
        Some(8),
        "its line",
    );

    let (moved, moved_issues) = run(&format!("# a comment\n\n{SITE}"));
    let prints = |list: &[serde_json::Value]| -> Vec<String> {
        list.iter().map(|i| i["fingerprint"].to_string()).collect()
    };
    moved.ensure_eq(
        prints(&moved_issues),
        prints(&issues),
        "fingerprints after lines moved",
    );
    let moved_target = moved_issues
        .iter()
        .find(|i| i["check_name"] == "upkeep/proxy-pass-target")
        .unwrap();
    moved.ensure_eq(
        moved_target["location"]["lines"]["begin"].as_u64(),
        Some(6),
        "moved with its line",
    );
}

/// Errors are `critical` at their place; the run still exits 2.
#[test]
fn errors_are_critical_issues() {
    let ran = Case {
        name: "a syntax error",
        args: &["--no-config", "--format", "gitlab", "site.conf"],
        files: &[("site.conf", b"http {\n    server {\n")],
        status: 2,
        ..NONE
    }
    .run();
    let issues = check_issues(&ran);
    ran.ensure_eq(issues.len(), 1, "one issue");
    ran.ensure_eq(issues[0]["severity"].as_str(), Some("critical"), "critical");
    ran.ensure_eq(
        issues[0]["check_name"].as_str(),
        Some("upkeep/error"),
        "named",
    );
    ran.ensure_eq(
        issues[0]["location"]["path"].as_str(),
        Some("site.conf"),
        "its file",
    );
}
