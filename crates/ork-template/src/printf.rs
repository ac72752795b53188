//! The subset of Go's fmt verbs that templates use: %v %s %d %q %f %e %g %x %X %o %b %t %c %%,
//! with flags `-+ 0#`, width and precision. A missing value prints as "" (never `<no value>`).

use ork_limits::{Exceeded, Limits};
use serde_json::Value;

use crate::funcs::{A, FnError};
use crate::value::{go_float, text_of};

fn text(v: &A) -> String {
    text_of(*v)
}

/// Formats `args` by `format`. The result is refused as soon as it would pass the
/// `template.value-bytes` budget: a format of a few bytes can repeat a large argument many
/// times (`printf "%s%s%s" $x $x $x`).
pub(crate) fn sprintf(format: &str, args: &[A], limits: &Limits) -> Result<String, FnError> {
    let max = usize::try_from(limits.template_value_bytes).unwrap_or(usize::MAX);
    let room = |out: &String, add: usize| {
        if out.len().saturating_add(add) > max {
            Err(FnError::Budget(Exceeded::new(
                "template.value-bytes",
                limits.template_value_bytes,
            )))
        } else {
            Ok(())
        }
    };
    let mut out = String::new();
    let mut chars = format.chars().peekable();
    let mut next_arg = 0;
    while let Some(c) = chars.next() {
        if c != '%' {
            room(&out, c.len_utf8())?;
            out.push(c);
            continue;
        }
        let (mut minus, mut plus, mut zero, mut space, mut sharp) =
            (false, false, false, false, false);
        while let Some(&f) = chars.peek() {
            match f {
                '-' => minus = true,
                '+' => plus = true,
                '0' => zero = true,
                ' ' => space = true,
                '#' => sharp = true,
                _ => break,
            }
            chars.next();
        }
        let mut width = None;
        while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            width = Some(grow(width.unwrap_or(0), d)?);
            chars.next();
        }
        let mut prec = None;
        if chars.peek() == Some(&'.') {
            chars.next();
            let mut p = 0usize;
            while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                p = grow(p, d)?;
                chars.next();
            }
            prec = Some(p);
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(next_arg) else {
            room(&out, 16)?;
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        next_arg += 1;
        let body = match verb {
            'v' | 's' => {
                let t = text(arg);
                match prec {
                    Some(p) if verb == 's' => t.chars().take(p).collect(),
                    _ => t,
                }
            }
            'q' => match arg {
                Some(Value::Number(n)) if n.is_i64() => {
                    let ch = n
                        .as_i64()
                        .and_then(|i| u32::try_from(i).ok())
                        .and_then(char::from_u32)
                        .unwrap_or('\u{fffd}');
                    format!("{ch:?}")
                }
                _ => serde_json::to_string(&text(arg)).unwrap_or_default(),
            },
            't' => match arg {
                Some(Value::Bool(b)) => b.to_string(),
                _ => bad(verb, arg),
            },
            'd' | 'x' | 'X' | 'o' | 'b' | 'c' => match int_of(arg) {
                Some(i) => {
                    let digits = match verb {
                        'd' => i.unsigned_abs().to_string(),
                        'x' => format!("{:x}", i.unsigned_abs()),
                        'X' => format!("{:X}", i.unsigned_abs()),
                        'o' => format!("{:o}", i.unsigned_abs()),
                        'b' => format!("{:b}", i.unsigned_abs()),
                        _ => u32::try_from(i)
                            .ok()
                            .and_then(char::from_u32)
                            .map(String::from)
                            .unwrap_or_default(),
                    };
                    if verb == 'c' {
                        digits
                    } else {
                        let prefix = match (sharp, verb) {
                            (true, 'x') => "0x",
                            (true, 'X') => "0X",
                            (true, 'o') => "0",
                            _ => "",
                        };
                        let sign = if i < 0 {
                            "-"
                        } else if plus {
                            "+"
                        } else if space {
                            " "
                        } else {
                            ""
                        };
                        let digits = match prec {
                            Some(p) if digits.len() < p => {
                                format!("{}{digits}", "0".repeat(p - digits.len()))
                            }
                            _ => digits,
                        };
                        if zero && !minus && prec.is_none() {
                            let w = width.unwrap_or(0);
                            let len = sign.len() + prefix.len() + digits.len();
                            let pad = "0".repeat(w.saturating_sub(len));
                            format!("{sign}{prefix}{pad}{digits}")
                        } else {
                            format!("{sign}{prefix}{digits}")
                        }
                    }
                }
                None => match (verb, arg) {
                    ('x' | 'X', Some(Value::String(s))) => {
                        let h: String = s.bytes().map(|b| format!("{b:02x}")).collect();
                        if verb == 'X' { h.to_uppercase() } else { h }
                    }
                    _ => bad(verb, arg),
                },
            },
            'f' | 'F' | 'e' | 'E' | 'g' | 'G' => match float_of(arg) {
                Some(f) => {
                    let s = match verb {
                        'f' | 'F' => format!("{:.*}", prec.unwrap_or(6), f),
                        'e' | 'E' => {
                            let s = go_exp(f, prec.unwrap_or(6));
                            if verb == 'E' { s.to_uppercase() } else { s }
                        }
                        _ => match prec {
                            None => go_float(f),
                            Some(p) => {
                                let s = format!("{:.*e}", p.saturating_sub(1), f);
                                let v: f64 = s.parse().unwrap_or(f);
                                go_float(v)
                            }
                        },
                    };
                    let s = if plus && f >= 0.0 { format!("+{s}") } else { s };
                    if zero && !minus {
                        let w = width.unwrap_or(0);
                        if s.len() < w {
                            let (sign, rest) = if s.starts_with(['-', '+']) {
                                s.split_at(1)
                            } else {
                                ("", s.as_str())
                            };
                            format!("{sign}{}{rest}", "0".repeat(w - s.len()))
                        } else {
                            s
                        }
                    } else {
                        s
                    }
                }
                None => bad(verb, arg),
            },
            other => format!("%!{other}({})", text(arg)),
        };
        let w = width.unwrap_or(0);
        let len = body.chars().count();
        room(&out, body.len() + w.saturating_sub(len))?;
        if len < w {
            let pad = " ".repeat(w - len);
            if minus {
                out.push_str(&body);
                out.push_str(&pad);
            } else {
                out.push_str(&pad);
                out.push_str(&body);
            }
        } else {
            out.push_str(&body);
        }
    }
    if next_arg < args.len() {
        out.push_str("%!(EXTRA ");
        for (i, extra) in args[next_arg..].iter().enumerate() {
            let t = text(extra);
            room(&out, t.len() + 3)?;
            if i > 0 {
                out.push_str(", ");
            }
            out.push_str(&t);
        }
        out.push(')');
    }
    Ok(out)
}

