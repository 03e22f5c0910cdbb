//! What a run shows and writes: the unified diff ([`diff`]), the report
//! ([`report`]) and its printers ([`emit`]: text and JSON; GitHub in
//! [`github`]; SARIF in [`sarif`]; GitLab Code Quality in [`gitlab`]; `upkeep explain`'s in [`explain`]), colours ([`style`]) and the one place
//! that writes files ([`write`], which also appends GitHub's step summary).
//!
//! Architecture invariant: nothing outside `write` writes a file; nothing
//! here plans or checks.

pub mod diff;
pub mod emit;
pub mod emitter;
pub mod explain;
pub mod github;
pub mod gitlab;
pub mod report;
pub mod sarif;
pub mod style;
pub mod write;
