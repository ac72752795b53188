//! What a message may show of a value (docs/security.md §2.3, docs/katalog.md §6.4).
//!
//! Denials, conditions, events and logs quote values from tenants' objects. A quoted value is
//! cut to 64 characters, its control characters are escaped, and it is withheld entirely when
//! it is bound for a Secret or looks like a credential (the patterns of docs/checks.md §4).

use std::fmt::Write as _;

use crate::checks::credential_kind;

/// Longest part of a value a message shows.
pub const MAX_SHOWN: usize = 64;
/// Shown instead of a value the Katalog renders into a Secret.
pub const WITHHELD_SECRET: &str = "<withheld: bound for a Secret>";
/// Shown instead of a value that looks like a credential.
pub const WITHHELD_CREDENTIAL: &str = "<withheld: looks like a credential>";

/// The value as a message may show it, unquoted: `nginx:1.25`.
pub fn shown(text: &str) -> String {
    if credential_kind("", text).is_some() {
        return WITHHELD_CREDENTIAL.to_string();
    }
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == MAX_SHOWN {
            out.push('…');
            break;
        }
        if c.is_control() {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

/// The value quoted: `"two"`, cut and withheld like [`shown`].
pub fn quoted(text: &str) -> String {
    let s = shown(text);
    if s == WITHHELD_CREDENTIAL {
        s
    } else {
        format!("{s:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_escaped_and_withheld() {
        assert_eq!(shown("nginx:1.25"), "nginx:1.25");
        let long = "x".repeat(1_000_000);
        assert_eq!(shown(&long).chars().count(), MAX_SHOWN + 1);
        assert_eq!(shown("a\u{1b}[31mb"), "a\\u{1b}[31mb");
        assert_eq!(shown("AKIAIOSFODNN7EXAMPLE"), WITHHELD_CREDENTIAL);
        assert_eq!(quoted("two"), "\"two\"");
    }
}
