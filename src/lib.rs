//! stream-webhooks: a receiver for GetStream.io video webhooks that verifies every
//! delivery, answers within milliseconds, and is observable from the first request.
#![forbid(unsafe_code)]

pub mod cli;
pub mod dedupe;
pub mod event;
pub mod metrics;
pub mod processor;
pub mod server;
pub mod settings;
pub mod telemetry;
pub mod webhook;
