//! Every case in `fixtures/`: the rewrite matches `expected.conf` byte for
//! byte, a second run changes nothing, the output re-parses, the `--diff`
//! output applies with `patch -p1` and `git apply`, `--write` leaves the
//! same bytes, and real `nginx -t` accepts both input and expected output.

mod common;

use std::process::Command;

use common::*;

#[test]
fn fixtures_rewrite_exactly() {
    let fixtures = fixtures_with_expected();
    assert!(fixtures.len() >= 25, "only {} fixtures", fixtures.len());
    let mut failures = Vec::new();
    for (f, expected) in &fixtures {
        let config = config_for(&f.args);
        let source = upkeep::source::Source::new(format!("{}/input.conf", f.name), f.input.clone());
        match upkeep::process(&source, &config.options) {
            Ok(rewrite) if &rewrite.new_text == expected => {}
            Ok(rewrite) => failures.push(format!(
                "{}: output differs from expected.conf; upkeep wrote:\n{}",
                f.name,
                String::from_utf8_lossy(&rewrite.new_text)
            )),
            Err(e) => failures.push(format!("{}: {e}", f.name)),
        }
        // The expected output is a fixed point: nothing more to change.
        let again = upkeep::source::Source::new("expected.conf", expected.clone());
        match upkeep::process(&again, &config.options) {
            Ok(r) if r.changes.is_empty() => {}
            Ok(r) => failures.push(format!(
                "{}: a second run would change expected.conf: {:?}",
                f.name,
                r.changes
                    .iter()
                    .map(|c| c.rule.as_str())
                    .collect::<Vec<_>>()
            )),
            Err(e) => failures.push(format!("{}: expected.conf: {e}", f.name)),
        }
    }
    println!("{} fixtures checked", fixtures.len());
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn fixture_diffs_apply_with_patch_and_git_apply_and_write_matches() {
    let bin = env!("CARGO_BIN_EXE_upkeep");
    for (f, expected) in fixtures_with_expected() {
        let work = tempfile::tempdir().unwrap();
        let conf_dir = work.path().join("conf");
        std::fs::create_dir_all(&conf_dir).unwrap();
        std::fs::write(conf_dir.join("nginx.conf"), &f.input).unwrap();
        let out = Command::new(bin)
            .args(&f.args)
            .arg("--color=never")
            .arg("conf/nginx.conf")
            .current_dir(work.path())
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}: {}",
            f.name,
            String::from_utf8_lossy(&out.stderr)
        );
        let diff = out.stdout;
        assert_eq!(diff.is_empty(), f.input == expected, "{}", f.name);
        if diff.is_empty() {
            continue;
        }
        let patch_file = work.path().join("change.diff");
        std::fs::write(&patch_file, &diff).unwrap();

        // git apply --check, then patch -p1 for real.
        let git = Command::new("git")
            .args(["apply", "--check", "--unsafe-paths"])
            .arg(&patch_file)
            .current_dir(work.path())
            .output()
            .unwrap();
        assert!(
            git.status.success(),
            "{}: git apply: {}",
            f.name,
            String::from_utf8_lossy(&git.stderr)
        );
        let patch = Command::new("patch")
            .args(["-p1", "--quiet", "--binary", "-i"])
            .arg(&patch_file)
            .current_dir(work.path())
            .output()
            .unwrap();
        assert!(
            patch.status.success(),
            "{}: patch: {}",
            f.name,
            String::from_utf8_lossy(&patch.stdout)
        );
        assert_eq!(
            std::fs::read(conf_dir.join("nginx.conf")).unwrap(),
            expected,
            "{}: patched",
            f.name
        );

        // --write from the original gives the same bytes, and --check is then clean.
        std::fs::write(conf_dir.join("nginx.conf"), &f.input).unwrap();
        let write = Command::new(bin)
            .args(&f.args)
            .arg("--write")
            .arg("conf/nginx.conf")
            .current_dir(work.path())
            .output()
            .unwrap();
        assert_eq!(write.status.code(), Some(0), "{}", f.name);
        assert_eq!(
            std::fs::read(conf_dir.join("nginx.conf")).unwrap(),
            expected,
            "{}: --write",
            f.name
        );
        let check = Command::new(bin)
            .args(&f.args)
            .arg("--check")
            .arg("conf/nginx.conf")
            .current_dir(work.path())
            .output()
            .unwrap();
        assert_eq!(
            check.status.code(),
            Some(0),
            "{}: --check after --write",
            f.name
        );
    }
}

