//! Hostile input and faults, on the real binary with real files: outputs
//! that alias inputs, what is not a regular file, signals and SIGKILL in
//! the middle of a tree write, an edit made during the write, attributes,
//! ACLs, owners and hard links kept, diff headers for odd file names, and
//! pool settings nginx could not load.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{assert_stderr_has, stderr_of, upkeep_run};

const SITE: &str = "server {\n    listen 80;\n    location / {\n        proxy_pass http://app:8080;\n        proxy_set_header Host $host;\n    }\n}\n";

fn site(i: usize) -> String {
    SITE.replace("app:8080", &format!("api{i}:9000"))
}

/// A directory of `n` sites (one http context), in a fresh temp dir.
fn tree(n: usize) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("conf.d");
    std::fs::create_dir(&conf).unwrap();
    for i in 0..n {
        std::fs::write(conf.join(format!("site{i:02}.conf")), site(i)).unwrap();
    }
    (dir, conf)
}

/// Every entry of `dir` (hidden ones included) with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap_or_default(),
            )
        })
        .collect()
}

/// Starts upkeep with `UPKEEP_TEST_PAUSE=pause` and returns once it says it
/// paused (the write is then stopped at a known point).
fn start_paused(dir: &Path, args: &[&str], pause: &str) -> (Child, Vec<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_upkeep"))
        .args(args)
        .current_dir(dir)
        .env("UPKEEP_TEST_PAUSE", pause)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = Vec::new();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    loop {
        let mut line = String::new();
        if err.read_line(&mut line).unwrap() == 0 {
            panic!("upkeep ended before pausing: {lines:?}");
        }
        let paused = line.starts_with("upkeep-test: paused");
        lines.push(line);
        if paused {
            break;
        }
    }
    // The rest of stderr is read on a thread, so a full pipe cannot stall it.
    let rest = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut err, &mut s).unwrap();
        s
    });
    child.stderr = None;
    STDERR_RESTS.with(|r| r.borrow_mut().push(rest));
    (child, lines)
}

thread_local! {
    static STDERR_RESTS: std::cell::RefCell<Vec<std::thread::JoinHandle<String>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Waits for a child started by [`start_paused`]; its status and the rest
/// of its stderr.
fn finish(mut child: Child) -> (std::process::ExitStatus, String) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "upkeep did not end");
        std::thread::sleep(Duration::from_millis(10));
    };
    let rest = STDERR_RESTS.with(|r| r.borrow_mut().pop()).unwrap();
    (status, rest.join().unwrap())
}

fn signal(child: &Child, sig: i32) {
    assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
}

#[test]
fn output_file_never_replaces_a_file_of_the_run() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("site.conf"), SITE).unwrap();
    std::fs::write(
        dir.path().join("nginx.conf"),
        "events {}\nhttp {\n    include snippet.conf;\n}\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("snippet.conf"), SITE).unwrap();
    std::fs::hard_link(dir.path().join("site.conf"), dir.path().join("link.conf")).unwrap();
    for (args, victim) in [
        (
            &["--check", "-o", "site.conf", "site.conf"][..],
            "site.conf",
        ),
        (&["-o", "snippet.conf", "nginx.conf"], "snippet.conf"),
        (&["-o", "link.conf", "site.conf"], "site.conf"),
        // No path: upkeep reads ./nginx.conf.
        (&["-o", "nginx.conf"], "nginx.conf"),
    ] {
        let before = snapshot(dir.path());
        let out = upkeep_run(dir.path(), args, None);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr_of(&out));
        assert_stderr_has(&out, &format!("is {victim}, a file this run reads"));
        assert_eq!(snapshot(dir.path()), before, "{args:?}: nothing written");
    }
    // A new file is written once the run is over.
    let out = upkeep_run(
        dir.path(),
        &["--check", "-o", "out.diff", "site.conf"],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    let diff = std::fs::read_to_string(dir.path().join("out.diff")).unwrap();
    assert!(
        diff.starts_with("--- a/site.conf\n+++ b/site.conf\n"),
        "{diff}"
    );
}

