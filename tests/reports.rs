//! The machine-readable reports against their schemas: `--format json`
//! against `schemas/report.schema.json` (ours), `--format sarif` against
//! the OASIS SARIF 2.1.0 schema (shipped in serde-sarif's sources, found
//! through `cargo metadata`) and serde-sarif's types. Every fixture is run
//! in both formats, plus runs with errors of each kind; then the content
//! is checked against hand-counted expectations.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn upkeep(dir: &Path, args: &[&str], stdin: Option<&[u8]>) -> Output {
    common::upkeep_run(dir, args, stdin)
}

fn schema(path: &Path) -> jsonschema::Validator {
    let mut schema: Value = serde_json::from_slice(&std::fs::read(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    escape_stray_brackets(&mut schema);
    jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The OASIS schema's two `language` patterns end in a stray `]`, a
/// literal in ECMA-262 regexes (what JSON Schema specifies) but an error
/// for Rust's regex engine; escaping it keeps the meaning. upkeep writes
/// no `language`: this only lets the schema compile.
fn escape_stray_brackets(v: &mut Value) {
    const STRAY: &str = "^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$";
    match v {
        Value::String(p) if p == STRAY => *p = STRAY.replace("]?$", "\\]?$"),
        Value::Object(map) => map.values_mut().for_each(escape_stray_brackets),
        Value::Array(items) => items.iter_mut().for_each(escape_stray_brackets),
        _ => {}
    }
}

fn ours() -> jsonschema::Validator {
    schema(&common::repo().join("schemas/report.schema.json"))
}

/// The OASIS SARIF 2.1.0 schema, from the sources of the serde-sarif
/// version Cargo.lock pins.
fn sarif_schema() -> jsonschema::Validator {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(common::repo())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: Value = serde_json::from_slice(&out.stdout).unwrap();
    let manifest = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "serde-sarif")
        .and_then(|p| p["manifest_path"].as_str())
        .expect("serde-sarif is a dev-dependency");
    let path = PathBuf::from(manifest)
        .parent()
        .unwrap()
        .join("src/schema.json");
    let validator = schema(&path);
    let text: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(
        text["title"],
        "Static Analysis Results Format (SARIF) Version 2.1.0 JSON Schema"
    );
    validator
}

fn valid(validator: &jsonschema::Validator, doc: &Value, what: &str) -> Result<(), String> {
    let errors: Vec<String> = validator
        .iter_errors(doc)
        .take(5)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!("{what}:\n  {}", errors.join("\n  ")))
    }
}

/// A run to check: its name, where it runs, its arguments, its stdin.
type Run = (String, PathBuf, Vec<String>, Option<Vec<u8>>);

