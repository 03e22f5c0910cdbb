//! Getting upkeep (issue 28): `--version` with the commit, the build
//! script without git, the pre-commit hooks run by the real `pre-commit`,
//! the GitHub Action's script with GitHub's environment faked, the
//! workflow files against GitHub's schemas, and scripts/migrate-repos.sh
//! on generated repositories.
//!
//! The tools beyond git (pre-commit, PyYAML, shellcheck, action-validator)
//! are installed by scripts/install-test-deps.sh into target/test-tools
//! (or $UPKEEP_TEST_TOOLS). Without them a test says `skipped: ...`, and
//! fails under CI. Nothing here uses the network.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const UPKEEP: &str = env!("CARGO_BIN_EXE_upkeep");

/// A site that needs pooling, Debian style: no `.conf`.
const SITE: &str = "server {\n    listen 80;\n    server_name app.example;\n\n    location / {\n        proxy_pass http://app:8080;\n        include proxy_params;\n    }\n}\n";
const SITE_STATIC: &str = "server {\n    listen 80;\n    server_name app.example;\n\n    location / {\n        root /srv/app;\n    }\n}\n";
const NGINX_CONF: &str = "events {}\nhttp {\n    include sites-enabled/*;\n}\n";
const PROXY_PARAMS: &str =
    "proxy_set_header Host $http_host;\nproxy_set_header X-Real-IP $remote_addr;\n";

fn tools() -> PathBuf {
    match std::env::var_os("UPKEEP_TEST_TOOLS").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => common::repo().join("target/test-tools"),
    }
}

/// A test tool: where install-test-deps.sh puts it, else on PATH. `None`
/// (after a visible skip, a failure under CI) when it is nowhere.
fn tool(what: &str, name: &str) -> Option<PathBuf> {
    let installed = [
        tools().join("venv/bin").join(name),
        tools().join("node/node_modules/.bin").join(name),
    ];
    if let Some(found) = installed.into_iter().find(|p| p.is_file()) {
        return Some(found);
    }
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    });
    if on_path.is_none() {
        common::skip(
            what,
            &format!(
                "no {name} (scripts/install-test-deps.sh installs it into {})",
                tools().display()
            ),
        );
    }
    on_path
}

fn have_git(what: &str) -> bool {
    let ok = Command::new("git")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        common::skip(what, "no git");
    }
    ok
}

/// A command with git isolated from the machine's and the caller's
/// configuration (a test run from a git hook has GIT_DIR set).
fn isolated(program: impl AsRef<std::ffi::OsStr>, home: &Path) -> Command {
    let mut cmd = Command::new(program);
    for var in [
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_COMMON_DIR",
        "GIT_OBJECT_DIRECTORY",
    ] {
        cmd.env_remove(var);
    }
    let config = home.join("gitconfig");
    if !config.exists() {
        fs::create_dir_all(home).unwrap();
        fs::write(
            &config,
            "[user]\n\tname = upkeep test\n\temail = test@upkeep.invalid\n[init]\n\tdefaultBranch = main\n[commit]\n\tgpgsign = false\n[advice]\n\tdetachedHead = false\n",
        )
        .unwrap();
    }
    cmd.env("GIT_CONFIG_GLOBAL", &config)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("PRE_COMMIT_HOME", home.join("pre-commit-cache"))
        .env("NO_COLOR", "1")
        .env_remove("CI");
    cmd
}

fn git(home: &Path, dir: &Path, args: &[&str]) -> Output {
    let out = isolated("git", home)
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?} in {}: {}",
        dir.display(),
        text(&out)
    );
    out
}