#[test]
fn only_regular_files_are_read_and_never_block() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo.conf");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    let socket = dir.path().join("sock.conf");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    std::fs::write(dir.path().join("good.conf"), SITE).unwrap();
    let including = |name: &Path| {
        let name = name.display();
        format!("server {{\n    location / {{\n        include {name};\n        proxy_pass http://app:8080;\n    }}\n}}\n")
    };
    std::fs::write(dir.path().join("inc-fifo.conf"), including(&fifo)).unwrap();
    std::fs::write(
        dir.path().join("inc-zero.conf"),
        including(Path::new("/dev/zero")),
    )
    .unwrap();
    make_symlink_loop(dir.path());
    for (arg, says) in [
        (
            "fifo.conf",
            "fifo.conf: is a FIFO (named pipe), not a regular file",
        ),
        (
            "/dev/zero",
            "/dev/zero: is a character device, not a regular file",
        ),
        ("sock.conf", "sock.conf: is a socket, not a regular file"),
        (
            "loop.conf",
            "loop.conf: too many levels of symbolic links (a symlink loop)",
        ),
    ] {
        let started = Instant::now();
        let out = upkeep_run(dir.path(), &["--check", arg, "good.conf"], None);
        assert_eq!(out.status.code(), Some(2), "{arg}: {}", stderr_of(&out));
        assert_stderr_has(&out, says);
        // The good file is still checked (its diff is printed).
        assert!(String::from_utf8_lossy(&out.stdout).contains("+++ b/good.conf"));
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{arg}: took {:?}",
            started.elapsed()
        );
    }
    // As an include: what depends on it is left alone, and nothing blocks.
    for (arg, says) in [
        ("inc-fifo.conf", "is a FIFO (named pipe)"),
        ("inc-zero.conf", "is a character device"),
    ] {
        let out = upkeep_run(dir.path(), &["-v", "--check", arg], None);
        assert_stderr_has(&out, says);
        assert!(
            !String::from_utf8_lossy(&out.stdout).contains("upstream"),
            "{arg}"
        );
    }
    let out = upkeep_run(dir.path(), &["--config", "/dev/zero", "good.conf"], None);
    assert_eq!(out.status.code(), Some(2));
    assert_stderr_has(&out, "/dev/zero: is a character device");
}

/// `loop.conf -> loop2.conf -> loop.conf`.
fn make_symlink_loop(dir: &Path) {
    std::os::unix::fs::symlink("loop2.conf", dir.join("loop.conf")).unwrap();
    std::os::unix::fs::symlink("loop.conf", dir.join("loop2.conf")).unwrap();
}

