//! Edits: a byte range of the original file and the text that replaces it.
//!
//! Edits are built only through the named constructors, planned in full,
//! then applied once in source order. Overlap policy: identical edits land
//! once; insertions at the same offset land in `order`, then in the order
//! they were planned; any other overlap is a bug in a rule and is reported as
//! an internal error, never resolved by dropping an edit silently.

use std::ops::Range;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
/// One edit of a text: replace `range` with `text`.
pub struct Edit {
    /// The bytes replaced (empty for an insertion).
    pub range: Range<usize>,
    /// The replacement as bytes: text copied from the file keeps bytes that
    /// are not UTF-8 exactly as they were.
    pub text: Vec<u8>,
    /// Tie-breaker for insertions at one offset (lower lands first).
    pub order: Slot,
}

/// Where an insertion lands among other insertions at the same offset: the
/// order an operator would write the directives in (the protocol version
/// before the headers, the headers before the redirect pins, and so on), so
/// that a location gaining several directives reads naturally and the output
/// never depends on which rule happened to run first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Slot {
    /// Replacements, deletions, and blocks (`upstream`, `map`, `keepalive`).
    #[default]
    First,
    /// `proxy_http_version`.
    HttpVersion,
    /// `proxy_set_header`.
    Header,
    /// `proxy_redirect` pins.
    Redirect,
    /// `proxy_ssl_name` pins.
    SslName,
    /// Settings copied in with `$proxy_host`/`$proxy_port` written out.
    ProxyValue,
    /// `fastcgi_keep_conn on`, `grpc_ssl_name` pins.
    ProtocolSetting,
    /// The n-th new WebSocket location split off after its original.
    Split(u8),
    /// Pool settings (`keepalive_timeout`, ...) at the end of an existing
    /// `upstream` block: after a `keepalive N;` added there.
    PoolSetting,
}

impl Edit {
    /// Inserts `text` at `at`, in the slot `order` among insertions there.
    pub fn insert(at: usize, text: impl Into<Vec<u8>>, order: Slot) -> Edit {
        Edit {
            range: at..at,
            text: text.into(),
            order,
        }
    }

    /// Replaces `range` with `text`.
    pub fn replace(range: Range<usize>, text: impl Into<Vec<u8>>) -> Edit {
        Edit {
            range,
            text: text.into(),
            order: Slot::First,
        }
    }

    /// Deletes `range`.
    pub fn delete(range: Range<usize>) -> Edit {
        Edit {
            range,
            text: Vec::new(),
            order: Slot::First,
        }
    }

    /// Whether the edit replaces nothing.
    pub fn is_insertion(&self) -> bool {
        self.range.is_empty()
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("internal error: overlapping edits at bytes {first:?} and {second:?}")]
pub struct OverlapError {
    pub first: Range<usize>,
    pub second: Range<usize>,
}

/// Sorts `edits` into the order they apply in and drops exact duplicates.
pub fn normalize(edits: &mut Vec<Edit>) -> Result<(), OverlapError> {
    // A stable sort keeps the planning order among equal keys.
    edits.sort_by_key(|e| (e.range.start, !e.is_insertion(), e.order));
    let mut seen: Vec<Edit> = Vec::with_capacity(edits.len());
    let mut distinct: std::collections::HashSet<Edit> = std::collections::HashSet::new();
    let mut last_replacement: Option<Range<usize>> = None;
    for edit in edits.drain(..) {
        if !distinct.insert(edit.clone()) {
            continue;
        }
        if let Some(last) = &last_replacement {
            let overlaps = if edit.is_insertion() {
                edit.range.start > last.start && edit.range.start < last.end
            } else {
                edit.range.start < last.end
            };
            if overlaps {
                return Err(OverlapError {
                    first: last.clone(),
                    second: edit.range.clone(),
                });
            }
        }
        if !edit.is_insertion() {
            last_replacement = Some(edit.range.clone());
        }
        seen.push(edit);
    }
    *edits = seen;
    Ok(())
}

/// Applies edits (already normalized) to `text`.
pub fn apply(text: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(text.len() + edits.iter().map(|e| e.text.len()).sum::<usize>());
    apply_to(text, 0, edits, &mut out);
    out
}

/// Appends to `out` what `text` becomes with `edits`, where `text` is the
/// part of the file that starts at byte `base` (the edits' ranges are file
/// offsets inside it). The diff applies each changed region this way into
/// one reused buffer.
pub fn apply_to(text: &[u8], base: usize, edits: &[Edit], out: &mut Vec<u8>) {
    let mut cursor = 0;
    for edit in edits {
        let (start, end) = (edit.range.start - base, edit.range.end - base);
        out.extend_from_slice(&text[cursor..start]);
        out.extend_from_slice(&edit.text);
        cursor = end.max(cursor);
    }
    out.extend_from_slice(&text[cursor..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applies_in_order_and_dedupes() {
        let mut edits = vec![
            Edit::insert(1, "b", Slot::Header),
            Edit::insert(1, "a", Slot::HttpVersion),
            Edit::replace(2..3, "X"),
            Edit::replace(2..3, "X"),
        ];
        normalize(&mut edits).unwrap();
        assert_eq!(apply(b"0123", &edits), b"0ab1X3");
    }

    #[test]
    fn overlap_is_an_error() {
        let mut edits = vec![Edit::replace(0..3, "x"), Edit::replace(2..4, "y")];
        assert!(normalize(&mut edits).is_err());
        let mut edits = vec![Edit::replace(0..3, "x"), Edit::insert(1, "y", Slot::First)];
        assert!(normalize(&mut edits).is_err());
    }
}
