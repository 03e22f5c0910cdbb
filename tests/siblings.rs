//! Sites rewritten one at a time (what a careful operator or a pre-commit
//! hook does): three Debian sites nginx loads into one `http` context, one
//! proxying to `localhost:5280`, one to `localhost:3001`, one to
//! `localhost/` (no port). Each run names one file alone; upkeep reads its
//! siblings as context, so no new name collides with them: after every run
//! real nginx accepts the whole tree, and every site's traffic, the
//! untouched ones' included, reaches the port it reached before. (Named
//! like a host, `upstream localhost` would make nginx refuse the second
//! site, `upstream "localhost" may not have port 3001`, and take the third
//! one's traffic to port 5280: ngx_http_upstream_add.)

mod common;

use std::path::Path;

use common::backend::{Backend, Identity, Listener};
use common::nginx::{request, Nginx};
use common::*;

const MAIN: &str = "events {}\n\nhttp {\n    include sites-enabled/*;\n}\n";

/// The sites: name, `listen`, target, the backend port it reaches.
const SITES: [(&str, u16, &str, u16); 3] = [
    ("chat", 8081, "http://localhost:5280", 5280),
    ("grafana", 8082, "http://localhost:3001", 3001),
    ("web", 8083, "http://localhost/", 80),
];

fn debian_tree(root: &Path) {
    std::fs::write(root.join("nginx.conf"), MAIN).unwrap();
    std::fs::create_dir_all(root.join("sites-available")).unwrap();
    std::fs::create_dir_all(root.join("sites-enabled")).unwrap();
    for (name, listen, target, _) in SITES {
        std::fs::write(
            root.join("sites-available").join(name),
            format!("server {{\n    listen {listen};\n    location / {{\n        proxy_pass {target};\n    }}\n}}\n"),
        )
        .unwrap();
        std::os::unix::fs::symlink(
            format!("../sites-available/{name}"),
            root.join("sites-enabled").join(name),
        )
        .unwrap();
    }
}

fn site(root: &Path, name: &str) -> String {
    std::fs::read_to_string(root.join("sites-available").join(name)).unwrap()
}

/// The whole tree as nginx reads it (the tests' own reader).
fn whole(root: &Path) -> Vec<u8> {
    conf::flatten(&root.join("nginx.conf"), root, &[]).unwrap()
}

/// Every site's request reaches its own backend port, once.
fn traffic_reaches_the_same_ports(nginx_bin: &Path, root: &Path, what: &str) {
    let backends: Vec<Backend> = SITES
        .iter()
        .map(|(name, _, _, port)| {
            Backend::serve(
                Listener::tcp(([127, 0, 0, 1], *port).into())
                    .unwrap_or_else(|e| panic!("listen on {port}: {e}")),
                Identity {
                    label: name.to_string(),
                    authority: format!("localhost:{port}"),
                    tls: None,
                },
            )
        })
        .collect();
    let text = String::from_utf8(whole(root)).unwrap();
    let nginx = Nginx::start(nginx_bin, &text, &[]);
    for (i, (name, ..)) in SITES.iter().enumerate() {
        let response = request(nginx.ports[i], "localhost", "/", &[]);
        assert_eq!(
            response.status,
            200,
            "{what}: {name}: {}\n{}",
            String::from_utf8_lossy(&response.body),
            nginx.error_log()
        );
        let counts: Vec<usize> = backends.iter().map(Backend::requests).collect();
        let mut want = vec![0; SITES.len()];
        for w in want.iter_mut().take(i + 1) {
            *w = 1;
        }
        assert_eq!(counts, want, "{what}: {name}'s request went elsewhere");
    }
}

#[test]
fn sites_rewritten_one_at_a_time_leave_the_others_working() {
    if !netns::isolated("sites_rewritten_one_at_a_time_leave_the_others_working") {
        return;
    }
    let Some(nginx) = require_nginx() else { return };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    debian_tree(root);
    traffic_reaches_the_same_ports(&nginx, root, "before");
    // One file per run, named as an operator names it: through its link,
    // or in sites-available.
    for (name, given, upstream) in [
        ("chat", "sites-enabled/chat", "localhost_5280"),
        ("grafana", "sites-available/grafana", "localhost_3001"),
        ("web", "sites-enabled/web", "localhost_80"),
    ] {
        let others: Vec<(&str, String)> = SITES
            .iter()
            .filter(|s| s.0 != name)
            .map(|s| (s.0, site(root, s.0)))
            .collect();
        let out = upkeep_run(root, &["--no-config", "--write", given], None);
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(0), "{given}: {err}");
        // What it assumed, without -v.
        assert!(
            err.contains(&format!("{given}: note: no main config reads {given}: upkeep read it with the 2 other files nginx loads from sites-enabled (read only, as context)")),
            "{given}: {err}"
        );
        let text = site(root, name);
        assert!(
            text.starts_with(&format!("upstream {upstream} {{\n")),
            "{given}:\n{text}"
        );
        assert!(!text.contains("upstream localhost {"), "{given}:\n{text}");
        for (other, before) in &others {
            assert_eq!(&site(root, other), before, "{given} changed {other}");
        }
        let hosts: Vec<String> = Vec::new();
        nginx_check(&nginx, &whole(root), &hosts)
            .unwrap_or_else(|e| panic!("after {given}, nginx -t refuses the tree:\n{e}"));
        traffic_reaches_the_same_ports(&nginx, root, &format!("after {given}"));
    }
}
