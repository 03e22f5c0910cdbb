//! `--write --nginx-test[=CMD]`: the command runs before and after the
//! write; a config it rejects after the write gets every file back, byte
//! for byte with its mode and owner; a config it rejects before is not
//! written. The failures are real nginx failing (Debian's nginx-light,
//! `nginx -t -p PREFIX -c FILE` on a tree of its own) and a wrapper
//! script's policy; the refusals need no nginx.
//!
//! Every run goes through the shared runner (`common::run`).

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use common::run::{run_all, After, Case, Out, NONE};

const SITE: &[u8] = b"server {\n    listen 127.0.0.1:18080;\n    location /api/ {\n        proxy_pass http://127.0.0.1:9001/;\n    }\n}\n";

/// nginx, or a skip (a failure under CI) saying why the test cannot run.
fn nginx(what: &str) -> Option<PathBuf> {
    let found = common::nginx_binary();
    if found.is_none() {
        common::skip(
            what,
            "no nginx binary (bash scripts/install-test-deps.sh installs Debian's nginx-light)",
        );
    }
    found
}

/// A server's tree in a directory of its own: `nginx.conf` (pid, error
/// log and temp paths inside the directory) includes `legacy.conf`, which
/// upkeep is not given, and `sites/*.conf`; `sites/app.conf` proxies
/// `/api/` to 127.0.0.1:9001 with a fresh connection per request. The site
/// file is given mode 0640 and, as root, owner 65534:65534, which a
/// rollback must keep.
struct Tree {
    dir: tempfile::TempDir,
}

