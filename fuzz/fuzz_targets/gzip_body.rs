//! Reading a body: the bounded collector and the gzip inflater, on any bytes.
//!
//! Oracles: a plain body passes unchanged; an inflated body is never over the limit;
//! gzip of any content inflates back to it when it fits and is refused as too large
//! when it does not (a body exactly at the limit passes); the collector returns the
//! bytes of a chunked stream when they fit, and stops with `TooLarge` when they do not.
#![no_main]

use std::io::Write;
use std::sync::LazyLock;
use std::time::Duration;

use arbitrary::Arbitrary;
use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use libfuzzer_sys::fuzz_target;
use stream_webhooks::webhook::body::{self, BodyError, Encoding};

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime")
});

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    wire: &'a [u8],
    content: &'a [u8],
    limit: u16,
    level: u8,
    chunks: Vec<u8>,
}

fn gzip(bytes: &[u8], level: u8) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::new(u32::from(level % 10)));
    encoder.write_all(bytes).expect("compresses");
    encoder.finish().expect("finishes")
}

fn split<'a>(bytes: &'a [u8], sizes: &[u8]) -> Vec<Result<Bytes, std::io::Error>> {
    let mut rest = bytes;
    let mut parts = Vec::new();
    for size in sizes.iter().cycle().take(bytes.len() + 1) {
        if rest.is_empty() {
            break;
        }
        let take = usize::from(*size).clamp(1, rest.len());
        parts.push(Ok(Bytes::copy_from_slice(&rest[..take])));
        rest = &rest[take..];
    }
    if !rest.is_empty() {
        parts.push(Ok(Bytes::copy_from_slice(rest)));
    }
    parts
}

fuzz_target!(|input: Input<'_>| {
    let limit = usize::from(input.limit);

    // Any bytes on the wire.
    let wire = Bytes::copy_from_slice(input.wire);
    match body::decode(wire.clone(), limit) {
        Ok(decoded) => {
            assert_eq!(decoded.wire_bytes, input.wire.len());
            if input.wire.starts_with(&[0x1f, 0x8b]) {
                assert_eq!(decoded.encoding, Encoding::Gzip);
                assert!(decoded.bytes.len() <= limit);
            } else {
                assert_eq!(decoded.encoding, Encoding::Identity);
                assert_eq!(decoded.bytes, wire);
            }
        }
        Err(BodyError::TooLarge { limit: l }) => {
            assert_eq!(l, limit);
            assert!(input.wire.starts_with(&[0x1f, 0x8b]));
        }
        Err(BodyError::InvalidGzip) => assert!(input.wire.starts_with(&[0x1f, 0x8b])),
        Err(other) => panic!("decode cannot fail with {other:?}"),
    }

    // Real gzip of any content: back to the content, or refused by its inflated size.
    let compressed = Bytes::from(gzip(input.content, input.level));
    match body::decode(compressed, limit) {
        Ok(decoded) => {
            assert!(input.content.len() <= limit);
            assert_eq!(&decoded.bytes[..], input.content);
            assert_eq!(decoded.encoding, Encoding::Gzip);
        }
        Err(BodyError::TooLarge { .. }) => assert!(input.content.len() > limit),
        Err(other) => panic!("valid gzip refused: {other:?}"),
    }

    // The collector over the wire bytes in arbitrary chunks.
    let stream = futures_util::stream::iter(split(input.wire, &input.chunks));
    let collected = RUNTIME.block_on(body::collect(stream, limit, Duration::from_secs(5)));
    if input.wire.len() <= limit {
        assert_eq!(collected.as_deref(), Ok(input.wire));
    } else {
        assert_eq!(collected, Err(BodyError::TooLarge { limit }));
    }
    assert_eq!(
        body::check_declared_length(Some(input.wire.len() as u64), limit).is_ok(),
        input.wire.len() <= limit
    );
});