fn text(out: &Output) -> String {
    format!(
        "{}\n--- stdout:\n{}\n--- stderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn write(path: &Path, contents: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, contents).unwrap();
}

/// A git repository at `dir` with `files` committed (hooks not run).
fn repository(home: &Path, dir: &Path, files: &[(&str, &str)]) {
    fs::create_dir_all(dir).unwrap();
    git(home, dir, &["init", "-q"]);
    for (name, contents) in files {
        write(&dir.join(name), contents);
    }
    git(home, dir, &["add", "-A"]);
    git(home, dir, &["commit", "-q", "--no-verify", "-m", "initial"]);
}

// ---------------------------------------------------------------- version

#[test]
fn version_names_the_commit_and_its_date() {
    let out = Command::new(UPKEEP).arg("--version").output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let said = stdout(&out);
    let rest = said
        .strip_prefix(concat!("upkeep ", env!("CARGO_PKG_VERSION"), " ("))
        .and_then(|r| r.strip_suffix(')'))
        .unwrap_or_else(|| panic!("not `upkeep VERSION (COMMIT DATE)`: {said:?}"));
    let (commit, date) = rest.split_once(' ').unwrap();
    let repo = common::repo();
    if !repo.join(".git").exists() {
        // Built from a tarball: nothing to compare with.
        assert_eq!((commit, date), ("unknown", "unknown"), "{said}");
        return;
    }
    if !have_git("upkeep --version against git") {
        return;
    }
    assert!(
        commit.len() == 12 && commit.bytes().all(|b| b.is_ascii_hexdigit()),
        "a 12-digit commit: {said}"
    );
    let home = tempfile::tempdir().unwrap();
    let head = git(home.path(), &repo, &["rev-parse", "--short=12", "HEAD"]);
    assert_eq!(commit, stdout(&head), "the checkout's HEAD");
    let day = git(home.path(), &repo, &["log", "-1", "--format=%cs", "HEAD"]);
    assert_eq!(date, stdout(&day), "HEAD's commit date");
    let d = date.as_bytes();
    assert!(
        date.len() == 10 && d[4] == b'-' && d[7] == b'-',
        "a YYYY-MM-DD date: {said}"
    );
}

/// build.rs compiled on its own and run as cargo runs it: "unknown"
/// without a checkout of its own (a tarball, or a copy vendored inside
/// another repository), the environment's values when given, and the
/// commit of a checkout at the crate root, watching only files that exist.
#[test]
fn build_script_without_git_says_unknown() {
    if !have_git("build.rs") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let exe = dir.path().join("build-script");
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(rustc)
        .args(["--edition", "2021", "-o"])
        .arg(&exe)
        .arg(common::repo().join("build.rs"))
        .output()
        .unwrap();
    assert!(out.status.success(), "rustc build.rs: {}", text(&out));
    let run = |root: &Path, env: &[(&str, &str)]| {
        let mut cmd = isolated(&exe, &home);
        cmd.env("CARGO_MANIFEST_DIR", root)
            .env_remove("UPKEEP_COMMIT")
            .env_remove("UPKEEP_COMMIT_DATE");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{}", text(&out));
        String::from_utf8(out.stdout).unwrap()
    };

    let tarball = dir.path().join("tarball");
    fs::create_dir_all(&tarball).unwrap();
    let said = run(&tarball, &[]);
    assert!(
        said.contains("cargo:rustc-env=UPKEEP_COMMIT=unknown\n"),
        "{said}"
    );
    assert!(
        said.contains("cargo:rustc-env=UPKEEP_COMMIT_DATE=unknown\n"),
        "{said}"
    );
    assert!(!said.contains(".git"), "watches no git file: {said}");

    let outer = dir.path().join("outer");
    repository(&home, &outer, &[("README", "another project\n")]);
    let vendored = outer.join("vendor/upkeep");
    fs::create_dir_all(&vendored).unwrap();
    let said = run(&vendored, &[]);
    assert!(
        said.contains("UPKEEP_COMMIT=unknown\n"),
        "not the outer repository's commit: {said}"
    );

    let said = run(
        &tarball,
        &[
            ("UPKEEP_COMMIT", "0123456789ab"),
            ("UPKEEP_COMMIT_DATE", "2026-01-02"),
        ],
    );
    assert!(said.contains("UPKEEP_COMMIT=0123456789ab\n"), "{said}");
    assert!(said.contains("UPKEEP_COMMIT_DATE=2026-01-02\n"), "{said}");

    let said = run(&outer, &[]);
    let head = stdout(&git(&home, &outer, &["rev-parse", "--short=12", "HEAD"]));
    assert!(said.contains(&format!("UPKEEP_COMMIT={head}\n")), "{said}");
    let watched: Vec<&str> = said
        .lines()
        .filter_map(|l| l.strip_prefix("cargo:rerun-if-changed="))
        .collect();
    assert!(watched.iter().any(|p| p.ends_with(".git/HEAD")), "{said}");
    assert!(
        watched.iter().any(|p| p.ends_with("refs/heads/main")),
        "the branch's ref: {said}"
    );
    for path in watched.into_iter().filter(|p| *p != "build.rs") {
        assert!(
            outer.join(path).exists(),
            "watches a file that does not exist: {path}"
        );
    }
    // After `git pack-refs` the branch has no loose file until the next
    // commit: the directory where it will appear is watched, and
    // packed-refs.
    git(&home, &outer, &["pack-refs", "--all"]);
    let said = run(&outer, &[]);
    assert!(said.contains(&format!("UPKEEP_COMMIT={head}\n")), "{said}");
    assert!(said.contains(".git/refs/heads\n"), "{said}");
    assert!(said.contains(".git/packed-refs\n"), "{said}");
    assert!(!said.contains("refs/heads/main"), "{said}");
}

// ------------------------------------------------------------- pre-commit

/// The repository's own .pre-commit-hooks.yaml, in a hook repository of
/// its own, with `language: rust` (which builds upkeep with `cargo
/// install`: minutes, and crates from the network) replaced by
/// `unsupported` (pre-commit's name for `system`) and `entry: upkeep` by
/// the binary under test. Everything else (always_run, pass_filenames,
/// files) is the manifest users get.
fn hook_repository(home: &Path, dir: &Path) -> String {
    let manifest = fs::read_to_string(common::repo().join(".pre-commit-hooks.yaml")).unwrap();
    let rust = manifest.matches("language: rust").count();
    let entries = manifest.matches("entry: upkeep ").count();
    assert!(
        rust == 2 && entries == 2,
        "two rust hooks whose entry is upkeep:\n{manifest}"
    );
    let local = manifest
        .replace("language: rust", "language: unsupported")
        .replace("entry: upkeep ", &format!("entry: {UPKEEP} "));
    repository(home, dir, &[(".pre-commit-hooks.yaml", &local)]);
    stdout(&git(home, dir, &["rev-parse", "HEAD"]))
}

fn pre_commit_config(hooks: &Path, rev: &str, id: &str) -> String {
    format!(
        "repos:\n  - repo: {}\n    rev: {rev}\n    hooks:\n      - id: {id}\n",
        hooks.display()
    )
}

#[test]
fn pre_commit_hook_checks_an_extension_less_site_file() {
    let what = "pre-commit hooks";
    let Some(pre_commit) = tool(what, "pre-commit") else {
        return;
    };
    if !have_git(what) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let hooks = dir.path().join("hooks");
    let rev = hook_repository(&home, &hooks);

    // Debian's layout: nginx.conf includes sites-enabled/*, a symlink to
    // sites-available/app; the commits change only sites-available/app,
    // which no `*.conf` pattern matches.
    let site = dir.path().join("site");
    repository(
        &home,
        &site,
        &[
            ("nginx.conf", NGINX_CONF),
            ("proxy_params", PROXY_PARAMS),
            ("sites-available/app", SITE_STATIC),
            ("upkeep.toml", "paths = [\"nginx.conf\"]\n"),
            (
                ".pre-commit-config.yaml",
                &pre_commit_config(&hooks, &rev, "upkeep"),
            ),
        ],
    );
    fs::create_dir_all(site.join("sites-enabled")).unwrap();
    std::os::unix::fs::symlink("../sites-available/app", site.join("sites-enabled/app")).unwrap();
    git(&home, &site, &["add", "-A"]);
    git(
        &home,
        &site,
        &["commit", "-q", "--no-verify", "-m", "sites-enabled"],
    );
    let out = isolated(&pre_commit, &home)
        .arg("install")
        .current_dir(&site)
        .output()
        .unwrap();
    assert!(out.status.success(), "pre-commit install: {}", text(&out));

    // A proxied location: the hook fails the commit and shows the diff.
    write(&site.join("sites-available/app"), SITE);
    git(&home, &site, &["add", "sites-available/app"]);
    let out = isolated("git", &home)
        .args(["commit", "-m", "proxy the app"])
        .current_dir(&site)
        .output()
        .unwrap();
    let said = text(&out);
    assert!(
        !out.status.success(),
        "the hook let the commit through:\n{said}"
    );
    assert!(
        !said.contains("Skipped"),
        "the hook skipped the file:\n{said}"
    );
    assert!(said.contains("Failed"), "{said}");
    assert!(
        said.contains("+++ b/sites-available/app"),
        "the diff:\n{said}"
    );
    assert!(
        said.contains("-        proxy_pass http://app:8080;"),
        "{said}"
    );
    assert!(said.contains("+        proxy_pass http://app;"), "{said}");
    let head = stdout(&git(&home, &site, &["log", "-1", "--format=%s"]));
    assert_eq!(head, "sites-enabled", "nothing was committed");

    // After upkeep --write the same commit passes.
    let out = Command::new(UPKEEP)
        .arg("--write")
        .current_dir(&site)
        .output()
        .unwrap();
    assert!(out.status.success(), "upkeep --write: {}", text(&out));
    git(&home, &site, &["add", "sites-available/app"]);
    let out = isolated("git", &home)
        .args(["commit", "-m", "proxy the app"])
        .current_dir(&site)
        .output()
        .unwrap();
    let said = text(&out);
    assert!(
        out.status.success(),
        "the hook failed after --write:\n{said}"
    );
    assert!(said.contains("Passed"), "{said}");

    // The upkeep-write hook: rewrites the file, so pre-commit fails the
    // commit ("files were modified by this hook"); the rewritten file
    // then commits.
    write(
        &site.join(".pre-commit-config.yaml"),
        &pre_commit_config(&hooks, &rev, "upkeep-write"),
    );
    let changed = fs::read_to_string(site.join("sites-available/app"))
        .unwrap()
        .replace("    location / {", "    location /admin/ {\n        proxy_pass http://admin:9000;\n    }\n\n    location / {");
    write(&site.join("sites-available/app"), &changed);
    git(&home, &site, &["add", "-A"]);
    let out = isolated("git", &home)
        .args(["commit", "-m", "admin"])
        .current_dir(&site)
        .output()
        .unwrap();
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("files were modified by this hook"), "{said}");
    let written = fs::read_to_string(site.join("sites-available/app")).unwrap();
    assert!(written.contains("upstream admin {"), "{written}");
    git(&home, &site, &["add", "-A"]);
    let out = isolated("git", &home)
        .args(["commit", "-m", "admin"])
        .current_dir(&site)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
}

