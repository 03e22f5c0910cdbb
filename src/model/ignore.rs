//! How upkeep reads `# upkeep:ignore`: the one spelling that leaves a
//! directive alone, and the near misses that look like it but do not.
//!
//! A near miss is silent otherwise: the operator believes a directive is
//! left alone and upkeep rewrites it. So every comment that is close to
//! the marker (another case, a space or a dash inside it, a typo in either
//! word) and every real marker that marks nothing (a blank line or a
//! comment between it and the directive, nothing below it, after a
//! block's `}`) becomes a warning at the comment that says what to write.
//! Prose that mentions upkeep (`# upkeep ignores stream blocks`, `# see
//! upkeep:ignore`) is no near miss: the comment must start with words
//! close to both `upkeep` and `ignore`, and a plain space between them
//! counts only before `ignore` itself.

/// The comment that tells upkeep to leave a directive alone.
pub(crate) const IGNORE_COMMENT: &str = "# upkeep:ignore";

/// What one comment (its text from `#` to the end of its line) is to
/// upkeep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Marker {
    /// `# upkeep:ignore`, with the reason that follows it, if any.
    Exact(Option<String>),
    /// Close to the marker but not it: the head of the comment as written
    /// (`# upkeep: ignore`, `#UPKEEP-IGNORE`).
    NearMiss(String),
    /// Any other comment.
    Plain,
}

/// Reads one comment. Only the exact spelling, followed by the end of the
/// comment or whitespace, is a marker; a trailing CR (a CRLF file) is not
/// part of the comment's words.
pub(crate) fn read_marker(comment: &str) -> Marker {
    let comment = comment.trim_end_matches('\r');
    if let Some(rest) = comment.strip_prefix(IGNORE_COMMENT) {
        if rest.is_empty() || rest.starts_with(char::is_whitespace) {
            let reason = rest.trim();
            return Marker::Exact((!reason.is_empty()).then(|| reason.to_string()));
        }
    }
    match near_miss_head(comment) {
        Some(head) => Marker::NearMiss(head.to_string()),
        None => Marker::Plain,
    }
}

/// The head of a comment that is close to `# upkeep:ignore`, up to the end
/// of its second word; `None` for any other comment.
fn near_miss_head(comment: &str) -> Option<&str> {
    let body = comment.trim_start_matches('#');
    let body = body.trim_start_matches([' ', '\t']);
    let first_end = body
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(body.len());
    let first = &body[..first_end];
    let lower = first.to_ascii_lowercase();
    let head = |len: usize| {
        // To the end of what is written without a space: the whole
        // `upkeep:ignore:reason`, not a head that reads as the marker.
        let from = comment.len() - body.len() + len;
        let end = comment[from..]
            .find(char::is_whitespace)
            .map_or(comment.len(), |e| from + e);
        &comment[..end]
    };
    // `# upkeepignore`, `# UpkeepIgnore`: the two words run together.
    if let Some(joined) = lower.strip_prefix("upkeep") {
        if !joined.is_empty() {
            return within_one_edit(joined, "ignore").then(|| head(first_end));
        }
    }
    if first.len() < 5 || !within_one_edit(&lower, "upkeep") {
        return None;
    }
    let after_first = &body[first_end..];
    let sep_len = after_first
        .find(|c: char| !matches!(c, ' ' | '\t' | ':' | '-' | '_' | '=' | '.'))
        .unwrap_or(after_first.len());
    let sep = &after_first[..sep_len];
    let after_sep = &after_first[sep_len..];
    let second_end = after_sep
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(after_sep.len());
    let second = after_sep[..second_end].to_ascii_lowercase();
    if second.is_empty() {
        return None;
    }
    let close = if sep == ":" {
        // `upkeep:WORD` is directive syntax, never prose: `upkeep:disable`
        // and `upkeep:skip` are attempts at the marker too.
        true
    } else if sep.chars().all(|c| c == ' ' || c == '\t') {
        // Words apart as in prose: only `ignore` itself (`# upkeep ignore
        // this`), not `# upkeep ignores stream blocks`.
        second == "ignore"
    } else {
        within_one_edit(&second, "ignore")
    };
    if !close {
        return None;
    }
    Some(head(first_end + sep_len + second_end))
}

/// Whether `a` becomes `b` with at most one insertion, deletion,
/// substitution or swap of two neighbouring letters (`ingore`).
fn within_one_edit(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a == b {
        return true;
    }
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let (ra, rb) = (&a[prefix..], &b[prefix..]);
    match ra.len() as isize - rb.len() as isize {
        0 => {
            ra[1..] == rb[1..]
                || (ra.len() >= 2 && ra[0] == rb[1] && ra[1] == rb[0] && ra[2..] == rb[2..])
        }
        1 => ra[1..] == *rb,
        -1 => *ra == rb[1..],
        _ => false,
    }
}

