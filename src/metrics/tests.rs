use super::*;

#[test]
fn exposes_every_documented_metric() {
    let metrics = Metrics::new().expect("registers");
    metrics.event("call.created");
    metrics.request_finished(200, 0.001);
    metrics.body("identity", 100);
    let text = metrics.render();
    for name in [
        "stream_webhooks_events_total{event_type=\"call.created\"} 1",
        "stream_webhooks_rejected_total{reason=\"invalid_signature\"} 0",
        "stream_webhooks_request_duration_seconds_bucket{status=\"200\",le=\"0.0001\"}",
        "stream_webhooks_requests_in_flight 0",
        "stream_webhooks_body_bytes_count{encoding=\"identity\"} 1",
        "stream_webhooks_delivery_attempts_total{attempt=\"4+\"} 0",
        "stream_webhooks_duplicates_total 0",
        "stream_webhooks_call_duration_seconds_count 0",
        "stream_webhooks_participant_session_duration_seconds_count 0",
        "stream_webhooks_recording_duration_seconds_count 0",
        "stream_webhooks_build_info{version=\"",
        "process_resident_memory_bytes",
    ] {
        assert!(text.contains(name), "missing {name}");
    }
}

#[test]
fn in_flight_falls_back_when_the_guard_drops() {
    let metrics = Metrics::new().expect("registers");
    let guard = metrics.in_flight();
    assert!(
        metrics
            .render()
            .contains("stream_webhooks_requests_in_flight 1")
    );
    drop(guard);
    assert!(
        metrics
            .render()
            .contains("stream_webhooks_requests_in_flight 0")
    );
}