// ---------------------------------------------------------- GitHub Action

/// scripts/action.sh with GitHub's environment faked: RUNNER_TEMP,
/// GITHUB_OUTPUT, GITHUB_STEP_SUMMARY, a workspace with a real config.
fn action(step: &str, workspace: &Path, runner: &Path, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new("bash");
    cmd.arg(common::repo().join("scripts/action.sh"))
        .arg(step)
        .current_dir(workspace)
        .env("GITHUB_WORKSPACE", workspace)
        .env("RUNNER_TEMP", runner.join("temp"))
        .env("GITHUB_OUTPUT", runner.join("output"))
        .env("GITHUB_STEP_SUMMARY", runner.join("summary.md"))
        .env("GITHUB_PATH", runner.join("path"))
        .env("UPKEEP_BIN", UPKEEP)
        .env_remove("NO_COLOR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn outputs(runner: &Path) -> std::collections::BTreeMap<String, String> {
    fs::read_to_string(runner.join("output"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[test]
fn action_script_checks_writes_sarif_outputs_and_summary() {
    let dir = tempfile::tempdir().unwrap();
    let workspace = dir.path().join("workspace");
    let runner = dir.path().join("runner");
    fs::create_dir_all(runner.join("temp")).unwrap();
    write(
        &workspace.join("frontend/nginx.conf"),
        &fs::read_to_string(common::repo().join("fixtures/01-motivating-frontend/input.conf"))
            .unwrap(),
    );
    write(
        &workspace.join("upkeep.toml"),
        "paths = [\"frontend/nginx.conf\"]\nwebsocket = [\"/api/ws\"]\n",
    );

    // A config that needs changes.
    let out = action("check", &workspace, &runner, &[]);
    assert!(
        out.status.success(),
        "check exits 0 whatever upkeep says: {}",
        text(&out)
    );
    let log = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        log.contains("::warning file=frontend/nginx.conf,line="),
        "annotations on stdout:\n{log}"
    );
    assert!(
        log.contains("+++ b/frontend/nginx.conf"),
        "the diff in the log:\n{log}"
    );
    let o = outputs(&runner);
    assert_eq!(o.get("exit-code").map(String::as_str), Some("1"), "{o:?}");
    assert_eq!(
        o.get("result").map(String::as_str),
        Some("changes"),
        "{o:?}"
    );
    assert_eq!(
        o.get("changed-files").map(String::as_str),
        Some("1"),
        "{o:?}"
    );
    let sarif_path = PathBuf::from(&o["sarif-file"]);
    assert!(sarif_path.starts_with(runner.join("temp")), "{o:?}");
    let sarif: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&sarif_path).unwrap()).expect("SARIF is JSON");
    assert_eq!(sarif["version"], "2.1.0");
    let results = sarif["runs"][0]["results"].as_array().expect("results");
    assert!(!results.is_empty(), "SARIF has results");
    assert!(
        results.iter().any(
            |r| r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                == "frontend/nginx.conf"
        ),
        "{sarif}"
    );
    let diff = fs::read_to_string(&o["diff-file"]).unwrap();
    assert!(
        diff.starts_with("--- a/frontend/nginx.conf\n+++ b/frontend/nginx.conf\n"),
        "{diff}"
    );
    let summary = fs::read_to_string(runner.join("summary.md")).unwrap();
    assert!(summary.starts_with("## upkeep\n"), "{summary}");
    // Written once, by upkeep (the script writes none of its own).
    assert_eq!(summary.matches("## upkeep").count(), 1, "{summary}");
    assert!(summary.contains("1 file(s) need changes"), "{summary}");
    assert!(
        summary.contains("```diff\n--- a/frontend/nginx.conf\n"),
        "{summary}"
    );
    assert!(summary.contains("+upstream gateway {"), "{summary}");
    assert!(
        summary.contains("in 1 file"),
        "upkeep's summary line: {summary}"
    );

    // The last step fails the job with upkeep's exit code.
    let out = action("finish", &workspace, &runner, &[("UPKEEP_EXIT_CODE", "1")]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        stdout(&out).starts_with("::error title=upkeep::"),
        "{}",
        text(&out)
    );

    // After --write: clean, exit 0, no diff in the summary.
    let w = Command::new(UPKEEP)
        .arg("--write")
        .current_dir(&workspace)
        .output()
        .unwrap();
    assert!(w.status.success(), "{}", text(&w));
    fs::remove_file(runner.join("output")).unwrap();
    fs::remove_file(runner.join("summary.md")).unwrap();
    let out = action(
        "check",
        &workspace,
        &runner,
        &[("UPKEEP_SARIF", "false"), ("UPKEEP_ANNOTATIONS", "false")],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("::warning"),
        "annotations off: {}",
        text(&out)
    );
    let o = outputs(&runner);
    assert_eq!(o.get("exit-code").map(String::as_str), Some("0"), "{o:?}");
    assert_eq!(o.get("result").map(String::as_str), Some("clean"), "{o:?}");
    assert_eq!(
        o.get("changed-files").map(String::as_str),
        Some("0"),
        "{o:?}"
    );
    assert_eq!(
        o.get("sarif-file").map(String::as_str),
        Some(""),
        "SARIF off: {o:?}"
    );
    let summary = fs::read_to_string(runner.join("summary.md")).unwrap();
    assert!(summary.contains("No change needed"), "{summary}");
    assert!(!summary.contains("```diff"), "{summary}");
    let out = action("finish", &workspace, &runner, &[("UPKEEP_EXIT_CODE", "0")]);
    assert!(out.status.success(), "{}", text(&out));

    // A syntax error: exit 2, the message with path:line:col in the summary.
    write(
        &workspace.join("frontend/nginx.conf"),
        "server {\n    location / {\n        proxy_pass http://app:8080\n    }\n}\n",
    );
    fs::remove_file(runner.join("summary.md")).unwrap();
    let out = action(
        "check",
        &workspace,
        &runner,
        &[("UPKEEP_ARGS", "--keepalive 16")],
    );
    assert!(out.status.success(), "{}", text(&out));
    let o = outputs(&runner);
    assert_eq!(o.get("exit-code").map(String::as_str), Some("2"), "{o:?}");
    assert_eq!(o.get("result").map(String::as_str), Some("error"), "{o:?}");
    let summary = fs::read_to_string(runner.join("summary.md")).unwrap();
    assert!(summary.contains("upkeep failed (exit 2)"), "{summary}");
    assert!(summary.contains("frontend/nginx.conf:3:"), "{summary}");
    let out = action("finish", &workspace, &runner, &[("UPKEEP_EXIT_CODE", "2")]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));

    // `version: installed` takes the upkeep on PATH and says its version.
    let bin = Path::new(UPKEEP).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = action(
        "install",
        &workspace,
        &runner,
        &[("UPKEEP_VERSION", "installed"), ("PATH", &path)],
    );
    assert!(out.status.success(), "{}", text(&out));
    let o = outputs(&runner);
    assert!(
        o["version"].starts_with(concat!(env!("CARGO_PKG_VERSION"), " (")),
        "{o:?}"
    );
}

