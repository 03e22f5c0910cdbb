//! Helpers shared by the integration tests: fixtures as data, the
//! real-world corpus, honest skips, the test certificates fixtures name
//! (`ca.pem`, `client.pem`, `client.key`), and real nginx (`nginx -t`, and nginx
//! masters on loopback) with the fixtures' host names mapped to 127.0.0.1
//! in a private mount namespace.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A test's outcome from the failures it collected (one test per fixture
/// directory runs under libtest-mimic).
pub fn outcome(failures: Vec<String>) -> Result<(), libtest_mimic::Failed> {
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\n\n").into())
    }
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Whether the tests run under CI (`CI` set and not empty), where a test
/// that cannot run is a failure, not a skip.
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty())
}

/// A test (or part of one) that cannot run here. Says `skipped: ...` on
/// the terminal, past the test harness's output capture, so a plain
/// `cargo test` shows it; under CI it fails the test instead.
pub fn skip(what: &str, reason: &str) {
    if in_ci() {
        panic!("{what}: cannot run: {reason}; CI is set, where a skipped test is a failure");
    }
    // Written to the process's stderr, not through `eprintln!`, which the
    // harness captures and shows only for failing tests.
    let _ = writeln!(std::io::stderr(), "skipped: {what}: {reason}");
}

/// Where the real-world corpus is looked for: `$UPKEEP_CORPUS` alone when
/// set, else `../shared/corpus` beside the checkout, else
/// `/work/shared/corpus`.
pub fn corpus_candidates() -> Vec<PathBuf> {
    match std::env::var_os("UPKEEP_CORPUS").filter(|v| !v.is_empty()) {
        Some(dir) => vec![PathBuf::from(dir)],
        None => vec![
            repo().join("../shared/corpus"),
            PathBuf::from("/work/shared/corpus"),
        ],
    }
}

/// The real-world corpus directory (it has `NGINX_OK.txt`, the files nginx
/// accepts, and `NGINX_BAD.txt`, the ones it rejects). When there is none,
/// `what` is skipped with a message (a failure under CI) and this is `None`.
pub fn corpus(what: &str) -> Option<PathBuf> {
    let candidates = corpus_candidates();
    if let Some(dir) = candidates.iter().find(|d| d.is_dir()) {
        assert!(
            dir.join("NGINX_OK.txt").is_file(),
            "{}: the corpus has no NGINX_OK.txt",
            dir.display()
        );
        return Some(dir.clone());
    }
    let tried: Vec<String> = candidates.iter().map(|d| d.display().to_string()).collect();
    skip(
        what,
        &format!("no corpus at {} (set UPKEEP_CORPUS)", tried.join(" or ")),
    );
    None
}

/// The corpus files a list (`NGINX_OK.txt`, `NGINX_BAD.txt`) names, as
/// paths; a list that names nothing is an error, not an empty pass.
pub fn corpus_list(dir: &Path, name: &str) -> Vec<PathBuf> {
    let list = dir.join(name);
    let text = std::fs::read_to_string(&list).unwrap_or_else(|e| panic!("{}: {e}", list.display()));
    let files: Vec<PathBuf> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| dir.join(l))
        .collect();
    assert!(!files.is_empty(), "{} names no files", list.display());
    files
}

/// `fixtures/<case>/{input.conf,args,expected.conf}`.
pub struct Fixture {
    pub name: String,
    pub dir: PathBuf,
    pub input: Vec<u8>,
    /// `None` only for a case not blessed yet: [`Fixture::expected`] is
    /// then a failure that says how to bless it. (A case upkeep must
    /// refuse is a tree fixture with `exit` and `stderr`, not a one-file
    /// fixture without an expected output.)
    pub expected: Option<Vec<u8>>,
    pub args: Vec<String>,
}

impl Fixture {
    /// The expected output, or the failure of a case that has none.
    pub fn expected(&self) -> Result<&[u8], String> {
        self.expected
            .as_deref()
            .ok_or_else(|| missing_expected(&format!("fixtures/{}", self.name), "expected.conf"))
    }
}

