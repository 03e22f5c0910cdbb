//! `upkeep explain FILE:LINE [FLAGS]`: what upkeep does at one place and
//! why. The words after `explain` are a run's command line with the place
//! as its one PATH, parsed as the run parses it (upkeep.toml first, typed
//! flags over it); the run is the one `upkeep FILE` makes (same units,
//! includes, checks), and only its report is read differently
//! (`output::explain`). Nothing is written.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::Path;

use crate::cli::{Args, Colors, Config, Mode};
use crate::output::explain::{Explain, Place};
use crate::syntax::source::Source;
use crate::vocab::ExitStatus;

/// Runs `upkeep explain` with `words` (what followed `explain`).
pub(crate) fn explain(
    words: &[OsString],
    cwd: &Path,
    stdin: &mut dyn Read,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> ExitStatus {
    match prepare(words, cwd) {
        Ok((config, place)) => {
            let emitter = Box::new(Explain::new(&config, &place, stdout, stderr));
            match crate::run::run_with(&config, stdin, emitter, &mut false) {
                Ok(status) => status,
                Err(e) => failed(stderr, &e.to_string()),
            }
        }
        Err(message) => failed(stderr, &message),
    }
}

fn failed(stderr: &mut dyn Write, message: &str) -> ExitStatus {
    let _ = writeln!(stderr, "error: {message}");
    ExitStatus::Error
}

/// The run (the place's FILE as its one PATH) and the place, or what to
/// say after `error: `.
fn prepare(words: &[OsString], cwd: &Path) -> Result<(Config, Place), String> {
    // clap takes `-:3` for a flag; said here as what it means.
    if words.iter().any(|w| w.to_string_lossy().starts_with("-:")) {
        return Err(split_place("-:1").unwrap_err());
    }
    let mut argv: Vec<OsString> = vec!["upkeep".into()];
    argv.extend(words.iter().cloned());
    // The typed words alone first: upkeep.toml's `paths` must not stand in
    // for a missing place.
    let typed = <Args as clap::Parser>::try_parse_from(&argv).unwrap_or_else(|e| e.exit());
    if let Some(tool) = &typed.tool {
        // `upkeep explain rule`: the word is a subcommand's name, not a place.
        let word = words
            .iter()
            .find(|w| !w.to_string_lossy().starts_with('-'))
            .map(|w| w.to_string_lossy().into_owned())
            .unwrap_or_else(|| format!("{tool:?}"));
        return Err(format!(
            "`{word}` is not a place but a subcommand's name: give FILE:LINE (a file named {word}: `upkeep explain {word}:12`)"
        ));
    }
    let spot = match typed.paths.as_slice() {
        [one] => one.clone(),
        [] => {
            return Err(
                "explain needs a place: FILE:LINE (e.g. `upkeep explain site.conf:12`)".into(),
            )
        }
        many => {
            return Err(format!(
                "explain takes one FILE:LINE, not {} ({}): explain one place at a time",
                many.len(),
                many.join(", ")
            ))
        }
    };
    for (given, flag) in [
        (typed.write, "--write"),
        (typed.recover.is_some(), "--recover"),
        (typed.output_file.is_some(), "-o/--output-file"),
        (typed.stdin_filename.is_some(), "--stdin-filename"),
    ] {
        if given {
            return Err(format!(
                "{flag}: explain says what a run would do at one place and writes nothing; leave {flag} out"
            ));
        }
    }
    if typed.format != crate::cli::Format::Text {
        return Err(
            "--format: explain prints text for one place; the whole report in another format is `upkeep --format FORMAT FILE`"
                .into(),
        );
    }
    let (file, line) = split_place(&spot)?;
    let mut args = Args::parse_with_settings(argv, cwd)?;
    args.paths = vec![file.clone()];
    let mut config = args.into_config(Colors::default());
    // The plan is the same in every mode; explain never writes.
    config.mode = Mode::Diff;
    let real = crate::model::paths::real_path(Path::new(&file), &config.paths.maps)
        .map_err(|e| format!("{file}: {}", crate::model::files::describe_io(&e)))?;
    let (text, _) = crate::model::files::read_regular(&real)
        .map_err(|e| format!("{file}: {}", e.describe()))?;
    if crate::model::dump::is_dump(&text) {
        return Err(format!(
            "{file}: an `nginx -T` dump; explain a line of one of the files it lists (`upkeep explain PATH:LINE {file}` is not supported: name the file itself)"
        ));
    }
    let source = Source::new(crate::model::paths::shown_path(Path::new(&file)), text);
    let lines = source.line_count();
    if line > lines {
        return Err(format!(
            "{file}:{line}: past the end of the file: {file} has {lines} line{}",
            if lines == 1 { "" } else { "s" }
        ));
    }
    // A file that does not parse gets the run's own error, with its place.
    let tree = crate::syntax::parse::parse(&source).ok();
    Ok((config, Place { source, tree, line }))
}

/// The error for a word that is not FILE:LINE.
fn no_place(word: &str) -> String {
    format!("`{word}` is not a place: give FILE:LINE (e.g. `upkeep explain {word}:12`)")
}

/// `FILE:LINE` as the file and the 1-based line (the last colon splits:
/// a file name may hold colons).
fn split_place(spot: &str) -> Result<(String, usize), String> {
    let Some((file, line)) = spot.rsplit_once(':') else {
        return Err(no_place(spot));
    };
    if file.is_empty() {
        return Err(format!("`{spot}`: no FILE before the colon (FILE:LINE)"));
    }
    if file == "-" {
        return Err(
            "explain reads a file, not standard input: save the config to a file and give FILE:LINE"
                .into(),
        );
    }
    match line.parse::<usize>() {
        Ok(0) => Err(format!("{file}:0: lines count from 1")),
        Ok(n) => Ok((file.to_string(), n)),
        Err(_) => Err(format!(
            "`{spot}`: `{line}` is not a line number (FILE:LINE, lines count from 1)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every malformed place is refused with what is wrong; a file name
    /// with colons splits at the last one.
    #[test]
    fn places_are_file_colon_line() {
        assert_eq!(split_place("a.conf:12").unwrap(), ("a.conf".into(), 12));
        assert_eq!(split_place("a:b.conf:3").unwrap(), ("a:b.conf".into(), 3));
        assert!(split_place("a.conf")
            .unwrap_err()
            .contains("give FILE:LINE"));
        assert!(split_place("a.conf:0")
            .unwrap_err()
            .contains("lines count from 1"));
        assert!(split_place("a.conf:x")
            .unwrap_err()
            .contains("`x` is not a line number"));
        assert!(split_place("a.conf:")
            .unwrap_err()
            .contains("`` is not a line number"));
        assert!(split_place(":4").unwrap_err().contains("no FILE"));
        assert!(split_place("-:4")
            .unwrap_err()
            .contains("not standard input"));
    }
}
