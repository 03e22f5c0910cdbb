//! The styles of upkeep's output, in one place: the diff's lines and the
//! messages on stderr. Whether they are used at all is decided per stream
//! (`cli::Args::colors`); text written without colors has none of this.

use anstyle::{AnsiColor, Style};

/// `--- a/…` and `+++ b/…`.
pub const DIFF_HEADER: Style = Style::new().bold();
/// `@@ -1,3 +1,4 @@`.
pub const DIFF_HUNK: Style = AnsiColor::Cyan.on_default();
pub const DIFF_REMOVED: Style = AnsiColor::Red.on_default();
pub const DIFF_ADDED: Style = AnsiColor::Green.on_default();

/// `error:`, `warning:`, `note:` in front of a message.
pub const ERROR: Style = AnsiColor::Red.on_default().bold();
pub const WARNING: Style = AnsiColor::Yellow.on_default().bold();
pub const NOTE: Style = AnsiColor::Cyan.on_default().bold();
/// `path:line:col:` in front of a reason or note.
pub const PLACE: Style = Style::new().bold();
/// A rule's id after the place.
pub const RULE: Style = AnsiColor::Magenta.on_default();

/// `text` in `style` when `color`, else as it is.
pub fn paint(color: bool, style: Style, text: &str) -> String {
    if color {
        format!("{style}{text}{style:#}")
    } else {
        text.to_string()
    }
}
