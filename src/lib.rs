//! upkeep: a codemod that gives nginx reverse proxies pooled, keep-alive
//! upstream connections.
//!
//! The pipeline, one way down the folders (see `docs/architecture.md`):
//! `syntax` (read, parse, edit) → `model` (files, includes, levels,
//! directives, nginx's semantics) → `rules` (one file per rewrite) →
//! `plan` (discover, name, run the rules, map edits to files) → `check`
//! (apply, re-parse, re-plan, compare behaviour) → `output` (diff, report,
//! write) and `run` (the command). `vocab` is the shared vocabulary every
//! stage speaks; `cli` reads flags and `upkeep.toml`.
//!
//! The public API below is what the binary, the tests, the benchmarks and
//! the fuzz target use; the modules are the crate's own.

pub mod check;
pub mod cli;
pub mod model;
pub mod output;
pub mod plan;
pub mod rules;
pub mod run;
pub mod syntax;
pub mod vocab;

pub use check::verify::{check_behaviour, fuzz_one, process, Rewrite};
pub use run::run;
pub use syntax::parse::{parse, parse_tree, SyntaxError, MAX_DEPTH};
pub use syntax::source::Source;
pub use vocab::tuning::{parse_count, parse_count_flag, parse_msec, parse_time_flag, Tuning};
pub use vocab::{ExitStatus, FileError, HostHeaderMode, Options, Place, PlanError};

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
