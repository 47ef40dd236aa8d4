//! The one pass over a body: the `type`, and every other top-level field kept as raw
//! JSON. A typed model is then read from the raw fields it names, so that a body is
//! walked once, and the parts a model reads a second time, never the whole of it again.

use std::borrow::Cow;
use std::fmt;

use serde::de::value::MapDeserializer;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, forward_to_deserialize_any};
use serde_json::value::RawValue;

/// A top-level field: its name (borrowed unless it holds escapes) and raw value.
pub type Field<'a> = (Cow<'a, str>, &'a RawValue);

/// A body's type and its other top-level fields, in order.
pub struct Envelope<'a> {
    pub event_type: String,
    pub fields: Vec<Field<'a>>,
}

impl<'a> Envelope<'a> {
    /// The raw value of a top-level field.
    pub fn get(&self, name: &str) -> Option<&'a RawValue> {
        self.fields
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, raw)| *raw)
    }

    /// Reads a model from the top-level fields it declares; the others are not visited.
    pub fn read<T: Deserialize<'a>>(&self) -> Result<T, serde_json::Error> {
        T::deserialize(Fields(&self.fields))
    }
}

/// Fields that identify the event: a second copy is refused rather than guessed at.
const UNIQUE: [&str; 3] = ["created_at", "call_cid", "call"];

impl<'de> Deserialize<'de> for Envelope<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(EnvelopeVisitor)
    }
}

struct EnvelopeVisitor;

impl<'de> Visitor<'de> for EnvelopeVisitor {
    type Value = Envelope<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object with a string `type`")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut event_type = None;
        let mut fields: Vec<Field<'de>> = Vec::with_capacity(16);
        while let Some(Key(key)) = map.next_key()? {
            if key == "type" {
                if event_type.is_some() {
                    return Err(de::Error::duplicate_field("type"));
                }
                event_type = Some(map.next_value::<String>()?);
                continue;
            }
            let raw: &'de RawValue = map.next_value()?;
            if let Some(unique) = UNIQUE.iter().find(|u| **u == key) {
                if fields.iter().any(|(k, _)| k == unique) {
                    return Err(de::Error::duplicate_field(unique));
                }
            }
            fields.push((key, raw));
        }
        let event_type = event_type.ok_or_else(|| de::Error::missing_field("type"))?;
        Ok(Envelope { event_type, fields })
    }
}

/// A field name, borrowed from the body when it has no escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// The captured fields as a map to deserialize a model from. A struct names its fields,
/// and only those are handed over, so unknown fields are not parsed again. Those names
/// are serde's primary ones: a top-level `#[serde(alias)]` would never be handed over.
struct Fields<'s, 'a>(&'s [Field<'a>]);

impl<'de> Deserializer<'de> for Fields<'_, 'de> {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.deserialize_struct("", &[], visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        names: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        let wanted = self
            .0
            .iter()
            .filter(|(key, _)| names.contains(&key.as_ref()));
        let entries = wanted.map(|(key, raw)| (key.as_ref(), *raw));
        let mut map = MapDeserializer::new(entries);
        let value = visitor.visit_map(&mut map)?;
        map.end()?;
        Ok(value)
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}
