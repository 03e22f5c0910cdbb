//! `--format gitlab`: the run's report as a GitLab Code Quality report
//! (`artifacts: reports: codequality:`), a JSON array of issues, each with
//! the fields GitLab requires (docs.gitlab.com, "Code Quality report
//! format"): `description`, `check_name`, `fingerprint`, `severity` (`info`,
//! `minor`, `major`, `critical` or `blocker`) and `location` (`path` and
//! `lines.begin`).
//!
//! - one issue per change, `minor`, named `upkeep/RULE-ID`, at the
//!   directive it is about (as SARIF's results);
//! - one per note said without `-v` (what upkeep could not decide, a risk
//!   the output carries), `major`, and one per place left alone, per
//!   assumption upkeep made and per `# upkeep:ignore`, `info`, as GitHub's
//!   notices (`NoteKind::weight`); background notes are not issues;
//! - one per error, `critical`, at its place (a run error, which has no
//!   file, at `.`).
//!
//! GitLab tells issues apart by fingerprint, across pipelines: one that
//! is in both the base and the merge request's report is not new. So the
//! fingerprint hashes what an issue is — its file, check and message, and
//! which of several alike it is — not its line, which moves when lines are
//! added above it.

use serde_json::{json, Value};

use crate::output::report::{FileReport, NoteReport, RunReport};
use crate::vocab::NoteWeight;

/// The Code Quality report for `report`.
pub fn report(report: &RunReport) -> Value {
    let mut issues = Issues::default();
    for file in &report.files {
        if let Some(error) = &file.error {
            let (path, line) = match &file.error_at {
                Some(p) => (p.path.as_str(), p.line),
                None => (file.path.as_str(), 1),
            };
            issues.push(path, line, "upkeep/error", "critical", error);
        }
        for c in &file.changes {
            let check = format!("upkeep/{}", c.rule.as_str());
            issues.push(&file.written_path, c.at.line, &check, "minor", &c.reason);
        }
        for n in &file.notes {
            note(&mut issues, file, n, "upkeep/note");
        }
        for n in &file.suppressed {
            note(&mut issues, file, n, "upkeep/ignore");
        }
    }
    for error in &report.errors {
        issues.push(".", 1, "upkeep/error", "critical", &error.message);
    }
    Value::Array(issues.list)
}

fn note(issues: &mut Issues, file: &FileReport, n: &NoteReport, check: &str) {
    let weight = if check == "upkeep/ignore" {
        NoteWeight::Notice
    } else {
        n.kind.weight()
    };
    let (check, severity) = match weight {
        NoteWeight::Warning => ("upkeep/warning", "major"),
        NoteWeight::Notice => (check, "info"),
        NoteWeight::Background => return,
    };
    issues.push(
        &file.written_path,
        n.line.unwrap_or(1),
        check,
        severity,
        &n.message,
    );
}

#[derive(Default)]
struct Issues {
    list: Vec<Value>,
    /// How many issues of each (path, check, message) so far: the n-th
    /// alike gets its own fingerprint.
    seen: std::collections::HashMap<(String, String, String), usize>,
}

impl Issues {
    fn push(&mut self, path: &str, line: usize, check: &str, severity: &str, message: &str) {
        let key = (path.to_string(), check.to_string(), message.to_string());
        let n = self.seen.entry(key).or_default();
        *n += 1;
        let fingerprint = fingerprint(&[path, check, message, &n.to_string()]);
        self.list.push(json!({
            "description": message,
            "check_name": check,
            "fingerprint": fingerprint,
            "severity": severity,
            "location": { "path": path, "lines": { "begin": line.max(1) } },
        }));
    }
}

/// 32 hex digits from `parts`, each ended by a 0 byte so that they
/// cannot run into each other: FNV-1a 64 from two offsets. Stable across
/// runs, machines and Rust releases, which a fingerprint must be.
fn fingerprint(parts: &[&str]) -> String {
    let bytes = || parts.iter().flat_map(|p| p.bytes().chain([0]));
    format!(
        "{:016x}{:016x}",
        fnv1a(FNV_OFFSET, bytes()),
        fnv1a(FNV_OFFSET_2, bytes())
    )
}

/// FNV-1a 64's offset basis, and a second start for the other half.
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_OFFSET_2: u64 = 0x6c62_272e_07bb_0142;

fn fnv1a(start: u64, bytes: impl Iterator<Item = u8>) -> u64 {
    bytes.fold(start, |hash, b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Notes weigh as GitHub's annotations do: what warns is `major`, a
    /// place left alone and an assumption are `info`, background is no
    /// issue.
    #[test]
    fn notes_weigh_as_in_the_other_reports() {
        use crate::output::report::{FileStatus, Summary};
        use crate::vocab::NoteKind;
        let note = |kind, message: &str| NoteReport {
            line: Some(2),
            column: Some(1),
            message: message.into(),
            kind,
            char_column: Some(1),
        };
        let file = FileReport {
            path: "a.conf".into(),
            written_path: "a.conf".into(),
            status: FileStatus::Unchanged,
            changes: Vec::new(),
            notes: vec![
                note(NoteKind::Undecided, "undecided"),
                note(NoteKind::LeftAlone, "left"),
                note(NoteKind::Assumed, "assumed"),
                note(NoteKind::Info, "background"),
            ],
            suppressed: Vec::new(),
            error: None,
            error_at: None,
        };
        let issues = report(&RunReport {
            version: 1,
            files: vec![file],
            errors: Vec::new(),
            summary: Summary::default(),
        });
        let got: Vec<(String, String)> = issues
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                (
                    i["description"].as_str().unwrap().into(),
                    i["severity"].as_str().unwrap().into(),
                )
            })
            .collect();
        let want = [
            ("undecided", "major"),
            ("left", "info"),
            ("assumed", "info"),
        ];
        assert_eq!(
            got,
            want.map(|(d, s)| (d.to_string(), s.to_string())).to_vec()
        );
    }

    #[test]
    fn fingerprints_are_fnv1a_and_separate_their_parts() {
        // FNV-1a 64's published test vectors.
        assert_eq!(
            fnv1a(FNV_OFFSET, b"a".iter().copied()),
            0xaf63_dc4c_8601_ec8c
        );
        assert_eq!(
            fnv1a(FNV_OFFSET, b"foobar".iter().copied()),
            0x8594_4171_f739_67e8
        );
        assert_eq!(fingerprint(&[]), "cbf29ce4842223256c62272e07bb0142");
        let one = fingerprint(&["ab", "c"]);
        assert_eq!(one.len(), 32);
        assert_ne!(one, fingerprint(&["a", "bc"]));
        assert_eq!(one, fingerprint(&["ab", "c"]));
    }
}