/// Widths and precisions above this are refused: a template must not allocate gigabytes.
const MAX_WIDTH: usize = 4096;

fn grow(n: usize, digit: char) -> Result<usize, FnError> {
    let v = n
        .checked_mul(10)
        .and_then(|x| x.checked_add(digit.to_digit(10).unwrap_or(0) as usize));
    match v {
        Some(v) if v <= MAX_WIDTH => Ok(v),
        _ => Err(format!("printf: width or precision above {MAX_WIDTH}").into()),
    }
}

fn go_exp(f: f64, prec: usize) -> String {
    let s = format!("{:.*e}", prec, f);
    let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
    let e: i32 = e.parse().unwrap_or(0);
    format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
}

fn bad(verb: char, arg: &A) -> String {
    match arg {
        None | Some(Value::Null) => String::new(),
        _ => format!("%!{verb}({})", text(arg)),
    }
}

fn int_of(v: &A) -> Option<i64> {
    match v {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::Bool(_)) | Some(Value::String(_)) => None,
        _ => None,
    }
}

fn float_of(v: &A) -> Option<f64> {
    match v {
        Some(Value::Number(n)) => n.as_f64(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn repeated_arguments_stop_at_the_value_budget() {
        let l = Limits {
            template_value_bytes: 1000,
            ..Limits::default()
        };
        let x = Value::String("x".repeat(400));
        let r = sprintf("%s%s%s", &[Some(&x), Some(&x), Some(&x)], &l);
        assert!(matches!(r, Err(FnError::Budget(e)) if e.budget == "template.value-bytes"));
        assert!(sprintf("%s%s", &[Some(&x), Some(&x)], &l).is_ok());
    }

    #[test]
    fn verbs() {
        let l = Limits::default();
        let s = |f: &str, a: Vec<Option<Value>>| {
            let refs: Vec<A> = a.iter().map(Option::as_ref).collect();
            sprintf(f, &refs, &l).unwrap_or_default()
        };
        assert_eq!(s("%s-%d", vec![Some(json!("a")), Some(json!(3))]), "a-3");
        assert_eq!(
            s(
                "%05d|%-4s|%4s",
                vec![Some(json!(42)), Some(json!("ab")), Some(json!("cd"))]
            ),
            "00042|ab  |  cd"
        );
        assert_eq!(
            s(
                "%.2f %v %q",
                vec![Some(json!(1.23456)), Some(json!(1.5)), Some(json!("x"))]
            ),
            "1.23 1.5 \"x\""
        );
        assert_eq!(s("%s|%v", vec![None, None]), "|");
        assert_eq!(
            s("%x %t %%", vec![Some(json!(255)), Some(json!(true))]),
            "ff true %"
        );
    }
}
