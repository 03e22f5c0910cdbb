//! `--format sarif`: the run's report as a SARIF 2.1.0 log, the format
//! GitHub code scanning (and other viewers) read.
//!
//! - one `run`, its tool `upkeep` with one rule per [`RuleId`] — id, name,
//!   descriptions and help taken from the rule file's own header
//!   ([`rules::doc`]) — and a `note` rule for what upkeep left alone;
//! - one `result` per change (level `warning`, at the directive it is
//!   about, with a `fix` that replaces the edited bytes), per note (level
//!   `note`), and per `# upkeep:ignore` (a `note` result carrying an
//!   in-source suppression with the reason given);
//! - errors (files that could not be read or parsed, flag values that name
//!   nothing) as the invocation's tool execution notifications, and
//!   `executionSuccessful: false` when there were any.
//!
//! Regions count columns in Unicode code points (`columnKind`); fixes
//! address bytes (`byteOffset`, `byteLength`), exact for any encoding.

use serde_json::{json, Value};

use crate::output::report::{FileReport, RunReport};
use crate::rules;
use crate::rules::RuleId;

const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// The id of the pseudo-rule for notes and suppressions.
const NOTE_RULE: &str = "note";

/// The SARIF log for `report`.
pub fn log(report: &RunReport) -> Value {
    let mut results = Vec::new();
    let mut notifications = Vec::new();
    for file in &report.files {
        if let Some(error) = &file.error {
            // The error's own place when it has one: its line (the column
            // is in bytes there, SARIF's would be code points).
            let at = match &file.error_at {
                Some(p) => json!({ "physicalLocation": {
                    "artifactLocation": artifact(&p.path),
                    "region": { "startLine": p.line },
                }}),
                None => location(file, None),
            };
            notifications.push(json!({
                "level": "error",
                "message": { "text": error },
                "locations": [at],
            }));
        }
        results.extend(file_results(file));
    }
    for error in &report.errors {
        notifications.push(json!({
            "level": "error",
            "message": { "text": error.message },
        }));
    }
    json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": driver() },
            "columnKind": "unicodeCodePoints",
            "invocations": [{
                "executionSuccessful": report.summary.errors == 0,
                "toolExecutionNotifications": notifications,
            }],
            "results": results,
        }],
    })
}

/// The tool and its rules: every [`RuleId`], in `RuleId::ALL`'s order
/// (a result's `ruleIndex` is its place here), then `note`.
fn driver() -> Value {
    let mut rules: Vec<Value> = RuleId::ALL
        .iter()
        .map(|rule| {
            let doc = rules::doc(*rule);
            json!({
                "id": rule.as_str(),
                "name": pascal_case(rule.as_str()),
                "shortDescription": { "text": doc.summary() },
                "fullDescription": { "text": doc.what },
                "help": { "text": doc.markdown, "markdown": doc.markdown },
                "defaultConfiguration": { "level": "warning" },
            })
        })
        .collect();
    rules.push(json!({
        "id": NOTE_RULE,
        "name": "Note",
        "shortDescription": { "text": "What upkeep left alone or assumed, and why." },
        "fullDescription": { "text": "A directive upkeep did not change although it proxies (a variable target, a stream context, a location it cannot prove safe to change, or `# upkeep:ignore`), or an assumption it made about how the files are read. The message says which and what to do." },
        "defaultConfiguration": { "level": "note" },
    }));
    json!({
        "name": "upkeep",
        "semanticVersion": env!("CARGO_PKG_VERSION"),
        "version": env!("CARGO_PKG_VERSION"),
        "rules": rules,
    })
}

fn file_results(file: &FileReport) -> Vec<Value> {
    let mut out = Vec::new();
    for c in &file.changes {
        let index = RuleId::ALL
            .iter()
            .position(|r| *r == c.rule)
            .expect("every rule is in RuleId::ALL");
        let region = json!({
            "startLine": c.at.line,
            "startColumn": c.chars.start,
            "endLine": c.at.end_line,
            "endColumn": c.chars.end,
        });
        out.push(json!({
            "ruleId": c.rule.as_str(),
            "ruleIndex": index,
            "level": "warning",
            "message": { "text": c.reason },
            "locations": [location(file, Some(region))],
            "fixes": [{
                "description": { "text": format!("{}: {}", c.rule.as_str(), c.reason) },
                "artifactChanges": [{
                    "artifactLocation": artifact(&file.written_path),
                    "replacements": [{
                        "deletedRegion": {
                            "byteOffset": c.edit_bytes.start,
                            "byteLength": c.edit_bytes.len(),
                        },
                        "insertedContent": { "text": c.after },
                    }],
                }],
            }],
        }));
    }
    let notes = file.notes.iter().map(|n| (n, None));
    let suppressed = file.suppressed.iter().map(|n| (n, Some(&n.message)));
    for (n, suppression) in notes.chain(suppressed) {
        let region = match (n.line, n.char_column) {
            (Some(line), Some(column)) => Some(json!({ "startLine": line, "startColumn": column })),
            _ => None,
        };
        let mut result = json!({
            "ruleId": NOTE_RULE,
            "ruleIndex": RuleId::ALL.len(),
            "level": if n.kind.warns() { "warning" } else { "note" },
            "message": { "text": n.message },
            "locations": [location(file, region)],
        });
        if let Some(reason) = suppression {
            result["suppressions"] = json!([{ "kind": "inSource", "justification": reason }]);
        }
        out.push(result);
    }
    out
}

fn location(file: &FileReport, region: Option<Value>) -> Value {
    let mut physical = json!({ "artifactLocation": artifact(&file.written_path) });
    if let Some(region) = region {
        physical["region"] = region;
    }
    json!({ "physicalLocation": physical })
}

fn artifact(path: &str) -> Value {
    json!({ "uri": uri(path) })
}

/// A path as a URI reference: relative paths stay relative (code scanning
/// resolves them against the checkout), absolute ones become `file://`;
/// bytes other than unreserved characters and `/` are percent-encoded.
fn uri(path: &str) -> String {
    let mut out = String::new();
    if path.starts_with('/') {
        out.push_str("file://");
    }
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `upstream-block` → `UpstreamBlock` (SARIF's rule `name`).
fn pascal_case(id: &str) -> String {
    id.split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_become_uri_references() {
        assert_eq!(uri("conf.d/app.conf"), "conf.d/app.conf");
        assert_eq!(uri("/etc/nginx/a b.conf"), "file:///etc/nginx/a%20b.conf");
        assert_eq!(uri("sites/caf\u{e9}%.conf"), "sites/caf%C3%A9%25.conf");
        assert_eq!(pascal_case("proxy-pass-target"), "ProxyPassTarget");
    }
}