/// The warning for a near miss.
pub(crate) fn near_miss_message(head: &str) -> String {
    format!(
        "`{head}` is not an ignore comment, so upkeep reads it as a plain comment: write `{IGNORE_COMMENT}` (exactly so) on the line directly above the directive to leave it alone, or after the directive on its line"
    )
}

/// Why a real `# upkeep:ignore` marks nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Miss {
    /// Blank lines between it and this directive (its head as written).
    BlankLine(String),
    /// Another comment line between it and this directive.
    CommentBetween(String),
    /// No directive follows it in its block or file.
    NothingBelow,
    /// After the `}` of a block that opened on an earlier line.
    AfterBlock(String),
}

/// The warning for a marker that marks nothing.
pub(crate) fn miss_message(miss: &Miss) -> String {
    let head = IGNORE_COMMENT;
    match miss {
        Miss::BlankLine(dir) => format!(
            "`{head}` marks nothing: a blank line separates it from `{dir}`, so upkeep changes that as usual; remove the blank line to leave it alone"
        ),
        Miss::CommentBetween(dir) => format!(
            "`{head}` marks nothing: another comment line separates it from `{dir}`; write `{head}` on the line directly above the directive (a reason goes after it on the same line)"
        ),
        Miss::NothingBelow => format!(
            "`{head}` marks nothing: no directive follows it in this block or file; write it on the line directly above the directive it is meant to leave alone"
        ),
        Miss::AfterBlock(dir) => format!(
            "`{head}` after a block's closing `}}` marks nothing: write it on the line directly above `{dir}`, or after its `{{`"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn near(comment: &str) -> Option<String> {
        match read_marker(comment) {
            Marker::NearMiss(head) => Some(head),
            _ => None,
        }
    }

    #[test]
    fn the_exact_marker_and_its_reason() {
        assert_eq!(read_marker("# upkeep:ignore"), Marker::Exact(None));
        assert_eq!(read_marker("# upkeep:ignore\r"), Marker::Exact(None));
        assert_eq!(
            read_marker("# upkeep:ignore  pinned by the vendor "),
            Marker::Exact(Some("pinned by the vendor".into()))
        );
        assert_eq!(
            read_marker("# upkeep:ignore\tx"),
            Marker::Exact(Some("x".into()))
        );
    }

    #[test]
    fn near_misses_name_what_was_written() {
        for (comment, head) in [
            ("# upkeep: ignore", "# upkeep: ignore"),
            ("# UPKEEP:IGNORE", "# UPKEEP:IGNORE"),
            ("# Upkeep:Ignore the vendor", "# Upkeep:Ignore"),
            ("#upkeep:ignore", "#upkeep:ignore"),
            ("#upkeep-ignore", "#upkeep-ignore"),
            ("# upkeep_ignore", "# upkeep_ignore"),
            ("# upkeep ignore this one", "# upkeep ignore"),
            ("# upkeep ignore", "# upkeep ignore"),
            ("## upkeep:ignore", "## upkeep:ignore"),
            ("#  upkeep:ignore", "#  upkeep:ignore"),
            ("# upkeep:ignored", "# upkeep:ignored"),
            ("# upkeep:ingore", "# upkeep:ingore"),
            ("# upkep:ignore", "# upkep:ignore"),
            ("# upkeeep:ignore", "# upkeeep:ignore"),
            ("# upkeep:disable", "# upkeep:disable"),
            ("# upkeep:ignore:reason", "# upkeep:ignore:reason"),
            ("# upkeepignore", "# upkeepignore"),
            ("# upkeep-ignored", "# upkeep-ignored"),
            ("# upkeep : ignore", "# upkeep : ignore"),
        ] {
            assert_eq!(near(comment).as_deref(), Some(head), "{comment}");
        }
    }

    #[test]
    fn prose_about_upkeep_is_no_near_miss() {
        for comment in [
            "# upkeep ignores stream blocks",
            "# upkeep would pool this, but the vendor pins connections",
            "# see upkeep:ignore in the README",
            "# run upkeep --check in CI",
            "# upkeep: this block is managed by hand",
            "# upkeep",
            "# upkeep: 1.2",
            "# keep-alive for the upstream",
            "# up keep ignore",
            "# ignore upkeep here",
            "#",
            "# upkeeping the pools",
        ] {
            assert_eq!(read_marker(comment), Marker::Plain, "{comment}");
        }
    }

    #[test]
    fn one_edit() {
        assert!(within_one_edit("upkeep", "upkeep"));
        assert!(within_one_edit("upkep", "upkeep"));
        assert!(within_one_edit("upkeeep", "upkeep"));
        assert!(within_one_edit("upkeap", "upkeep"));
        assert!(within_one_edit("ingore", "ignore"));
        assert!(within_one_edit("ignores", "ignore"));
        assert!(!within_one_edit("ignoring", "ignore"));
        assert!(!within_one_edit("keep", "upkeep"));
        assert!(!within_one_edit("upkeeping", "upkeep"));
    }
}
