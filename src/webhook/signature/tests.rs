use proptest::prelude::*;

use super::*;

fn verifier(secret: &str) -> Verifier {
    Verifier::single(&Secret::new(secret))
}

fn signature_of(secret: &str, body: &[u8]) -> Signature {
    Signature::parse(sign(&Secret::new(secret), body).as_bytes()).expect("valid hex")
}

#[test]
fn accepts_a_prefix_and_either_case_of_hex() {
    let hex = sign(&Secret::new("s"), b"{}");
    let plain = Signature::parse(hex.as_bytes()).expect("plain");
    let prefixed = Signature::parse(format!("sha256={hex}").as_bytes()).expect("prefixed");
    let upper = Signature::parse(hex.to_uppercase().as_bytes()).expect("upper");
    assert_eq!(plain, prefixed);
    assert_eq!(plain, upper);
}

#[test]
fn refuses_headers_that_are_not_64_hex_digits() {
    let hex = sign(&Secret::new("s"), b"{}");
    for bad in [
        String::new(),
        "sha256=".to_owned(),
        hex[..63].to_owned(),
        format!("{hex}0"),
        format!("{}zz", &hex[..62]),
        format!("sha1={hex}"),
        format!(" {hex}"),
    ] {
        assert_eq!(
            Signature::parse(bad.as_bytes()),
            Err(MalformedSignature),
            "{bad:?}"
        );
    }
}

#[test]
fn rejects_a_body_signed_with_another_secret() {
    let signature = signature_of("other", b"{}");
    assert_eq!(
        verifier("mine").verify(None, b"{}", &signature),
        Err(VerifyError::Mismatch)
    );
}

#[test]
fn accepts_a_previous_secret_during_rotation() {
    let settings = WebhookSettings {
        secret: Some(Secret::new("new-secret")),
        previous_secrets: vec![Secret::new("old-secret")],
        ..test_settings()
    };
    let verifier = Verifier::new(&settings);
    for secret in ["new-secret", "old-secret"] {
        assert_eq!(
            verifier.verify(None, b"x", &signature_of(secret, b"x")),
            Ok(())
        );
    }
    let stranger = signature_of("third", b"x");
    assert_eq!(
        verifier.verify(None, b"x", &stranger),
        Err(VerifyError::Mismatch)
    );
}

#[test]
fn lets_the_api_key_pick_the_secret() {
    let mut settings = WebhookSettings {
        api_key: Some("main".into()),
        ..test_settings()
    };
    settings
        .api_keys
        .insert("second".into(), Secret::new("second-secret"));
    let verifier = Verifier::new(&settings);
    let by_second = signature_of("second-secret", b"x");
    assert_eq!(verifier.verify(Some("second"), b"x", &by_second), Ok(()));
    assert_eq!(
        verifier.verify(Some("main"), b"x", &by_second),
        Err(VerifyError::Mismatch)
    );
    let by_main = signature_of("main-secret", b"x");
    assert_eq!(verifier.verify(Some("main"), b"x", &by_main), Ok(()));
    assert_eq!(
        verifier.verify(Some("nope"), b"x", &by_main),
        Err(VerifyError::UnknownApiKey)
    );
    assert_eq!(
        verifier.verify(None, b"x", &by_main),
        Err(VerifyError::UnknownApiKey)
    );
}

#[test]
fn debug_output_shows_no_key_material() {
    let text = format!(
        "{:?} {:?}",
        verifier("hunter2"),
        signature_of("hunter2", b"x")
    );
    assert!(!text.contains("hunter2"), "{text}");
    assert!(
        !text.contains(&sign(&Secret::new("hunter2"), b"x")[..8]),
        "{text}"
    );
}

fn test_settings() -> WebhookSettings {
    WebhookSettings {
        secret: Some(Secret::new("main-secret")),
        previous_secrets: Vec::new(),
        max_body_bytes: 1024,
        dedupe_ttl: std::time::Duration::from_secs(1),
        dedupe_capacity: 1,
        api_key: None,
        api_keys: Default::default(),
    }
}

proptest! {
    #[test]
    fn any_body_signed_with_the_secret_verifies(
        secret in "[ -~]{1,64}",
        body in proptest::collection::vec(any::<u8>(), 0..2048),
    ) {
        let signature = signature_of(&secret, &body);
        prop_assert_eq!(verifier(&secret).verify(None, &body, &signature), Ok(()));
    }

    #[test]
    fn changing_one_byte_of_the_body_fails(
        body in proptest::collection::vec(any::<u8>(), 1..1024),
        index in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let signature = signature_of("secret", &body);
        let mut tampered = body.clone();
        tampered[index.index(body.len())] ^= flip;
        prop_assert_eq!(
            verifier("secret").verify(None, &tampered, &signature),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn changing_one_hex_digit_of_the_signature_fails(
        body in proptest::collection::vec(any::<u8>(), 0..512),
        index in 0usize..64,
    ) {
        let mut hex = sign(&Secret::new("secret"), &body).into_bytes();
        hex[index] = if hex[index] == b'0' { b'1' } else { b'0' };
        let signature = Signature::parse(&hex).expect("still hex");
        prop_assert_eq!(
            verifier("secret").verify(None, &body, &signature),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn arbitrary_header_bytes_never_panic(
        header in proptest::collection::vec(any::<u8>(), 0..200)
    ) {
        let _ = Signature::parse(&header);
    }
}
