//! Runs the fuzz target's body over its seed corpus (`fuzz/seeds/`) and
//! every input the fuzzer ever found a problem with (`fuzz/regressions/`),
//! so CI checks them without running the fuzzer.

use std::path::PathBuf;

#[test]
fn fuzz_seed_corpus_and_regressions() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut count = 0;
    for dir in ["seeds", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for entry in entries.flatten() {
            let data = std::fs::read(entry.path()).unwrap();
            upkeep::fuzz_one(&data);
            count += 1;
        }
    }
    println!("{count} fuzz inputs replayed");
    assert!(count >= 30);
}
