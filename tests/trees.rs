//! Every case in `fixtures/trees/`: a tree of files (`input/`), the
//! arguments upkeep gets there (`args`, one line), and either the tree it
//! must leave after `--write` (`expected/`, every file and symlink) or the
//! exit code and error it must give (`exit`, not 0, and `stderr`) with
//! every file unchanged; a case with neither fails, saying how to bless it.
//! `stderr`: each line must appear in `--write`'s stderr, or, starting with
//! `!`, must not. `check-exit`: what `--check` on the written tree exits
//! (default 0: nothing more to change); `check-stderr`: lines its stderr
//! must hold. `diff`: the exact diff upkeep prints. `links`, `outside/`,
//! `repository`: links out of the tree, what the machine holds there, a
//! git work tree (see `common/trees.rs`); every run must leave `outside/`
//! as it was.
//!
//! For each case: the diff applies with `git apply` and gives `expected/`;
//! `--write` gives `expected/` byte for byte, symlinks kept; `--check`
//! afterwards finds nothing to change (idempotent); and real `nginx -t` accepts the
//! written tree (`nginx-t`: the main configs to test; `stubs`: files that
//! live only on the servers, created empty for the test). Absolute
//! includes are tested where they point: the tree is bind-mounted at every
//! `--path-map` FROM in a private mount namespace.
//!
//! One test per case (`cargo test --test trees debian` runs one).
//! `UPKEEP_BLESS=1 cargo test --test trees [NAME]` (or `scripts/bless.sh`)
//! rewrites `expected/` from upkeep's output: review `git diff fixtures/`.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use common::trees::{copy_tree, snapshot, tree_cases, TreeCase};
use common::*;
use libtest_mimic::{Arguments, Trial};

