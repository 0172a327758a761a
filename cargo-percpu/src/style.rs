//! Colour for people: the text reports mark passes, failures and changes
//! with [`anstyle`] styles, and [`finish`] strips them again unless the
//! output wants colour.
//!
//! Whether it does is [`anstream`]'s decision ([`colour_wanted`]): colour
//! when stdout is a terminal, none when it is not, when `NO_COLOR` is set, or
//! when `TERM` is `dumb`; `CLICOLOR_FORCE` forces it. The text is the same
//! either way, byte for byte, once the styles are stripped.

use anstyle::{AnsiColor, Style};

/// A passed check, a budget kept.
pub const OK: Style = AnsiColor::Green.on_default();
/// A failed check, a broken budget.
pub const FAIL: Style = AnsiColor::Red.on_default().bold();
/// A section heading such as `variables (3)`.
pub const HEADING: Style = Style::new().bold();
/// Something a diff adds or that grew.
pub const ADDED: Style = AnsiColor::Green.on_default();
/// Something a diff removes or that shrank.
pub const REMOVED: Style = AnsiColor::Red.on_default();
/// A remark that is not a result, such as "inferred".
pub const NOTE: Style = Style::new().dimmed();

/// `text` wrapped in `style`'s escape codes.
pub fn paint(style: Style, text: impl std::fmt::Display) -> String {
    format!("{style}{text}{style:#}")
}

/// The styled `text` as it should be written: unchanged when `colour`,
/// without any escape code otherwise.
pub fn finish(text: &str, colour: bool) -> String {
    if colour {
        text.to_string()
    } else {
        anstream::adapter::strip_str(text).to_string()
    }
}

/// Whether the process's stdout wants colour (see the module docs).
pub fn colour_wanted() -> bool {
    !matches!(
        anstream::AutoStream::choice(&std::io::stdout()),
        anstream::ColorChoice::Never
    )
}
