//! Per-stage benchmarks on generated mid-size configs (about 2.5 MB, the
//! shapes of `scripts/gen-bench-config.py`: a few backends shared by many
//! servers, and two backends of its own per server): parse, the query
//! pass, model (walk and queries side by side), plan,
//! apply, the verification (incremental re-parse, model and plan of the
//! output, and the behaviour check of `src/behaviour.rs`), the diff, and the
//! whole pipeline, so a regression shows in the stage that caused it; and
//! the diff alone at 3 and 30 MB. Run with `cargo bench --bench stages`.

// The allocator the binary uses (`src/main.rs`): allocation is a large
// part of the run on big configs, so measuring another one would mislead.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use upkeep::Options;
use upkeep::Source;

/// One tenant server block, as the Python generator writes it; `many`:
/// backends of its own (`--many`) instead of a few shared ones.
fn server(i: usize, many: bool) -> String {
    format!(
        "    # tenant {i}: storefront and API\n    server {{\n        listen {port};\n        server_name tenant{i}.example.com;\n\n        root /srv/tenant{i}/public;\n        client_max_body_size 10m;\n\n        location /api/ {{\n            proxy_pass http://api-{api}.internal:8000/;\n            proxy_set_header Host $host;\n            proxy_set_header X-Real-IP $remote_addr;\n            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n            proxy_set_header X-Forwarded-Proto $scheme;\n            proxy_read_timeout 60s;\n        }}\n\n        # live updates\n        location /ws/ {{\n            proxy_pass http://events-{ev}.internal:9000;\n            proxy_http_version 1.1;\n            proxy_set_header Upgrade $http_upgrade;\n            proxy_set_header Connection \"upgrade\";\n            proxy_set_header Host $host;\n        }}\n\n        location /auth/ {{\n            proxy_pass http://auth-{auth}.internal:8101/;\n            proxy_set_header Host $host;\n            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n        }}\n\n        location /static/ {{\n            expires 7d;\n            add_header Cache-Control \"public\";\n        }}\n\n        location / {{\n            try_files $uri $uri/ /index.html;\n        }}\n    }}\n\n",
        port = 8000 + i % 50,
        api = if many { i } else { i % 40 },
        ev = if many { i } else { i % 10 },
        auth = i % 7,
    )
}

fn config(size: usize, many: bool) -> Vec<u8> {
    let mut text =
        String::from("events {\n    worker_connections 1024;\n}\n\nhttp {\n    sendfile on;\n\n");
    let mut i = 0;
    while text.len() < size {
        text.push_str(&server(i, many));
        i += 1;
    }
    text.push_str("}\n");
    text.into_bytes()
}

fn stages(c: &mut Criterion) {
    let opts = Options {
        keepalive: 32,
        ..Options::default()
    };
    // What a run with the default options observes.
    let lens = upkeep::stages::Lens {
        values: upkeep::stages::ProxyHostValues::Kept,
        new_defaults: false,
        runtime: false,
        grpc_host: upkeep::stages::GrpcHost::HostHeader,
    };
    let allowed = upkeep::stages::Allowed {
        move_upgrade: false,
        resolve: false,
        resolver_added: false,
    };
    for (shape, many) in [("few", false), ("many", true)] {
        let source = Source::new("bench.conf", config(2_500_000, many));
        let tree = upkeep::parse(&source).unwrap();
        let model = upkeep::stages::Model::build(&source, &tree);
        let plan = upkeep::stages::plan(&model, &opts).unwrap();
        let mut edits: Vec<_> = plan.changes.iter().map(|c| c.edit.clone()).collect();
        upkeep::stages::normalize(&mut edits).unwrap();
        let output = Source::new("bench.conf", upkeep::stages::apply(&source.text, &edits));
        let output_tree = upkeep::parse(&output).unwrap();
        let output_model = upkeep::stages::Model::build(&output, &output_tree);
        let observed = upkeep::stages::observe(&model, lens);

        let mut group = c.benchmark_group(format!("2.5MB-{shape}"));
        group.sample_size(10);
        group.throughput(Throughput::Bytes(source.text.len() as u64));
        group.bench_function("parse", |b| b.iter(|| upkeep::parse(&source).unwrap()));
        // The query pass alone (in the model it runs beside the walk).
        group.bench_function("query", |b| {
            b.iter(|| upkeep::stages::queries().run(tree.root_node(), &source.text))
        });
        group.bench_function("model", |b| {
            b.iter(|| upkeep::stages::Model::build(&source, &tree))
        });
        group.bench_function("plan", |b| {
            b.iter(|| upkeep::stages::plan(&model, &opts).unwrap())
        });
        group.bench_function("apply", |b| {
            b.iter(|| upkeep::stages::apply(&source.text, &edits))
        });
        group.bench_function("verify/reparse-incremental", |b| {
            b.iter(|| {
                let edited = upkeep::stages::edited_tree(&source, &tree, &edits);
                upkeep::stages::parse_incremental(&output, Some(&edited)).unwrap()
            })
        });
        group.bench_function("verify/reparse-statements", |b| {
            b.iter(|| upkeep::stages::splice(&source.text, &tree, &edits, &output).unwrap())
        });
        group.bench_function("verify/reparse-full", |b| {
            b.iter(|| upkeep::parse(&output).unwrap())
        });
        group.bench_function("verify/model+plan", |b| {
            b.iter(|| {
                let model = upkeep::stages::Model::build(&output, &output_tree);
                assert!(upkeep::stages::plan(&model, &opts)
                    .unwrap()
                    .changes
                    .is_empty());
            })
        });
        group.bench_function("verify/behaviour", |b| {
            b.iter(|| {
                let before = upkeep::stages::observe(&model, lens);
                let after = upkeep::stages::observe(&output_model, lens);
                assert!(upkeep::stages::compare(&before, &after, allowed).is_empty());
            })
        });
        group.bench_function("verify/behaviour-compare", |b| {
            let after = upkeep::stages::observe(&output_model, lens);
            b.iter(|| upkeep::stages::compare(&observed, &after, allowed))
        });
        group.bench_function("diff", |b| {
            b.iter(|| upkeep::stages::unified("bench.conf", &source, &edits))
        });
        group.bench_function("whole-pipeline", |b| {
            b.iter(|| upkeep::process(&source, &opts).unwrap())
        });
        group.finish();
    }
}

