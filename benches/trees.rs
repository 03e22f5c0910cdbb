//! Whole-tree scaling: a main config that includes `conf.d/*.conf`, with
//! 300 and then 3000 site files (about 0.2 and 2 MB), each a server with
//! three proxied locations: a backend of its own (one upstream per file,
//! as `scripts/gen-bench-config.py --files` writes) and two shared ones. The whole run of the release binary (read,
//! include, plan, verify, diff) is timed, best of nine runs each, and the 3000/300 ratio
//! is printed: linear work gives about 10×; the bound is 11×.
//! Run with `cargo bench --bench trees`.

use std::time::{Duration, Instant};

fn site(i: usize) -> String {
    format!(
        "server {{\n    listen {port};\n    server_name tenant{i}.example.com;\n\n    location /api/ {{\n        proxy_pass http://api-{api}.internal:8000/;\n        proxy_set_header Host $host;\n        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n    }}\n\n    location /ws/ {{\n        proxy_pass http://events-{ev}.internal:9000;\n        proxy_http_version 1.1;\n        proxy_set_header Upgrade $http_upgrade;\n        proxy_set_header Connection \"upgrade\";\n        proxy_set_header Host $host;\n    }}\n\n    location /auth/ {{\n        proxy_pass http://auth-{auth}.internal:8101/;\n        proxy_set_header Host $host;\n    }}\n\n    location / {{\n        try_files $uri $uri/ /index.html;\n    }}\n}}\n",
        port = 8000 + i % 50,
        api = i,
        ev = i % 10,
        auth = i % 7,
    )
}

/// Writes the tree; returns its size in bytes.
fn tree(dir: &std::path::Path, files: usize) -> usize {
    std::fs::create_dir_all(dir.join("conf.d")).unwrap();
    let main = "events {}\n\nhttp {\n    include conf.d/*.conf;\n}\n";
    std::fs::write(dir.join("nginx.conf"), main).unwrap();
    let mut size = main.len();
    for i in 0..files {
        let text = site(i);
        size += text.len();
        std::fs::write(dir.join(format!("conf.d/site-{i:05}.conf")), text).unwrap();
    }
    size
}

/// Best wall time of `runs` runs of the upkeep binary on the tree (the
/// program as a user runs it: its allocator, its output).
fn time_run(dir: &std::path::Path, runs: usize) -> Duration {
    let mut best = Duration::MAX;
    for _ in 0..runs {
        let start = Instant::now();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_upkeep"))
            .args(["--quiet", "nginx.conf"])
            .current_dir(dir)
            .output()
            .unwrap();
        best = best.min(start.elapsed());
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.stdout.is_empty(), "the tree needs changes");
    }
    best
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing
    // and must not spend minutes here.
    if !std::env::args().any(|a| a == "--bench") {
        println!("trees: run with `cargo bench --bench trees`");
        return;
    }
    let small_dir = tempfile::tempdir().unwrap();
    let large_dir = tempfile::tempdir().unwrap();
    let small_size = tree(small_dir.path(), 300);
    let large_size = tree(large_dir.path(), 3000);
    // The same number of runs for both: a best of fewer runs is biased
    // upward, and so would be the ratio.
    let small = time_run(small_dir.path(), 9);
    let large = time_run(large_dir.path(), 9);
    println!(
        "300 files ({:.2} MB): {:.1} ms; 3000 files ({:.2} MB): {:.1} ms; ratio {:.1}x (bound 11x)",
        small_size as f64 / 1e6,
        small.as_secs_f64() * 1e3,
        large_size as f64 / 1e6,
        large.as_secs_f64() * 1e3,
        large.as_secs_f64() / small.as_secs_f64()
    );
}
