//! `WebhookEvent::parse` on the event shapes the service meets: the spec's seven examples,
//! Stream's `call.session_participant_joined` as captured, a `call.recording_ready` and a
//! `call.updated` that embeds a whole call (about 4 KB). Bodies are in `benches/data/`.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use stream_webhooks::event::{EventBody, WebhookEvent};

/// Each case: its name in the report, and the body as Stream sends it (compact JSON).
const CASES: [(&str, &[u8]); 10] = [
    (
        "spec/call.created",
        include_bytes!("data/spec_created.json"),
    ),
    (
        "spec/call.updated",
        include_bytes!("data/spec_updated.json"),
    ),
    ("spec/call.ended", include_bytes!("data/spec_ended.json")),
    (
        "spec/call.participant_joined",
        include_bytes!("data/spec_participant_joined.json"),
    ),
    (
        "spec/call.participant_left",
        include_bytes!("data/spec_participant_left.json"),
    ),
    (
        "spec/call.recording_started",
        include_bytes!("data/spec_recording_started.json"),
    ),
    (
        "spec/call.recording_stopped",
        include_bytes!("data/spec_recording_stopped.json"),
    ),
    (
        "stream/call.session_participant_joined",
        include_bytes!("data/session_participant_joined.json"),
    ),
    (
        "stream/call.recording_ready",
        include_bytes!("data/recording_ready.json"),
    ),
    (
        "stream/call.updated_4k",
        include_bytes!("data/call_updated_4k.json"),
    ),
];

/// Every case must take its typed path: a benchmark of the generic fallback would
/// measure the wrong thing.
fn check(name: &str, body: &[u8]) {
    let event = WebhookEvent::parse(body).unwrap_or_else(|_| panic!("{name} parses"));
    assert_eq!(event.mismatch, None, "{name} fits its model");
    assert_ne!(event.body, EventBody::Generic, "{name} has a typed body");
}

fn parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse");
    for (name, body) in CASES {
        check(name, body);
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(name), body, |b, body| {
            b.iter(|| WebhookEvent::parse(black_box(body)))
        });
    }
    group.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
