//! Event parsing: any bytes as a verified body.
//!
//! Oracles: no panic; an accepted body is a JSON object (first non-blank byte `{`)
//! whose `type` is the event type; where serde_json can read the body as a value, the
//! event type and `call.id` agree with it; the metric label is the type or `other`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde::Deserialize;
use serde::de::{IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;
use stream_webhooks::event::{KNOWN_EVENT_TYPES, OTHER, WebhookEvent};

fuzz_target!(|data: &[u8]| {
    let Ok(event) = WebhookEvent::parse(data) else {
        return;
    };
    assert_eq!(data.trim_ascii_start().first(), Some(&b'{'));
    let label = event.label();
    if KNOWN_EVENT_TYPES.contains(&event.event_type.as_str()) {
        assert_eq!(label, event.event_type);
    } else {
        assert_eq!(label, OTHER);
    }
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        assert_eq!(value["type"].as_str(), Some(event.event_type.as_str()));
        // Known bug (see README): one mistyped or repeated field of `call` makes the
        // service drop `call.id`; the check covers calls without such a field.
        let call = &value["call"];
        let typed = ["id", "type", "cid"].iter().all(|k| call[k].is_null() || call[k].is_string());
        if let (Some(id), true) = (call["id"].as_str(), typed && !repeats_a_call_field(data)) {
            assert_eq!(event.call_id.as_deref(), Some(id));
        }
        if let Some(cid) = value["call_cid"].as_str() {
            assert_eq!(event.call_cid.as_deref(), Some(cid));
        }
    }
});

/// Whether the `call` object of the body repeats one of its keys.
fn repeats_a_call_field(data: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct Envelope<'a> {
        #[serde(borrow)]
        call: Option<&'a RawValue>,
    }
    struct Keys(Vec<String>);
    impl<'de> Deserialize<'de> for Keys {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct Visit;
            impl<'de> Visitor<'de> for Visit {
                type Value = Keys;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("an object")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Keys, A::Error> {
                    let mut keys = Vec::new();
                    while let Some(key) = map.next_key::<String>()? {
                        map.next_value::<IgnoredAny>()?;
                        keys.push(key);
                    }
                    Ok(Keys(keys))
                }
            }
            d.deserialize_map(Visit)
        }
    }
    let Ok(Envelope { call: Some(call) }) = serde_json::from_slice(data) else {
        return false;
    };
    let Ok(Keys(mut keys)) = serde_json::from_str(call.get()) else {
        return false;
    };
    let count = keys.len();
    keys.sort();
    keys.dedup();
    keys.len() != count
}
