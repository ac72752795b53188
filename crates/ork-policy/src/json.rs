//! The JSON the decision core reads, in either of two forms behind one handle, [`Json`]:
//!
//! - a `serde_json::Value`, for everything that already holds one (the reconciler, `scan`,
//!   `gate check`, `simulate`, `template`);
//! - a [`Tape`]: the Gateway's request object decoded **by serde_json's own parser** into one
//!   flat vector of entries whose strings borrow from the request body. Building a `Value`
//!   costs a map and a string allocation per JSON object and per string, then as many frees;
//!   that was a fifth of the Gateway's CPU (BENCHMARKS.md, "Gateway webhook load"). A tape
//!   is one vector.
//!
//! There is one parser and one implementation of every read: the tape is filled by serde_json's
//! `Deserializer` (the same tokenizer, escapes, number forms and recursion limit a `Value` gets)
//! and every check reads through [`Json`]. What differs is only storage, and the tests hold the
//! two forms to the same answers. One difference is by choice: a tape refuses an object with a
//! duplicate key (a `Value` keeps the last), so a request never means two things to two readers;
//! the Gateway answers such a body as undecodable.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// A JSON document decoded into one flat vector: each array or object entry is followed by its
/// members (for an object, each key then its value's subtree) and records where its subtree
/// ends, so a lookup skips a member's subtree in one step.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tape<'de> {
    entries: Vec<Entry<'de>>,
}

#[derive(Debug, Clone, PartialEq)]
enum Entry<'de> {
    Null,
    Bool(bool),
    Number(Number),
    Str(Cow<'de, str>),
    /// `len` elements; `end` is the index just past the last entry of the subtree
    Array {
        len: u32,
        end: u32,
    },
    /// `len` members, each a `Str` key followed by its value's subtree
    Object {
        len: u32,
        end: u32,
    },
}

impl<'de> Tape<'de> {
    /// Decodes `text` with serde_json. Borrows the strings that carry no escape.
    pub fn parse(text: &'de str) -> Result<Tape<'de>, serde_json::Error> {
        let mut de = serde_json::Deserializer::from_str(text);
        let tape = <Tape as de::Deserialize>::deserialize(&mut de)?;
        de.end()?;
        Ok(tape)
    }

    /// The document's root; `None` only for a tape that was never filled (`Tape::default()`).
    pub fn root(&self) -> Option<Json<'_>> {
        (!self.entries.is_empty()).then_some(Json::Tape(Node {
            entries: &self.entries,
            at: 0,
        }))
    }
}

/// Borrows from any input that outlives the tape (what `#[serde(borrow)]` asks of a field).
impl<'d: 'de, 'de> de::Deserialize<'d> for Tape<'de> {
    fn deserialize<D: de::Deserializer<'d>>(d: D) -> Result<Self, D::Error> {
        let mut entries = Vec::new();
        Builder(&mut entries).deserialize(d)?;
        Ok(Tape { entries })
    }
}

/// Appends one value's entries to the tape.
struct Builder<'t, 'de>(&'t mut Vec<Entry<'de>>);

impl<'d: 'de, 'de> DeserializeSeed<'d> for Builder<'_, 'de> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'d>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

/// A tape index or count that does not fit `u32`: a body of over 4 GiB, which the Gateway's
/// body limit refuses long before.
fn index<E: de::Error>(n: usize) -> Result<u32, E> {
    u32::try_from(n).map_err(|_| E::custom("JSON document too large"))
}

