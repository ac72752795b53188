//! Type coercion of rendered text (docs/katalog.md §5.3). The same functions check static values at
//! validate time and rendered values at reconcile time, so both report the same error.

use serde_json::Value;

use crate::schema::Coerce;

/// Parses `text` as the target type. Empty text means unset (`Ok(None)`).
pub fn coerce(text: &str, target: Coerce) -> Result<Option<Value>, String> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    // at most 64 characters of the value, escaped: it is tenant data in a status message
    let quoted = || ork_template::value::quote(t);
    let v = match target {
        Coerce::None => Value::String(text.to_string()),
        Coerce::Count | Coerce::Positive | Coerce::Percent => {
            let i = parse_int(t).ok_or_else(|| format!("{} is not an integer", quoted()))?;
            let (lo, hi) = match target {
                Coerce::Count => (0, i64::from(i32::MAX)),
                Coerce::Positive => (1, i64::from(i32::MAX)),
                _ => (1, 100),
            };
            if i < lo || i > hi {
                return Err(format!("{} is out of range ({lo}–{hi})", quoted()));
            }
            Value::from(i)
        }
        Coerce::Port => {
            Value::from(port(t).ok_or_else(|| format!("{} is not a port (1–65535)", quoted()))?)
        }
        Coerce::PortOrName => match parse_int(t) {
            Some(_) => {
                Value::from(port(t).ok_or_else(|| format!("{} is not a port (1–65535)", quoted()))?)
            }
            None if is_port_name(t) => Value::String(t.to_string()),
            None => {
                return Err(format!(
                    "{} is not a port number or IANA port name",
                    quoted()
                ));
            }
        },
        Coerce::IntOrPercent => {
            if let Some(p) = t.strip_suffix('%') {
                match parse_int(p) {
                    Some(n) if n >= 0 => Value::String(t.to_string()),
                    _ => return Err(format!("{} is not an integer or percentage", quoted())),
                }
            } else {
                match parse_int(t) {
                    Some(n) if n >= 0 => Value::from(n),
                    _ => return Err(format!("{} is not an integer or percentage", quoted())),
                }
            }
        }
        Coerce::Bool => Value::Bool(
            ork_template::funcs::parse_bool_word(t)
                .ok_or_else(|| format!("{} is not a boolean", quoted()))?,
        ),
        Coerce::Quantity => {
            if !is_quantity(t) {
                return Err(format!("{} is not a Kubernetes quantity", quoted()));
            }
            Value::String(t.to_string())
        }
        Coerce::Duration => {
            ork_template::duration::parse_duration(t)
                .map_err(|_| format!("{} is not a duration", quoted()))?;
            Value::String(t.to_string())
        }
        Coerce::Enum(values) => match values.iter().find(|v| v.eq_ignore_ascii_case(t)) {
            Some(v) => Value::String((*v).to_string()),
            None => return Err(format!("{} is not one of {}", quoted(), values.join(", "))),
        },
        Coerce::Name => {
            if !is_dns1123_subdomain(t) {
                return Err(format!("{} is not a DNS-1123 name", quoted()));
            }
            Value::String(t.to_string())
        }
        Coerce::Schedule => {
            if !is_schedule(t) {
                return Err(format!(
                    "{} is not a cron schedule (5 fields or @hourly, @daily, …)",
                    quoted()
                ));
            }
            Value::String(t.to_string())
        }
    };
    Ok(Some(v))
}

fn parse_int(t: &str) -> Option<i64> {
    let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    t.parse().ok()
}

fn port(t: &str) -> Option<i64> {
    parse_int(t).filter(|p| (1..=65535).contains(p))
}

/// IANA service name: 1–15 characters, lower-case letters, digits and '-', at least one letter.
pub fn is_port_name(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 15
        && t.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && t.bytes().any(|b| b.is_ascii_lowercase())
        && !t.starts_with('-')
        && !t.ends_with('-')
        && !t.contains("--")
}

pub fn is_dns1123_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

pub fn is_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns1123_label)
}

