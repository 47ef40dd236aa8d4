//! What happens to a verified event: the `EventProcessor` extension point, and the
//! one place where metrics that depend on an event's content are derived.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::event::models::{CallEvent, ParticipantEvent, RecordingEvent};
use crate::event::{EventBody, WebhookEvent};
use crate::metrics::Metrics;

/// The future an `EventProcessor` returns.
pub type ProcessFuture<'a> = Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send + 'a>>;

/// Takes verified events somewhere: a queue, a database, business logic. An error
/// answers 500, so that Stream delivers the event again.
pub trait EventProcessor: Send + Sync + 'static {
    /// Handles one event; must finish well within Stream's 6 s attempt timeout.
    fn process<'a>(&'a self, event: &'a WebhookEvent) -> ProcessFuture<'a>;
}

/// The default processor: the event is logged and counted by the service, nothing more.
#[derive(Clone, Copy, Debug, Default)]
pub struct Acknowledge;

impl EventProcessor for Acknowledge {
    fn process<'a>(&'a self, _event: &'a WebhookEvent) -> ProcessFuture<'a> {
        Box::pin(std::future::ready(Ok(())))
    }
}

/// Runs the configured processor, then derives metrics from the events it accepted.
#[derive(Clone)]
pub struct Pipeline {
    processor: Arc<dyn EventProcessor>,
    metrics: Metrics,
}

impl Pipeline {
    /// Wraps a processor.
    pub fn new(processor: Arc<dyn EventProcessor>, metrics: Metrics) -> Self {
        Self { processor, metrics }
    }

    /// Processes one event; counts it only when the processor accepted it.
    pub async fn process(&self, event: &WebhookEvent) -> anyhow::Result<()> {
        self.processor.process(event).await?;
        self.metrics.event(event.label());
        observe_lengths(&self.metrics, event);
        Ok(())
    }
}

/// Call, participant and recording lengths, wherever the event carries them.
fn observe_lengths(metrics: &Metrics, event: &WebhookEvent) {
    let (histogram, seconds) = match (&event.body, event.event_type.as_str()) {
        (EventBody::Call(call), "call.ended") => (&metrics.call_duration, call_length(call)),
        (EventBody::Session(session), "call.session_ended") => {
            let call = session.call.as_ref().and_then(|c| c.session.as_ref());
            let length = call.and_then(|s| s.ended_at?.seconds_since(&s.started_at?));
            (&metrics.call_duration, length)
        }
        (EventBody::Participant(p), "call.participant_left") => {
            (&metrics.participant_session_duration, participant_length(p))
        }
        (EventBody::SessionParticipant(p), "call.session_participant_left") => {
            (&metrics.participant_session_duration, p.duration_seconds)
        }
        (EventBody::Recording(r), "call.recording_stopped") => {
            (&metrics.recording_duration, recording_length(r))
        }
        (EventBody::RecordingReady(r), _) => {
            let file = r.call_recording.as_ref();
            let length = file.and_then(|f| f.end_time?.seconds_since(&f.start_time?));
            (&metrics.recording_duration, length)
        }
        _ => return,
    };
    if let Some(seconds) = seconds.filter(|s| s.is_finite() && *s >= 0.0) {
        histogram.observe(seconds);
    }
}

fn call_length(event: &CallEvent) -> Option<f64> {
    let call = event.call.as_ref()?;
    call.duration_seconds
        .or_else(|| call.ended_at?.seconds_since(&call.created_at?))
}

fn participant_length(event: &ParticipantEvent) -> Option<f64> {
    let participant = event.participant.as_ref()?;
    participant.left_at?.seconds_since(&participant.joined_at?)
}

fn recording_length(event: &RecordingEvent) -> Option<f64> {
    let recording = event.recording.as_ref()?;
    let measured = || recording.stopped_at?.seconds_since(&recording.started_at?);
    recording.duration_seconds.or_else(measured)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Refuse;

    impl EventProcessor for Refuse {
        fn process<'a>(&'a self, _event: &'a WebhookEvent) -> ProcessFuture<'a> {
            Box::pin(async { Err(anyhow::anyhow!("sink unavailable")) })
        }
    }

    fn event(json: &str) -> WebhookEvent {
        WebhookEvent::parse(json.as_bytes()).expect("valid event")
    }

    async fn run(processor: Arc<dyn EventProcessor>, json: &str) -> (anyhow::Result<()>, String) {
        let metrics = Metrics::new().expect("metrics");
        let result = Pipeline::new(processor, metrics.clone())
            .process(&event(json))
            .await;
        (result, metrics.render())
    }

    #[tokio::test]
    async fn derives_the_call_length_from_the_spec_call_ended() {
        let json = r#"{"type":"call.ended","call":{"id":"c","duration_seconds":3600}}"#;
        let (result, text) = run(Arc::new(Acknowledge), json).await;
        assert!(result.is_ok());
        assert!(
            text.contains("stream_webhooks_call_duration_seconds_sum 3600"),
            "{text}"
        );
        assert!(text.contains("stream_webhooks_events_total{event_type=\"call.ended\"} 1"));
    }

    #[tokio::test]
    async fn derives_the_recording_length_from_start_and_stop_times() {
        let json = r#"{"type":"call.recording_stopped","recording":{
            "started_at":"2024-01-15T10:35:00Z","stopped_at":"2024-01-15T11:30:00Z"}}"#;
        let (_, text) = run(Arc::new(Acknowledge), json).await;
        assert!(
            text.contains("stream_webhooks_recording_duration_seconds_sum 3300"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn counts_nothing_when_the_processor_fails() {
        let json = r#"{"type":"call.ended","call":{"id":"c","duration_seconds":3600}}"#;
        let (result, text) = run(Arc::new(Refuse), json).await;
        assert!(result.is_err());
        assert!(text.contains("stream_webhooks_events_total{event_type=\"call.ended\"} 0"));
        assert!(text.contains("stream_webhooks_call_duration_seconds_count 0"));
    }
}