/// The diff alone at 3 and 30 MB (thousands of edits each): it must stay
/// linear in the file's size, whatever renders the hunks.
fn diff_sizes(c: &mut Criterion) {
    let opts = Options {
        keepalive: 32,
        ..Options::default()
    };
    let mut group = c.benchmark_group("diff");
    group.sample_size(10);
    for size in [3_000_000, 30_000_000] {
        let source = Source::new("bench.conf", config(size, false));
        let tree = upkeep::parse(&source).unwrap();
        let model = upkeep::stages::Model::build(&source, &tree);
        let plan = upkeep::stages::plan(&model, &opts).unwrap();
        let mut edits: Vec<_> = plan.changes.iter().map(|c| c.edit.clone()).collect();
        upkeep::stages::normalize(&mut edits).unwrap();
        group.throughput(Throughput::Bytes(source.text.len() as u64));
        group.bench_function(
            format!("{}MB, {} edits", size / 1_000_000, edits.len()),
            |b| b.iter(|| upkeep::stages::unified("bench.conf", &source, &edits)),
        );
    }
    group.finish();
}

/// The reports of every change (line, byte and character columns) on the
/// same config written one directive a line and all on one line: the
/// ratio of the two is what matters (quadratic on one line when each
/// character column was counted from the start of its line; measured
/// 2026-12-02: lines 14.7 ms, one line 5.6 ms, 9,056 changes).
fn report_line_length(c: &mut Criterion) {
    let opts = Options {
        keepalive: 32,
        ..Options::default()
    };
    let mut group = c.benchmark_group("reports");
    group.sample_size(10);
    let multi = config(1_000_000, false);
    // Comments would swallow the rest of a single line: dropped in both.
    let multi: Vec<u8> = String::from_utf8(multi)
        .unwrap()
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .flat_map(|l| [l, "\n"])
        .collect::<String>()
        .into_bytes();
    let one_line: Vec<u8> = multi
        .iter()
        .map(|b| if *b == b'\n' { b' ' } else { *b })
        .collect();
    for (layout, text) in [("lines", multi), ("one line", one_line)] {
        let source = Source::new("bench.conf", text);
        let tree = upkeep::parse(&source).unwrap();
        let model = upkeep::stages::Model::build(&source, &tree);
        let plan = upkeep::stages::plan(&model, &opts).unwrap();
        group.bench_function(
            format!("1MB {layout}, {} changes", plan.changes.len()),
            |b| {
                b.iter(|| {
                    plan.changes
                        .iter()
                        .map(|c| upkeep::stages::ChangeReport::new(&source, c).chars.end)
                        .sum::<usize>()
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, stages, diff_sizes, report_line_length);
criterion_main!(benches);