impl<'d: 'de, 'de> Visitor<'d> for Builder<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<(), E> {
        self.0.push(Entry::Bool(v));
        Ok(())
    }
    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        self.0.push(Entry::Number(v.into()));
        Ok(())
    }
    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        self.0.push(Entry::Number(v.into()));
        Ok(())
    }
    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        // as serde_json's own `Value` does: a float JSON cannot carry becomes null
        self.0
            .push(Number::from_f64(v).map_or(Entry::Null, Entry::Number));
        Ok(())
    }
    fn visit_borrowed_str<E>(self, v: &'d str) -> Result<(), E> {
        self.0.push(Entry::Str(Cow::Borrowed(v)));
        Ok(())
    }
    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        self.0.push(Entry::Str(Cow::Owned(v.to_string())));
        Ok(())
    }
    fn visit_string<E>(self, v: String) -> Result<(), E> {
        self.0.push(Entry::Str(Cow::Owned(v)));
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        self.0.push(Entry::Null);
        Ok(())
    }
    fn visit_none<E>(self) -> Result<(), E> {
        self.0.push(Entry::Null);
        Ok(())
    }
    fn visit_some<D: de::Deserializer<'d>>(self, d: D) -> Result<(), D::Error> {
        self.deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'d>>(self, mut seq: A) -> Result<(), A::Error> {
        let start = self.0.len();
        self.0.push(Entry::Array { len: 0, end: 0 });
        let mut len = 0usize;
        while seq.next_element_seed(Builder(self.0))?.is_some() {
            len += 1;
        }
        let end = index(self.0.len())?;
        self.0[start] = Entry::Array {
            len: index(len)?,
            end,
        };
        Ok(())
    }
    fn visit_map<A: MapAccess<'d>>(self, mut map: A) -> Result<(), A::Error> {
        let start = self.0.len();
        self.0.push(Entry::Object { len: 0, end: 0 });
        let mut len = 0usize;
        while let Some(key) = map.next_key_seed(Key::<'de>(std::marker::PhantomData))? {
            self.0.push(Entry::Str(key));
            map.next_value_seed(Builder(self.0))?;
            len += 1;
        }
        let end = index(self.0.len())?;
        self.0[start] = Entry::Object {
            len: index(len)?,
            end,
        };
        let object = Node {
            entries: self.0,
            at: start,
        };
        match duplicate_key(object) {
            Some(key) => Err(de::Error::custom(format_args!("duplicate key {key:?}"))),
            None => Ok(()),
        }
    }
}

/// A key that an object holds twice. Pairwise for the small objects of real manifests (no
/// allocation); sorted for large ones, so a hostile object of many keys costs n log n.
fn duplicate_key<'a>(object: Node<'a>) -> Option<&'a str> {
    let members = object.members()?;
    if Json::Tape(object).len() <= 16 {
        let mut rest = members;
        while let Some((key, _)) = rest.next() {
            if rest.clone().any(|(k, _)| k == key) {
                return Some(key);
            }
        }
        return None;
    }
    let mut keys: Vec<&str> = members.map(|(k, _)| k).collect();
    keys.sort_unstable();
    keys.windows(2).find(|w| w[0] == w[1]).map(|w| w[0])
}

/// An object key, borrowed when it carries no escape.
struct Key<'de>(std::marker::PhantomData<&'de ()>);

impl<'d: 'de, 'de> DeserializeSeed<'d> for Key<'de> {
    type Value = Cow<'de, str>;
    fn deserialize<D: de::Deserializer<'d>>(self, d: D) -> Result<Cow<'de, str>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'d: 'de, 'de> Visitor<'d> for Key<'de> {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_borrowed_str<E>(self, v: &'d str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

/// One entry of a tape and its subtree.
#[derive(Clone, Copy)]
pub struct Node<'a> {
    entries: &'a [Entry<'a>],
    at: usize,
}

impl<'a> Node<'a> {
    fn entry(self) -> &'a Entry<'a> {
        &self.entries[self.at]
    }

    /// The index just past this node's subtree.
    fn end(self) -> usize {
        match self.entry() {
            Entry::Array { end, .. } | Entry::Object { end, .. } => *end as usize,
            _ => self.at + 1,
        }
    }

