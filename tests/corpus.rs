//! The real-world corpus (`$UPKEEP_CORPUS`, else `../shared/corpus`, else
//! `/work/shared/corpus`; read in place, never copied): every file nginx
//! accepts parses with no ERROR/MISSING node and runs through the whole
//! pipeline (the output re-parses and a second run changes nothing); every
//! file nginx rejects for syntax is refused with a line and column. When
//! there is no corpus the tests say `skipped:`; under CI they fail.

mod common;

use std::path::PathBuf;

use common::{corpus, corpus_list as list};

#[test]
fn every_file_nginx_accepts_parses_and_every_rejected_file_is_refused() {
    let Some(dir) = corpus("every_file_nginx_accepts_parses_and_every_rejected_file_is_refused")
    else {
        return;
    };
    let ok = list(&dir, "NGINX_OK.txt");
    let bad = list(&dir, "NGINX_BAD.txt");
    let mut failures = Vec::new();
    let mut parsed = 0;
    for path in &ok {
        let source = upkeep::Source::new(path.display().to_string(), std::fs::read(path).unwrap());
        match upkeep::parse(&source) {
            Ok(_) => parsed += 1,
            Err(e) => failures.push(format!("nginx accepts it, upkeep does not:\n{e}")),
        }
    }
    let mut refused = 0;
    for path in &bad {
        let source = upkeep::Source::new(path.display().to_string(), std::fs::read(path).unwrap());
        match upkeep::parse(&source) {
            Err(e) if e.line > 0 && e.column > 0 => refused += 1,
            Err(e) => failures.push(format!(
                "{}: refused without a position: {e}",
                path.display()
            )),
            Ok(_) => failures.push(format!(
                "{}: nginx rejects it, upkeep parsed it",
                path.display()
            )),
        }
    }
    println!(
        "corpus: {parsed} of {} accepted files parse; {refused} of {} rejected files refused",
        ok.len(),
        bad.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_accepted_file_goes_through_the_pipeline_safely() {
    let Some(dir) = corpus("every_accepted_file_goes_through_the_pipeline_safely") else {
        return;
    };
    let options = upkeep::Options {
        keepalive: 32,
        ..Default::default()
    };
    let (mut rewritten, mut unchanged) = (0, 0);
    let mut failures = Vec::new();
    for path in list(&dir, "NGINX_OK.txt") {
        let source = upkeep::Source::new(path.display().to_string(), std::fs::read(&path).unwrap());
        // `process` verifies: the output re-parses and re-plans to nothing.
        match upkeep::process(&source, &options) {
            Ok(r) if r.new_text != source.text => rewritten += 1,
            Ok(_) => unchanged += 1,
            Err(e) => failures.push(e.to_string()),
        }
    }
    println!(
        "corpus pipeline: {rewritten} rewritten, {unchanged} unchanged, {} broken",
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The queries locate every directive upkeep acts on: on every fixture and
/// every corpus file, each `proxy_pass` with one target, `upstream NAME { }`
/// and `map A $B { }` the model read is in its query-built index. The list
/// here is the test's own (the program has none besides `queries/`), so a
/// query that stops matching — a grammar change, a typo in a predicate —
/// fails here on real configs.
#[test]
fn the_queries_find_every_directive_upkeep_acts_on() {
    let mut files: Vec<PathBuf> = Vec::new();
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    // Every case has both (`common::fixtures_with_expected` fails on one
    // without its expected output).
    for (f, _) in common::fixtures_with_expected() {
        files.extend(["input.conf", "expected.conf"].map(|name| fixtures.join(&f.name).join(name)));
    }
    if let Some(dir) = corpus("the_queries_find_every_directive_upkeep_acts_on (corpus part)") {
        files.extend(list(&dir, "NGINX_OK.txt"));
    }
    let (mut passes, mut upstreams, mut maps) = (0, 0, 0);
    for path in &files {
        let source = upkeep::Source::new(path.display().to_string(), std::fs::read(path).unwrap());
        let tree = upkeep::parse_tree(&source.text);
        let model = upkeep::stages::Model::build(&source, &tree);
        for (i, d) in model.dirs.iter().enumerate() {
            let id = upkeep::stages::DirId::new(i);
            let bare = d.name.quote.is_none();
            let list = match d.name.value.as_ref() {
                "proxy_pass" if bare && d.args.len() == 1 => {
                    passes += 1;
                    &model.index.pass
                }
                "upstream" if bare && d.args.len() == 1 && d.block.is_some() => {
                    upstreams += 1;
                    &model.index.upstream
                }
                "map" if bare && d.args.len() == 2 && d.block.is_some() => {
                    maps += 1;
                    &model.index.map
                }
                _ => continue,
            };
            assert!(
                list.contains(&id),
                "{}:{}: `{}` is not in the index",
                path.display(),
                source.line_col(d.range.start).0,
                d.name.value
            );
        }
    }
    println!(
        "queries found {passes} proxy_pass, {upstreams} upstream, {maps} map directives in {} files",
        files.len()
    );
    assert!(
        passes > 0 && upstreams > 0 && maps > 0,
        "the files hold nothing to find"
    );
}
