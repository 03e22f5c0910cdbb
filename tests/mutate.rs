//! A mutation fuzzer on the stable toolchain, for machines without nightly
//! (`scripts/fuzz.sh` runs `cargo fuzz` when nightly is there, this
//! otherwise). It mutates the fixtures' inputs and the real-world corpus
//! (read in place) with byte flips, spliced lines, inserted and deleted
//! braces and duplicated ranges, and runs each through the fuzz target's
//! body (`upkeep::fuzz_one`: a panic or an internal error is a finding).
//! Findings are written to `fuzz/regressions/` (replayed by
//! `tests/fuzz_seeds.rs`) and fail the test.
//!
//! In the normal suite it runs a fixed number of mutations from a fixed
//! seed, so a failure reproduces; `UPKEEP_FUZZ_SECONDS=N` runs it for N
//! seconds instead, from `UPKEEP_FUZZ_SEED` or the clock.

mod common;

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// xorshift64*: small, seedable, and good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Bytes that matter to nginx's tokenizer and to the rules.
const INTERESTING: &[&[u8]] = &[
    b"{",
    b"}",
    b";",
    b"\"",
    b"'",
    b"\\",
    b"$",
    b"#",
    b"\n",
    b" ",
    b"location / {",
    b"if ($a) {",
    b"proxy_pass http://b:8080;",
    b"proxy_pass http://$host;",
    b"upstream u {",
    b"server a:80;",
    b"proxy_set_header Host $host;",
    b"proxy_http_version 1.0;",
    b"include x.conf;",
    b"keepalive 8;",
    b"map $http_upgrade $c {",
    b"limit_except GET {",
    b"server {",
    b"http {",
];

/// One mutation of `input`; `other` is a second seed to splice from.
fn mutate(rng: &mut Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    let at = |rng: &mut Rng, len: usize| rng.below(len + 1);
    match rng.below(7) {
        // Flip a bit.
        0 if !out.is_empty() => {
            let i = rng.below(out.len());
            out[i] ^= 1 << rng.below(8);
        }
        // Insert a token.
        1 => {
            let token = INTERESTING[rng.below(INTERESTING.len())];
            let i = at(rng, out.len());
            out.splice(i..i, token.iter().copied());
        }
        // Delete a brace, a semicolon or a quote.
        2 => {
            let marks: Vec<usize> = (0..out.len())
                .filter(|i| matches!(out[*i], b'{' | b'}' | b';' | b'"'))
                .collect();
            if !marks.is_empty() {
                out.remove(marks[rng.below(marks.len())]);
            }
        }
        // Splice in a line of the other seed.
        3 => {
            let lines: Vec<&[u8]> = other.split_inclusive(|b| *b == b'\n').collect();
            if !lines.is_empty() {
                let line = lines[rng.below(lines.len())];
                let starts: Vec<usize> = std::iter::once(0)
                    .chain((0..out.len()).filter(|i| out[*i] == b'\n').map(|i| i + 1))
                    .collect();
                let i = starts[rng.below(starts.len())];
                out.splice(i..i, line.iter().copied());
            }
        }
        // Duplicate a range (a block, a run of lines).
        4 if !out.is_empty() => {
            let a = rng.below(out.len());
            let b = (a + 1 + rng.below(256)).min(out.len());
            let copy = out[a..b].to_vec();
            let i = at(rng, out.len());
            out.splice(i..i, copy);
        }
        // Delete a range.
        5 if !out.is_empty() => {
            let a = rng.below(out.len());
            let b = (a + 1 + rng.below(64)).min(out.len());
            out.drain(a..b);
        }
        // Swap two lines.
        _ => {
            let mut lines: Vec<Vec<u8>> = out
                .split_inclusive(|b| *b == b'\n')
                .map(<[u8]>::to_vec)
                .collect();
            if lines.len() > 1 {
                let (a, b) = (rng.below(lines.len()), rng.below(lines.len()));
                lines.swap(a, b);
            }
            out = lines.concat();
        }
    }
    out
}

/// Every fixture's input and every corpus file nginx accepts.
fn seeds() -> Vec<Vec<u8>> {
    let mut paths: Vec<PathBuf> = common::fixtures()
        .into_iter()
        .map(|f| f.dir.join("input.conf"))
        .collect();
    let seeds_dir = common::repo().join("fuzz/seeds");
    paths.extend(
        std::fs::read_dir(&seeds_dir)
            .unwrap()
            .flatten()
            .map(|e| e.path()),
    );
    if let Some(corpus) = common::corpus("mutation fuzzing over the corpus") {
        paths.extend(common::corpus_list(&corpus, "NGINX_OK.txt"));
    }
    paths.sort();
    paths.iter().filter_map(|p| std::fs::read(p).ok()).collect()
}

/// Writes a finding where `tests/fuzz_seeds.rs` replays it.
fn save(data: &[u8]) -> PathBuf {
    let dir = common::repo().join("fuzz/regressions");
    let path = dir.join(format!("crash-{}", sha1_smol::Sha1::from(data).digest()));
    std::fs::write(&path, data).unwrap();
    path
}

#[test]
fn mutations_of_fixtures_and_corpus() {
    let seeds = seeds();
    assert!(seeds.len() >= 30, "{} seeds", seeds.len());
    let budget = std::env::var("UPKEEP_FUZZ_SECONDS")
        .ok()
        .map(|s| Duration::from_secs(s.parse().expect("UPKEEP_FUZZ_SECONDS: a number of seconds")));
    let seed = match (std::env::var("UPKEEP_FUZZ_SEED").ok(), budget) {
        (Some(s), _) => s.parse().expect("UPKEEP_FUZZ_SEED: a number"),
        (None, Some(_)) => {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        }
        (None, None) => 0x5eed_f00d_u64,
    };
    let mut rng = Rng(seed);
    // The default hook would print every caught panic's backtrace.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let start = Instant::now();
    let mut runs = 0u64;
    let mut findings: Vec<(PathBuf, String)> = Vec::new();
    loop {
        match budget {
            Some(b) if start.elapsed() >= b => break,
            None if runs >= 300 => break,
            _ => {}
        }
        let base = &seeds[rng.below(seeds.len())];
        let other = &seeds[rng.below(seeds.len())];
        // Several mutations in a row reach further from the seed.
        let mut input = base.clone();
        for _ in 0..1 + rng.below(4) {
            input = mutate(&mut rng, &input, other);
        }
        runs += 1;
        if let Err(panic) = std::panic::catch_unwind(AssertUnwindSafe(|| upkeep::fuzz_one(&input)))
        {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            findings.push((save(&input), message));
        }
    }
    std::panic::set_hook(hook);
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!(
            "mutation fuzzing: seed {seed}, {runs} inputs in {:.1} s from {} seeds, {} findings\n",
            start.elapsed().as_secs_f64(),
            seeds.len(),
            findings.len()
        )
        .as_bytes(),
    );
    let shown: Vec<String> = findings
        .iter()
        .map(|(p, m)| format!("{}: {m}", relative(p)))
        .collect();
    assert!(findings.is_empty(), "findings (saved to fuzz/regressions; fix them, or move one to fuzz/open with an explanation):\n{}", shown.join("\n"));
}

fn relative(path: &Path) -> String {
    path.strip_prefix(common::repo())
        .unwrap_or(path)
        .display()
        .to_string()
}
