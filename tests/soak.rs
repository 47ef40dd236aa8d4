//! Soak: the real binary under a steady mix of valid, duplicate and invalid deliveries for
//! a bounded time, while its resident memory and open file descriptors are sampled.
//! Memory must level off (the dedupe cache is kept small so that it fills and evicts
//! early) and every descriptor must be given back when the clients go.
//!
//! Ignored by default: `SOAK_SECONDS=180 cargo test --release --test soak -- --ignored`.
//! CI runs it with `SOAK_SECONDS=20`.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{Binary, sign};
use tokio::runtime::Runtime;

/// Concurrent senders.
const SENDERS: u64 = 16;
/// Ids the service remembers; far fewer than the soak sends, so eviction runs all along.
const DEDUPE_CAPACITY: &str = "2000";
/// A sender opens a fresh connection every this many requests.
const REQUESTS_PER_CONNECTION: u64 = 200;

/// What the senders saw, by kind of request.
#[derive(Default)]
struct Tally {
    accepted: AtomicU64,
    duplicates: AtomicU64,
    refused: AtomicU64,
    wrong: AtomicU64,
}

fn soak_duration() -> Duration {
    let seconds = std::env::var("SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(180);
    Duration::from_secs(seconds)
}

/// `VmRSS` of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .expect("VmRSS")
}

fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("fd dir")
        .count()
}

/// The sum of the samples whose line starts with `prefix`.
fn total(exposition: &str, prefix: &str) -> u64 {
    exposition
        .lines()
        .filter(|line| line.starts_with(prefix))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

fn event(n: u64) -> Vec<u8> {
    let kinds = [
        "call.created",
        "call.session_participant_joined",
        "call.ended",
    ];
    let kind = kinds[(n % 3) as usize];
    format!(
        r#"{{"type":"{kind}","call_cid":"default:soak-{n}","created_at":"2024-01-15T10:30:00Z"}}"#
    )
    .into_bytes()
}

/// The kinds of request in the mix.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Valid,
    /// The sender's previous valid delivery again, same id.
    Duplicate,
    Forged,
    NotAnObject,
}

fn kind(k: u64) -> Kind {
    match k % 10 {
        0..=5 => Kind::Valid,
        6 | 7 => Kind::Duplicate,
        8 => Kind::Forged,
        _ => Kind::NotAnObject,
    }
}

/// Sends delivery `n` of `kind`; true if the answer was the documented one.
async fn one(client: &reqwest::Client, url: &str, n: u64, kind: Kind) -> bool {
    let signed = |body: Vec<u8>, id: String| {
        client
            .post(url)
            .header("content-type", "application/json")
            .header("x-signature", sign(&body))
            .header("x-webhook-id", id)
            .body(body)
    };
    let request = match kind {
        Kind::Valid | Kind::Duplicate => signed(event(n), format!("soak-{n}")),
        Kind::Forged => client
            .post(url)
            .header("content-type", "application/json")
            .header("x-signature", "0".repeat(64))
            .body(event(n)),
        Kind::NotAnObject => signed(b"[1,2,3]".to_vec(), format!("soak-bad-{n}")),
    };
    let Ok(response) = request.send().await else {
        return false;
    };
    let status = response.status().as_u16();
    let Ok(body) = response.bytes().await else {
        return false;
    };
    let duplicate = body.windows(16).any(|w| w == b"\"duplicate\":true");
    match kind {
        Kind::Valid => status == 200 && !duplicate,
        Kind::Duplicate => status == 200 && duplicate,
        Kind::Forged => {
            status == 400 && body.as_ref() == br#"{"error":"Invalid webhook signature"}"#
        }
        Kind::NotAnObject => {
            status == 400 && body.as_ref() == br#"{"error":"Invalid JSON payload"}"#
        }
    }
}

