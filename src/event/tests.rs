use super::*;

fn parse(json: &str) -> Result<WebhookEvent, InvalidJson> {
    WebhookEvent::parse(json.as_bytes())
}

#[test]
fn takes_the_call_id_from_the_embedded_call_first() {
    let event =
        parse(r#"{"type":"call.created","call":{"id":"c1","type":"default"}}"#).expect("parses");
    assert_eq!(event.call_id.as_deref(), Some("c1"));
    assert_eq!(event.call_cid.as_deref(), Some("default:c1"));
    assert!(matches!(event.body, EventBody::Call(_)));
}

#[test]
fn takes_the_call_id_from_the_cid_when_there_is_no_call() {
    let event = parse(r#"{"type":"call.recording_ready","call_cid":"default:standup-7f3k2q"}"#)
        .expect("parses");
    assert_eq!(event.call_id.as_deref(), Some("standup-7f3k2q"));
    assert_eq!(event.call_cid.as_deref(), Some("default:standup-7f3k2q"));
}

#[test]
fn has_no_call_id_when_the_event_names_no_call() {
    let event = parse(r#"{"type":"user.updated","user":{"id":"u"}}"#).expect("parses");
    assert_eq!(event.call_id, None);
    assert_eq!(event.body, EventBody::Generic);
}

#[test]
fn accepts_unknown_types_as_generic_events() {
    let event = parse(r#"{"type":"totally.made.up","x":[1,2,{"y":null}]}"#).expect("parses");
    assert_eq!(event.event_type, "totally.made.up");
    assert_eq!(event.label(), OTHER);
    assert_eq!(event.mismatch, None);
}

#[test]
fn takes_a_known_type_that_does_not_fit_its_model_as_generic() {
    let event = parse(r#"{"type":"call.ended","call":{"id":"c","duration_seconds":"long"}}"#)
        .expect("parses");
    assert_eq!(event.body, EventBody::Generic);
    assert!(event.mismatch.is_some());
    assert_eq!(event.call_id.as_deref(), Some("c"));
}

#[test]
fn keeps_the_call_id_when_a_sibling_field_has_the_wrong_type() {
    let event = parse(r#"{"type":"call.created","call":{"id":"c1","type":5}}"#).expect("parses");
    assert_eq!(event.call_id.as_deref(), Some("c1"));
    assert_eq!(event.call_cid, None);
}

#[test]
fn refuses_invalid_utf8_even_in_a_field_nobody_reads() {
    let body = b"{\"type\":\"call.created\",\"note\":\"\xff\xfe\"}";
    assert!(WebhookEvent::parse(body).is_err());
}

#[test]
fn tolerates_nulls_and_wrongly_typed_envelope_fields() {
    let event = parse(r#"{"type":"call.created","call":null,"call_cid":7,"created_at":"x"}"#)
        .expect("parses");
    assert_eq!(event.call_id, None);
    assert_eq!(event.created_at, None);
}

#[test]
fn refuses_bodies_that_are_not_an_object_with_a_string_type() {
    for body in [
        "",
        " ",
        "[]",
        r#"["call.created"]"#,
        "\"call.created\"",
        "42",
        "null",
        "{}",
        r#"{"type":7}"#,
        r#"{"type":null}"#,
        r#"{"type":"call.created""#,
        "{\"type\":\"a\"}x",
    ] {
        assert!(parse(body).is_err(), "accepted {body:?}");
    }
}

#[test]
fn refuses_a_duplicated_type_key_rather_than_guess_which_one_counts() {
    assert!(parse(r#"{"type":"call.created","type":"call.ended"}"#).is_err());
}

#[test]
fn reads_the_participant_left_duration_from_both_shapes() {
    let spec = parse(
        r#"{"type":"call.participant_left","call":{"id":"c"},
            "participant":{"user_id":"u","joined_at":"2024-01-15T10:32:00Z",
            "left_at":"2024-01-15T11:30:00Z"}}"#,
    )
    .expect("spec shape");
    let EventBody::Participant(p) = spec.body else {
        panic!("not typed: {spec:?}")
    };
    let p = p.participant.expect("participant");
    assert_eq!(
        p.left_at.and_then(|l| l.seconds_since(&p.joined_at?)),
        Some(3480.0)
    );

    let stream = parse(
        r#"{"type":"call.session_participant_left","call_cid":"default:x",
            "participant":{"user":{"id":"u"},"joined_at":1778198400000000000},
            "duration_seconds":42}"#,
    )
    .expect("stream shape");
    let EventBody::SessionParticipant(p) = stream.body else {
        panic!("not typed")
    };
    assert_eq!(p.duration_seconds, Some(42.0));
}

#[test]
fn reads_a_type_key_written_with_escapes() {
    let event = parse(r#"{"\u0074ype":"call.created","call":{"id":"c1"}}"#).expect("parses");
    assert_eq!(event.event_type, "call.created");
    assert_eq!(event.call_id.as_deref(), Some("c1"));
}

#[test]
fn refuses_a_second_copy_of_an_identifying_field() {
    for field in ["call", "call_cid", "created_at"] {
        let body = format!(r#"{{"type":"call.created","{field}":null,"{field}":null}}"#);
        assert!(parse(&body).is_err(), "accepted a repeated {field}");
    }
}

#[test]
fn tells_where_a_known_type_stopped_fitting_its_model() {
    let event = parse("{\"type\":\"call.ended\",\n\"call\":{\"id\":\"c\",\"ended_at\":true}}")
        .expect("parses");
    assert_eq!(event.body, EventBody::Generic);
    let mismatch = event.mismatch.expect("mismatch");
    assert_eq!(mismatch.line, 2);
    assert!(mismatch.column > 10, "{mismatch:?}");
}

/// Reading a model from the captured fields gives what reading it from the whole body
/// gives, for every real and spec body of the fixtures.
#[test]
fn typed_bodies_read_from_fields_equal_those_read_from_the_whole_body() {
    let spec = [
        include_str!("../../tests/fixtures/spec/call.created.json"),
        include_str!("../../tests/fixtures/spec/call.ended.json"),
        include_str!("../../tests/fixtures/spec/call.participant_joined.json"),
        include_str!("../../tests/fixtures/spec/call.participant_left.json"),
        include_str!("../../tests/fixtures/spec/call.recording_started.json"),
        include_str!("../../tests/fixtures/spec/call.recording_stopped.json"),
        include_str!("../../tests/fixtures/spec/call.updated.json"),
        include_str!("../../benches/data/session_participant_joined.json"),
        include_str!("../../benches/data/recording_ready.json"),
        include_str!("../../benches/data/call_updated_4k.json"),
        include_str!("../../benches/data/call_ended_1k.json"),
        include_str!("../../benches/data/call_session_ended_5k.json"),
    ];
    let captured = include_str!("../../tests/fixtures/bodies_2023.jsonl")
        .lines()
        .chain(include_str!("../../tests/fixtures/bodies_2026.jsonl").lines());
    let mut typed = 0;
    for text in spec.into_iter().chain(captured) {
        let envelope: Envelope<'_> = serde_json::from_str(text).expect("an object");
        let from_fields = typed_body(&envelope.event_type, &envelope).map(Result::ok);
        let from_whole = typed_body(&envelope.event_type, &text).map(Result::ok);
        assert_eq!(from_fields, from_whole, "{text}");
        typed += usize::from(matches!(from_fields, Some(Some(_))));
    }
    assert!(typed >= 12, "only {typed} typed bodies compared");
}
