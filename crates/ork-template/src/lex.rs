//! Lexer: splits a template into text and action tokens, with byte offsets for error positions.

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Text(String),
    /// `{{` (after trim handling); the offset is the action's start
    Open,
    Close,
    Ident(String),
    /// `.a` — one field segment; `.` alone is `Dot`
    Field(String),
    /// `.b` directly attached to the previous operand (`.a.b`, `$x.b`, `(...).b`)
    Chain(String),
    Dot,
    /// `$name` or `$` (empty name)
    Var(String),
    Str(String),
    Int(i64),
    Float(f64),
    Char(char),
    LParen,
    RParen,
    Pipe,
    Declare,
    Assign,
    Comma,
}

#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub tok: Tok,
    pub pos: usize,
}

#[derive(Debug)]
pub(crate) struct LexError {
    pub pos: usize,
    pub message: String,
}

pub(crate) fn lex(src: &str) -> Result<Vec<Token>, LexError> {
    let mut out = Vec::new();
    let b = src.as_bytes();
    let mut i = 0;
    let mut trim_next = false;
    while i < b.len() {
        // text up to the next "{{"
        let next = src[i..].find("{{").map(|p| p + i).unwrap_or(b.len());
        let mut text = &src[i..next];
        if trim_next {
            text = text.trim_start_matches(is_space);
            trim_next = false;
        }
        let open_trim = next + 3 < b.len() + 1
            && src[next..].starts_with("{{-")
            && b.get(next + 3).is_some_and(|c| is_space(*c as char));
        if open_trim {
            text = text.trim_end_matches(is_space);
        }
        if !text.is_empty() {
            out.push(Token {
                tok: Tok::Text(text.to_string()),
                pos: i,
            });
        }
        if next >= b.len() {
            break;
        }
        let action_start = next;
        i = next + 2;
        if open_trim {
            i += 2;
        }
        // comment
        let rest = src[i..].trim_start_matches(is_space);
        if rest.starts_with("/*") {
            let cstart = src.len() - rest.len();
            let Some(end) = src[cstart + 2..].find("*/") else {
                return Err(LexError {
                    pos: action_start,
                    message: "unclosed comment".into(),
                });
            };
            let mut j = cstart + 2 + end + 2;
            let after = &src[j..];
            let trimmed = after.trim_start_matches(is_space);
            let ws = after.len() - trimmed.len();
            if trimmed.starts_with("-}}") && ws > 0 {
                trim_next = true;
                j += ws + 3;
            } else if after.starts_with("}}") {
                j += 2;
            } else {
                return Err(LexError {
                    pos: action_start,
                    message: "comment ends before closing delimiter".into(),
                });
            }
            i = j;
            continue;
        }
        out.push(Token {
            tok: Tok::Open,
            pos: action_start,
        });
        // tokens inside the action
        loop {
            // where the previous token ended: a field starting here is attached to it
            let last_end = i;
            while i < b.len() && is_space(b[i] as char) {
                // " -}}" closes with trimming
                if src[i..].trim_start_matches(is_space).starts_with("-}}") {
                    break;
                }
                i += 1;
            }
            if i >= b.len() {
                return Err(LexError {
                    pos: action_start,
                    message: "unclosed action".into(),
                });
            }
            // decode the real character: a UTF-8 lead byte is not a Latin-1 letter
            let rest = &src[i..];
            let c = rest.chars().next().unwrap_or(' ');
            if is_space(c) && rest.trim_start_matches(is_space).starts_with("-}}") {
                let ws = rest.len() - rest.trim_start_matches(is_space).len();
                out.push(Token {
                    tok: Tok::Close,
                    pos: i,
                });
                i += ws + 3;
                trim_next = true;
                break;
            }
            if rest.starts_with("}}") {
                out.push(Token {
                    tok: Tok::Close,
                    pos: i,
                });
                i += 2;
                break;
            }
            let pos = i;
            match c {
                '(' => {
                    out.push(Token {
                        tok: Tok::LParen,
                        pos,
                    });
                    i += 1;
                }
                ')' => {
                    out.push(Token {
                        tok: Tok::RParen,
                        pos,
                    });
                    i += 1;
                }
                '|' => {
                    out.push(Token {
                        tok: Tok::Pipe,
                        pos,
                    });
                    i += 1;
                }
                ',' => {
                    out.push(Token {
                        tok: Tok::Comma,
                        pos,
                    });
                    i += 1;
                }
                '=' => {
                    out.push(Token {
                        tok: Tok::Assign,
                        pos,
                    });
                    i += 1;
                }
                ':' if rest.starts_with(":=") => {
                    out.push(Token {
                        tok: Tok::Declare,
                        pos,
                    });
                    i += 2;
                }
                '"' => {
                    let (s, len) =
                        lex_quoted(&src[i..]).map_err(|m| LexError { pos, message: m })?;
                    out.push(Token {
                        tok: Tok::Str(s),
                        pos,
                    });
                    i += len;
                }
                '`' => {
                    let Some(end) = src[i + 1..].find('`') else {
                        return Err(LexError {
                            pos,
                            message: "unterminated raw string".into(),
                        });
                    };
                    out.push(Token {
                        tok: Tok::Str(src[i + 1..i + 1 + end].to_string()),
                        pos,
                    });
                    i += end + 2;
                }
                '\'' => {
                    let (ch, len) =
                        lex_char(&src[i..]).map_err(|m| LexError { pos, message: m })?;
                    out.push(Token {
                        tok: Tok::Char(ch),
                        pos,
                    });
                    i += len;
                }
                '$' => {
                    let n = ident_len(&src[i + 1..]);
                    out.push(Token {
                        tok: Tok::Var(src[i + 1..i + 1 + n].to_string()),
                        pos,
                    });
                    i += 1 + n;
                }
                '.' => {
                    let n = ident_len(&src[i + 1..]);
                    if n == 0 {
                        if b.get(i + 1).is_some_and(|d| d.is_ascii_digit()) {
                            let (t, len) =
                                lex_number(&src[i..]).map_err(|m| LexError { pos, message: m })?;
                            out.push(Token { tok: t, pos });
                            i += len;
                        } else {
                            out.push(Token { tok: Tok::Dot, pos });
                            i += 1;
                        }
                    } else {
                        let name = src[i + 1..i + 1 + n].to_string();
                        let attached = last_end == i
                            && matches!(
                                out.last().map(|t| &t.tok),
                                Some(Tok::Field(_) | Tok::Chain(_) | Tok::Var(_) | Tok::RParen)
                            );
                        out.push(Token {
                            tok: if attached {
                                Tok::Chain(name)
                            } else {
                                Tok::Field(name)
                            },
                            pos,
                        });
                        i += 1 + n;
                    }
                }
                '-' | '+' | '0'..='9' => {
                    let (t, len) =
                        lex_number(&src[i..]).map_err(|m| LexError { pos, message: m })?;
                    out.push(Token { tok: t, pos });
                    i += len;
                }
                c if c.is_alphabetic() || c == '_' => {
                    let n = ident_len(&src[i..]);
                    if n == 0 {
                        return Err(LexError {
                            pos,
                            message: format!("unexpected {c:?} in action"),
                        });
                    }
                    out.push(Token {
                        tok: Tok::Ident(src[i..i + n].to_string()),
                        pos,
                    });
                    i += n;
                }
                other => {
                    return Err(LexError {
                        pos,
                        message: format!("unexpected {other:?} in action"),
                    });
                }
            }
        }
    }
    Ok(out)
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn ident_len(s: &str) -> usize {
    s.char_indices()
        .find(|(_, c)| !(c.is_alphanumeric() || *c == '_'))
        .map(|(i, _)| i)
        .unwrap_or(s.len())
}

fn lex_number(s: &str) -> Result<(Tok, usize), String> {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
        i += 1;
    }
    if s[i..].starts_with("0x") || s[i..].starts_with("0X") {
        let start = i + 2;
        let mut j = start;
        while j < b.len() && (b[j].is_ascii_hexdigit() || b[j] == b'_') {
            j += 1;
        }
        let digits: String = s[start..j].chars().filter(|c| *c != '_').collect();
        let v = i64::from_str_radix(&digits, 16)
            .map_err(|_| format!("bad number syntax: {:?}", &s[..j]))?;
        let v = if b[0] == b'-' { -v } else { v };
        return Ok((Tok::Int(v), j));
    }
    let mut is_float = false;
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
        i += 1;
    }
    if i < b.len() && b[i] == b'.' && b.get(i + 1).is_some_and(|d| d.is_ascii_digit()) {
        is_float = true;
        i += 1;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        let mut j = i + 1;
        if j < b.len() && (b[j] == b'+' || b[j] == b'-') {
            j += 1;
        }
        if j < b.len() && b[j].is_ascii_digit() {
            is_float = true;
            i = j;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
        }
    }
    let text: String = s[..i].chars().filter(|c| *c != '_').collect();
    if i < b.len() && (b[i].is_ascii_alphanumeric()) {
        let end = i + ident_len(&s[i..]);
        return Err(format!("bad number syntax: {:?}", &s[..end]));
    }
    if text.is_empty() || text == "-" || text == "+" {
        return Err(format!("bad number syntax: {:?}", &s[..i.max(1)]));
    }
    if is_float {
        let f: f64 = text
            .parse()
            .map_err(|_| format!("bad number syntax: {text:?}"))?;
        Ok((Tok::Float(f), i))
    } else {
        let v: i64 = text
            .parse()
            .map_err(|_| format!("number out of range: {text}"))?;
        Ok((Tok::Int(v), i))
    }
}