#[test]
fn standard_input_is_named_once() {
    let out = upkeep_run(
        Path::new("."),
        &["--no-config", "--check", "-", "-"],
        Some(SITE.as_bytes()),
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    assert_stderr_has(&out, "`-` (standard input) is named more than once");
}

#[test]
fn pool_settings_are_bounded_by_what_nginx_loads() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("site.conf"), SITE).unwrap();
    for (args, says) in [
        (
            &["--keepalive", "65536"][..],
            "`65536` is larger than 65535",
        ),
        (
            &["--keepalive", "4294967295"],
            "`4294967295` is larger than 65535",
        ),
        (
            &["--keepalive", "app=100000000"],
            "`100000000` is larger than 65535",
        ),
        (
            &["--backend-idle-timeout", "1ms"],
            "the keepalive_timeout below it would be 0",
        ),
    ] {
        let mut all = args.to_vec();
        all.push("site.conf");
        let out = upkeep_run(dir.path(), &all, None);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_stderr_has(&out, says);
    }
    let out = upkeep_run(
        dir.path(),
        &[
            "--keepalive",
            "65535",
            "--backend-idle-timeout",
            "2ms",
            "site.conf",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let diff = String::from_utf8_lossy(&out.stdout);
    assert!(diff.contains("+    keepalive 65535;"), "{diff}");
    assert!(diff.contains("+    keepalive_timeout 1ms;"), "{diff}");
    // The largest pool loads (nginx reserves its slots at start-up).
    let Some(nginx) = common::require_nginx() else {
        return;
    };
    let out = upkeep_run(
        dir.path(),
        &["--write", "--keepalive", "65535", "site.conf"],
        None,
    );
    assert_eq!(out.status.code(), Some(0));
    let written = std::fs::read(dir.path().join("site.conf")).unwrap();
    common::nginx_check(&nginx, &written, &["app".to_string()]).unwrap();
}

#[test]
fn odd_file_names_are_quoted_in_diff_headers_and_patch_that_file() {
    let dir = tempfile::tempdir().unwrap();
    let odd = "a\nb \"q\".conf";
    std::fs::write(dir.path().join(odd), SITE).unwrap();
    // The file a raw header would have named.
    std::fs::write(dir.path().join("a"), "untouched\n").unwrap();
    let out = upkeep_run(dir.path(), &["--no-config", odd], None);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let diff = out.stdout.clone();
    assert!(
        String::from_utf8_lossy(&diff)
            .starts_with("--- \"a/a\\nb \\\"q\\\".conf\"\n+++ \"b/a\\nb \\\"q\\\".conf\"\n"),
        "{}",
        String::from_utf8_lossy(&diff)
    );
    let expected = {
        let out = upkeep_run(dir.path(), &["--no-config", "-"], Some(SITE.as_bytes()));
        let copy = tempfile::tempdir().unwrap();
        std::fs::write(copy.path().join("x.conf"), SITE).unwrap();
        let w = upkeep_run(copy.path(), &["--no-config", "--write", "x.conf"], None);
        assert_eq!(w.status.code(), Some(0), "{}", stderr_of(&out));
        std::fs::read(copy.path().join("x.conf")).unwrap()
    };
    for tool in [
        &["git", "apply", "--unsafe-paths", "-"][..],
        &["patch", "-p1", "-s"],
    ] {
        let work = tempfile::tempdir().unwrap();
        std::fs::write(work.path().join(odd), SITE).unwrap();
        std::fs::write(work.path().join("a"), "untouched\n").unwrap();
        let mut child = Command::new(tool[0])
            .args(&tool[1..])
            .current_dir(work.path())
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(child.stdin.as_mut().unwrap(), &diff).unwrap();
        let done = child.wait_with_output().unwrap();
        assert!(
            done.status.success(),
            "{tool:?}: {}",
            String::from_utf8_lossy(&done.stderr)
        );
        assert_eq!(
            std::fs::read(work.path().join(odd)).unwrap(),
            expected,
            "{tool:?}"
        );
        assert_eq!(
            std::fs::read(work.path().join("a")).unwrap(),
            b"untouched\n",
            "{tool:?}"
        );
    }
}

#[test]
fn a_signal_during_a_tree_write_rolls_every_file_back() {
    for (sig, pause) in [
        (libc::SIGINT, "renamed:5:30000"),
        (libc::SIGTERM, "renamed:1:30000"),
        (libc::SIGINT, "staged:7:30000"),
        (libc::SIGHUP, "staged:1:30000"),
    ] {
        let (dir, conf) = tree(12);
        let before = snapshot(&conf);
        let (child, _) = start_paused(dir.path(), &["--no-config", "--write", "conf.d"], pause);
        if pause.starts_with("renamed") {
            assert_ne!(
                snapshot(&conf),
                before,
                "{pause}: some files are replaced while paused"
            );
        }
        signal(&child, sig);
        let (status, err) = finish(child);
        assert_eq!(status.code(), Some(2), "{sig} {pause}: {err}");
        assert!(
            err.contains("interrupted by a signal; every file was left as it was"),
            "{err}"
        );
        assert_eq!(
            snapshot(&conf),
            before,
            "{sig} {pause}: old tree, no temp files"
        );
        assert!(
            !dir.path().join(".upkeep-journal").exists() && !conf.join(".upkeep-journal").exists()
        );
    }
}

#[test]
fn sigkill_leaves_a_journal_the_next_run_reports_and_recovers() {
    for how in ["rollback", "finish"] {
        let (dir, conf) = tree(12);
        let before = snapshot(&conf);
        let expected = {
            let (clean, clean_conf) = tree(12);
            let out = upkeep_run(clean.path(), &["--no-config", "--write", "conf.d"], None);
            assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
            snapshot(&clean_conf)
        };
        let (child, _) = start_paused(
            dir.path(),
            &["--no-config", "--write", "conf.d"],
            "renamed:4:30000",
        );
        signal(&child, libc::SIGKILL);
        let (status, _) = finish(child);
        assert_eq!(status.code(), None, "killed");
        assert!(conf.join(".upkeep-journal").exists(), "the journal stays");
        // Any run on these files stops and says what to do.
        for mode in ["--check", "--write"] {
            let out = upkeep_run(dir.path(), &["--no-config", mode, "conf.d"], None);
            assert_eq!(out.status.code(), Some(2), "{mode}");
            assert_stderr_has(&out, "an earlier `upkeep --write` was interrupted here");
            assert_stderr_has(&out, "--recover rollback");
        }
        let out = upkeep_run(
            dir.path(),
            &["--no-config", "--recover", how, "conf.d"],
            None,
        );
        assert_eq!(out.status.code(), Some(0), "{how}: {}", stderr_of(&out));
        let after = snapshot(&conf);
        if how == "rollback" {
            assert_eq!(after, before, "every file as it was, nothing left over");
            assert_stderr_has(&out, "put back as it was");
        } else {
            assert_eq!(after, expected, "the same as an uninterrupted write");
            assert_stderr_has(&out, "site11.conf: written");
        }
        let out = upkeep_run(dir.path(), &["--no-config", "--check", "conf.d"], None);
        assert_eq!(
            out.status.code(),
            Some(if how == "rollback" { 1 } else { 0 })
        );
    }
}

#[test]
fn an_edit_made_during_the_write_is_never_lost() {
    let (dir, conf) = tree(12);
    let before = snapshot(&conf);
    let (child, _) = start_paused(
        dir.path(),
        &["--no-config", "--write", "conf.d"],
        "renamed:3:1500",
    );
    // Another process appends to a file upkeep has not replaced yet.
    let victim = conf.join("site08.conf");
    let mut edited = std::fs::read(&victim).unwrap();
    edited.extend_from_slice(b"# added by a colleague\n");
    std::fs::write(&victim, &edited).unwrap();
    // The pause runs out and the write goes on.
    let (status, err) = finish(child);
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(
        err.contains("site08.conf: the file changed since upkeep read it"),
        "{err}"
    );
    let mut expected = before.clone();
    expected.insert("site08.conf".into(), edited);
    assert_eq!(
        snapshot(&conf),
        expected,
        "the edit kept, every other file as it was"
    );
}

#[test]
fn a_write_keeps_attributes_acls_and_hard_links() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("site.conf");
    std::fs::write(&path, SITE).unwrap();
    let run = |cmd: &[&str]| {
        let out = Command::new(cmd[0]).args(&cmd[1..]).output();
        match out {
            Ok(o) if o.status.success() => Some(String::from_utf8_lossy(&o.stdout).into_owned()),
            Ok(o) => panic!("{cmd:?}: {}", String::from_utf8_lossy(&o.stderr)),
            Err(e) => {
                common::skip(
                    "attributes kept",
                    &format!(
                        "{}: {e} (scripts/install-test-deps.sh installs attr and acl)",
                        cmd[0]
                    ),
                );
                None
            }
        }
    };
    let p = path.to_str().unwrap();
    if run(&["setfattr", "-n", "user.upkeep-test", "-v", "kept", p]).is_none() {
        return;
    }
    run(&["setfacl", "-m", "u:nobody:r", p]).unwrap();
    // Without SELinux loaded, root can still store the label as an
    // attribute; it is kept like any other.
    let selinux = Command::new("setfattr")
        .args([
            "-n",
            "security.selinux",
            "-v",
            "system_u:object_r:httpd_config_t:s0",
            p,
        ])
        .status()
        .unwrap()
        .success();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o640)).unwrap();
    let attrs = run(&["getfattr", "-d", "-m", "-", "--absolute-names", p]).unwrap();
    let acl = run(&["getfacl", "--absolute-names", p]).unwrap();
    let out = upkeep_run(dir.path(), &["--no-config", "--write", "site.conf"], None);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert_ne!(std::fs::read_to_string(&path).unwrap(), SITE, "written");
    assert_eq!(
        run(&["getfattr", "-d", "-m", "-", "--absolute-names", p]).unwrap(),
        attrs
    );
    assert_eq!(run(&["getfacl", "--absolute-names", p]).unwrap(), acl);
    assert!(attrs.contains("user.upkeep-test=\"kept\""), "{attrs}");
    assert!(acl.contains("user:nobody:r--"), "{acl}");
    if selinux {
        assert!(
            attrs.contains("security.selinux=\"system_u:object_r:httpd_config_t:s0\""),
            "{attrs}"
        );
    } else {
        common::skip(
            "SELinux label kept",
            "this file system refuses security.selinux",
        );
    }

    // A second name for the same file sees the new text.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("site.conf"), SITE).unwrap();
    std::fs::hard_link(dir.path().join("site.conf"), dir.path().join("other-name")).unwrap();
    let out = upkeep_run(dir.path(), &["--no-config", "--write", "site.conf"], None);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert_eq!(
        std::fs::read(dir.path().join("other-name")).unwrap(),
        std::fs::read(dir.path().join("site.conf")).unwrap()
    );
    assert_ne!(
        std::fs::read_to_string(dir.path().join("other-name")).unwrap(),
        SITE
    );
}