/// action.yml runs only scripts/action.sh, and each of its inputs reaches
/// the script.
#[test]
fn action_yml_shell_steps_are_the_script() {
    let yml = fs::read_to_string(common::repo().join("action.yml")).unwrap();
    for line in yml.lines().map(str::trim).filter(|l| l.starts_with("run:")) {
        assert!(
            line.starts_with("run: bash \"$ACTION_PATH/scripts/action.sh\" "),
            "shell logic outside the script: {line}"
        );
    }
    for input in [
        "version",
        "args",
        "sarif",
        "annotations",
        "summary",
        "working-directory",
    ] {
        assert!(
            yml.contains(&format!("${{{{ inputs.{input} }}}}")),
            "input {input} unused"
        );
    }
    assert!(yml.contains("uses: github/codeql-action/upload-sarif@"));
}

// --------------------------------------------------------- workflow files

#[test]
fn workflow_files_parse_and_match_githubs_schemas() {
    let what = "workflow files";
    // The virtualenv's Python: it has PyYAML.
    let python = tools().join("venv/bin/python3");
    if !python.is_file() {
        common::skip(
            what,
            &format!("no {} (scripts/install-test-deps.sh)", python.display()),
        );
        return;
    }
    let Some(validator) = tool(what, "action-validator") else {
        return;
    };
    let repo = common::repo();
    let files = [
        ".github/workflows/release.yml",
        "action.yml",
        ".pre-commit-hooks.yaml",
    ];
    // PyYAML: each parses; the release workflow's shape.
    let script = r#"
import sys, yaml
release, action, hooks = (yaml.safe_load(open(p)) for p in sys.argv[1:])
on = release.get("on", release.get(True))
assert on["push"]["tags"] == ["v*"], on
targets = [m["target"] for m in release["jobs"]["build"]["strategy"]["matrix"]["include"]]
assert sorted(targets) == ["aarch64-apple-darwin", "x86_64-apple-darwin", "x86_64-unknown-linux-musl"], targets
steps = " ".join(str(s) for s in release["jobs"]["release"]["steps"])
assert "sha256sum" in steps and "gh release upload" in steps, steps
assert action["runs"]["using"] == "composite"
assert set(action["inputs"]) >= {"version", "args", "sarif"}, action["inputs"]
for hook in hooks:
    assert hook["always_run"] is True and hook["pass_filenames"] is False and "files" not in hook, hook
print("ok")
"#;
    let out = Command::new(&python)
        .arg("-c")
        .arg(script)
        .args(files.map(|f| repo.join(f)))
        .output()
        .unwrap();
    assert!(
        out.status.success() && stdout(&out) == "ok",
        "{}",
        text(&out)
    );

    // action-validator: GitHub's workflow and action JSON schemas.
    for file in &files[..2] {
        let out = Command::new(&validator)
            .arg(repo.join(file))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{file} does not match its schema: {}",
            text(&out)
        );
    }
    // ... which does reject a broken one.
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("action.yml");
    fs::write(
        &broken,
        fs::read_to_string(repo.join("action.yml"))
            .unwrap()
            .replace("using: composite", "using: compost"),
    )
    .unwrap();
    let out = Command::new(&validator).arg(&broken).output().unwrap();
    assert!(
        !out.status.success(),
        "the validator accepts anything: {}",
        text(&out)
    );
}

