//! A fast path for JSON texts: the events yaml-rust2 would produce for them, without its
//! look-ahead.
//!
//! yaml-rust2 cannot hand out the tokens of a flow collection before it ends: `{[a, b]: c}` is
//! valid YAML, so any `{` or `[` may turn out to be a key once the collection closes, and the
//! scanner keeps every token until then. For a JSON `List` (what `kubectl get -o json` prints)
//! that is every token of the file, about 3 KB per object: a 100,000-item List held 2.9 GB
//! before the first item could be handed out. JSON has no such ambiguity, so a text that is one
//! JSON object or array is tokenised here instead, one token at a time.
//!
//! The fast path is only taken for a text that [`plain_json`] has checked in full first (its
//! grammar, and only what yaml-rust2 reads the same way: no tabs, no lone carriage returns, no
//! surrogate escapes, no control or non-printable characters, no deep nesting). Anything else
//! goes to yaml-rust2, so every error, and every text YAML reads differently, is exactly as
//! before. For a text it takes, the events and their positions are the ones yaml-rust2 gives
//! (tested against it in `parse.rs`).

use yaml_rust2::parser::Event;
use yaml_rust2::scanner::TScalarStyle;

use crate::node::Span;

/// Deeper nesting is left to yaml-rust2, which refuses flow collections past 255 levels with
/// an error of its own.
const MAX_DEPTH: usize = 200;

/// True when `src` is one JSON object or array, surrounded by spaces and line breaks only, that
/// the fast path reads exactly as yaml-rust2 does.
pub(crate) fn plain_json(src: &str) -> bool {
    let mut t = Tokens::new(src);
    if !matches!(
        src.trim_start_matches([' ', '\n']).as_bytes().first(),
        Some(b'{' | b'[')
    ) {
        return false;
    }
    // what may come next: a value, a key (string), `:` , `,` or a closing bracket
    #[derive(PartialEq)]
    enum Want {
        Value,
        ValueOrClose,
        Key,
        KeyOrClose,
        Colon,
        CommaOrClose,
        End,
    }
    let mut stack: Vec<u8> = Vec::new();
    let mut want = Want::Value;
    loop {
        let tok = match t.next_token() {
            Ok(Some((tok, _))) => tok,
            Ok(None) => return want == Want::End,
            Err(()) => return false,
        };
        let value_done = |stack: &Vec<u8>| {
            if stack.is_empty() {
                Want::End
            } else {
                Want::CommaOrClose
            }
        };
        want = match (tok, &want) {
            (Tok::Open(b), Want::Value | Want::ValueOrClose) => {
                stack.push(b);
                if stack.len() > MAX_DEPTH {
                    return false;
                }
                if b == b'{' {
                    Want::KeyOrClose
                } else {
                    Want::ValueOrClose
                }
            }
            (Tok::Close(b), Want::ValueOrClose | Want::KeyOrClose | Want::CommaOrClose) => {
                let open = if b == b'}' { b'{' } else { b'[' };
                if stack.pop() != Some(open) {
                    return false;
                }
                // `[]` may close only where a value may, `{}` only where a key may
                if want == Want::ValueOrClose && open != b'['
                    || want == Want::KeyOrClose && open != b'{'
                {
                    return false;
                }
                value_done(&stack)
            }
            (Tok::Str(_), Want::Key | Want::KeyOrClose) => Want::Colon,
            (Tok::Str(_) | Tok::Plain(_), Want::Value | Want::ValueOrClose) => value_done(&stack),
            (Tok::Colon, Want::Colon) => Want::Value,
            (Tok::Comma, Want::CommaOrClose) => match stack.last() {
                Some(b'{') => Want::Key,
                _ => Want::Value,
            },
            _ => return false,
        };
    }
}

#[derive(Debug, PartialEq)]
enum Tok {
    Open(u8),
    Close(u8),
    Colon,
    Comma,
    /// a string, unescaped
    Str(String),
    /// a number, `true`, `false` or `null`, as written
    Plain(String),
}

/// The tokens of a JSON text with the positions yaml-rust2 gives them: 1-based lines, columns
/// counted in characters from 0 (made 1-based in [`Span`]).
#[derive(Clone)]
struct Tokens<'a> {
    src: &'a str,
    pos: usize,
    line: u32,
    col: u32,
}