/// upkeep run in `dir` as user and group `nobody` (65534), with `groups`
/// (setpriv's `--groups=…` or `--clear-groups`).
fn as_nobody(dir: &Path, groups: &str, args: &[&str]) -> std::process::Output {
    Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", groups, "--"])
        .arg(env!("CARGO_BIN_EXE_upkeep"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

#[test]
fn a_group_member_keeps_the_files_owner_and_group() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    if unsafe { libc::geteuid() } != 0 {
        common::skip(
            "owner kept for a group member",
            "needs root to set up the owner and run as another user",
        );
        return;
    }
    // root:GROUP 0664 in a directory the group may write: a member of the
    // group (not root) runs upkeep --write.
    let group = 33; // Debian's www-data
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), PermissionsExt::from_mode(0o775)).unwrap();
    std::os::unix::fs::chown(dir.path(), Some(0), Some(group)).unwrap();
    let path = dir.path().join("site.conf");
    std::fs::write(&path, SITE).unwrap();
    std::os::unix::fs::chown(&path, Some(0), Some(group)).unwrap();
    std::fs::set_permissions(&path, PermissionsExt::from_mode(0o664)).unwrap();
    let out = as_nobody(
        dir.path(),
        &format!("--groups={group}"),
        &["--no-config", "--write", "site.conf"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let meta = std::fs::metadata(&path).unwrap();
    assert_ne!(std::fs::read_to_string(&path).unwrap(), SITE, "written");
    assert_eq!(
        (meta.uid(), meta.gid(), meta.mode() & 0o7777),
        (0, group, 0o664)
    );
}

#[test]
fn a_single_file_bind_mount_is_written_in_place() {
    if unsafe { libc::geteuid() } != 0 || !Path::new("/usr/bin/unshare").exists() {
        common::skip(
            "bind-mounted file",
            "needs root and unshare for a private mount namespace",
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("host.conf"), SITE).unwrap();
    std::fs::create_dir(dir.path().join("container")).unwrap();
    std::fs::write(dir.path().join("container/site.conf"), "").unwrap();
    // As Docker's `-v ./host.conf:/container/site.conf`: a rename over the
    // mount point fails with EBUSY.
    let script = format!(
        "mount --bind host.conf container/site.conf && exec {} --no-config --write container/site.conf",
        env!("CARGO_BIN_EXE_upkeep")
    );
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let host = std::fs::read_to_string(dir.path().join("host.conf")).unwrap();
    assert!(
        host.contains("upstream app"),
        "the bound file itself is written:\n{host}"
    );
}

#[test]
fn an_unreadable_directory_is_named_with_what_to_do() {
    use std::os::unix::fs::PermissionsExt;
    if unsafe { libc::geteuid() } != 0 {
        common::skip(
            "unreadable directory",
            "needs root to run upkeep as another user (root reads every directory)",
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), PermissionsExt::from_mode(0o755)).unwrap();
    let conf = dir.path().join("conf.d");
    std::fs::create_dir_all(conf.join("private")).unwrap();
    std::fs::write(conf.join("site.conf"), SITE).unwrap();
    std::fs::set_permissions(conf.join("private"), PermissionsExt::from_mode(0o000)).unwrap();
    let out = as_nobody(
        dir.path(),
        "--clear-groups",
        &["--no-config", "--check", "conf.d"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    assert_stderr_has(&out, "conf.d/private: permission denied (check the file's permissions, and that every directory above it can be entered)");
    // The readable site is still checked.
    assert!(String::from_utf8_lossy(&out.stdout).contains("+++ b/conf.d/site.conf"));
}

/// A journal is only a file: one naming files outside the run's roots is
/// refused whole by `--recover`, and nothing is written there.
#[test]
fn recover_never_writes_outside_the_roots() {
    let (dir, conf) = tree(1);
    let elsewhere = tempfile::tempdir().unwrap();
    let victim = elsewhere.path().join("victim.conf");
    std::fs::write(&victim, "untouched\n").unwrap();
    let backup = elsewhere.path().join("backup");
    std::fs::write(&backup, "would overwrite the victim\n").unwrap();
    let bytes = |p: &Path| format!("{:?}", p.to_str().unwrap().as_bytes());
    let journal = format!(
        r#"{{"version":1,"pid":4000000,"files":[{{"shown":"victim.conf","path":{},"temp":{},"backup":{},"in_place":false}}]}}"#,
        bytes(&victim),
        bytes(&elsewhere.path().join("temp")),
        bytes(&backup)
    );
    std::fs::write(conf.join(".upkeep-journal"), journal).unwrap();
    let out = upkeep_run(
        dir.path(),
        &["--no-config", "--recover", "rollback", "conf.d"],
        None,
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    assert_stderr_has(
        &out,
        "outside the directories this run may write; nothing was done",
    );
    assert_eq!(std::fs::read(&victim).unwrap(), b"untouched\n");
    assert!(backup.exists() && conf.join(".upkeep-journal").exists());
}
