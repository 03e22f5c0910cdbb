//! upkeep: a codemod that gives nginx reverse proxies pooled, keep-alive
//! upstream connections.
//!
//! The pipeline, one way down the folders (see `docs/architecture.md`):
//! `syntax` (read, parse, edit) → `model` (files, includes, levels,
//! directives, nginx's semantics) → `rules` (one file per rewrite) →
//! `plan` (discover, name, run the rules, map edits to files) → `check`
//! (apply, re-parse, re-plan, compare behaviour) → `output` (diff, report,
//! write) and `run` (the command). `vocab` is the shared vocabulary every
//! stage speaks; `cli` reads flags and `upkeep.toml`; `par` decides when a
//! stage is split between cores.
//!
//! The public API below is what the binary, the tests, the benchmarks and
//! the fuzz target use; the modules are the crate's own.

#![deny(missing_docs)]

pub(crate) mod check;
pub(crate) mod cli;
pub(crate) mod model;
pub(crate) mod output;
pub(crate) mod par;
pub(crate) mod plan;
pub(crate) mod rules;
pub(crate) mod run;
pub mod stages;
pub(crate) mod syntax;
pub(crate) mod vocab;

pub use check::verify::{check_behaviour, fuzz_one, process, Rewrite};
pub use syntax::parse::{parse, parse_tree, SyntaxError, MAX_DEPTH};
pub use syntax::source::Source;
pub use vocab::tuning::{parse_count, parse_count_flag, parse_msec, parse_time_flag, Tuning};
pub use vocab::{ExitStatus, FileError, HostHeaderMode, Options, Place, PlanError};

/// Runs upkeep as the binary does: `argv` (the program's name first), the
/// `upkeep.toml` found from `cwd`, then the run or the tool asked for
/// (completions, the man page, the rules, `explain`). Every error is said on `stderr` as
/// `error: …`; the status is the exit code.
pub fn main_with(
    argv: Vec<std::ffi::OsString>,
    cwd: &std::path::Path,
    stdin: &mut dyn std::io::Read,
    stdout: &mut dyn std::io::Write,
    stderr: &mut dyn std::io::Write,
) -> ExitStatus {
    let failed = |stderr: &mut dyn std::io::Write, e: &dyn std::fmt::Display| {
        let _ = writeln!(stderr, "error: {e}");
        ExitStatus::Error
    };
    let args = match cli::Args::parse_with_settings(argv, cwd) {
        Ok(args) => args,
        Err(e) => return failed(stderr, &e),
    };
    if let Some(cli::Tool::Explain { args: words }) = &args.tool {
        return run::explain::explain(words, cwd, stdin, stdout, stderr);
    }
    if let Some(tool) = &args.tool {
        return match tool
            .print(stdout)
            .and_then(|()| stdout.flush().map_err(|e| e.to_string()))
        {
            Ok(()) => ExitStatus::Success,
            Err(e) => failed(stderr, &e),
        };
    }
    let colors = args.colors();
    let config = args.into_config(colors);
    match run::run(&config, stdin, stdout, stderr) {
        Ok(status) => status,
        Err(e) => failed(stderr, &e),
    }
}

/// Every rule id, in the order reports list them (`upstream-block`,
/// `upstream-keepalive`, …), as the JSON report and SARIF spell them.
pub fn rule_ids() -> impl Iterator<Item = &'static str> {
    rules::RuleId::ALL.iter().map(|r| r.as_str())
}

/// The [`Options`] that upkeep's command line `ARGS` gives (as if a
/// standard-input run: `upkeep ARGS -`), checked together as the binary
/// checks them, or the message the binary would print.
pub fn options_for<I, S>(args: I) -> Result<Options, String>
where
    I: IntoIterator<Item = S>,
    S: Into<std::ffi::OsString> + Clone,
{
    let argv = std::iter::once(std::ffi::OsString::from("upkeep"))
        .chain(args.into_iter().map(Into::into))
        .chain(std::iter::once(std::ffi::OsString::from("-")));
    <cli::Args as clap::Parser>::try_parse_from(argv)
        .map_err(|e| e.to_string())?
        .checked()
        .map(|a| a.into_config(cli::Colors::default()).options)
}
