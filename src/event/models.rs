//! Typed bodies of the events the service reads fields from. Every field is optional
//! and unknown fields are ignored: Stream omits fields and adds new ones freely.

use serde::Deserialize;

use super::timestamp::Timestamp;

/// A call as embedded in call events (`call.created`, `call.ended` ...).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Call {
    /// The call id, without its type.
    pub id: Option<String>,
    /// The call type, e.g. `default`.
    #[serde(rename = "type")]
    pub call_type: Option<String>,
    /// `<type>:<id>`.
    pub cid: Option<String>,
    /// When the call was created.
    pub created_at: Option<Timestamp>,
    /// When the call ended (`call.ended`).
    pub ended_at: Option<Timestamp>,
    /// The spec's `call.ended` carries the call's length.
    pub duration_seconds: Option<f64>,
    /// The current session, when the event carries one.
    pub session: Option<CallSession>,
}

/// The session part of an embedded call.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct CallSession {
    /// The session id.
    pub id: Option<String>,
    /// When the session started.
    pub started_at: Option<Timestamp>,
    /// When the session ended.
    pub ended_at: Option<Timestamp>,
}

/// A user, reduced to what the service reads.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct User {
    /// The user id.
    pub id: Option<String>,
}

/// `call.created`, `call.updated` and `call.ended`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct CallEvent {
    /// The call.
    pub call: Option<Call>,
    /// Who caused the event.
    pub user: Option<User>,
    /// Why the call ended (`call.ended`).
    pub reason: Option<String>,
}

/// The spec's `call.participant_joined` / `call.participant_left`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct ParticipantEvent {
    /// The call.
    pub call: Option<Call>,
    /// The participant's user.
    pub user: Option<User>,
    /// The participant.
    pub participant: Option<Participant>,
}

/// The participant of the spec's participant events.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Participant {
    /// The participant's user id.
    pub user_id: Option<String>,
    /// The participant's role in the call.
    pub role: Option<String>,
    /// When the participant joined.
    pub joined_at: Option<Timestamp>,
    /// When the participant left.
    pub left_at: Option<Timestamp>,
}

/// Stream's `call.session_participant_joined` / `call.session_participant_left`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct SessionParticipantEvent {
    /// The session.
    pub session_id: Option<String>,
    /// The participant.
    pub participant: Option<SessionParticipant>,
    /// On leave: how long the participant stayed.
    pub duration_seconds: Option<f64>,
    /// On leave: why the participant left.
    pub reason: Option<String>,
}

/// The participant of Stream's session participant events.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct SessionParticipant {
    /// The participant's user.
    pub user: Option<User>,
    /// The participant's session within the call session.
    pub user_session_id: Option<String>,
    /// The participant's role.
    pub role: Option<String>,
    /// When the participant joined.
    pub joined_at: Option<Timestamp>,
}

/// `call.session_started` / `call.session_ended`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct SessionEvent {
    /// The session.
    pub session_id: Option<String>,
    /// The call, with its `session`.
    pub call: Option<Call>,
}

/// `call.recording_started`, `call.recording_stopped`, `call.recording_failed`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct RecordingEvent {
    /// The spec's recording object.
    pub recording: Option<Recording>,
    /// Stream's egress id of the recording.
    pub egress_id: Option<String>,
    /// Stream's recording type, e.g. `composite`.
    pub recording_type: Option<String>,
}

/// The spec's recording object.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Recording {
    /// The recording id.
    pub id: Option<String>,
    /// When the recording started.
    pub started_at: Option<Timestamp>,
    /// When the recording stopped.
    pub stopped_at: Option<Timestamp>,
    /// How long the recording ran.
    pub duration_seconds: Option<f64>,
}

/// `call.recording_ready`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct RecordingReadyEvent {
    /// The finished recording.
    pub call_recording: Option<CallRecording>,
}

/// The finished recording of `call.recording_ready`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct CallRecording {
    /// The file name.
    pub filename: Option<String>,
    /// Where to download it.
    pub url: Option<String>,
    /// When it starts.
    pub start_time: Option<Timestamp>,
    /// When it ends.
    pub end_time: Option<Timestamp>,
    /// The session it recorded.
    pub session_id: Option<String>,
    /// E.g. `composite`.
    pub recording_type: Option<String>,
}

/// `call.transcription_started|stopped|failed|ready`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct TranscriptionEvent {
    /// Stream's egress id.
    pub egress_id: Option<String>,
    /// The finished transcription (`call.transcription_ready`).
    pub call_transcription: Option<CallTranscription>,
}

/// The finished transcription of `call.transcription_ready`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct CallTranscription {
    /// The file name.
    pub filename: Option<String>,
    /// Where to download it.
    pub url: Option<String>,
    /// When it starts.
    pub start_time: Option<Timestamp>,
    /// When it ends.
    pub end_time: Option<Timestamp>,
}