impl<'a> Tokens<'a> {
    fn new(src: &'a str) -> Self {
        Tokens {
            src,
            pos: 0,
            line: 1,
            col: 0,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.src.as_bytes().get(self.pos).copied()
    }

    /// The next token and where it starts; `Err` for anything outside the fast path.
    fn next_token(&mut self) -> Result<Option<(Tok, Span)>, ()> {
        loop {
            match self.peek() {
                Some(b' ') => {
                    self.pos += 1;
                    self.col += 1;
                }
                Some(b'\n') => {
                    self.pos += 1;
                    self.line += 1;
                    self.col = 0;
                }
                Some(b'\r') if self.src.as_bytes().get(self.pos + 1) == Some(&b'\n') => {
                    self.pos += 2;
                    self.line += 1;
                    self.col = 0;
                }
                _ => break,
            }
        }
        let span = Span {
            line: self.line,
            col: self.col + 1,
        };
        let Some(b) = self.peek() else {
            return Ok(None);
        };
        let tok = match b {
            b'{' | b'[' => Tok::Open(b),
            b'}' | b']' => Tok::Close(b),
            b':' => Tok::Colon,
            b',' => Tok::Comma,
            b'"' => return self.string().map(|s| Some((Tok::Str(s), span))),
            b'-' | b'0'..=b'9' | b't' | b'f' | b'n' => {
                return self.plain().map(|s| Some((Tok::Plain(s), span)));
            }
            _ => return Err(()),
        };
        self.pos += 1;
        self.col += 1;
        Ok(Some((tok, span)))
    }

    fn plain(&mut self) -> Result<String, ()> {
        let rest = &self.src[self.pos..];
        let len = rest
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'+' | b'.'))
            .count();
        let text = &rest[..len];
        let ok = matches!(text, "true" | "false" | "null") || is_json_number(text);
        if !ok {
            return Err(());
        }
        self.pos += len;
        self.col += u32::try_from(len).map_err(|_| ())?;
        Ok(text.to_string())
    }

    fn string(&mut self) -> Result<String, ()> {
        let mut out = String::new();
        let mut chars = self.src[self.pos + 1..].char_indices();
        let mut width = 1u32;
        loop {
            let (i, c) = chars.next().ok_or(())?;
            width += 1;
            match c {
                '"' => {
                    self.pos += 1 + i + 1;
                    self.col += width;
                    return Ok(out);
                }
                '\\' => {
                    let (_, e) = chars.next().ok_or(())?;
                    width += 1;
                    out.push(match e {
                        '"' => '"',
                        '\\' => '\\',
                        '/' => '/',
                        'b' => '\u{8}',
                        'f' => '\u{c}',
                        'n' => '\n',
                        'r' => '\r',
                        't' => '\t',
                        'u' => {
                            let mut code = 0u32;
                            for _ in 0..4 {
                                let (_, h) = chars.next().ok_or(())?;
                                width += 1;
                                code = code * 16 + h.to_digit(16).ok_or(())?;
                            }
                            // a surrogate (half a pair) is an error in yaml-rust2: its message
                            char::from_u32(code).ok_or(())?
                        }
                        _ => return Err(()),
                    });
                }
                c if printable(c) => out.push(c),
                _ => return Err(()),
            }
        }
    }
}

/// Characters YAML allows as they are (`c-printable`), less a few yaml-rust2 might treat
/// specially: tabs, line breaks, DEL, the C1 controls, the byte-order mark and the line and
/// paragraph separators.
fn printable(c: char) -> bool {
    !matches!(c,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' | '\u{feff}' | '\u{2028}' | '\u{2029}'
        | '\u{fffe}' | '\u{ffff}')
}

/// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
fn is_json_number(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    let digits = |i: &mut usize| {
        let start = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - start
    };
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            digits(&mut i);
        }
        _ => return false,
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// The events of a text [`plain_json`] accepted, as yaml-rust2's parser gives them: one
/// implicit document holding the value.
pub(crate) struct Events<'a> {
    tokens: Tokens<'a>,
    started: bool,
    ended: bool,
}

impl<'a> Events<'a> {
    pub(crate) fn new(src: &'a str) -> Self {
        Events {
            tokens: Tokens::new(src),
            started: false,
            ended: false,
        }
    }

    /// The next event and its position; `None` after `StreamEnd`.
    pub(crate) fn next_event(&mut self) -> Option<(Event, Span)> {
        if !self.started {
            self.started = true;
            let mut peek = self.tokens.clone();
            let span = match peek.next_token() {
                Ok(Some((_, span))) => span,
                _ => Span { line: 1, col: 1 },
            };
            return Some((Event::DocumentStart, span));
        }
        loop {
            match self.tokens.next_token() {
                Ok(Some((tok, span))) => {
                    let ev = match tok {
                        Tok::Open(b'{') => Event::MappingStart(0, None),
                        Tok::Open(_) => Event::SequenceStart(0, None),
                        Tok::Close(b'}') => Event::MappingEnd,
                        Tok::Close(_) => Event::SequenceEnd,
                        Tok::Colon | Tok::Comma => continue,
                        Tok::Str(s) => Event::Scalar(s, TScalarStyle::DoubleQuoted, 0, None),
                        Tok::Plain(s) => Event::Scalar(s, TScalarStyle::Plain, 0, None),
                    };
                    return Some((ev, span));
                }
                // plain_json accepted the text: nothing else can come
                Ok(None) | Err(()) => {
                    if self.ended {
                        return None;
                    }
                    self.ended = true;
                    let span = Span {
                        line: self.tokens.line,
                        col: self.tokens.col + 1,
                    };
                    return Some((Event::DocumentEnd, span));
                }
            }
        }
    }
}
