//! One test per case in `fixtures/` (`cargo test --test fixtures NAME` runs
//! one). For each: the rewrite matches `expected.conf` byte for byte, a
//! second run changes nothing, the `--diff` output applies with `patch -p1`
//! and `git apply`, `--write` leaves the same bytes and `--check` is then
//! clean, and real `nginx -t` accepts input and expected output
//! (`--resolve` output on an nginx older than 1.27.3: without `resolve`,
//! which that nginx refuses). A case without `expected.conf` fails, saying
//! how to bless it; a directory of `fixtures/` without `input.conf` fails
//! them all (`common::fixtures`).
//!
//! `UPKEEP_BLESS=1 cargo test --test fixtures [NAME]` (or
//! `scripts/bless.sh`) writes `expected.conf` from upkeep's output instead
//! of comparing: review `git diff fixtures/`, which the differential test
//! then runs on real nginx.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use libtest_mimic::{Arguments, Failed, Trial};

fn main() {
    let args = Arguments::from_args();
    // Once, before the trials: without nginx this fails (or, with
    // UPKEEP_SKIP_NGINX outside CI, prints a skip).
    let nginx = require_nginx();
    let bless = std::env::var_os("UPKEEP_BLESS").is_some();
    let all = fixtures();
    assert!(all.len() >= 25, "only {} fixtures", all.len());
    let trials = all
        .into_iter()
        .map(|f| {
            let nginx = nginx.clone();
            Trial::test(f.name.clone(), move || check(&f, nginx.as_deref(), bless))
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}

fn check(f: &Fixture, nginx: Option<&Path>, bless: bool) -> Result<(), Failed> {
    let mut failures = Vec::new();
    let config = config_for(&f.args);
    let source = upkeep::Source::new(format!("{}/input.conf", f.name), f.input.clone());
    let output = upkeep::process(&source, &config)
        .map_err(|e| format!("upkeep refuses the input: {e}"))?
        .new_text;
    if bless {
        std::fs::write(f.dir.join("expected.conf"), &output).unwrap();
    }
    let expected = match (bless, &f.expected) {
        (true, _) => output.clone(),
        (false, Some(e)) => e.clone(),
        // Nothing says what upkeep must write: a failure, never a pass.
        (false, None) => return Err(f.expected().unwrap_err().into()),
    };
    if output != expected {
        failures.push(format!(
            "output differs from expected.conf; upkeep wrote:\n{}",
            String::from_utf8_lossy(&output)
        ));
    }
    // The expected output is a fixed point: nothing more to change.
    let again = upkeep::Source::new("expected.conf", expected.clone());
    match upkeep::process(&again, &config) {
        Ok(r) if r.changes.is_empty() => {}
        Ok(r) => failures.push(format!(
            "a second run would change expected.conf: {:?}",
            r.changes
                .iter()
                .map(|c| c.rule.as_str())
                .collect::<Vec<_>>()
        )),
        Err(e) => failures.push(format!("expected.conf: {e}")),
    }
    if let Err(e) = through_the_binary(f, &expected) {
        failures.push(e);
    }
    if let Some(nginx) = nginx {
        nginx_accepts(nginx, &f.input, &expected, "input.conf", &mut failures);
        // `--resolve` output (`server NAME:PORT resolve`) needs nginx
        // 1.27.3; Debian's 1.22 refuses it. The text is compared exactly
        // above; an older nginx checks the rest of it.
        let installed = nginx_version(nginx).unwrap_or((0, 0, 0));
        match without_resolve(&expected).filter(|_| installed < RESOLVE_SINCE) {
            Some(older) => {
                println!(
                    "{}: nginx {}.{}.{} predates `server ... resolve` (1.27.3): nginx -t checks expected.conf without `resolve` and upstream `resolver` lines",
                    f.name, installed.0, installed.1, installed.2
                );
                nginx_accepts(
                    nginx,
                    &older,
                    &f.input,
                    "expected.conf (without resolve)",
                    &mut failures,
                );
            }
            None => nginx_accepts(nginx, &expected, &f.input, "expected.conf", &mut failures),
        }
    }
    outcome(failures)
}

/// Real `nginx -t` on `text`, with every host name of it and of `other`
/// resolving to 127.0.0.1.
fn nginx_accepts(nginx: &Path, text: &[u8], other: &[u8], what: &str, failures: &mut Vec<String>) {
    let hosts = host_names(&format!(
        "{}\n{}",
        String::from_utf8_lossy(text),
        String::from_utf8_lossy(other)
    ));
    if let Err(message) = nginx_check(nginx, text, &hosts) {
        failures.push(format!("{what}: nginx -t failed:\n{message}"));
    }
}

/// The binary as a user runs it: the diff applies with `git apply` and
/// `patch -p1`, `--write` gives the same bytes, `--check` is then clean.
fn through_the_binary(f: &Fixture, expected: &[u8]) -> Result<(), String> {
    let bin = env!("CARGO_BIN_EXE_upkeep");
    let work = tempfile::tempdir().unwrap();
    let conf_dir = work.path().join("conf");
    std::fs::create_dir_all(&conf_dir).unwrap();
    let file = conf_dir.join("nginx.conf");
    std::fs::write(&file, &f.input).unwrap();
    let upkeep = |extra: &[&str]| {
        Command::new(bin)
            .args(&f.args)
            .args(["--color=never"])
            .args(extra)
            .arg("conf/nginx.conf")
            .current_dir(work.path())
            .output()
            .unwrap()
    };
    let out = upkeep(&[]);
    if out.status.code() != Some(0) {
        return Err(format!(
            "the diff run exited {:?}: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let diff = out.stdout;
    if diff.is_empty() != (f.input == expected) {
        return Err(format!(
            "the diff is {}, but input and expected output {}",
            if diff.is_empty() {
                "empty"
            } else {
                "not empty"
            },
            if f.input == expected {
                "are equal"
            } else {
                "differ"
            }
        ));
    }
    if !diff.is_empty() {
        let patch_file = work.path().join("change.diff");
        std::fs::write(&patch_file, &diff).unwrap();
        // git apply --check, then patch -p1 for real.
        let git = Command::new("git")
            .args(["apply", "--check", "--unsafe-paths"])
            .arg(&patch_file)
            .current_dir(work.path())
            .output()
            .unwrap();
        if !git.status.success() {
            return Err(format!(
                "git apply: {}",
                String::from_utf8_lossy(&git.stderr)
            ));
        }
        let patch = Command::new("patch")
            .args(["-p1", "--quiet", "--binary", "-i"])
            .arg(&patch_file)
            .current_dir(work.path())
            .output()
            .unwrap();
        if !patch.status.success() {
            return Err(format!("patch: {}", String::from_utf8_lossy(&patch.stdout)));
        }
        if std::fs::read(&file).unwrap() != expected {
            return Err("the patched file differs from expected.conf".into());
        }
    }
    // --write from the original gives the same bytes, and --check is then clean.
    std::fs::write(&file, &f.input).unwrap();
    let write = upkeep(&["--write"]);
    if write.status.code() != Some(0) || std::fs::read(&file).unwrap() != expected {
        return Err(format!(
            "--write exited {:?} or wrote other bytes: {}",
            write.status.code(),
            String::from_utf8_lossy(&write.stderr)
        ));
    }
    let check = upkeep(&["--check"]);
    if check.status.code() != Some(0) {
        return Err(format!(
            "--check after --write exited {:?}",
            check.status.code()
        ));
    }
    Ok(())
}