async fn sender(public: SocketAddr, first: u64, until: Instant, tally: Arc<Tally>) {
    let url = format!("http://{public}/api/webhooks");
    let (mut k, mut last_valid) = (0u64, None);
    while Instant::now() < until {
        // A fresh client is a fresh connection: descriptors must come and go.
        let client = reqwest::Client::new();
        for _ in 0..REQUESTS_PER_CONNECTION {
            let n = first + k * SENDERS;
            k += 1;
            let (kind, n) = match (kind(k), last_valid) {
                (Kind::Duplicate, Some(earlier)) => (Kind::Duplicate, earlier),
                (Kind::Duplicate, None) => (Kind::Valid, n),
                (other, _) => (other, n),
            };
            if kind == Kind::Valid {
                last_valid = Some(n);
            }
            let counter = match kind {
                Kind::Valid => &tally.accepted,
                Kind::Duplicate => &tally.duplicates,
                Kind::Forged | Kind::NotAnObject => &tally.refused,
            };
            if one(&client, &url, n, kind).await {
                counter.fetch_add(1, Ordering::Relaxed);
            } else {
                tally.wrong.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

#[test]
#[ignore = "minutes long; CI runs it with SOAK_SECONDS=20"]
fn memory_and_descriptors_stay_flat_under_mixed_traffic() {
    let duration = soak_duration();
    let binary = Binary::start(&[
        ("STREAM_WEBHOOKS__WEBHOOK__DEDUPE_CAPACITY", DEDUPE_CAPACITY),
        ("RUST_LOG", "info"),
    ]);
    let pid = binary.child.id();
    let fds_idle = fds(pid);
    let runtime = Runtime::new().expect("runtime");
    let tally = Arc::new(Tally::default());
    let until = Instant::now() + duration;
    let senders: Vec<_> = (0..SENDERS)
        .map(|i| runtime.spawn(sender(binary.public, i, until, tally.clone())))
        .collect();

    // Samples once a second; the first fifth of the run is warm-up.
    let warm_up = duration / 5;
    let start = Instant::now();
    let mut samples: Vec<(Duration, u64)> = Vec::new();
    while Instant::now() < until {
        std::thread::sleep(Duration::from_secs(1));
        while binary.lines.try_recv().is_ok() {}
        samples.push((start.elapsed(), rss_kib(pid)));
    }
    for sender in senders {
        runtime.block_on(sender).expect("sender");
    }
    let metrics = runtime.block_on(async {
        let url = format!("http://{}/metrics", binary.admin);
        let response = reqwest::get(url).await.expect("scrape");
        response.text().await.expect("exposition")
    });
    drop(runtime);
    std::thread::sleep(Duration::from_millis(500));
    let fds_after = fds(pid);

    let accepted = tally.accepted.load(Ordering::Relaxed);
    let duplicates = tally.duplicates.load(Ordering::Relaxed);
    let refused = tally.refused.load(Ordering::Relaxed);
    let wrong = tally.wrong.load(Ordering::Relaxed);
    let steady: Vec<u64> = samples
        .iter()
        .filter(|(at, _)| *at >= warm_up)
        .map(|(_, kib)| *kib)
        .collect();
    let third = (steady.len() / 3).max(1);
    let early = *steady[..third].iter().max().expect("samples");
    let late = *steady[steady.len() - third..]
        .iter()
        .max()
        .expect("samples");
    eprintln!(
        "{:?}: {accepted} accepted, {duplicates} duplicates, {refused} refused, {wrong} wrong; \
         RSS early {early} KiB, late {late} KiB, all {samples:?}; fds {fds_idle} -> {fds_after}",
        duration
    );
    assert_eq!(wrong, 0, "answers that were not the documented ones");
    assert!(accepted > 0 && duplicates > 0 && refused > 0);
    // Every accepted event counted once; no duplicate processed, no refusal lost.
    assert_eq!(total(&metrics, "stream_webhooks_events_total{"), accepted);
    assert_eq!(
        total(&metrics, "stream_webhooks_duplicates_total "),
        duplicates
    );
    let reasons = ["invalid_signature", "invalid_json"].map(|reason| {
        total(
            &metrics,
            &format!("stream_webhooks_rejected_total{{reason=\"{reason}\"}}"),
        )
    });
    assert_eq!(reasons.iter().sum::<u64>(), refused);
    // Flat: the late third holds no more than the early third plus allocator slack.
    assert!(
        late <= early + early / 10 + 1024,
        "RSS grew from {early} KiB to {late} KiB"
    );
    assert!(
        fds_after <= fds_idle,
        "descriptors not given back: {fds_idle} idle, {fds_after} after the clients left"
    );
}
