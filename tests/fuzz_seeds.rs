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

/// The two inputs the fuzzer found that ended in "internal error: not
/// stable" (issue 24). Both are configs nginx refuses to load, and are
/// refused before planning, with nginx's words and the place: a
/// `location` without a path (with a `proxy_pass {}` in a location in it),
/// and a `location` ended by `;` instead of a body, among duplicate
/// `location /` blocks (the websocket rules chose the map only at a second
/// run).
#[test]
fn not_stable_findings_are_refused_like_nginx_refuses_them() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    for (file, line, column, message) in [
        (
            "crash-b9f69a69c1945d14929ef3c3f000b87dda9cef31",
            1,
            14,
            "invalid number of arguments in \"location\" directive",
        ),
        (
            "crash-0a9877a1f4bf3988c5de9962f00df5949a4a0d12",
            16,
            5,
            "directive \"location\" has no opening \"{\"",
        ),
        // The 20-minute run of scripts/fuzz.sh: `upstream` blocks in a
        // server and a location (an upstream-keepalive edit that a second
        // run made again).
        (
            "crash-370ec2148e5c7361cbaee261222ed3e809da2ec6",
            36,
            5,
            "\"upstream\" directive is not allowed here",
        ),
        (
            "crash-4126bf1d676ab37d5c661cc56c4544fa58d61fa1",
            36,
            5,
            "\"upstream\" directive is not allowed here",
        ),
    ] {
        let source = upkeep::Source::new(file, std::fs::read(root.join(file)).unwrap());
        match upkeep::process(&source, &upkeep::Options::default()) {
            Err(upkeep::FileError::Plan { path, place, error }) => {
                assert_eq!(path, format!("{file}:{line}:{column}"));
                let place = place.unwrap();
                assert_eq!((place.line, place.column), (line, column), "{file}");
                assert_eq!(
                    error.message,
                    format!("{message}; nginx cannot load this config (fix the directive)"),
                    "{file}"
                );
            }
            other => panic!("{file}: {other:?}"),
        }
    }
}