fn main() {
    let args = Arguments::from_args();
    let bless = std::env::var_os("UPKEEP_BLESS").is_some();
    // Once, before the trials: without nginx this fails (or, with
    // UPKEEP_SKIP_NGINX outside CI, prints a skip).
    let nginx = require_nginx();
    let cases = tree_cases();
    assert!(cases.len() >= 6, "only {} tree fixtures", cases.len());
    let trials = cases
        .into_iter()
        .map(|case| {
            let nginx = nginx.clone();
            Trial::test(case.name.clone(), move || {
                // `$OUTSIDE`: what the machine has outside the tree.
                let machine = tempfile::tempdir().unwrap();
                let case = case.placed(&machine.path().join("etc-nginx"));
                let mut failures = rewrite(&case, bless);
                if let Some(nginx) = &nginx {
                    if !case.mains().is_empty() {
                        failures.extend(nginx_accepts(&case, nginx));
                    }
                }
                outcome(failures)
            })
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}

fn differences(got: &BTreeMap<String, Vec<u8>>, want: &BTreeMap<String, Vec<u8>>) -> Vec<String> {
    let mut out = Vec::new();
    for (path, bytes) in want {
        match got.get(path) {
            None => out.push(format!("{path}: missing")),
            Some(g) if g != bytes => out.push(format!(
                "{path}: differs; got:\n{}",
                String::from_utf8_lossy(g)
            )),
            _ => {}
        }
    }
    for path in got.keys() {
        if !want.contains_key(path) {
            out.push(format!("{path}: not expected"));
        }
    }
    out
}

fn upkeep(dir: &Path, args: &[String], extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_upkeep"))
        .args(extra)
        .args(args)
        .arg("--color=never")
        .current_dir(dir)
        .output()
        .unwrap()
}

/// `--write` gives `expected/` (or the expected error, nothing changed),
/// `--check` is then clean, and the diff applies with `git apply`.
fn rewrite(case: &TreeCase, bless: bool) -> Vec<String> {
    let mut failures = Vec::new();
    let work = tempfile::tempdir().unwrap();
    let laid_out = |which: &str| {
        let at = work.path().join(format!("{which}-as-laid-out"));
        case.lay_out(which, &at);
        snapshot(&at)
    };
    let input = laid_out("input");
    let outside = case.outside.as_deref().map(snapshot);
    let outside_unchanged = |failures: &mut Vec<String>, run: &str| {
        if let (Some(before), Some(dir)) = (&outside, &case.outside) {
            let d = differences(&snapshot(dir), before);
            if !d.is_empty() {
                failures.push(format!(
                    "{}: {run} wrote outside the tree:\n{}",
                    case.name,
                    d.join("\n")
                ));
            }
        }
    };
    // A case that declares neither `expected/` nor a refusal fails here
    // (blessing writes its `expected/`).
    if let (false, Err(e)) = (bless, case.outcome()) {
        failures.push(e);
        return failures;
    }
    let expected_exit = case.exit_code();
    // --write
    let tree = work.path().join("tree");
    case.lay_out("input", &tree);
    let out = upkeep(&tree, &case.args, &["--write"]);
    outside_unchanged(&mut failures, "--write");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if out.status.code() != Some(expected_exit) {
        failures.push(format!(
            "{}: --write exited {:?}, expected {expected_exit}:\n{stderr}",
            case.name,
            out.status.code()
        ));
        return failures;
    }
    failures.extend(stderr_lines(case, "stderr", &stderr));
    let written = snapshot(&tree);
    let expected_dir = case.dir.join("expected");
    if expected_exit != 0 {
        let d = differences(&written, &input);
        if !d.is_empty() {
            failures.push(format!(
                "{}: a failed run changed files:\n{}",
                case.name,
                d.join("\n")
            ));
        }
        return failures;
    }
    if bless {
        let _ = std::fs::remove_dir_all(&expected_dir);
        copy_tree(&tree, &expected_dir);
        // The links out of the tree are made by the test, not stored.
        for (link, _) in case.links() {
            std::fs::remove_file(expected_dir.join(link)).unwrap();
        }
    }
    let expected = laid_out("expected");
    let d = differences(&written, &expected);
    if !d.is_empty() {
        failures.push(format!("{}: --write:\n{}", case.name, d.join("\n")));
    }
    // Idempotent: the written tree needs nothing more (a tree upkeep
    // cannot see whole still cannot be decided: `check-exit`).
    let check_exit: i32 = std::fs::read_to_string(case.dir.join("check-exit"))
        .map(|s| s.trim().parse().unwrap())
        .unwrap_or(0);
    let again = upkeep(&tree, &case.args, &["--check"]);
    if again.status.code() != Some(check_exit) {
        failures.push(format!(
            "{}: --check after --write exited {:?}, expected {check_exit}:\n{}{}",
            case.name,
            again.status.code(),
            String::from_utf8_lossy(&again.stdout),
            String::from_utf8_lossy(&again.stderr)
        ));
    }
    if !again.stdout.is_empty() {
        failures.push(format!(
            "{}: --check after --write printed a diff:\n{}",
            case.name,
            String::from_utf8_lossy(&again.stdout)
        ));
    }
    failures.extend(stderr_lines(
        case,
        "check-stderr",
        &String::from_utf8_lossy(&again.stderr),
    ));
    // The diff, applied with git apply from the tree's root, gives the same.
    let fresh = work.path().join("fresh");
    case.lay_out("input", &fresh);
    let diff = upkeep(&fresh, &case.args, &[]);
    outside_unchanged(&mut failures, "--diff");
    // `diff`: the exact diff, where the case gives it.
    if let Ok(want) = std::fs::read_to_string(case.dir.join("diff")) {
        let got = String::from_utf8_lossy(&diff.stdout);
        if got != case.outside_text(&want) {
            failures.push(format!("{}: the diff differs; got:\n{got}", case.name));
        }
    }
    let patch = work.path().join("change.diff");
    std::fs::write(&patch, &diff.stdout).unwrap();
    if !diff.stdout.is_empty() {
        let applied = Command::new("git")
            .args(["apply", "--unsafe-paths"])
            .arg(&patch)
            .current_dir(&fresh)
            .output()
            .expect("run git apply");
        if !applied.status.success() {
            failures.push(format!(
                "{}: git apply failed: {}\n{}",
                case.name,
                String::from_utf8_lossy(&applied.stderr),
                String::from_utf8_lossy(&diff.stdout)
            ));
            return failures;
        }
    }
    let d = differences(&snapshot(&fresh), &expected);
    if !d.is_empty() {
        failures.push(format!(
            "{}: the diff applied:\n{}",
            case.name,
            d.join("\n")
        ));
    }
    failures
}

/// The lines of the case's file `name` that `stderr` lacks (or, for a
/// line starting with `!`, holds).
fn stderr_lines(case: &TreeCase, name: &str, stderr: &str) -> Vec<String> {
    let mut failures = Vec::new();
    for line in std::fs::read_to_string(case.dir.join(name))
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
    {
        let line = case.outside_text(line);
        let line = line.as_str();
        match line.strip_prefix('!') {
            Some(absent) if stderr.contains(absent) => {
                failures.push(format!("{}: stderr holds {absent:?}:\n{stderr}", case.name))
            }
            Some(_) => {}
            None if !stderr.contains(line) => {
                failures.push(format!("{}: stderr lacks {line:?}:\n{stderr}", case.name))
            }
            None => {}
        }
    }
    failures
}

/// Real `nginx -T` accepts the input and expected trees, and reads every
/// file upkeep changed.
fn nginx_accepts(case: &TreeCase, nginx: &Path) -> Vec<String> {
    let mut failures = Vec::new();
    let mains = case.mains();
    for (what, dir) in [("input", "input"), ("expected", "expected")] {
        let work = tempfile::tempdir().unwrap();
        let tree = work.path().join("tree");
        case.copy(dir, &tree);
        let text: Vec<String> = snapshot(&tree)
            .values()
            .map(|t| String::from_utf8_lossy(t).into_owned())
            .collect();
        let hosts = host_names(&text.join("\n"));
        let maps = case.path_maps();
        let mut dumps = String::new();
        for main in &mains {
            match nginx_t_tree(nginx, &tree, main, &maps, &hosts, work.path()) {
                Ok(dump) => dumps.push_str(&dump),
                Err(e) => failures.push(format!(
                    "{}/{what}/{main}: nginx -t failed:\n{e}",
                    case.name
                )),
            }
        }
        // nginx really read every file upkeep changed (a path map that
        // pointed nowhere would leave a glob matching nothing).
        if what == "expected" {
            let before = snapshot(&case.dir.join("input"));
            for (path, text) in snapshot(&case.dir.join("expected")) {
                if before.get(&path) != Some(&text)
                    && !dumps.contains(&*String::from_utf8_lossy(&text))
                {
                    failures.push(format!(
                        "{}: nginx never read the rewritten {path}",
                        case.name
                    ));
                }
            }
        }
    }
    failures
}

/// `nginx -T` on `main` in `tree` (the dump on success), in a private mount namespace where each
/// `--path-map` FROM shows the tree's TO, /run and the log directory are
/// private, and `hosts` resolve to 127.0.0.1.
fn nginx_t_tree(
    nginx: &Path,
    tree: &Path,
    main: &str,
    maps: &[(String, String)],
    hosts: &[String],
    scratch: &Path,
) -> Result<String, String> {
    let q = |p: &Path| format!("'{}'", p.display().to_string().replace('\'', "'\\''"));
    let mut hosts_text = String::from("127.0.0.1 localhost\n::1 localhost\n");
    for h in hosts {
        hosts_text.push_str(&format!("127.0.0.1 {h}\n"));
    }
    let hosts_file = scratch.join("hosts");
    std::fs::write(&hosts_file, hosts_text).unwrap();
    let logs = scratch.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let mut script = vec![
        format!("mount --bind {} /etc/hosts", q(&hosts_file)),
        "mount -t tmpfs tmpfs /run".to_string(),
        format!(
            "mkdir -p /var/log/nginx && mount --bind {} /var/log/nginx",
            q(&logs)
        ),
    ];
    for (from, to) in maps {
        let source = tree.join(to);
        script.push(format!(
            "mkdir -p '{from}' && mount --bind {} '{from}'",
            q(&source)
        ));
    }
    script.push(format!(
        "exec {} -T -q -p {}/ -c {} -e stderr",
        q(nginx),
        q(tree),
        q(&tree.join(main))
    ));
    let mut cmd = Command::new("unshare");
    if !is_root() {
        cmd.arg("-r");
    }
    let output = cmd
        .args(["-m", "sh", "-c", &script.join(" && ")])
        .output()
        .expect("run unshare");
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}
