//! Reading the body: bounded while it streams in, and inflated when it is gzip.

use std::io::Read;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use flate2::read::GzDecoder;
use futures_util::{Stream, StreamExt};

/// The two bytes every gzip stream starts with.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// How the body arrived on the wire: a closed set, usable as a metric label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// Plain bytes.
    Identity,
    /// Gzip, inflated before verification.
    Gzip,
}

/// A body as received, inflated if it was gzip: the bytes the signature covers.
#[derive(Clone, Debug)]
pub struct RawBody {
    /// The uncompressed bytes.
    pub bytes: Bytes,
    /// How they arrived.
    pub encoding: Encoding,
    /// Size on the wire, before inflating.
    pub wire_bytes: usize,
}

/// Why a body could not be read.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// Over the limit, on the wire or once inflated.
    #[error("the body is larger than {limit} bytes")]
    TooLarge {
        /// The limit in force.
        limit: usize,
    },
    /// It starts like gzip but does not inflate.
    #[error("the gzip stream is corrupt")]
    InvalidGzip,
    /// The client did not send the whole body in time.
    #[error("the body did not arrive within {0:?}")]
    Timeout(Duration),
    /// The connection failed while the body was read.
    #[error("the body could not be read")]
    Interrupted,
}

impl Encoding {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Identity => "identity",
            Self::Gzip => "gzip",
        }
    }
}

/// Refuses a declared length over the limit before a byte of the body is read.
pub fn check_declared_length(content_length: Option<u64>, limit: usize) -> Result<(), BodyError> {
    match content_length {
        Some(length) if length > limit as u64 => Err(BodyError::TooLarge { limit }),
        _ => Ok(()),
    }
}

/// Collects a body of at most `limit` bytes within `timeout`, whether it comes with a
/// `Content-Length` or chunked; it stops reading at the first byte over the limit.
pub async fn collect<S, B, E>(
    stream: S,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, BodyError>
where
    S: Stream<Item = Result<B, E>>,
    B: Buf,
{
    tokio::time::timeout(timeout, collect_bounded(stream, limit))
        .await
        .map_err(|_| BodyError::Timeout(timeout))?
}

async fn collect_bounded<S, B, E>(stream: S, limit: usize) -> Result<Bytes, BodyError>
where
    S: Stream<Item = Result<B, E>>,
    B: Buf,
{
    let mut stream = std::pin::pin!(stream);
    let mut body = BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let mut chunk = chunk.map_err(|_| BodyError::Interrupted)?;
        if body.len() + chunk.remaining() > limit {
            return Err(BodyError::TooLarge { limit });
        }
        while chunk.has_remaining() {
            let part = chunk.chunk();
            body.extend_from_slice(part);
            let read = part.len();
            chunk.advance(read);
        }
    }
    Ok(body.freeze())
}

/// Inflates a gzip body, bounded by `limit`; other bodies pass unchanged. Gzip is
/// recognised by its magic bytes, as Stream's SDKs do, because proxies may strip or
/// keep `Content-Encoding` after decompressing.
pub fn decode(wire: Bytes, limit: usize) -> Result<RawBody, BodyError> {
    let wire_bytes = wire.len();
    if !wire.starts_with(&GZIP_MAGIC) {
        return Ok(RawBody {
            bytes: wire,
            encoding: Encoding::Identity,
            wire_bytes,
        });
    }
    let mut inflated = Vec::with_capacity(wire_bytes.saturating_mul(4).min(limit));
    // One byte more than the limit tells a body at the limit from a bomb.
    let mut decoder = GzDecoder::new(&wire[..]).take(limit as u64 + 1);
    decoder
        .read_to_end(&mut inflated)
        .map_err(|_| BodyError::InvalidGzip)?;
    if inflated.len() > limit {
        return Err(BodyError::TooLarge { limit });
    }
    Ok(RawBody {
        bytes: Bytes::from(inflated),
        encoding: Encoding::Gzip,
        wire_bytes,
    })
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::Compression;
    use flate2::write::GzEncoder;
    use futures_util::stream;

    use super::*;

    fn gzip(bytes: &[u8]) -> Bytes {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(bytes).expect("compresses");
        Bytes::from(encoder.finish().expect("finishes"))
    }

    fn chunks(parts: &[&'static [u8]]) -> impl Stream<Item = Result<Bytes, ()>> {
        stream::iter(
            parts
                .iter()
                .map(|p| Ok(Bytes::from_static(p)))
                .collect::<Vec<_>>(),
        )
    }

    #[tokio::test]
    async fn collects_a_chunked_body_up_to_the_limit_and_no_further() {
        let long = Duration::from_secs(5);
        let exact = collect(chunks(&[b"abc", b"de"]), 5, long).await;
        assert_eq!(exact.as_deref(), Ok(&b"abcde"[..]));
        let over = collect(chunks(&[b"abc", b"def"]), 5, long).await;
        assert_eq!(over, Err(BodyError::TooLarge { limit: 5 }));
    }

    #[tokio::test]
    async fn gives_up_on_a_body_that_never_finishes() {
        let never = stream::pending::<Result<Bytes, ()>>();
        let result = collect(never, 5, Duration::from_millis(20)).await;
        assert_eq!(result, Err(BodyError::Timeout(Duration::from_millis(20))));
    }

    #[test]
    fn inflates_gzip_and_keeps_the_wire_size() {
        let body = decode(gzip(b"{\"type\":\"x\"}"), 1024).expect("inflates");
        assert_eq!(&body.bytes[..], b"{\"type\":\"x\"}");
        assert_eq!(body.encoding, Encoding::Gzip);
        assert!(body.wire_bytes > 12);
    }

    #[test]
    fn refuses_a_gzip_bomb_by_its_inflated_size() {
        let bomb = gzip(&vec![b' '; 1 << 20]);
        assert!(bomb.len() < 2048);
        assert_eq!(
            decode(bomb, 4096).map(|b| b.bytes),
            Err(BodyError::TooLarge { limit: 4096 })
        );
        let at_limit = decode(gzip(&[b' '; 4096]), 4096).expect("exactly the limit");
        assert_eq!(at_limit.bytes.len(), 4096);
    }

    #[test]
    fn refuses_corrupt_gzip() {
        let mut corrupt = gzip(b"{\"type\":\"x\"}").to_vec();
        corrupt.truncate(corrupt.len() / 2);
        assert_eq!(
            decode(Bytes::from(corrupt), 1024).map(|b| b.bytes),
            Err(BodyError::InvalidGzip)
        );
        let magic_only = Bytes::from_static(&[0x1f, 0x8b, 0, 1, 2]);
        assert_eq!(
            decode(magic_only, 1024).map(|b| b.bytes),
            Err(BodyError::InvalidGzip)
        );
    }

    #[test]
    fn passes_plain_bodies_through() {
        let body = decode(Bytes::from_static(b"{}"), 1024).expect("plain");
        assert_eq!(body.encoding, Encoding::Identity);
    }
}
