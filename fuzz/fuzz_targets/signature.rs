//! `X-Signature` decoding and HMAC verification: any header bytes and any body.
//!
//! Oracles: `Signature::parse` accepts exactly 64 hex digits, optionally after a
//! case-insensitive `sha256=`; a parsed signature verifies iff it is the body's HMAC;
//! the body's own signature (any prefix or hex case) verifies; a change of one body
//! byte or one signature digit fails; an unknown API key is refused before any HMAC.
#![no_main]

use std::collections::BTreeMap;
use std::time::Duration;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use stream_webhooks::settings::{Secret, WebhookSettings};
use stream_webhooks::webhook::signature::{Signature, VerifyError, Verifier, sign};

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    header: &'a [u8],
    body: &'a [u8],
    secret: &'a str,
    api_key: Option<&'a str>,
    flip: u16,
    prefix: bool,
    upper: bool,
}

fn well_formed(header: &[u8]) -> bool {
    let hex = match header.get(..7) {
        Some(head) if head.eq_ignore_ascii_case(b"sha256=") => &header[7..],
        _ => header,
    };
    hex.len() == 64 && hex.iter().all(u8::is_ascii_hexdigit)
}

fn settings(secret: &Secret, api_key: &str) -> WebhookSettings {
    WebhookSettings {
        secret: Some(secret.clone()),
        previous_secrets: vec![Secret::new("previous-secret-for-rotation")],
        max_body_bytes: 1 << 20,
        dedupe_ttl: Duration::from_secs(600),
        dedupe_capacity: 16,
        api_key: Some(api_key.to_owned()),
        api_keys: BTreeMap::new(),
    }
}

fuzz_target!(|input: Input<'_>| {
    let secret = Secret::new(if input.secret.is_empty() { "k" } else { input.secret });
    let verifier = Verifier::single(&secret);
    let good_hex = sign(&secret, input.body);
    let good = Signature::parse(good_hex.as_bytes()).expect("own signature parses");

    // Arbitrary header bytes: parse iff well formed, verify iff it is the HMAC.
    let parsed = Signature::parse(input.header);
    assert_eq!(parsed.is_ok(), well_formed(input.header));
    if let Ok(signature) = parsed {
        let verified = verifier.verify(None, input.body, &signature);
        assert_eq!(verified.is_ok(), signature == good);
    }

    // The body's own signature, in the forms Stream and proxies may send.
    let mut header = if input.upper { good_hex.to_ascii_uppercase() } else { good_hex.clone() };
    if input.prefix {
        header.insert_str(0, if input.upper { "SHA256=" } else { "sha256=" });
    }
    let signature = Signature::parse(header.as_bytes()).expect("well-formed header");
    assert_eq!(verifier.verify(None, input.body, &signature), Ok(()));

    // One changed body byte fails.
    if !input.body.is_empty() {
        let mut body = input.body.to_vec();
        let at = usize::from(input.flip) % body.len();
        body[at] ^= 1 << (input.flip % 8);
        assert_eq!(verifier.verify(None, &body, &signature), Err(VerifyError::Mismatch));
    }

    // One changed hex digit fails.
    let mut digits = good_hex.into_bytes();
    let at = usize::from(input.flip) % digits.len();
    digits[at] = if digits[at] == b'0' { b'1' } else { b'0' };
    let changed = Signature::parse(&digits).expect("still 64 hex digits");
    assert_eq!(verifier.verify(None, input.body, &changed), Err(VerifyError::Mismatch));

    // With an API key configured, only that key passes, and then any secret signs.
    let configured = Verifier::new(&settings(&secret, "the-api-key"));
    let verdict = configured.verify(input.api_key, input.body, &signature);
    if input.api_key == Some("the-api-key") {
        assert_eq!(verdict, Ok(()));
    } else {
        assert_eq!(verdict, Err(VerifyError::UnknownApiKey));
    }
});