#[test]
fn nginx_accepts_every_fixture_input_and_expected_output() {
    let Some(nginx) = require_nginx() else { return };
    let mut failures = Vec::new();
    let mut checked = 0;
    // A case without an expected output yet still has an input nginx must
    // accept.
    for f in fixtures() {
        let expected = f.expected.as_deref().unwrap_or_default();
        let hosts = host_names(&format!(
            "{}\n{}",
            String::from_utf8_lossy(&f.input),
            String::from_utf8_lossy(expected)
        ));
        let mut files = vec![("input.conf", &f.input[..])];
        if f.expected.is_some() {
            files.push(("expected.conf", expected));
        }
        for (what, text) in files {
            if let Err(message) = nginx_check(&nginx, text, &hosts) {
                failures.push(format!("{}/{what}: nginx -t failed:\n{message}", f.name));
            }
            checked += 1;
        }
    }
    println!(
        "nginx -t accepted {} of {checked} fixture files",
        checked - failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The nginx check itself must be able to fail: this is the collision the
/// naming rules avoid (`upstream "app" may not have port 9000`).
#[test]
fn nginx_check_rejects_an_upstream_named_like_a_remaining_target_host() {
    let Some(nginx) = require_nginx() else { return };
    let bad = b"upstream app { server app:3000; }\nserver { listen 80; location / { proxy_pass http://app; } location ~ \\.php$ { fastcgi_pass app:9000; } }\n";
    let err = nginx_check(&nginx, bad, &["app".to_string()]).unwrap_err();
    assert!(err.contains("may not have port"), "{err}");
}

/// The snippets of one directory are one http context: a conf.d directory gets one
/// upstream per backend across its files, reuses upstreams defined in its
/// other files, and real nginx accepts the result as a whole.
#[test]
fn a_conf_d_directory_is_one_http_context() {
    let dir = tempfile::tempdir().unwrap();
    let confd = dir.path().join("conf.d");
    std::fs::create_dir_all(&confd).unwrap();
    std::fs::write(
        confd.join("00-upstreams.conf"),
        "upstream backend {\n    server app:8080;\n    keepalive 16;\n}\n",
    )
    .unwrap();
    let site = |port: u16, extra: &str| {
        format!("server {{\n    listen {port};\n    location /api/ {{\n        proxy_pass http://api:9000/;\n        proxy_set_header Host $host;\n    }}\n{extra}}}\n")
    };
    std::fs::write(confd.join("a.conf"), site(80, "    location / {\n        proxy_pass http://backend;\n        proxy_set_header Host $host;\n    }\n")).unwrap();
    std::fs::write(confd.join("b.conf"), site(81, "    location /app/ {\n        proxy_pass http://app:8080/;\n        proxy_set_header Host $host;\n    }\n")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_upkeep"))
        .args(["--write", "conf.d"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let first = std::fs::read_to_string(confd.join("00-upstreams.conf")).unwrap();
    let a = std::fs::read_to_string(confd.join("a.conf")).unwrap();
    let b = std::fs::read_to_string(confd.join("b.conf")).unwrap();
    // Shared by a.conf and b.conf: in the first file nginx reads.
    assert!(
        first.starts_with("upstream api {\n    server api:9000;\n    keepalive 32;\n}\n"),
        "{first}"
    );
    assert!(
        !a.contains("upstream ") && !b.contains("upstream "),
        "the sites reuse the upstreams of the first file:\n{a}\n{b}"
    );
    assert!(
        b.contains("proxy_pass http://api/;") && b.contains("proxy_pass http://backend/;"),
        "{b}"
    );
    let Some(nginx) = require_nginx() else { return };
    let combined = format!("include {}/*.conf;\n", confd.display());
    nginx_check(&nginx, combined.as_bytes(), &["app".into(), "api".into()]).unwrap();
}
