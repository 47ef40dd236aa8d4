//! `X-Signature`: lowercase hex HMAC-SHA256 of the raw (uncompressed) body, keyed with
//! the app's secret. Checked in constant time against every secret that may sign.

use std::collections::HashMap;
use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::settings::{Secret, WebhookSettings};

type HmacSha256 = Hmac<Sha256>;

/// Length of a SHA-256 tag in bytes.
const TAG_BYTES: usize = 32;

/// A decoded `X-Signature` value: the 32 bytes of the tag.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature([u8; TAG_BYTES]);

/// The header is not 64 hex digits, with or without a `sha256=` prefix.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("the signature is not 64 hex digits")]
pub struct MalformedSignature;

/// Why a body was not let through.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// `X-Api-Key` names no configured app.
    #[error("unknown API key")]
    UnknownApiKey,
    /// No configured secret produces this signature for this body.
    #[error("signature mismatch")]
    Mismatch,
}

/// One secret, keyed once at start-up so that a request only clones the keyed state.
#[derive(Clone)]
struct Key(HmacSha256);

/// The secrets that may sign a body, and the API keys that pick among them.
#[derive(Clone)]
pub struct Verifier {
    default: Vec<Key>,
    api_key: Option<String>,
    by_api_key: HashMap<String, Vec<Key>>,
}

// === impl Signature ===

impl Signature {
    /// Decodes `<hex>` or `sha256=<hex>`, hex in either case.
    pub fn parse(header: &[u8]) -> Result<Self, MalformedSignature> {
        let hex = strip_prefix_ignore_case(header, b"sha256=").unwrap_or(header);
        let mut tag = [0u8; TAG_BYTES];
        hex::decode_to_slice(hex, &mut tag).map_err(|_| MalformedSignature)?;
        Ok(Self(tag))
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Signature([redacted])")
    }
}

fn strip_prefix_ignore_case<'a>(text: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

// === impl Key ===

impl Key {
    fn new(secret: &Secret) -> Self {
        // HMAC takes keys of any length, so this cannot fail.
        let mac = HmacSha256::new_from_slice(secret.expose().as_bytes())
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        Self(mac)
    }

    fn verifies(&self, body: &[u8], signature: &Signature) -> bool {
        let mut mac = self.0.clone();
        mac.update(body);
        mac.verify_slice(&signature.0).is_ok()
    }
}

// === impl Verifier ===

impl Verifier {
    /// Keys every configured secret.
    pub fn new(settings: &WebhookSettings) -> Self {
        let secrets = settings.secret.iter().chain(&settings.previous_secrets);
        let by_api_key = settings
            .api_keys
            .iter()
            .map(|(api_key, secret)| (api_key.clone(), vec![Key::new(secret)]))
            .collect();
        Self {
            default: secrets.map(Key::new).collect(),
            api_key: settings.api_key.clone(),
            by_api_key,
        }
    }

    /// A verifier for one secret, as tests and benchmarks use it.
    pub fn single(secret: &Secret) -> Self {
        Self {
            default: vec![Key::new(secret)],
            api_key: None,
            by_api_key: HashMap::new(),
        }
    }

    /// Passes when the API key is acceptable and any of its secrets signed `body`.
    pub fn verify(
        &self,
        api_key: Option<&str>,
        body: &[u8],
        signature: &Signature,
    ) -> Result<(), VerifyError> {
        let keys = self.keys_for(api_key)?;
        // Every key is tried, so the time taken does not tell which one matched.
        let matched = keys
            .iter()
            .fold(false, |found, key| key.verifies(body, signature) | found);
        if matched {
            Ok(())
        } else {
            Err(VerifyError::Mismatch)
        }
    }

    /// The secrets the API key selects; an unconfigured key is refused when keys are set.
    fn keys_for(&self, api_key: Option<&str>) -> Result<&[Key], VerifyError> {
        if let Some(keys) = api_key.and_then(|k| self.by_api_key.get(k)) {
            return Ok(keys);
        }
        let restricted = self.api_key.is_some() || !self.by_api_key.is_empty();
        if restricted && api_key != self.api_key.as_deref() {
            return Err(VerifyError::UnknownApiKey);
        }
        Ok(&self.default)
    }
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("secrets", &self.default.len())
            .field("api_keys", &self.by_api_key.len())
            .finish()
    }
}

/// The lowercase hex signature Stream would send for `body`.
pub fn sign(secret: &Secret, body: &[u8]) -> String {
    let mut mac = Key::new(secret).0;
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests;
