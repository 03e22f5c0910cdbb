//! `nginx -T` dumps: real nginx dumps a three-file tree (main config, a
//! snippet included by glob, a site); upkeep reads the dump (standard
//! input or a file) as that tree. Its diff, applied with `patch -p1 -d /`,
//! gives exactly what `--write` with the dump gives; the written tree
//! passes `nginx -t` and its own dump needs nothing more; and a dump whose
//! files changed on disk since writes nothing (exit 2).

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use common::*;

const FILES: [(&str, &str); 3] = [
    (
        "nginx.conf",
        "events {}\n\nhttp {\n    access_log off;\n    include snippets/*.conf;\n    include sites-enabled/*;\n}\n",
    ),
    ("snippets/headers.conf", "proxy_set_header X-Dumped 1;\n"),
    (
        "sites-enabled/app",
        "server {\n    listen 8081;\n    location /api/ {\n        proxy_pass http://127.0.0.1:8080/;\n    }\n}\n",
    ),
];

fn lay_out(root: &Path) {
    for (path, text) in FILES {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

fn snapshot(root: &Path) -> BTreeMap<&'static str, String> {
    FILES
        .iter()
        .map(|(p, _)| (*p, std::fs::read_to_string(root.join(p)).unwrap()))
        .collect()
}

/// `nginx -T` on the tree at `root`: the dump on stdout.
fn dump(nginx: &Path, root: &Path) -> Vec<u8> {
    let args: Vec<String> = vec![
        "-T".into(),
        "-q".into(),
        "-p".into(),
        format!("{}/", root.display()),
        "-c".into(),
        root.join("nginx.conf").display().to_string(),
        "-e".into(),
        "stderr".into(),
    ];
    let scratch = tempfile::tempdir().unwrap();
    let out = with_hosts(nginx, &args, &[], scratch.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "nginx -T: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn upkeep_with(dir: &Path, args: &[&str], stdin: &[u8]) -> std::process::Output {
    let mut argv = vec!["--no-config", "--color=never"];
    argv.extend(args);
    upkeep_run(dir, &argv, Some(stdin))
}

#[test]
fn a_dump_is_the_tree_it_lists() {
    let Some(nginx) = require_nginx() else { return };
    let dir = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(dir.path()).unwrap().join("etc-nginx");
    lay_out(&root);
    let original = snapshot(&root);
    let taken = dump(&nginx, &root);
    let elsewhere = tempfile::tempdir().unwrap();

    // The diff names the real paths, relative to `/`.
    let diff = upkeep_with(elsewhere.path(), &["-"], &taken);
    assert_eq!(diff.status.code(), Some(0), "{}", stderr_of(&diff));
    let text = String::from_utf8(diff.stdout.clone()).unwrap();
    let under_root = root.strip_prefix("/").unwrap().display().to_string();
    assert!(
        text.contains(&format!(
            "--- a/{under_root}/sites-enabled/app\n+++ b/{under_root}/sites-enabled/app\n"
        )),
        "{text}"
    );
    assert!(
        text.contains("+        proxy_pass http://api/;\n"),
        "{text}"
    );
    // The same from a file.
    let file = elsewhere.path().join("nginx-T.txt");
    std::fs::write(&file, &taken).unwrap();
    let from_file = upkeep_with(elsewhere.path(), &["nginx-T.txt"], b"");
    assert_eq!(from_file.stdout, diff.stdout, "{}", stderr_of(&from_file));

    // patch -p1 -d / gives what --write gives.
    let mut patch = Command::new("patch")
        .args(["-p1", "-s", "-d", "/"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("run patch");
    patch.stdin.take().unwrap().write_all(&diff.stdout).unwrap();
    assert!(patch.wait().unwrap().success());
    let patched = snapshot(&root);
    assert_ne!(patched, original);
    lay_out(&root);
    let written = upkeep_with(elsewhere.path(), &["--write", "-"], &taken);
    assert_eq!(written.status.code(), Some(0), "{}", stderr_of(&written));
    assert_eq!(snapshot(&root), patched);

    // nginx accepts the written tree, and its dump needs nothing more.
    let again = dump(&nginx, &root);
    let check = upkeep_with(elsewhere.path(), &["--check", "-"], &again);
    assert_eq!(
        check.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        stderr_of(&check)
    );

    // The old dump no longer describes the disk: nothing is written.
    let refused = upkeep_with(elsewhere.path(), &["--write", "-"], &taken);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        stderr_of(&refused).contains("the file on disk differs from the dump"),
        "{}",
        stderr_of(&refused)
    );
    assert_eq!(snapshot(&root), patched);
}

/// A dump that is cut short, or given with other paths, is an error.
#[test]
fn a_broken_dump_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let cut = b"# configuration file /etc/nginx/nginx.conf:\nevents {}";
    let out = upkeep_with(dir.path(), &["-"], cut);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr_of(&out).contains("/etc/nginx/nginx.conf: the dump ends inside this file"),
        "{}",
        stderr_of(&out)
    );
    std::fs::write(dir.path().join("a.conf"), "events {}\n").unwrap();
    let out = upkeep_with(
        dir.path(),
        &["a.conf", "-"],
        b"# configuration file /x.conf:\n\n",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr_of(&out).contains("give it alone"),
        "{}",
        stderr_of(&out)
    );
}
