//! The webhook event: a lenient envelope every event has, and typed bodies for the
//! events whose fields the service reads. Any other type is a generic event.

mod catalogue;
mod envelope;
pub mod models;
mod timestamp;

use serde::Deserialize;
use serde_json::value::RawValue;

use envelope::Envelope;

pub use catalogue::{KNOWN_EVENT_TYPES, OTHER, label_for};
pub use timestamp::Timestamp;

use models::{
    Call, CallEvent, ParticipantEvent, RecordingEvent, RecordingReadyEvent, SessionEvent,
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
        let event_type = envelope.event_type.as_str();
        let (body, mismatch) = match typed_body(event_type, &envelope) {
            None => (EventBody::Generic, None),
            Some(Ok(typed)) => (typed, None),
            // Rare: the whole body is read again to tell where it stopped fitting.
            Some(Err(_)) => (EventBody::Generic, Some(mismatch_in(event_type, text))),
        };
        // The typed call already holds the ids; only other events read them apart.
        let ids = match body.call() {
            Some(call) => CallIds::from(call),
            None => envelope
                .get("call")
                .and_then(lenient::<RawCallIds<'_>>)
                .map(CallIds::from)
                .unwrap_or_default(),
        };
        let call_cid = envelope
            .get("call_cid")
            .and_then(lenient::<String>)
            .or_else(|| ids.cid());
        let call_id = ids.id.or_else(|| id_of_cid(call_cid.as_deref()));
        Ok(Self {
            created_at: envelope.get("created_at").and_then(lenient),
            event_type: envelope.event_type,
            call_cid,
            call_id,
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

impl From<&Call> for CallIds {
    fn from(call: &Call) -> Self {
        Self {
            id: call.id.clone(),
            call_type: call.call_type.clone(),
            cid: call.cid.clone(),
        }
    }
}

impl EventBody {
    /// The embedded call of the typed bodies that have one.
    pub fn call(&self) -> Option<&Call> {
        match self {
            Self::Call(event) => event.call.as_ref(),
            Self::Participant(event) => event.call.as_ref(),
            Self::Session(event) => event.call.as_ref(),
            _ => None,
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

/// Where typed bodies are read from: the captured top-level fields, or the whole text.
trait Source<'a> {
    fn read<T: Deserialize<'a>>(&self) -> Result<T, serde_json::Error>;
}

impl<'a> Source<'a> for Envelope<'a> {
    fn read<T: Deserialize<'a>>(&self) -> Result<T, serde_json::Error> {
        Envelope::read(self)
    }
}

impl<'a> Source<'a> for &'a str {
    fn read<T: Deserialize<'a>>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self)
    }
}

/// Where a known type's body stopped fitting its model, in the whole body.
fn mismatch_in(event_type: &str, text: &str) -> ModelMismatch {
    match typed_body(event_type, &text) {
        Some(Err(err)) => ModelMismatch::from(&err),
        _ => ModelMismatch { line: 1, column: 1 },
    }
}

/// The typed body for the types the service reads fields from; `None` for the rest.
fn typed_body<'a>(
    event_type: &str,
    source: &impl Source<'a>,
) -> Option<Result<EventBody, serde_json::Error>> {
    let typed = match event_type {
        "call.created" | "call.updated" | "call.ended" => source.read().map(EventBody::Call),
        "call.participant_joined" | "call.participant_left" => {
            source.read().map(EventBody::Participant)
        }
        "call.session_participant_joined" | "call.session_participant_left" => {
            source.read().map(EventBody::SessionParticipant)
        }
        "call.session_started" | "call.session_ended" => source.read().map(EventBody::Session),
        "call.recording_started" | "call.recording_stopped" | "call.recording_failed" => {
            source.read().map(EventBody::Recording)
        }
        "call.recording_ready" => source.read().map(EventBody::RecordingReady),
        "call.transcription_started"
        | "call.transcription_stopped"
        | "call.transcription_failed"
        | "call.transcription_ready" => source.read().map(EventBody::Transcription),
        _ => return None,
    };
    Some(typed)
}

#[cfg(test)]
mod tests;