/// Every fixture (and every tree) in both formats, and runs that fail in
/// each way a run can: a missing file, a file that does not parse, a flag
/// value that names nothing.
#[test]
fn every_report_matches_its_schema() {
    let json = ours();
    let sarif = sarif_schema();
    let mut runs: Vec<Run> = Vec::new();
    for f in common::fixtures() {
        let mut args = f.args.clone();
        args.push("input.conf".into());
        runs.push((f.name.clone(), f.dir.clone(), args, None));
    }
    // Each tree laid out as its test lays it out (links out of it, the
    // machine's directory), in a directory that lives to the end.
    let laid_out = tempfile::tempdir().unwrap();
    for case in common::trees::tree_cases() {
        let case = case.placed(&laid_out.path().join(&case.name).join("machine"));
        let dir = laid_out.path().join(&case.name).join("input");
        case.lay_out("input", &dir);
        let mut args = case.args.clone();
        args.push(".".into());
        runs.push((case.name.clone(), dir, args, None));
    }
    let repo = common::repo();
    runs.push((
        "missing file and broken stdin".into(),
        repo.clone(),
        vec!["no-such.conf".into(), "-".into()],
        Some(b"server {".to_vec()),
    ));
    runs.push((
        "flag that names nothing".into(),
        repo.join("fixtures/01-motivating-frontend"),
        vec![
            "--keepalive".into(),
            "nothere=3".into(),
            "input.conf".into(),
        ],
        None,
    ));
    assert!(runs.len() > 45, "{} runs: fixtures missing?", runs.len());
    let mut failures = Vec::new();
    let mut seen_rules = std::collections::BTreeSet::new();
    for (name, dir, args, stdin) in &runs {
        for (format, validator) in [("json", &json), ("sarif", &sarif)] {
            let mut argv: Vec<&str> = vec!["--no-config", "--format", format];
            argv.extend(args.iter().map(String::as_str));
            let out = upkeep(dir, &argv, stdin.as_deref());
            let doc: Value = match serde_json::from_slice(&out.stdout) {
                Ok(doc) => doc,
                Err(e) => {
                    failures.push(format!("{name} ({format}): not JSON: {e}"));
                    continue;
                }
            };
            if let Err(e) = valid(validator, &doc, &format!("{name} ({format})")) {
                failures.push(e);
            }
            if format == "sarif" {
                if let Err(e) = serde_json::from_value::<serde_sarif::sarif::Sarif>(doc.clone()) {
                    failures.push(format!("{name}: serde-sarif cannot read the log: {e}"));
                }
            } else {
                for file in doc["files"].as_array().unwrap() {
                    for c in file["changes"].as_array().unwrap() {
                        seen_rules.insert(c["rule"].as_str().unwrap().to_string());
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    // The validators can fail: a report without its version, a SARIF
    // result without a message.
    let out = upkeep(
        &repo,
        &["--no-config", "--format", "json", "-"],
        Some(b"server {}"),
    );
    let mut doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    doc.as_object_mut().unwrap().remove("version");
    assert!(valid(&json, &doc, "no version").is_err());
    let out = upkeep(
        &repo,
        &["--no-config", "--format", "sarif", "-"],
        Some(b"server { location / { proxy_pass http://a:1; } }"),
    );
    let mut doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(valid(&sarif, &doc, "as printed").is_ok());
    doc["runs"][0]["results"][0]
        .as_object_mut()
        .unwrap()
        .remove("message");
    assert!(valid(&sarif, &doc, "no message").is_err());
    // The runs exercise the schema: every rule appeared in some change.
    let all: std::collections::BTreeSet<String> = upkeep::rule_ids().map(str::to_string).collect();
    let missing: Vec<_> = all.difference(&seen_rules).collect();
    assert!(missing.is_empty(), "no fixture shows {missing:?}");
}

/// The schema's list of rule ids is the program's.
#[test]
fn the_schema_names_every_rule() {
    let schema: Value = serde_json::from_slice(
        &std::fs::read(common::repo().join("schemas/report.schema.json")).unwrap(),
    )
    .unwrap();
    let listed: Vec<&str> = schema["$defs"]["rule"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let ids: Vec<&str> = upkeep::rule_ids().collect();
    assert_eq!(listed, ids);
}

/// What the SARIF log says, on a small input whose positions are counted
/// by hand: a change's region is its directive (code points), its fix
/// replaces the edited bytes; a note and a suppression are `note` results;
/// an error makes the run unsuccessful.
#[test]
fn sarif_results_point_at_the_directives() {
    // Line 2 has a two-byte character before the directive, so byte and
    // code-point columns differ there by one.
    let input = "server {\n  location /é/ {\n    proxy_pass http://api:8080;\n  }\n  location /v/ {\n    include missing.conf;\n    proxy_pass http://v:9;\n  }\n  # upkeep:ignore vendor pins connections\n  location /k/ {\n    proxy_pass http://keep:1;\n  }\n}\n";
    let out = upkeep(
        &common::repo(),
        &["--no-config", "--format", "sarif", "-"],
        Some(input.as_bytes()),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(log["version"], "2.1.0");
    let run = &log["runs"][0];
    assert_eq!(run["columnKind"], "unicodeCodePoints");
    assert_eq!(run["invocations"][0]["executionSuccessful"], true);
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 22);
    assert_eq!(rules[2]["id"], "proxy-pass-target");
    assert_eq!(rules[2]["name"], "ProxyPassTarget");
    assert!(rules[2]["help"]["markdown"]
        .as_str()
        .unwrap()
        .contains("**Safety**: only the address changes"));
    assert_eq!(rules[21]["id"], "note");

    let results = run["results"].as_array().unwrap();
    let target = results
        .iter()
        .find(|r| r["ruleId"] == "proxy-pass-target")
        .unwrap();
    assert_eq!(target["ruleIndex"], 2);
    assert_eq!(target["level"], "warning");
    let region = &target["locations"][0]["physicalLocation"]["region"];
    // `proxy_pass http://api:8080;`: line 3, columns 5 to 32.
    assert_eq!(
        [
            &region["startLine"],
            &region["startColumn"],
            &region["endLine"],
            &region["endColumn"]
        ],
        [3, 5, 3, 32]
    );
    let replacement = &target["fixes"][0]["artifactChanges"][0]["replacements"][0];
    // `api:8080` starts at byte 49: `server {\n` (9) + `  location /é/
    // {\n` (18: é is two bytes) + 4 spaces + `proxy_pass http://` (18).
    assert_eq!(
        &input[49..57],
        "api:8080",
        "the hand count of the byte offset"
    );
    assert_eq!(replacement["deletedRegion"]["byteOffset"], 49);
    assert_eq!(replacement["deletedRegion"]["byteLength"], 8);
    assert_eq!(replacement["insertedContent"]["text"], "api");

    // The connection-header change is about `location /é/`: 12 characters
    // from column 3, so the exclusive end is column 15 in code points (16
    // in bytes: é is two).
    let header = results
        .iter()
        .find(|r| r["ruleId"] == "connection-header")
        .unwrap();
    let region = &header["locations"][0]["physicalLocation"]["region"];
    assert_eq!(
        [
            &region["startLine"],
            &region["startColumn"],
            &region["endColumn"]
        ],
        [2, 3, 15]
    );

    let notes: Vec<&Value> = results.iter().filter(|r| r["ruleId"] == "note").collect();
    // The unreadable include (6:5), the location it leaves alone (its
    // proxy_pass, 7:5), the new pool's idle timeout (nginx's default, the
    // backend's unknown: at the proxy_pass it is for, 3:5), and the
    // ignored location (10:3).
    assert_eq!(notes.len(), 4, "{notes:#?}");
    // What is said without -v (the include and the place it leaves
    // undecided) is a warning; the rest are notes.
    let levels: Vec<&Value> = notes.iter().map(|n| &n["level"]).collect();
    assert_eq!(levels, ["warning", "warning", "note", "note"], "{notes:#?}");
    let lines: Vec<&Value> = notes
        .iter()
        .filter(|n| n.get("suppressions").is_none())
        .map(|n| &n["locations"][0]["physicalLocation"]["region"]["startLine"])
        .collect();
    assert_eq!(lines, [6, 7, 3]);
    let ignored = notes
        .iter()
        .find(|n| n.get("suppressions").is_some())
        .unwrap();
    assert_eq!(ignored["suppressions"][0]["kind"], "inSource");
    assert!(ignored["suppressions"][0]["justification"]
        .as_str()
        .unwrap()
        .contains("vendor pins connections"));
    assert_eq!(
        ignored["locations"][0]["physicalLocation"]["region"]["startLine"],
        10
    );
    assert_eq!(
        ignored["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "-"
    );

    let broken = upkeep(
        &common::repo(),
        &["--no-config", "--format", "sarif", "-"],
        Some(b"server {"),
    );
    assert_eq!(broken.status.code(), Some(2));
    let log: Value = serde_json::from_slice(&broken.stdout).unwrap();
    let invocation = &log["runs"][0]["invocations"][0];
    assert_eq!(invocation["executionSuccessful"], false);
    let notification = &invocation["toolExecutionNotifications"][0];
    assert_eq!(notification["level"], "error");
    assert!(notification["message"]["text"]
        .as_str()
        .unwrap()
        .starts_with("-:1:"));
    assert_eq!(
        notification["locations"][0]["physicalLocation"]["region"]["startLine"],
        1
    );
}