/// The failure of a fixture without its expected output: nothing says
/// what upkeep must write there, so it is never a pass (nor a skip).
pub fn missing_expected(case: &str, file: &str) -> String {
    let name = case.rsplit('/').next().unwrap_or(case);
    format!(
        "{case} has its input but no {file}: nothing says what upkeep must write. \
         Write it from upkeep's output with `scripts/bless.sh {name}`, review \
         `git diff fixtures/`, and commit it. A case upkeep must refuse is a tree \
         fixture (fixtures/trees/<case>/) that declares the refusal in `exit` \
         (the exit code) and `stderr` (lines the error must hold)"
    )
}

/// Every one-file case: each directory of `fixtures/` but `trees/`. A
/// directory without `input.conf` is an error, not a case left out.
pub fn fixtures() -> Vec<Fixture> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(repo().join("fixtures"))
        .expect("fixtures/ exists")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir() && !p.ends_with("trees"))
        .collect();
    dirs.sort();
    let strays: Vec<String> = dirs
        .iter()
        .filter(|d| !d.join("input.conf").is_file())
        .map(|d| d.display().to_string())
        .collect();
    assert!(
        strays.is_empty(),
        "directories of fixtures/ without input.conf (every directory there but trees/ is a case): {strays:?}"
    );
    dirs.into_iter()
        .map(|dir| {
            let args = std::fs::read_to_string(dir.join("args"))
                .unwrap_or_default()
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect();
            Fixture {
                name: dir.file_name().unwrap().to_string_lossy().into_owned(),
                input: std::fs::read(dir.join("input.conf")).unwrap(),
                expected: std::fs::read(dir.join("expected.conf")).ok(),
                args,
                dir,
            }
        })
        .collect()
}