fn lex_quoted(s: &str) -> Result<(String, usize), String> {
    let mut out = String::new();
    let mut chars = s.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, i + 1)),
            '\n' => return Err("unterminated quoted string".into()),
            '\\' => {
                let Some((_, e)) = chars.next() else { break };
                match e {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    '\\' => out.push('\\'),
                    '"' => out.push('"'),
                    '\'' => out.push('\''),
                    'a' => out.push('\u{7}'),
                    'b' => out.push('\u{8}'),
                    'f' => out.push('\u{c}'),
                    'v' => out.push('\u{b}'),
                    'x' | 'u' | 'U' => {
                        let n = match e {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        let hex: String = (0..n)
                            .filter_map(|_| chars.next().map(|(_, c)| c))
                            .collect();
                        let code = u32::from_str_radix(&hex, 16)
                            .map_err(|_| "invalid escape in string".to_string())?;
                        out.push(char::from_u32(code).ok_or("invalid escape in string")?);
                    }
                    _ => return Err(format!("unknown escape sequence \\{e}")),
                }
            }
            c => out.push(c),
        }
    }
    Err("unterminated quoted string".into())
}

fn lex_char(s: &str) -> Result<(char, usize), String> {
    let mut it = s.char_indices().skip(1);
    let (_, c) = it.next().ok_or("unterminated character constant")?;
    let c = if c == '\\' {
        let (_, e) = it.next().ok_or("unterminated character constant")?;
        match e {
            'n' => '\n',
            't' => '\t',
            '\\' => '\\',
            '\'' => '\'',
            _ => return Err(format!("unknown escape sequence \\{e}")),
        }
    } else {
        c
    };
    match it.next() {
        Some((i, '\'')) => Ok((c, i + 1)),
        _ => Err("unterminated character constant".into()),
    }
}