#[test]
fn scripts_pass_shellcheck() {
    let Some(shellcheck) = tool("shellcheck", "shellcheck") else {
        return;
    };
    let repo = common::repo();
    let out = Command::new(shellcheck)
        .args(["--shell=bash", "--severity=style"])
        .arg(repo.join("scripts/action.sh"))
        .arg(repo.join("scripts/migrate-repos.sh"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
}

// -------------------------------------------------------- migrate-repos.sh

#[test]
fn migrate_repos_commits_on_a_branch_and_reports_each_repository() {
    if !have_git("migrate-repos.sh") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let base = dir.path();
    let proxied = "server {\n    location / {\n        proxy_pass http://app:8080;\n    }\n}\n";
    // Needs a change, with its upkeep.toml (the pool size must be used).
    repository(
        &home,
        &base.join("needs-change"),
        &[
            ("deploy/nginx.conf", proxied),
            (
                "upkeep.toml",
                "paths = [\"deploy/nginx.conf\"]\nkeepalive = 7\n",
            ),
        ],
    );
    // Already pooled: no change.
    let pooled = fs::read_to_string(base.join("needs-change/deploy/nginx.conf")).unwrap();
    let written = Command::new(UPKEEP)
        .args(["--no-config", "--write", "-q"])
        .arg(base.join("needs-change/deploy/nginx.conf"))
        .output()
        .unwrap();
    assert!(written.status.success(), "{}", text(&written));
    let pooled_text = fs::read_to_string(base.join("needs-change/deploy/nginx.conf")).unwrap();
    fs::write(base.join("needs-change/deploy/nginx.conf"), &pooled).unwrap();
    repository(&home, &base.join("clean"), &[("site.conf", &pooled_text)]);
    // A syntax error in one file, a change needed in another (upkeep
    // writes the other): everything must be put back.
    let broken = "server {\n    location / {\n        proxy_pass http://app:8080\n    }\n}\n";
    repository(
        &home,
        &base.join("broken"),
        &[("a.conf", proxied), ("b.conf", broken)],
    );
    // Dirty: an uncommitted edit.
    repository(&home, &base.join("dirty"), &[("site.conf", proxied)]);
    fs::write(base.join("dirty/site.conf"), format!("{proxied}# wip\n")).unwrap();
    // needs-change is on a branch of its own: it must be back on it.
    git(
        &home,
        &base.join("needs-change"),
        &["checkout", "-q", "-b", "prod"],
    );

    let list = base.join("repos.txt");
    fs::write(&list, "# the fleet\nneeds-change\n\nclean\nbroken\n").unwrap();
    let before: Vec<String> = ["needs-change", "clean", "broken", "dirty"]
        .iter()
        .map(|r| stdout(&git(&home, &base.join(r), &["rev-parse", "HEAD"])))
        .collect();
    let out = isolated("bash", &home)
        .arg(common::repo().join("scripts/migrate-repos.sh"))
        .args(["--upkeep", UPKEEP, "--list"])
        .arg(&list)
        .arg("dirty")
        .current_dir(base)
        .output()
        .unwrap();
    let said = text(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "one skipped and one failed: {said}"
    );
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    let rows: Vec<Vec<&str>> = table
        .lines()
        .map(|l| {
            l.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect()
        })
        .collect();
    assert_eq!(rows[0], ["REPOSITORY", "RESULT", "BRANCH"], "{table}");
    assert_eq!(
        rows[1],
        ["needs-change", "changed 1 file", "upkeep/keepalive"],
        "{table}"
    );
    assert_eq!(rows[2], ["clean", "no change", "-"], "{table}");
    assert_eq!(rows[3][0], "broken", "{table}");
    assert!(
        rows[3][1].starts_with("error: b.conf:3:"),
        "the error with its place: {table}"
    );
    assert_eq!(rows[4], ["dirty", "skipped: dirty", "-"], "{table}");
    assert_eq!(rows.len(), 5, "{table}");

    for (repo, head) in ["needs-change", "clean", "broken", "dirty"]
        .iter()
        .zip(&before)
    {
        let r = base.join(repo);
        assert_eq!(
            &stdout(&git(&home, &r, &["rev-parse", "HEAD"])),
            head,
            "{repo}: HEAD moved"
        );
        let status = stdout(&git(&home, &r, &["status", "--porcelain"]));
        if *repo == "dirty" {
            assert_eq!(status, "M site.conf", "{repo}: its edit kept");
        } else {
            assert_eq!(status, "", "{repo}: working tree touched");
        }
        let branches = stdout(&git(&home, &r, &["branch", "--list", "upkeep/*"]));
        assert_eq!(
            branches.is_empty(),
            *repo != "needs-change",
            "{repo}: branches {branches:?}"
        );
    }
    let current = stdout(&git(
        &home,
        &base.join("needs-change"),
        &["branch", "--show-current"],
    ));
    assert_eq!(current, "prod", "back on the original branch");
    assert_eq!(
        fs::read_to_string(base.join("broken/a.conf")).unwrap(),
        proxied,
        "a.conf put back"
    );

    // The commit: upkeep.toml's settings, the message lists the change.
    let r = base.join("needs-change");
    let message = stdout(&git(
        &home,
        &r,
        &["log", "-1", "--format=%B", "upkeep/keepalive"],
    ));
    assert!(
        message.starts_with("nginx: pool backend connections (upkeep)\n"),
        "{message}"
    );
    assert!(message.contains("- deploy/nginx.conf"), "{message}");
    assert!(
        message.contains("1 upstream added"),
        "upkeep's summary: {message}"
    );
    let committed = stdout(&git(
        &home,
        &r,
        &["show", "upkeep/keepalive:deploy/nginx.conf"],
    ));
    assert!(
        committed.contains("keepalive 7;"),
        "upkeep.toml was used: {committed}"
    );
    let parent = stdout(&git(&home, &r, &["rev-parse", "upkeep/keepalive~1"]));
    assert_eq!(parent, before[0], "branched from HEAD");

    // Again: the branch exists now, which is an error, not a clobber.
    let out = isolated("bash", &home)
        .arg(common::repo().join("scripts/migrate-repos.sh"))
        .args(["--upkeep", UPKEEP, "--branch", "upkeep/keepalive"])
        .arg(&r)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        stdout(&out).contains("error: branch upkeep/keepalive exists"),
        "{}",
        text(&out)
    );
}