impl Tree {
    fn new(legacy: &str) -> Tree {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        for d in ["sites", "logs", "tmp"] {
            std::fs::create_dir_all(p.join(d)).unwrap();
        }
        let temps: String = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"]
            .iter()
            .map(|t| format!("    {t}_temp_path {}/tmp/{t};\n", p.display()))
            .collect();
        let user = if common::is_root() {
            "user root;\n"
        } else {
            ""
        };
        std::fs::write(
            p.join("nginx.conf"),
            format!(
                "{user}pid {p}/nginx.pid;\nerror_log {p}/logs/error.log;\nevents {{ worker_connections 64; }}\nhttp {{\n    access_log off;\n{temps}    include legacy.conf;\n    include sites/*.conf;\n}}\n",
                p = p.display()
            ),
        )
        .unwrap();
        std::fs::write(p.join("legacy.conf"), legacy).unwrap();
        let site = p.join("sites/app.conf");
        std::fs::write(&site, SITE).unwrap();
        std::fs::set_permissions(&site, std::fs::Permissions::from_mode(0o640)).unwrap();
        if common::is_root() {
            std::os::unix::fs::chown(&site, Some(65534), Some(65534)).unwrap();
        }
        Tree { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The test command a server of this tree runs.
    fn nginx_t(&self, nginx: &Path) -> String {
        format!(
            "{} -t -p {p}/ -c {p}/nginx.conf",
            nginx.display(),
            p = self.path().display()
        )
    }

    /// The site file's bytes, mode and owner, and the names in its
    /// directory (no staged file, backup or journal left behind).
    fn site_state(&self) -> (Vec<u8>, u32, (u32, u32), Vec<String>) {
        let site = self.path().join("sites/app.conf");
        let meta = std::fs::metadata(&site).unwrap();
        let mut names: Vec<String> = std::fs::read_dir(self.path().join("sites"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        (
            std::fs::read(&site).unwrap(),
            meta.mode() & 0o7777,
            (meta.uid(), meta.gid()),
            names,
        )
    }

    /// Journals anywhere in the tree.
    fn journals(&self) -> Vec<PathBuf> {
        [self.path().to_path_buf(), self.path().join("sites")]
            .into_iter()
            .map(|d| d.join(".upkeep-journal"))
            .filter(|j| j.exists())
            .collect()
    }
}

/// The upstream upkeep adds for 127.0.0.1:9001 is called `api` (`--name`),
/// and `legacy.conf`, which nginx includes beside the site but upkeep is
/// not given, already defines `upstream api`: real `nginx -t` passes before
/// the write and fails after it (`duplicate upstream "api"`). Every file
/// gets its original bytes, mode and owner back, nothing is left beside
/// it, exit 2, and nginx's own message is on stderr.
#[test]
fn nginx_failing_after_the_write_puts_every_file_back() {
    let Some(nginx) = nginx("nginx -t rejecting the written config") else {
        return;
    };
    let tree = Tree::new("upstream api {\n    server 127.0.0.1:9100;\n}\n");
    let before = tree.site_state();
    let test = format!("--nginx-test={}", tree.nginx_t(&nginx));
    let args = [
        "--no-config",
        "--write",
        &test,
        "--name",
        "127.0.0.1:9001=api",
        "sites/app.conf",
    ];
    let ran = Case {
        name: "duplicate upstream after the write",
        status: 2,
        stdout: &[Out::Empty],
        stderr: &[
            Out::LineStarts("error: --nginx-test: `"),
            Out::Has("passed before the write and fails after it (exit status 1), so upkeep put every file back as it was; no file was changed\n"),
            Out::Has("[emerg]"),
            Out::Has("duplicate upstream \"api\" in "),
            Out::Has("sites/app.conf:1"),
            Out::Has("nginx.conf test failed"),
            Out::LastLine("1 error"),
        ],
        args: &args,
        ..NONE
    }
    .run_in(tree.path());
    ran.ensure_eq(tree.site_state(), before, "sites/ after the rollback");
    ran.ensure_eq(tree.journals(), Vec::new(), "journals left");
}

/// A wrapper script as the test command (a site's own policy on top of
/// `nginx -t`): it fails once a site holds `keepalive`. Its message and
/// nginx's are shown, in the order they were printed, and the files are
/// as before.
#[test]
fn a_wrapper_failing_after_the_write_puts_every_file_back() {
    let Some(nginx) = nginx("a wrapper of nginx -t rejecting the written config") else {
        return;
    };
    let tree = Tree::new("# nothing here\n");
    let script = tree.path().join("check.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n{} || exit\nif grep -q keepalive {}/sites/*.conf; then\n    echo 'policy: no upstream keepalive on this host (see RUNBOOK.md)' >&2\n    exit 3\nfi\n",
            tree.nginx_t(&nginx),
            tree.path().display()
        ),
    )
    .unwrap();
    let before = tree.site_state();
    let test = format!("--nginx-test=sh {}", script.display());
    let args = ["--no-config", "--write", &test, "sites/app.conf"];
    let ran = Case {
        name: "a wrapper's policy after the write",
        status: 2,
        stdout: &[Out::Empty],
        stderr: &[
            Out::Has("passed before the write and fails after it (exit status 3), so upkeep put every file back as it was; no file was changed\n"),
            Out::Has("test is successful\n  policy: no upstream keepalive on this host (see RUNBOOK.md)\n"),
        ],
        args: &args,
        ..NONE
    }
    .run_in(tree.path());
    ran.ensure_eq(tree.site_state(), before, "sites/ after the rollback");
    ran.ensure_eq(tree.journals(), Vec::new(), "journals left");
}

/// A config nginx already rejects is not written: the test after the
/// write could not tell upkeep's mistake from the one already there.
#[test]
fn nginx_failing_before_the_write_writes_nothing() {
    let Some(nginx) = nginx("nginx -t rejecting the config before the write") else {
        return;
    };
    let tree = Tree::new("proxy_bufferz 8 16k;\n");
    let before = tree.site_state();
    let test = format!("--nginx-test={}", tree.nginx_t(&nginx));
    let args = ["--no-config", "--write", &test, "sites/app.conf"];
    let ran = Case {
        name: "broken before",
        status: 2,
        stdout: &[Out::Empty],
        stderr: &[
            Out::Has("fails on the config as it is, before upkeep changes anything (exit status 1), so it cannot tell whether upkeep's changes are valid: fix what it reports first, or run without --nginx-test; no file was changed\n"),
            Out::Has("unknown directive \"proxy_bufferz\""),
        ],
        args: &args,
        ..NONE
    }
    .run_in(tree.path());
    ran.ensure_eq(tree.site_state(), before, "sites/ after the refusal");
    ran.ensure_eq(tree.journals(), Vec::new(), "journals left");
}

/// Passed before and after: written, exit 0, mode and owner kept, and the
/// written tree is what nginx accepts.
#[test]
fn nginx_passing_before_and_after_keeps_the_write() {
    let Some(nginx) = nginx("nginx -t accepting the written config") else {
        return;
    };
    let tree = Tree::new("# nothing here\n");
    let (_, mode, owner, names) = tree.site_state();
    let log = tree.path().join("ran.log");
    // The default command, `nginx -t`, from upkeep.toml's `nginx-test`:
    // run twice, in upkeep.toml's directory.
    std::fs::create_dir(tree.path().join(".git")).unwrap();
    std::fs::write(
        tree.path().join("upkeep.toml"),
        format!(
            "nginx-test = \"echo ran >> ran.log && {}\"\n",
            tree.nginx_t(&nginx)
        ),
    )
    .unwrap();
    let args = ["--write", "--nginx-test", "app.conf"];
    let ran = Case {
        name: "passes before and after",
        status: 0,
        stdout: &[Out::Exact("app.conf: 6 change(s) written\n")],
        stderr: &[Out::Ends(" in 1 file (written)\n")],
        args: &args,
        ..NONE
    }
    .run_in(&tree.path().join("sites"));
    let (text, mode_after, owner_after, names_after) = tree.site_state();
    ran.ensure(
        String::from_utf8_lossy(&text).contains("keepalive 32;"),
        "the site was written",
    );
    ran.ensure_eq(
        (mode_after, owner_after, names_after),
        (mode, owner, names),
        "mode, owner and the directory after the write",
    );
    ran.ensure_eq(
        std::fs::read_to_string(&log).unwrap_or_default(),
        "ran\nran\n".to_string(),
        "upkeep.toml's command, before and after, in upkeep.toml's directory",
    );
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(tree.nginx_t(&nginx))
        .output()
        .unwrap();
    ran.ensure(out.status.success(), "nginx -t accepts the written tree");
}

/// upkeep killed (SIGKILL) while the test command runs after the write:
/// the journal says every file is replaced and has its backup, so the
/// next run refuses the tree and `--recover rollback` gives back the
/// original bytes, mode and owner, `--recover finish` the written ones.
#[test]
fn killed_during_the_test_leaves_a_journal_either_recovery_completes() {
    for (how, want_written) in [("rollback", false), ("finish", true)] {
        let tree = Tree::new("# nothing here\n");
        let before = tree.site_state();
        // The second run (after the write) kills upkeep, its grandparent.
        let script = tree.path().join("kill-upkeep.sh");
        std::fs::write(
            &script,
            "#!/bin/sh\nn=$(cat count 2>/dev/null || echo 0)\necho $((n + 1)) > count\n[ \"$n\" = 0 ] && exit 0\np=$$\nwhile [ \"$p\" -gt 1 ]; do\n    if [ \"$(cat /proc/$p/comm)\" = upkeep ]; then kill -KILL \"$p\"; exit 1; fi\n    p=$(sed -n 's/^PPid:[[:space:]]*//p' /proc/$p/status)\ndone\nexit 1\n",
        )
        .unwrap();
        let test = format!("--nginx-test=sh {}", script.display());
        let args = ["--no-config", "--write", &test, "sites/app.conf"];
        let case = Case {
            name: "killed during the test",
            args: &args,
            ..NONE
        };
        let out = case.command(tree.path()).output().unwrap();
        let ran = case.ran(tree.path(), out);
        ran.ensure(ran.out.status.code().is_none(), "upkeep was killed");
        ran.ensure_eq(
            tree.journals(),
            vec![tree.path().join("sites/.upkeep-journal")],
            "the journal",
        );
        let recover = format!("--recover={how}");
        Case {
            name: "the next run refuses",
            args: &["--no-config", "sites/app.conf"],
            status: 2,
            stderr: &[Out::Has("--recover rollback")],
            ..NONE
        }
        .run_in(tree.path());
        Case {
            name: "recovered",
            args: &["--no-config", &recover, "sites/app.conf"],
            stderr: &[Out::Has("sites/app.conf: ")],
            ..NONE
        }
        .run_in(tree.path());
        let (text, mode, owner, names) = tree.site_state();
        ran.ensure_eq(
            text != before.0,
            want_written,
            format!("--recover {how}: the site written"),
        );
        ran.ensure_eq(
            (mode, owner, names),
            (before.1, before.2, before.3.clone()),
            format!("--recover {how}: mode, owner and the directory"),
        );
        ran.ensure_eq(tree.journals(), Vec::new(), "journals after recovery");
    }
}

/// `--nginx-test` tests what a write leaves on disk: elsewhere it is an
/// error (exit 2) that says so, and nothing is written or run. Without
/// the `=`, the next word is a PATH, not the command.
#[test]
fn refused_where_nothing_is_written() {
    const FILES: &[(&str, &[u8])] = &[("site.conf", SITE)];
    let same = &[("site.conf", After::Same), ("ran.log", After::Absent)][..];
    let refused = Case {
        files: FILES,
        status: 2,
        files_after: same,
        ..NONE
    };
    run_all(&[
        Case {
            name: "--diff",
            args: &["--no-config", "--nginx-test=echo x > ran.log", "site.conf"],
            stderr: &[Out::Exact("error: --nginx-test runs its command before and after a --write, and puts the files back when the written config fails it; --diff and --check write nothing to test (test their output with `upkeep --write --nginx-test`, or apply the diff and run nginx -t yourself)\n")],
            ..refused
        },
        Case {
            name: "--check",
            args: &["--no-config", "--check", "--nginx-test", "site.conf"],
            stderr: &[Out::Starts("error: --nginx-test runs its command before and after a --write")],
            ..refused
        },
        Case {
            name: "standard input",
            args: &["--no-config", "--write", "--nginx-test", "-"],
            stdin: Some(SITE),
            stderr: &[Out::Exact("error: --nginx-test tests the files --write replaces; standard input (`-`) is written to standard output, not to a file nginx reads\n")],
            ..refused
        },
        Case {
            name: "an empty command",
            args: &["--no-config", "--write", "--nginx-test=", "site.conf"],
            stderr: &[Out::Starts("error: --nginx-test= names no command")],
            ..refused
        },
        Case {
            name: "with --recover",
            args: &["--no-config", "--write", "--recover", "rollback", "--nginx-test", "site.conf"],
            stderr: &[Out::Starts("error: --nginx-test tests a --write; --recover completes")],
            ..refused
        },
        Case {
            name: "an empty command in upkeep.toml",
            args: &["--write", "--nginx-test", "site.conf"],
            files: &[("site.conf", SITE), ("upkeep.toml", b"nginx-test = \" \"\n")],
            // The settings file as found, relative to where upkeep runs.
            stderr: &[Out::Exact(
                "error: upkeep.toml:1:14: nginx-test: names no command (leave the key out for `nginx -t`)\n",
            )],
            ..refused
        },
        // upkeep.toml's command alone turns nothing on: a --diff run
        // with that file is an ordinary diff.
        Case {
            name: "upkeep.toml's command with --diff",
            args: &["site.conf"],
            files: &[("site.conf", SITE), ("upkeep.toml", b"nginx-test = \"echo x > ran.log\"\n")],
            status: 0,
            stdout: &[Out::Has("+upstream ")],
            ..refused
        },
        // No `=`: `site.conf` is the PATH and the command upkeep.toml's,
        // run before and after the write.
        Case {
            name: "--nginx-test then a path",
            args: &["--write", "--nginx-test", "site.conf"],
            files: &[("site.conf", SITE), ("upkeep.toml", b"nginx-test = \"echo ran >> ran.log\"\n")],
            status: 0,
            stdout: &[Out::Exact("site.conf: 6 change(s) written\n")],
            files_after: &[("site.conf", After::Has("keepalive 32;")), ("ran.log", After::Is(b"ran\nran\n"))],
            ..NONE
        },
        // A command the shell cannot find fails before the write.
        Case {
            name: "no such command",
            args: &["--no-config", "--write", "--nginx-test=upkeep-no-such-command -t", "site.conf"],
            stderr: &[
                Out::Has("(exit status 127: the shell found no such command)"),
                Out::Has("\n  sh: 1: upkeep-no-such-command: not found\n"),
            ],
            ..refused
        },
    ]);
}