/// A Kubernetes resource quantity: a decimal number with an optional suffix.
pub fn is_quantity(s: &str) -> bool {
    let s = s.strip_prefix(['+', '-']).unwrap_or(s);
    let num_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, suffix) = s.split_at(num_end);
    if num.is_empty() || num == "." || num.matches('.').count() > 1 {
        return false;
    }
    const SUFFIXES: &[&str] = &[
        "", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "n", "u", "m", "k", "M", "G", "T", "P", "E",
    ];
    if SUFFIXES.contains(&suffix) {
        return true;
    }
    // decimal exponent: 1e3, 1E-2
    let exp = suffix
        .strip_prefix(['e', 'E'])
        .map(|e| e.strip_prefix(['+', '-']).unwrap_or(e));
    exp.is_some_and(|e| !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit()))
}

fn is_schedule(s: &str) -> bool {
    const MACROS: &[&str] = &[
        "@yearly",
        "@annually",
        "@monthly",
        "@weekly",
        "@daily",
        "@midnight",
        "@hourly",
    ];
    if s.starts_with('@') {
        return MACROS.contains(&s) || s.starts_with("@every ");
    }
    let fields: Vec<&str> = s.split_whitespace().collect();
    fields.len() == 5
        && fields.iter().all(|f| {
            f.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"*/,-?".contains(&b))
        })
}

/// Linux capability names (without `CAP_`), plus `ALL`.
pub const CAPABILITIES: &[&str] = &[
    "ALL",
    "AUDIT_CONTROL",
    "AUDIT_READ",
    "AUDIT_WRITE",
    "BLOCK_SUSPEND",
    "BPF",
    "CHECKPOINT_RESTORE",
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "IPC_LOCK",
    "IPC_OWNER",
    "KILL",
    "LEASE",
    "LINUX_IMMUTABLE",
    "MAC_ADMIN",
    "MAC_OVERRIDE",
    "MKNOD",
    "NET_ADMIN",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_RAW",
    "PERFMON",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYSLOG",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_CHROOT",
    "SYS_MODULE",
    "SYS_NICE",
    "SYS_PACCT",
    "SYS_PTRACE",
    "SYS_RAWIO",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "WAKE_ALARM",
];

/// Normalizes a capability name: upper case, `CAP_` removed.
pub fn capability(name: &str) -> String {
    let up = name.trim().to_ascii_uppercase();
    up.strip_prefix("CAP_").unwrap_or(&up).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn coercions() {
        assert_eq!(coerce("2", Coerce::Count), Ok(Some(json!(2))));
        assert!(coerce("two", Coerce::Count).is_err_and(|e| e == "\"two\" is not an integer"));
        assert_eq!(coerce("", Coerce::Count), Ok(None));
        assert!(coerce("70000", Coerce::Port).is_err());
        assert_eq!(coerce("http", Coerce::PortOrName), Ok(Some(json!("http"))));
        assert_eq!(coerce("25%", Coerce::IntOrPercent), Ok(Some(json!("25%"))));
        assert_eq!(
            coerce("udp", Coerce::Enum(&["TCP", "UDP"])),
            Ok(Some(json!("UDP")))
        );
        assert_eq!(coerce("Yes", Coerce::Bool), Ok(Some(json!(true))));
        assert!(coerce("500Mi", Coerce::Quantity).is_ok_and(|v| v.is_some()));
        assert!(coerce("5 Gi", Coerce::Quantity).is_err());
        assert!(coerce("*/5 * * * *", Coerce::Schedule).is_ok());
        assert!(coerce("* * *", Coerce::Schedule).is_err());
    }

    #[test]
    fn messages_quote_at_most_64_characters_escaped() {
        let big = format!("x{}", "y".repeat(1 << 20));
        let e = coerce(&big, Coerce::Count).err().unwrap_or_default();
        assert_eq!(e, format!("\"x{}\"… is not an integer", "y".repeat(63)));
        let e = coerce("a\u{1b}[2Jb", Coerce::Name)
            .err()
            .unwrap_or_default();
        assert_eq!(e, "\"a\\x1b[2Jb\" is not a DNS-1123 name");
    }
}
