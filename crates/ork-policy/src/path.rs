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

// tested with the tape's pointers against `Value::pointer` (json/tests.rs)
