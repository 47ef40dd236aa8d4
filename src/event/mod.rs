//! The webhook event: a lenient envelope every event has, and typed bodies for the
//! events whose fields the service reads. Any other type is a generic event.

mod catalogue;
pub mod models;
mod timestamp;

use serde::Deserialize;
use serde_json::value::RawValue;

pub use catalogue::{KNOWN_EVENT_TYPES, OTHER, label_for};
pub use timestamp::Timestamp;

use models::{
    CallEvent, ParticipantEvent, RecordingEvent, RecordingReadyEvent, SessionEvent,
    SessionParticipantEvent, TranscriptionEvent,
};

/// A verified, parsed webhook event.
#[derive(Clone, Debug, PartialEq)]
pub struct WebhookEvent {
    /// The `type` field, e.g. `call.created`.
    pub event_type: String,
    /// `<call_type>:<call_id>`, from `call_cid` or the embedded call.
    pub call_cid: Option<String>,
    /// `call.id`, else the id part of `call_cid`.
    pub call_id: Option<String>,
    /// When Stream created the event.
    pub created_at: Option<Timestamp>,
    /// The typed body, or `Generic`.
    pub body: EventBody,
    /// Set when a known type did not fit its model and was taken as generic.
    pub mismatch: Option<ModelMismatch>,
}

/// The typed part of an event.
#[derive(Clone, Debug, PartialEq)]
pub enum EventBody {
    /// `call.created`, `call.updated`, `call.ended`.
    Call(CallEvent),
    /// The spec's `call.participant_joined` / `call.participant_left`.
    Participant(ParticipantEvent),
    /// Stream's `call.session_participant_joined` / `_left`.
    SessionParticipant(SessionParticipantEvent),
    /// `call.session_started` / `call.session_ended`.
    Session(SessionEvent),
    /// `call.recording_started|stopped|failed`.
    Recording(RecordingEvent),
    /// `call.recording_ready`.
    RecordingReady(RecordingReadyEvent),
    /// `call.transcription_*`.
    Transcription(TranscriptionEvent),
    /// Every other type, and known types that did not fit their model.
    Generic,
}

/// Where a known event's body stopped fitting its model; carries no body content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelMismatch {
    /// 1-based line of the body where the mismatch was found.
    pub line: usize,
    /// 1-based column of the body where the mismatch was found.
    pub column: usize,
}

/// The body is not a JSON object with a string `type`.
#[derive(Debug, thiserror::Error)]
#[error("the body is not a JSON object with a string `type`")]
pub struct InvalidJson;

/// What every event carries, read without copying the rest.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "type")]
    event_type: String,
    #[serde(borrow, default)]
    created_at: Option<&'a RawValue>,
    #[serde(borrow, default)]
    call_cid: Option<&'a RawValue>,
    #[serde(borrow, default)]
    call: Option<&'a RawValue>,
}

/// The ids of an embedded call, kept raw so that each is read on its own: a sibling of
/// the wrong type does not hide the others.
#[derive(Default, Deserialize)]
#[serde(default)]
struct RawCallIds<'a> {
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    #[serde(borrow, rename = "type")]
    call_type: Option<&'a RawValue>,
    #[serde(borrow)]
    cid: Option<&'a RawValue>,
}

/// The ids of an embedded call that have the right type.
#[derive(Default)]
struct CallIds {
    id: Option<String>,
    call_type: Option<String>,
    cid: Option<String>,
}

// === impl WebhookEvent ===

impl WebhookEvent {
    /// Parses a verified body. Only a body that is not a JSON object with a string
    /// `type` is refused; any other shape is accepted, since Stream does not retry a 4xx.
    pub fn parse(body: &[u8]) -> Result<Self, InvalidJson> {
        // serde would also read a JSON array into a struct, field by field.
        if body.trim_ascii_start().first() != Some(&b'{') {
            return Err(InvalidJson);
        }
        // JSON is UTF-8, but serde_json does not check the strings it skips.
        let text = std::str::from_utf8(body).map_err(|_| InvalidJson)?;
        let envelope: Envelope<'_> = serde_json::from_str(text).map_err(|_| InvalidJson)?;
        let ids = envelope
            .call
            .and_then(lenient::<RawCallIds<'_>>)
            .map(CallIds::from)
            .unwrap_or_default();
        let call_cid = envelope
            .call_cid
            .and_then(lenient::<String>)
            .or_else(|| ids.cid());
        let call_id = ids.id.or_else(|| id_of_cid(call_cid.as_deref()));
        let (body, mismatch) = match typed_body(&envelope.event_type, body) {
            None => (EventBody::Generic, None),
            Some(Ok(typed)) => (typed, None),
            Some(Err(err)) => (EventBody::Generic, Some(ModelMismatch::from(&err))),
        };
        Ok(Self {
            event_type: envelope.event_type,
            call_cid,
            call_id,
            created_at: envelope.created_at.and_then(lenient),
            body,
            mismatch,
        })
    }

    /// The `event_type` metric label: the type if known, else `other`.
    pub fn label(&self) -> &'static str {
        label_for(&self.event_type)
    }
}

impl<'a> From<RawCallIds<'a>> for CallIds {
    fn from(raw: RawCallIds<'a>) -> Self {
        Self {
            id: raw.id.and_then(lenient),
            call_type: raw.call_type.and_then(lenient),
            cid: raw.cid.and_then(lenient),
        }
    }
}

impl CallIds {
    fn cid(&self) -> Option<String> {
        if let Some(cid) = &self.cid {
            return Some(cid.clone());
        }
        Some(format!(
            "{}:{}",
            self.call_type.as_ref()?,
            self.id.as_ref()?
        ))
    }
}

impl From<&serde_json::Error> for ModelMismatch {
    fn from(err: &serde_json::Error) -> Self {
        Self {
            line: err.line(),
            column: err.column(),
        }
    }
}

/// Reads a field if it has the expected type; a field of another type counts as absent.
fn lenient<'a, T: Deserialize<'a>>(raw: &'a RawValue) -> Option<T> {
    serde_json::from_str(raw.get()).ok()
}

fn id_of_cid(cid: Option<&str>) -> Option<String> {
    let (_, id) = cid?.split_once(':')?;
    Some(id.to_owned())
}

/// The typed body for the types the service reads fields from; `None` for the rest.
fn typed_body(event_type: &str, body: &[u8]) -> Option<Result<EventBody, serde_json::Error>> {
    use serde_json::from_slice;
    let typed = match event_type {
        "call.created" | "call.updated" | "call.ended" => from_slice(body).map(EventBody::Call),
        "call.participant_joined" | "call.participant_left" => {
            from_slice(body).map(EventBody::Participant)
        }
        "call.session_participant_joined" | "call.session_participant_left" => {
            from_slice(body).map(EventBody::SessionParticipant)
        }
        "call.session_started" | "call.session_ended" => from_slice(body).map(EventBody::Session),
        "call.recording_started" | "call.recording_stopped" | "call.recording_failed" => {
            from_slice(body).map(EventBody::Recording)
        }
        "call.recording_ready" => from_slice(body).map(EventBody::RecordingReady),
        "call.transcription_started"
        | "call.transcription_stopped"
        | "call.transcription_failed"
        | "call.transcription_ready" => from_slice(body).map(EventBody::Transcription),
        _ => return None,
    };
    Some(typed)
}

#[cfg(test)]
mod tests;
