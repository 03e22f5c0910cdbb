//! Text and syntax: the bytes of a file and their lines ([`source`]), the
//! tree-sitter parse ([`parse`]), the queries that find the directives
//! upkeep acts on ([`query`]), edits applied once ([`edit`]), the
//! re-parse of an edited file's touched statements only ([`splice`]) and
//! nginx's word rules: decoding an argument, quoting a value ([`word`]).
//!
//! Architecture invariant: nothing here knows nginx's semantics or any
//! other folder of the crate; of the crate's leaf modules it uses only
//! `par` (where work runs).

pub mod edit;
pub mod parse;
pub mod query;
pub mod source;
pub mod splice;
pub mod word;
