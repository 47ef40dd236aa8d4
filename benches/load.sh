#!/usr/bin/env bash
# Load benchmark of issue 6, on loopback: the release service beside two baselines built as
# examples, the floor (HTTP stack only) and the least correct receiver (floor + gzip, HMAC and
# a serde_json type check), driven by wrk with the same signed payload mix, alternating runs.
#
#   benches/load.sh            # full run: 3 rounds of 10 s per target, after a 3 s warm-up
#   benches/load.sh --smoke    # CI: one 2 s run per target (6 s of load), checks 200s only
#
# Knobs (environment): DURATION (seconds per measured run), ROUNDS, CONNECTIONS (64),
# THREADS (wrk threads, 2), WARMUP (seconds, 0 to skip), PROFILE (release), KEEP_LOGS=1.
#
# The service runs as in production (STREAM_WEBHOOKS_ENV=production, JSON logs with an info
# line per event written to a file, metrics and spans on, no trace exporter). Prints, per
# target, requests per second, p50/p99/p99.9 latency and peak RSS (VmHWM), the ratios of the
# service to the baselines, the service's time to its first successful /readyz, idle RSS
# and stripped binary size, and how each compares with the targets of issue 6. Exits non-zero
# when any target answered anything but 2xx, or failed to start.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SMOKE=0
if [[ "${1:-}" == "--smoke" ]]; then
  SMOKE=1
fi
if ((SMOKE)); then
  # wrk takes whole seconds only.
  DURATION="${DURATION:-2}"
  ROUNDS="${ROUNDS:-1}"
  WARMUP="${WARMUP:-0}"
else
  DURATION="${DURATION:-10}"
  ROUNDS="${ROUNDS:-3}"
  WARMUP="${WARMUP:-3}"
fi
CONNECTIONS="${CONNECTIONS:-64}"
THREADS="${THREADS:-2}"
PROFILE="${PROFILE:-release}"
SECRET="load-benchmark-secret-0123456789abcdef"
TARGETS=(service least_correct floor)

WORK="$(mktemp -d "${TMPDIR:-/tmp}/stream-webhooks-load.XXXXXX")"
declare -A PID PORT

log() { printf '==> %s\n' "$*" >&2; }

cleanup() {
  local target
  for target in "${!PID[@]}"; do
    kill "${PID[$target]}" 2>/dev/null || true
  done
  for target in "${!PID[@]}"; do
    wait "${PID[$target]}" 2>/dev/null || true
  done
  if [[ "${KEEP_LOGS:-0}" == 1 ]]; then
    log "logs kept in $WORK"
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT

ensure_wrk() {
  if command -v wrk >/dev/null; then
    return
  fi
  if [[ "$(id -u)" != 0 ]]; then
    log "wrk is missing: install Debian's package wrk"
    exit 1
  fi
  log "installing wrk (Debian package)"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
}

build() {
  local flag=()
  [[ "$PROFILE" == release ]] && flag=(--release)
  log "building the service and the baselines ($PROFILE)"
  (cd "$ROOT" && cargo build "${flag[@]}" --quiet --bin stream-webhooks \
    --example floor --example least_correct)
  local dir="$ROOT/target/$PROFILE"
  BIN_SERVICE="$dir/stream-webhooks"
  BIN_FLOOR="$dir/examples/floor"
  BIN_LEAST="$dir/examples/least_correct"
}

# A port nothing listens on now; the kernel picks it.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); \
print(s.getsockname()[1])'
}

# Succeeds when GET <path> on 127.0.0.1:<port> answers 200. Bash's /dev/tcp: no fork.
http_ok() {
  local port="$1" path="$2" fd line=""
  { exec {fd}<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null || return 1
  printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' "$path" >&"$fd"
  IFS= read -r -t 2 line <&"$fd" || true
  exec {fd}>&-
  [[ "$line" == "HTTP/1.1 200"* ]]
}

# Microseconds since the epoch, from bash's own clock.
now_us() {
  local t="$EPOCHREALTIME"
  echo "${t/./}"
}

# Polls until `http_ok port path`, at most 10 s; prints the microseconds waited since $3.
wait_ready() {
  local port="$1" path="$2" since="$3" deadline=$(($(now_us) + 10000000))
  until http_ok "$port" "$path"; do
    if (($(now_us) > deadline)); then
      return 1
    fi
  done
  echo $(($(now_us) - since))
}

status_kib() {
  awk -v key="$2:" '$1 == key { print $2 }' "/proc/$1/status"
}

# The signed payload mix: Stream's shapes from 0.1 to 5 KB, the larger ones also gzipped.
prepare_payloads() {
  local data="$ROOT/benches/data" dir="$WORK/payloads" name encoding file
  mkdir -p "$dir"
  : >"$WORK/manifest"
  while read -r name encoding; do
    file="$dir/$name.$encoding"
    if [[ "$encoding" == gzip ]]; then
      gzip -c -n -6 "$data/$name.json" >"$file"
    else
      cp "$data/$name.json" "$file"
    fi
    printf '%s %s %s\n' "$file" \
      "$("$BIN_SERVICE" sign --secret "$SECRET" "$data/$name.json")" "$encoding" \
      >>"$WORK/manifest"
  done <<'MIX'
spec_created identity
spec_updated identity
spec_ended identity
spec_participant_joined identity
spec_participant_left identity
spec_recording_started identity
spec_recording_stopped identity
session_participant_joined identity
recording_ready identity
user_updated identity
call_ended_1k identity
call_ended_1k gzip
channel_created gzip
call_updated_4k identity
call_updated_4k gzip
call_session_ended_5k gzip
MIX
  local count sizes
  count="$(wc -l <"$WORK/manifest")"
  sizes="$(cut -d' ' -f1 "$WORK/manifest" | xargs stat -c %s | sort -n | sed -n '1p;$p' |
    paste -sd- -)"
  log "payload mix: $count signed deliveries, $sizes bytes on the wire, 4 gzipped"
}

