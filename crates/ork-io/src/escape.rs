//! Escaping of user-derived text on its way out: to a terminal, and into XML.
//!
//! Names, keys, labels and messages come from files anyone can write. Raw, an ESC sequence in a
//! name can clear the screen, move the cursor over earlier lines or retitle the terminal; a
//! Unicode bidi override can make a line read differently from what it holds; and XML 1.0 has
//! no way at all to carry NUL, ESC or BEL, so one such byte makes a whole JUnit report
//! unparsable. Escapes are visible and unambiguous enough to find the culprit: `\x1b`, `\u{9b}`.

use std::borrow::Cow;
use std::fmt::Write;

/// Characters a terminal must not receive raw: C0 controls, DEL, C1 controls, and the Unicode
/// format characters that reorder or break lines (bidi embeddings, overrides and isolates, the
/// line and paragraph separators).
fn is_unsafe_for_terminal(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

fn push_escape(out: &mut String, c: char) {
    // writing to a String cannot fail
    let _ = match c {
        '\n' => write!(out, "\\n"),
        '\t' => write!(out, "\\t"),
        '\r' => write!(out, "\\r"),
        '\0'..='\x7f' => write!(out, "\\x{:02x}", u32::from(c)),
        _ => write!(out, "\\u{{{:x}}}", u32::from(c)),
    };
}

/// The byte offset of the first character `unsafe_char` flags. The ASCII bytes `safe_ascii`
/// accepts are skipped byte by byte before any character is decoded: output of a large audit is
/// mostly ASCII, and decoding it char by char was 8 % of `ork rbac audit`.
fn first_unsafe(
    s: &str,
    safe_ascii: impl Fn(u8) -> bool,
    unsafe_char: impl Fn(char) -> bool,
) -> Option<usize> {
    let from = s.bytes().position(|b| !safe_ascii(b))?;
    // everything before `from` is ASCII, so `from` is a character boundary
    s[from..].find(unsafe_char).map(|i| from + i)
}

fn printable_ascii(b: u8) -> bool {
    (0x20..0x7f).contains(&b)
}

fn escape_where(s: &str, unsafe_char: impl Fn(char) -> bool) -> Cow<'_, str> {
    let Some(first) = first_unsafe(s, printable_ascii, &unsafe_char) else {
        return Cow::Borrowed(s);
    };
    let mut out = String::with_capacity(s.len() + 8);
    out.push_str(&s[..first]);
    for c in s[first..].chars() {
        if unsafe_char(c) {
            push_escape(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Text safe to print on one terminal line: every control character (newline and tab
/// included), DEL and the line-breaking or reordering Unicode format characters become visible
/// escapes (`\x1b`, `\n`, `\u{202e}`). Borrows when there is nothing to escape.
pub fn escape_control(s: &str) -> Cow<'_, str> {
    escape_where(s, is_unsafe_for_terminal)
}

/// Like [`escape_control`], but keeps `\n` and `\t`: for text whose format is several lines
/// (a message with a hint below it, a report body).
pub fn escape_control_multiline(s: &str) -> Cow<'_, str> {
    escape_where(s, |c| c != '\n' && c != '\t' && is_unsafe_for_terminal(c))
}

/// Characters XML 1.0 cannot represent at all (§2.2 `Char`): C0 controls other than tab, line
/// feed and carriage return, and U+FFFE/U+FFFF. DEL and the C1 controls are allowed but
/// "discouraged", and they and the bidi and line-separator characters are as harmful on a
/// terminal or CI page showing the report: escaped too.
fn is_unsafe_for_xml(c: char) -> bool {
    match c {
        '\t' | '\n' => false,
        '\u{FFFE}' | '\u{FFFF}' => true,
        _ => is_unsafe_for_terminal(c),
    }
}

/// Text safe inside an XML 1.0 element or attribute value: `& < > " '` become entities,
/// carriage returns `&#13;` (a parser would fold them into line feeds), and characters XML
/// cannot carry — NUL, ESC, BEL … — the visible escapes of [`escape_control`].
///
/// One pass over the text: quick-xml's `escape` covers only the five entities and would leave
/// the forbidden characters in place.
pub fn xml_escape(s: &str) -> Cow<'_, str> {
    let special =
        |c: char| matches!(c, '&' | '<' | '>' | '"' | '\'' | '\r') || is_unsafe_for_xml(c);
    let plain = |b: u8| printable_ascii(b) && !matches!(b, b'&' | b'<' | b'>' | b'"' | b'\'');
    let Some(first) = first_unsafe(s, plain, special) else {
        return Cow::Borrowed(s);
    };
    let mut out = String::with_capacity(s.len() + 16);
    out.push_str(&s[..first]);
    for c in s[first..].chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#13;"),
            c if is_unsafe_for_xml(c) => push_escape(&mut out, c),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn terminal_escapes_controls_and_borrows_clean_text() {
        assert!(matches!(
            escape_control("web-1 ✓ ünïcode"),
            Cow::Borrowed(_)
        ));
        assert_eq!(
            escape_control("a\x1b[2Jb\x07c\0d\x7fe\u{9b}f\ng\th\ri"),
            "a\\x1b[2Jb\\x07c\\x00d\\x7fe\\u{9b}f\\ng\\th\\ri"
        );
        assert_eq!(escape_control("admin\u{202e}nimda"), "admin\\u{202e}nimda");
        assert_eq!(escape_control_multiline("a\nb\tc\x1bd"), "a\nb\tc\\x1bd");
    }

    #[test]
    fn xml_escape_yields_well_formed_documents_for_any_text() {
        let nasty =
            "<&>\"' \x00\x01\x07\x08\x0b\x0c\x1b\x1f\x7f\u{85}\u{9b}\u{fffe}\u{ffff}\r\n\t end";
        let doc = format!(
            "<a b=\"{}\" c='{}'>{}</a>",
            xml_escape(nasty),
            xml_escape(nasty),
            xml_escape(nasty)
        );
        let parsed = roxmltree::Document::parse(&doc).unwrap();
        let a = parsed.root_element();
        let text = a.text().unwrap();
        assert!(text.starts_with("<&>\"' \\x00\\x01\\x07"), "{text}");
        assert!(
            text.contains("\\x1b") && text.contains("\\u{fffe}"),
            "{text}"
        );
        assert!(
            text.ends_with("\r\n\t end"),
            "carriage return kept: {text:?}"
        );
        assert_eq!(a.attribute("b"), a.attribute("c"));
        assert!(matches!(xml_escape("plain text"), Cow::Borrowed(_)));
        assert_eq!(xml_escape("a\u{202e}b"), "a\\u{202e}b");
        // the ASCII fast path must still stop at the five specials and at later controls
        assert_eq!(xml_escape("plain & <b>'"), "plain &amp; &lt;b&gt;&apos;");
        assert_eq!(
            escape_control("ascii, then ✓ and \u{9b}"),
            "ascii, then ✓ and \\u{9b}"
        );
    }
}
