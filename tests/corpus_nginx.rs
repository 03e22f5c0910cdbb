//! Invariants over the real-world corpus (`$UPKEEP_CORPUS`, else
//! `../shared/corpus`, else `/work/shared/corpus`; read in place): for
//! every file nginx accepts, run upkeep with default flags and require that
//! the output re-parses and a second run changes nothing (the pipeline
//! checks both), that every line an independent line diff of input and
//! output shows changed is covered by a reported change, and — where real
//! `nginx -t` accepts the original (host names mapped to 127.0.0.1) — that
//! `nginx -t` accepts the output too. Files nginx cannot test here (missing
//! includes, modules, certificates) are skipped with the reason nginx gave.
//! No corpus, or no file nginx can test here: `skipped:`, or a failure
//! under CI.

mod common;

use std::collections::BTreeMap;

use common::*;

#[test]
fn corpus_outputs_are_minimal_and_accepted_by_nginx() {
    let Some(dir) = corpus("corpus_outputs_are_minimal_and_accepted_by_nginx") else {
        return;
    };
    let nginx = require_nginx();
    let options = upkeep::Options {
        keepalive: 32,
        ..Default::default()
    };
    let (mut rewritten, mut unchanged, mut accepted) = (0, 0, 0);
    let mut skipped: BTreeMap<String, usize> = BTreeMap::new();
    let mut broken = Vec::new();
    for path in corpus_list(&dir, "NGINX_OK.txt") {
        let name = path.strip_prefix(&dir).unwrap().display().to_string();
        let name = name.as_str();
        let source = upkeep::Source::new(name, std::fs::read(&path).unwrap());
        let rewrite = match upkeep::process(&source, &options) {
            Ok(r) => r,
            Err(e) => {
                broken.push(format!("{name}: {e}"));
                continue;
            }
        };
        if rewrite.new_text == source.text {
            unchanged += 1;
            continue;
        }
        rewritten += 1;

        // Every line an independent line diff shows changed is one a
        // reported change touches.
        let ranges: Vec<_> = rewrite
            .changes
            .iter()
            .map(|c| c.edit.range.clone())
            .collect();
        for stray in coverage::uncovered(&source.text, &rewrite.new_text, &ranges) {
            broken.push(format!("{name}: no reported change covers {stray}"));
        }

        let Some(nginx) = &nginx else { continue };
        let hosts = host_names(&format!(
            "{}\n{}",
            String::from_utf8_lossy(&source.text),
            String::from_utf8_lossy(&rewrite.new_text)
        ));
        match nginx_check(nginx, &source.text, &hosts) {
            Err(message) => {
                let reason = message
                    .lines()
                    .find(|l| l.contains("[emerg]"))
                    .map(|l| {
                        let l = l.split("[emerg]").nth(1).unwrap_or(l);
                        // "1234#1234: unknown directive ..." → "unknown directive ..."
                        let l = l.split_once(": ").map_or(l, |(_, rest)| rest);
                        // Keep the kind of problem, not the file-specific detail.
                        l.split(" in /")
                            .next()
                            .unwrap_or(l)
                            .split('"')
                            .next()
                            .unwrap_or(l)
                            .trim()
                            .to_string()
                    })
                    .unwrap_or_else(|| "nginx -t failed".into());
                *skipped.entry(reason).or_default() += 1;
            }
            Ok(()) => match nginx_check(nginx, &rewrite.new_text, &hosts) {
                Ok(()) => accepted += 1,
                Err(message) => broken.push(format!(
                    "{name}: nginx -t accepts the original but not the output:\n{message}"
                )),
            },
        }
    }
    println!(
        "corpus: {rewritten} rewritten, {unchanged} unchanged, {} broken",
        broken.len()
    );
    println!("nginx -t: {accepted} rewritten files accepted before and after");
    for (reason, count) in &skipped {
        println!("  skipped {count}: original fails nginx -t here: {reason}");
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
    // A run in which `nginx -t` accepted no original at all (not root and no
    // user namespaces, a broken wrapper, ...) checked nothing with nginx.
    if nginx.is_some() && rewritten > 0 && accepted == 0 {
        skip(
            "corpus_outputs_are_minimal_and_accepted_by_nginx (nginx -t part)",
            &format!(
                "nginx -t accepted none of the {rewritten} rewritten originals here: {}",
                skipped
                    .iter()
                    .map(|(reason, count)| format!("{count} × {reason}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        );
    }
}
