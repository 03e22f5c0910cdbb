//! What a run shows and writes: the unified diff ([`diff`]), the report
//! ([`report`]) and its printers ([`emit`]: text, JSON, GitHub, SARIF in
//! [`sarif`]), colours ([`style`]) and the one place that writes files
//! ([`write`]).
//!
//! Architecture invariant: nothing outside `write` writes a file; nothing
//! here plans or checks.

pub mod diff;
pub mod emit;
pub mod explain;
pub mod report;
pub mod sarif;
pub mod style;
pub mod write;
