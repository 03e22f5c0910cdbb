//! Text and syntax: the bytes of a file and their lines ([`source`]), the
//! tree-sitter parse ([`parse`]), the queries that find the directives
//! upkeep acts on ([`query`]), edits applied once ([`edit`]) and nginx's
//! word rules: decoding an argument, quoting a value ([`word`]).
//!
//! Architecture invariant: nothing here knows nginx's semantics or any
//! other folder of the crate.

pub mod edit;
pub mod parse;
pub mod query;
pub mod source;
pub mod splice;
pub mod word;