    fn child(self, at: usize) -> Node<'a> {
        Node {
            entries: self.entries,
            at,
        }
    }

    /// The members, when this is an object.
    fn members(self) -> Option<Members<'a>> {
        match self.entry() {
            Entry::Object { end, .. } => Some(Members {
                next: self.at + 1,
                end: *end as usize,
                node: self,
            }),
            _ => None,
        }
    }

    /// The elements, when this is an array.
    fn elements(self) -> Option<Elements<'a>> {
        match self.entry() {
            Entry::Array { end, .. } => Some(Elements {
                next: self.at + 1,
                end: *end as usize,
                node: self,
            }),
            _ => None,
        }
    }

    fn key(self) -> &'a str {
        match self.entry() {
            Entry::Str(s) => s,
            // the builder writes a Str before every member value
            _ => "",
        }
    }
}

/// The members of a tape object, in document order.
#[derive(Clone)]
struct Members<'a> {
    next: usize,
    end: usize,
    node: Node<'a>,
}

impl<'a> Iterator for Members<'a> {
    type Item = (&'a str, Node<'a>);
    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.end {
            return None;
        }
        let key = self.node.child(self.next);
        let value = self.node.child(self.next + 1);
        self.next = value.end();
        Some((key.key(), value))
    }
}

/// The elements of a tape array.
#[derive(Clone)]
struct Elements<'a> {
    next: usize,
    end: usize,
    node: Node<'a>,
}

impl<'a> Iterator for Elements<'a> {
    type Item = Node<'a>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.end {
            return None;
        }
        let element = self.node.child(self.next);
        self.next = element.end();
        Some(element)
    }
}

/// A JSON value the decision core reads: a `serde_json::Value`, or a node of a [`Tape`].
/// Copy, and as cheap to pass as a reference.
#[derive(Clone, Copy)]
pub enum Json<'a> {
    Value(&'a Value),
    Tape(Node<'a>),
}

impl<'a> From<&'a Value> for Json<'a> {
    fn from(v: &'a Value) -> Self {
        Json::Value(v)
    }
}

impl fmt::Debug for Json<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.to_value(), f)
    }
}

/// Equal when they hold the same JSON, whatever the form.
impl PartialEq for Json<'_> {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Json::Value(a), Json::Value(b)) => a == b,
            _ => self.to_value() == other.to_value(),
        }
    }
}