/// Every fixture with its expected output; fails, naming each case
/// without one and how to bless it, when any lacks it.
pub fn fixtures_with_expected() -> Vec<(Fixture, Vec<u8>)> {
    let (mut with, mut missing) = (Vec::new(), Vec::new());
    for mut f in fixtures() {
        match f.expected.take() {
            Some(expected) => with.push((f, expected)),
            None => missing.push(missing_expected(&format!("fixtures/{}", f.name), "expected.conf")),
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
    with
}

/// The library configuration the fixture's args describe.
pub fn config_for(args: &[String]) -> upkeep::Options {
    try_config_for(args).expect("fixture args parse")
}

/// [`config_for`], or why the args do not parse.
pub fn try_config_for(args: &[String]) -> Result<upkeep::Options, String> {
    upkeep::options_for(args)
}

/// Host names a config connects to (upstream servers and `*_pass`
/// targets), for mapping to 127.0.0.1. IP addresses and sockets are skipped.
pub fn host_names(text: &str) -> Vec<String> {
    let mut hosts = Vec::new();
    for line in text.lines() {
        let words: Vec<&str> = line
            .split(|c: char| c.is_whitespace() || c == ';' || c == '{' || c == '}')
            .filter(|w| !w.is_empty())
            .collect();
        for pair in words.windows(2) {
            let (key, value) = (pair[0], pair[1].trim_matches(|c| c == '"' || c == '\''));
            if !(key == "server" || key.ends_with("_pass")) {
                continue;
            }
            let rest = value.split("://").last().unwrap_or(value);
            if rest.starts_with('[')
                || rest.to_ascii_lowercase().starts_with("unix:")
                || rest.contains('$')
            {
                continue;
            }
            let authority = rest.split(['/', '?']).next().unwrap_or("");
            let host = authority.split(':').next().unwrap_or("");
            let is_ip = host.chars().all(|c| c.is_ascii_digit() || c == '.');
            let looks_like_name = host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_');
            if !host.is_empty()
                && !is_ip
                && looks_like_name
                && !hosts.iter().any(|h: &String| h.eq_ignore_ascii_case(host))
            {
                hosts.push(host.to_string());
            }
        }
    }
    hosts
}

pub fn nginx_binary() -> Option<PathBuf> {
    for candidate in [
        "/usr/sbin/nginx",
        "/usr/local/sbin/nginx",
        "/usr/local/nginx/sbin/nginx",
    ] {
        if Path::new(candidate).exists() {
            return Some(PathBuf::from(candidate));
        }
    }
    None
}

/// The upkeep binary run in `dir` with `args` (and `stdin`, when given).
pub fn upkeep_run(dir: &Path, args: &[&str], stdin: Option<&[u8]>) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_upkeep"))
        .args(args)
        .current_dir(dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run upkeep");
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or_default()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

/// Fails, showing standard error, unless it contains `text`.
#[track_caller]
pub fn assert_stderr_has(out: &std::process::Output, text: &str) {
    let err = stderr_of(out);
    assert!(err.contains(text), "stderr lacks {text:?}:\n{err}");
}

/// A run's standard error as text.
pub fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The release of the nginx binary, from `nginx -v`.
pub fn nginx_version(nginx: &Path) -> Option<(u32, u32, u32)> {
    let out = Command::new(nginx).arg("-v").output().ok()?;
    let text = String::from_utf8_lossy(&out.stderr);
    let version = text.split("nginx/").nth(1)?.split_whitespace().next()?;
    let parts: Vec<u32> = version.split('.').filter_map(|p| p.parse().ok()).collect();
    match parts.as_slice() {
        [a, b, c] => Some((*a, *b, *c)),
        _ => None,
    }
}

/// The nginx release whose upstream blocks take `server ... resolve` and
/// `resolver` (changes.xml, 1.27.3).
pub const RESOLVE_SINCE: (u32, u32, u32) = (1, 27, 3);

/// What an nginx older than [`RESOLVE_SINCE`] can check of `text`: the
/// same config without the `resolve` parameter of `server` lines and
/// without `resolver`/`resolver_timeout` inside `upstream` blocks (the
/// names are then resolved at start-up, which the tests map to 127.0.0.1).
/// `None` when `text` has none of them. Blocks are read line by line, as
/// the fixtures write them.
pub fn without_resolve(text: &[u8]) -> Option<Vec<u8>> {
    let text = String::from_utf8_lossy(text);
    let mut out = String::new();
    let mut depth_in_upstream: Option<usize> = None;
    let mut depth = 0usize;
    let mut changed = false;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if depth_in_upstream.is_none() && trimmed.starts_with("upstream ") && trimmed.contains('{')
        {
            depth_in_upstream = Some(depth);
        }
        let inside = depth_in_upstream.is_some_and(|d| depth > d);
        if inside && (trimmed.starts_with("resolver ") || trimmed.starts_with("resolver_timeout "))
        {
            changed = true;
        } else if inside && trimmed.starts_with("server ") && trimmed.contains(" resolve") {
            out.push_str(&line.replace(" resolve;", ";").replace(" resolve ", " "));
            changed = true;
        } else {
            out.push_str(line);
        }
        depth += line.matches('{').count();
        depth = depth.saturating_sub(line.matches('}').count());
        if depth_in_upstream.is_some_and(|d| depth <= d) {
            depth_in_upstream = None;
        }
    }
    changed.then(|| out.into_bytes())
}

/// nginx, or a failure that says how to get it (the README's test command
/// installs it). `UPKEEP_SKIP_NGINX=1` skips the nginx tests instead, with
/// a message, except under CI, where a missing nginx always fails.
pub fn require_nginx() -> Option<PathBuf> {
    if let Some(nginx) = nginx_binary() {
        return Some(nginx);
    }
    if std::env::var_os("UPKEEP_SKIP_NGINX").is_some() {
        skip(
            "the nginx tests",
            "nginx is not installed and UPKEEP_SKIP_NGINX is set",
        );
        return None;
    }
    panic!("nginx is not installed: run `scripts/test.sh` (it installs Debian's nginx-light), or `apt-get install nginx-light libnginx-mod-stream`");
}

pub const STREAM_MODULE: &str = "/usr/lib/nginx/modules/ngx_stream_module.so";

/// Wraps a config for `nginx -t`: a snippet of `server` blocks goes inside
/// `http { }`; a main config gets `events { }` when it lacks one; the stream
/// module is loaded when the config uses `stream`.
pub fn wrap_for_nginx(text: &str, include_path: &Path) -> String {
    let is_main = text.lines().any(|l| {
        let t = l.trim_start();
        t.starts_with("http ")
            || t.starts_with("http{")
            || t.starts_with("events")
            || t.starts_with("stream")
    });
    let mut out = String::new();
    if text.contains("stream {") && Path::new(STREAM_MODULE).exists() {
        out.push_str(&format!("load_module {STREAM_MODULE};\n"));
    }
    if is_main {
        if !text.contains("events") {
            out.push_str("events { }\n");
        }
        out.push_str(&format!("include {};\n", include_path.display()));
    } else {
        out.push_str(&format!(
            "events {{ }}\nhttp {{\n    include {};\n}}\n",
            include_path.display()
        ));
    }
    out
}

/// Runs `nginx -t` on `config_text` with `hosts` resolving to 127.0.0.1.
/// Returns nginx's output on failure.
pub fn nginx_check(nginx: &Path, config_text: &[u8], hosts: &[String]) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("under-test.conf");
    std::fs::write(&conf, config_text).unwrap();
    let main = dir.path().join("nginx.conf");
    std::fs::write(
        &main,
        wrap_for_nginx(&String::from_utf8_lossy(config_text), &conf),
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("logs")).unwrap();
    // Not an Err: callers read an Err as nginx rejecting the config.
    pki::pki()
        .and_then(|pki| pki.copy_client_files(dir.path()))
        .unwrap_or_else(|e| panic!("test certificates: {e}"));
    let args = vec![
        "-t".to_string(),
        "-q".to_string(),
        "-p".to_string(),
        format!("{}/", dir.path().display()),
        "-c".to_string(),
        main.display().to_string(),
        "-e".to_string(),
        "stderr".to_string(),
    ];
    let output = with_hosts(nginx, &args, hosts, dir.path())
        .output()
        .expect("run nginx -t");
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

/// A command that runs `program args` with `hosts` resolving to 127.0.0.1:
/// in a private mount namespace whose /etc/hosts is a bind-mounted copy, or
/// directly inside the tests' private network namespace once that mapped
/// them ([`netns::map_hosts`]).
pub fn with_hosts(program: &Path, args: &[String], hosts: &[String], scratch: &Path) -> Command {
    if netns::hosts_mapped() {
        let mut cmd = Command::new(program);
        cmd.args(args);
        return cmd;
    }
    let hosts_file = scratch.join("hosts");
    let mut content = String::from("127.0.0.1 localhost\n::1 localhost\n");
    for h in hosts {
        content.push_str(&format!("127.0.0.1 {h}\n"));
    }
    std::fs::write(&hosts_file, content).unwrap();
    let quoted: Vec<String> = std::iter::once(program.display().to_string())
        .chain(args.iter().cloned())
        .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
        .collect();
    let script = format!(
        "mount --bind '{}' /etc/hosts && exec {}",
        hosts_file.display(),
        quoted.join(" ")
    );
    let mut cmd = Command::new("unshare");
    // As root a mount namespace is enough; otherwise a user namespace
    // (mapped to root inside) makes the bind mount possible.
    if is_root() {
        cmd.args(["-m", "sh", "-c", &script]);
    } else {
        cmd.args(["-r", "-m", "sh", "-c", &script]);
    }
    cmd
}

pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

pub mod backend;
pub mod conf;
pub mod counting;
pub mod coverage;
pub mod fastcgi;
pub mod grpc;
pub mod idle;
pub mod memcached;
pub mod netns;
pub mod nginx;
pub mod pki;
pub mod run;
pub mod trees;