start_service() {
  PORT[service]="$(free_port)"
  ADMIN_PORT="$(free_port)"
  local start
  start="$(now_us)"
  env -u OTEL_EXPORTER_OTLP_ENDPOINT -u OTEL_EXPORTER_OTLP_TRACES_ENDPOINT -u RUST_LOG \
    STREAM_WEBHOOKS_ENV=production \
    WEBHOOK_SECRET="$SECRET" \
    STREAM_WEBHOOKS_CONFIG_DIR="$ROOT/config" \
    STREAM_WEBHOOKS__LOG__FORMAT=json \
    STREAM_WEBHOOKS__SERVER__HOST=127.0.0.1 \
    STREAM_WEBHOOKS__SERVER__PORT="${PORT[service]}" \
    STREAM_WEBHOOKS__SERVER__SHUTDOWN_DELAY=0s \
    STREAM_WEBHOOKS__ADMIN__HOST=127.0.0.1 \
    STREAM_WEBHOOKS__ADMIN__PORT="$ADMIN_PORT" \
    "$BIN_SERVICE" >"$WORK/service.log" 2>"$WORK/service.err" &
  PID[service]=$!
  if ! READY_US="$(wait_ready "$ADMIN_PORT" /readyz "$start")"; then
    log "the service did not become ready; its stderr:"
    cat "$WORK/service.err" >&2
    exit 1
  fi
}

start_baseline() {
  local target="$1" binary="$2"
  PORT[$target]="$(free_port)"
  WEBHOOK_SECRET="$SECRET" "$binary" "${PORT[$target]}" >"$WORK/$target.log" 2>&1 &
  PID[$target]=$!
  # Any answer will do: the baselines have no readiness endpoint, a 404 proves it listens.
  local deadline=$(($(now_us) + 10000000))
  until { exec {fd}<>"/dev/tcp/127.0.0.1/${PORT[$target]}"; } 2>/dev/null; do
    if (($(now_us) > deadline)); then
      log "$target did not start"
      cat "$WORK/$target.log" >&2
      exit 1
    fi
  done
  exec {fd}>&-
}

# One wrk run; appends `<target> <round> <RESULT fields>` to $WORK/runs.
drive() {
  local target="$1" round="$2" seconds="$3" output
  if ! output="$(wrk -t "$THREADS" -c "$CONNECTIONS" -d "${seconds}s" --timeout 5s \
    -s "$ROOT/benches/load.lua" "http://127.0.0.1:${PORT[$target]}/api/webhooks" \
    -- "$WORK/manifest" "$target-$round-$RANDOM" 2>&1)"; then
    log "wrk failed on $target:"
    echo "$output" >&2
    exit 1
  fi
  local result
  result="$(grep '^RESULT ' <<<"$output" || true)"
  if [[ -z "$result" ]]; then
    log "wrk printed no result for $target:"
    echo "$output" >&2
    exit 1
  fi
  if [[ "$round" != warmup ]]; then
    echo "$target $round ${result#RESULT }" >>"$WORK/runs"
  fi
  log "$(printf '%-13s %-6s %s' "$target" "$round" "${result#RESULT }")"
}