impl<'a> Json<'a> {
    /// The member `key` of an object; `None` for a missing key or a value that is no object.
    pub fn get(self, key: &str) -> Option<Json<'a>> {
        match self {
            Json::Value(v) => v.get(key).map(Json::Value),
            Json::Tape(n) => n
                .members()?
                .find(|(k, _)| *k == key)
                .map(|(_, v)| Json::Tape(v)),
        }
    }

    /// Element `i` of an array.
    pub fn index(self, i: usize) -> Option<Json<'a>> {
        self.items().nth(i)
    }

    /// The value at an RFC 6901 JSON pointer, answering exactly as `Value::pointer`.
    pub fn at(self, pointer: &str) -> Option<Json<'a>> {
        if pointer.is_empty() {
            return Some(self);
        }
        let rest = pointer.strip_prefix('/')?;
        let mut v = self;
        for token in rest.split('/') {
            let token: Cow<str> = if token.contains('~') {
                Cow::Owned(token.replace("~1", "/").replace("~0", "~"))
            } else {
                Cow::Borrowed(token)
            };
            v = if v.is_object() {
                v.get(&token)?
            } else if v.is_array() {
                v.index(array_index(&token)?)?
            } else {
                return None;
            };
        }
        Some(v)
    }

    pub fn as_str(self) -> Option<&'a str> {
        match self {
            Json::Value(v) => v.as_str(),
            Json::Tape(n) => match n.entry() {
                Entry::Str(s) => Some(s),
                _ => None,
            },
        }
    }

    pub fn as_bool(self) -> Option<bool> {
        match self {
            Json::Value(v) => v.as_bool(),
            Json::Tape(n) => match n.entry() {
                Entry::Bool(b) => Some(*b),
                _ => None,
            },
        }
    }

    /// An integer that fits `i64`, as `Value::as_i64` reads it.
    pub fn as_i64(self) -> Option<i64> {
        match self {
            Json::Value(v) => v.as_i64(),
            Json::Tape(n) => match n.entry() {
                Entry::Number(x) => x.as_i64(),
                _ => None,
            },
        }
    }

    /// Whether this is the JSON `true` (not a string that says so).
    pub fn is_true(self) -> bool {
        self.as_bool() == Some(true)
    }

    /// Whether this is the JSON `false`.
    pub fn is_false(self) -> bool {
        self.as_bool() == Some(false)
    }

    pub fn is_null(self) -> bool {
        match self {
            Json::Value(v) => v.is_null(),
            Json::Tape(n) => matches!(n.entry(), Entry::Null),
        }
    }

    pub fn is_object(self) -> bool {
        match self {
            Json::Value(v) => v.is_object(),
            Json::Tape(n) => matches!(n.entry(), Entry::Object { .. }),
        }
    }

    pub fn is_array(self) -> bool {
        match self {
            Json::Value(v) => v.is_array(),
            Json::Tape(n) => matches!(n.entry(), Entry::Array { .. }),
        }
    }

    /// The number of elements of an array or members of an object; 0 for anything else.
    pub fn len(self) -> usize {
        match self {
            Json::Value(Value::Array(a)) => a.len(),
            Json::Value(Value::Object(m)) => m.len(),
            Json::Value(_) => 0,
            Json::Tape(n) => match n.entry() {
                Entry::Array { len, .. } | Entry::Object { len, .. } => *len as usize,
                _ => 0,
            },
        }
    }

    /// True for an empty array or object, and for anything that is neither.
    pub fn is_empty(self) -> bool {
        self.len() == 0
    }

    /// The elements of an array; none for anything else.
    pub fn items(self) -> impl Iterator<Item = Json<'a>> + Clone + 'a {
        let (values, tape) = match self {
            Json::Value(v) => (v.as_array().map(|a| a.iter()), None),
            Json::Tape(n) => (None, n.elements()),
        };
        values
            .into_iter()
            .flatten()
            .map(Json::Value)
            .chain(tape.into_iter().flatten().map(Json::Tape))
    }

    /// The members of an object; none for anything else. A `Value` gives them in key order,
    /// a tape in document order: no reader may depend on the order.
    pub fn members(self) -> impl Iterator<Item = (&'a str, Json<'a>)> + Clone + 'a {
        let (values, tape) = match self {
            Json::Value(v) => (v.as_object().map(|m| m.iter()), None),
            Json::Tape(n) => (None, n.members()),
        };
        values
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.as_str(), Json::Value(v)))
            .chain(tape.into_iter().flatten().map(|(k, v)| (k, Json::Tape(v))))
    }

    /// The object's keys (see [`Self::members`] on their order).
    pub fn keys(self) -> impl Iterator<Item = &'a str> + Clone + 'a {
        self.members().map(|(k, _)| k)
    }

    /// This value as a `serde_json::Value`: borrowed when it is one, built from the tape
    /// otherwise (what serde_json would have decoded from the same text).
    pub fn to_value(self) -> Cow<'a, Value> {
        match self {
            Json::Value(v) => Cow::Borrowed(v),
            Json::Tape(n) => Cow::Owned(node_value(n)),
        }
    }
}

fn node_value(n: Node) -> Value {
    match n.entry() {
        Entry::Null => Value::Null,
        Entry::Bool(b) => Value::Bool(*b),
        Entry::Number(x) => Value::Number(x.clone()),
        Entry::Str(s) => Value::String(s.to_string()),
        Entry::Array { .. } => {
            Value::Array(n.elements().into_iter().flatten().map(node_value).collect())
        }
        Entry::Object { .. } => Value::Object(
            n.members()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.to_string(), node_value(v)))
                .collect::<Map<String, Value>>(),
        ),
    }
}

/// An array index as RFC 6901 (and `Value::pointer`) reads it: digits, no leading `+` or zero.
pub(crate) fn array_index(token: &str) -> Option<usize> {
    if token.starts_with('+') || (token.starts_with('0') && token.len() > 1) {
        return None;
    }
    token.parse().ok()
}

#[cfg(test)]
mod tests;
