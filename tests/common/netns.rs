//! A private network namespace for the tests that run real nginx against
//! real backends: nothing else on the machine can answer a connection, and
//! the backends may take any loopback port (80 and 443 included) without
//! clashing with anything outside.
//!
//! The test re-executes its own test binary, filtered to itself, under
//! `unshare -n -m` (with `-r` when not root, so that the mount is allowed)
//! and with [`INSIDE`] set; inside, it brings `lo` up and bind-mounts a
//! generated hosts file over /etc/hosts once, so that the fixtures' host
//! names resolve to 127.0.0.1 for nginx. The outer test passes when the inner
//! one passes; the inner output is printed through the outer test.
//!
//! Without `unshare`, `ip` or the right to use them the test prints a
//! visible `skipped: ...` line, or fails when `CI` is set.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};

use super::is_root;

/// Set in the re-executed test process.
pub const INSIDE: &str = "UPKEEP_TEST_NETNS";

/// Printed by the inner test so that the outer one knows it really ran
/// (a test filter that matched nothing would pass silently).
const RAN: &str = "[netns] inside a private network namespace";

static HOSTS_MAPPED: AtomicBool = AtomicBool::new(false);

/// Whether /etc/hosts already maps the test hosts (so nginx can be started
/// directly, without a mount namespace of its own).
pub fn hosts_mapped() -> bool {
    HOSTS_MAPPED.load(Ordering::SeqCst)
}

/// Call first in a test that needs isolation, with the test's own name.
/// Returns `true` inside the namespace: run the test body. Returns `false`
/// outside, after the body ran (and passed) in the namespace, or when
/// isolation is impossible and the test is skipped.
pub fn isolated(test: &str) -> bool {
    if std::env::var_os(INSIDE).is_some() {
        let up = Command::new("ip")
            .args(["link", "set", "lo", "up"])
            .status()
            .expect("run ip");
        assert!(up.success(), "ip link set lo up failed");
        println!("{RAN}");
        return true;
    }
    if let Err(why) = probe() {
        skip(&why);
        return false;
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut cmd = Command::new("unshare");
    if !is_root() {
        cmd.arg("-r");
    }
    cmd.args(["-n", "-m", "--"])
        .arg(exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(INSIDE, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run unshare");
    // Lines go through print!/eprint! so that the test harness captures
    // them as the outer test's output (shown on failure or with
    // --nocapture, live).
    let err = child.stderr.take().unwrap();
    let errors = std::thread::spawn(move || forward(err, false));
    let ran = forward(child.stdout.take().unwrap(), true);
    errors.join().unwrap();
    let status = child.wait().expect("wait for the isolated test");
    assert!(
        status.success(),
        "{test} failed inside the private network namespace (its output is above)"
    );
    assert!(
        ran,
        "{test} did not run inside the namespace: is the test name right?"
    );
    false
}

/// Maps `names` to 127.0.0.1 (and nothing else, `localhost` included, so
/// that nginx gets one address per name) by bind-mounting a generated file
/// over /etc/hosts. Inside the namespace only.
pub fn map_hosts(names: &[String], scratch: &std::path::Path) {
    assert!(
        std::env::var_os(INSIDE).is_some(),
        "map_hosts outside the private namespace would change the machine's /etc/hosts"
    );
    let mut content = String::from("127.0.0.1 localhost\n");
    for name in names {
        content.push_str(&format!("127.0.0.1 {name}\n"));
    }
    let file = scratch.join("hosts");
    std::fs::write(&file, content).unwrap();
    let status = Command::new("mount")
        .arg("--bind")
        .arg(&file)
        .arg("/etc/hosts")
        .status()
        .expect("run mount");
    assert!(
        status.success(),
        "mount --bind {} /etc/hosts",
        file.display()
    );
    HOSTS_MAPPED.store(true, Ordering::SeqCst);
}

/// Prints a `skipped:` line that the test harness does not capture, or
/// fails when `CI` is set: CI must run what it claims to.
pub fn skip(why: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("{why} (CI is set: failing instead of skipping)");
    }
    let _ = writeln!(std::io::stderr(), "skipped: {why}");
}

fn probe() -> Result<(), String> {
    for tool in ["unshare", "ip", "mount"] {
        let found = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
            .unwrap_or(false);
        if !found {
            return Err(format!(
                "`{tool}` is not installed (scripts/install-test-deps.sh installs it)"
            ));
        }
    }
    let mut cmd = Command::new("unshare");
    if !is_root() {
        cmd.arg("-r");
    }
    let out = cmd
        .args(["-n", "-m", "true"])
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "cannot create a network namespace: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Copies lines to the test's output; returns whether [`RAN`] was among
/// them.
fn forward(from: impl Read, stdout: bool) -> bool {
    let mut ran = false;
    for line in BufReader::new(from).split(b'\n') {
        let Ok(line) = line else { break };
        let line = String::from_utf8_lossy(&line);
        ran |= line.contains(RAN);
        if stdout {
            println!("{line}");
        } else {
            eprintln!("{line}");
        }
    }
    ran
}
