//! The check before anything is printed or written: [`verify`] runs the
//! pipeline for a unit and proves the result (re-parse, re-plan, compare),
//! [`behaviour`] observes what nginx does with requests under a model and
//! compares two observations.
//!
//! Architecture invariant: a rewrite leaves this folder only when its
//! output parses, needs no further change and behaves the same but for
//! connection reuse.

pub mod behaviour;
pub mod verify;