# Rotates the order each round so that no target always runs first or last.
run_rounds() {
  local round i target
  : >"$WORK/runs"
  if [[ "$WARMUP" != 0 ]]; then
    for target in "${TARGETS[@]}"; do
      drive "$target" warmup "$WARMUP"
    done
  fi
  for ((round = 1; round <= ROUNDS; round++)); do
    for ((i = 0; i < ${#TARGETS[@]}; i++)); do
      target="${TARGETS[$(((i + round - 1) % ${#TARGETS[@]}))]}"
      drive "$target" "$round" "$DURATION"
    done
  done
}

# Throughput over all rounds; latency percentiles are the median of the rounds'.
report() {
  local target
  for target in "${TARGETS[@]}"; do
    echo "$target $(status_kib "${PID[$target]}" VmHWM)"
  done >"$WORK/hwm"
  awk -v ready_us="$READY_US" -v idle_kib="$IDLE_KIB" -v size="$BINARY_BYTES" \
    -v smoke="$SMOKE" -f - "$WORK/runs" "$WORK/hwm" <<'AWK'
function field(name,   i, kv) {
  for (i = 3; i <= NF; i++) { split($i, kv, "="); if (kv[1] == name) return kv[2] + 0 }
  return 0
}
function median(list,   n, a, i, j, t) {
  n = split(list, a, " ")
  for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
  return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
function verdict(ok) { return ok ? "ok" : "MISSED" }
FNR == NR {
  t = $1
  req[t] += field("requests"); dur[t] += field("duration_us")
  p50[t] = p50[t] " " field("p50_us"); p99[t] = p99[t] " " field("p99_us")
  p999[t] = p999[t] " " field("p999_us")
  bad[t] += field("non2xx")
  sock[t] += field("connect_errors") + field("read_errors") + field("write_errors") + field("timeouts")
  next
}
{ hwm[$1] = $2 }
END {
  split("service least_correct floor", order, " ")
  printf "\n%-14s %10s %9s %9s %9s %10s %8s %8s\n", "target", "req/s", "p50 ms", "p99 ms", \
    "p99.9 ms", "peak MiB", "non-2xx", "sockerr"
  for (k = 1; k <= 3; k++) {
    t = order[k]
    rps[t] = dur[t] ? req[t] / (dur[t] / 1e6) : 0
    printf "%-14s %10.0f %9.3f %9.3f %9.3f %10.1f %8d %8d\n", t, rps[t], median(p50[t]) / 1000, \
      median(p99[t]) / 1000, median(p999[t]) / 1000, hwm[t] / 1024, bad[t], sock[t]
  }
  ratio_least = rps["least_correct"] ? rps["service"] / rps["least_correct"] : 0
  ratio_floor = rps["floor"] ? rps["service"] / rps["floor"] : 0
  printf "\nservice / least_correct throughput: %.3f\n", ratio_least
  printf "service / floor throughput:         %.3f\n", ratio_floor
  printf "service ready (first /readyz 200):  %.1f ms after start\n", ready_us / 1000
  printf "service idle RSS:                   %.1f MiB\n", idle_kib / 1024
  printf "service binary (stripped):          %.1f MiB\n", size / 1048576
  if (!smoke) {
    printf "\nissue 6 targets:\n"
    printf "  throughput >= 0.90 of least correct: %.3f  %s\n", ratio_least, verdict(ratio_least >= 0.9)
    printf "  p99 < 2 ms:                          %.3f  %s\n", median(p99["service"]) / 1000, \
      verdict(median(p99["service"]) < 2000)
    printf "  RSS under load < 32 MiB:             %.1f  %s\n", hwm["service"] / 1024, \
      verdict(hwm["service"] < 32 * 1024)
    printf "  RSS idle < 16 MiB:                   %.1f  %s\n", idle_kib / 1024, verdict(idle_kib < 16 * 1024)
    printf "  ready < 100 ms:                      %.1f  %s\n", ready_us / 1000, verdict(ready_us < 100000)
    printf "  binary < 16 MiB:                     %.1f  %s\n", size / 1048576, verdict(size < 16 * 1048576)
  }
  failed = 0
  for (k = 1; k <= 3; k++) {
    t = order[k]
    if (req[t] == 0 || bad[t] > 0) { printf "FAIL: %s answered %d requests, %d not 2xx\n", t, req[t], bad[t]; failed = 1 }
  }
  exit failed
}
AWK
}

main() {
  ensure_wrk
  build
  prepare_payloads
  local stripped="$WORK/stream-webhooks.stripped"
  strip -o "$stripped" "$BIN_SERVICE"
  BINARY_BYTES="$(stat -c %s "$stripped")"

  start_service
  start_baseline least_correct "$BIN_LEAST"
  start_baseline floor "$BIN_FLOOR"
  sleep 1
  IDLE_KIB="$(status_kib "${PID[service]}" VmRSS)"
  log "service ready after $((READY_US / 1000)) ms; idle RSS $((IDLE_KIB / 1024)) MiB"
  log "$CONNECTIONS connections, $THREADS wrk threads, $ROUNDS round(s) of ${DURATION}s"

  run_rounds
  local lines
  lines="$(grep -c '"webhook accepted"' "$WORK/service.log" || true)"
  log "the service wrote $lines 'webhook accepted' log lines"
  report
}

main "$@"
