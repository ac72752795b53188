//! JSON pointers that do not allocate. `serde_json::Value::pointer` unescapes every token with
//! two `str::replace` calls, which made it 5 % of the Gateway's CPU on the pod-security path
//! (BENCHMARKS.md, "Gateway webhook load"). ork's own pointers are literals without escapes;
//! one that does carry `~` goes to `Value::pointer`, so the answer is always the same.

use serde_json::Value;

use crate::json::array_index;

/// [`Value::pointer`] without per-token allocation.
pub trait At {
    fn at(&self, pointer: &str) -> Option<&Value>;
}

impl At for Value {
    fn at(&self, pointer: &str) -> Option<&Value> {
        if pointer.is_empty() {
            return Some(self);
        }
        if pointer.contains('~') {
            return self.pointer(pointer);
        }
        let rest = pointer.strip_prefix('/')?;
        let mut v = self;
        for token in rest.split('/') {
            v = match v {
                Value::Object(m) => m.get(token)?,
                Value::Array(a) => a.get(array_index(token)?)?,
                _ => return None,
            };
        }
        Some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::At;

    #[test]
    fn answers_exactly_as_value_pointer() {
        let v = serde_json::json!({
            "a": {"b": [10, {"c": "x"}], "": 1, "d/e": 2, "f~g": 3},
            "list": [[1, 2], []],
        });
        for p in [
            "",
            "/",
            "/a",
            "/a/b",
            "/a/b/0",
            "/a/b/1/c",
            "/a/b/2",
            "/a/b/01",
            "/a/b/+1",
            "/a/b/-1",
            "/a/",
            "/a/d~1e",
            "/a/f~0g",
            "/a/d/e",
            "/list/0/1",
            "/list/1/0",
            "a",
            "/a/b/1/c/d",
            "/missing",
            "/a/b/18446744073709551616",
        ] {
            assert_eq!(v.at(p), v.pointer(p), "pointer {p:?}");
        }
    }
}
