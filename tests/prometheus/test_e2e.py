"""End to end against a real Prometheus: the service runs, receives a known mix of signed
events and bad requests, Debian's Prometheus scrapes it every second with the repository's
rules loaded, and the test asks Prometheus' HTTP API:

(a) the counters hold exactly what was sent, per event type, reason, attempt and status;
(b) every PromQL expression of both dashboards and of the rules file evaluates without error,
    and returns data wherever the traffic says it should (allow-list below);
(c) `promtool check metrics` accepts the service's exposition.

The service binary comes from $STREAM_WEBHOOKS_BIN (default target/debug/stream-webhooks);
.ci/deploy-checks.sh builds it when missing. prometheus and promtool must be on PATH.
"""

import gzip
import hashlib
import hmac
import http.client
import json
import math
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
DASHBOARDS = sorted((ROOT / "dashboards").glob("*.json"))
SECRET = "e2e-secret-0123456789abcdef0123"
JOB = "stream-webhooks"  # the job name the rules and the chart's ServiceMonitor use
NAMESPACE = "e2e"  # the `namespace` label the dashboards' variable reads
SCRAPE = 1.0  # seconds between scrapes and between rule evaluations

# Grafana's values for the dashboards' built-in variables at a 1 s scrape interval:
# $__rate_interval = max(4 * scrape interval, $__interval + scrape interval).
RATE_INTERVAL = "4s"
INTERVAL = "1s"

# Panels that may stay empty under this traffic, as (dashboard file stem, panel title), each
# with the reason. Keep it short: every entry is a panel this test cannot prove shows data.
# Failure panels are not here: the traffic includes a call.recording_failed, and the service
# counts every known event type and every reason from zero, so their queries return zeros
# rather than nothing. Example of an entry:
#   ("overview", "Some panel"): "why it stays empty under this traffic",
MAY_BE_EMPTY = {}

# Alert expressions are conditions: under this traffic each one is expected to hold or not.
# Each round sends 26 requests, 8 rejected and 2 of them for a bad signature: a rejection
# ratio of about 0.3 (> 0.1) and an invalid-signature ratio of about 0.08 (< 0.2). Every
# `reason` and every answered `status` series exists from the start, so rate() counts all.
ALERTS_EXPECTED_TO_HOLD = {
    "StreamWebhooksTargetDown": False,
    "StreamWebhooksNoEvents": False,
    "StreamWebhooksInvalidSignatureSpike": False,
    "StreamWebhooksRejectionRatioHigh": True,
    "StreamWebhooksLatencyHigh": False,
    "StreamWebhooksProcessingFailures": False,
    "StreamWebhooksOverloaded": False,
}


# --- processes ------------------------------------------------------------------------------

def free_ports(count):
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def http_get(url, timeout=2.0):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.status, response.read().decode()


def wait_until(what, check, timeout, process=None, log=None):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            pytest.fail(f"{what}: the process exited with {process.returncode}\n{tail(log)}")
        try:
            result = check()
            if result:
                return result
        except (OSError, http.client.HTTPException, ValueError, KeyError) as err:
            last = err
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what} (last error: {last})\n{tail(log)}")


def tail(path, lines=30):
    if path is None or not Path(path).exists():
        return ""
    return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])


def stop(process):
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def service_binary():
    path = Path(os.environ.get("STREAM_WEBHOOKS_BIN") or ROOT / "target/debug/stream-webhooks")
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} not found: run `cargo build --locked` or set $STREAM_WEBHOOKS_BIN")
    return str(path)


def start_service(tmp, port, admin):
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "STREAM_WEBHOOKS__SERVER__HOST": "127.0.0.1",
        "STREAM_WEBHOOKS__SERVER__PORT": str(port),
        "STREAM_WEBHOOKS__ADMIN__HOST": "127.0.0.1",
        "STREAM_WEBHOOKS__ADMIN__PORT": str(admin),
        "WEBHOOK_SECRET": SECRET,
        "STREAM_WEBHOOKS_CONFIG_DIR": "/nonexistent",
        "RUST_LOG": "warn",
    }
    log = tmp / "service.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([service_binary()], env=env, cwd=tmp, stdout=out,
                                   stderr=subprocess.STDOUT)
    wait_until("the service's /readyz",
               lambda: http_get(f"http://127.0.0.1:{admin}/readyz")[0] == 200,
               timeout=20, process=process, log=log)
    return process, log


def start_prometheus(tmp, port, admin):
    if not shutil.which("prometheus"):
        pytest.fail("prometheus not found: install Debian's prometheus package")
    config = {
        "global": {"scrape_interval": f"{SCRAPE:g}s", "evaluation_interval": f"{SCRAPE:g}s",
                   "scrape_timeout": f"{SCRAPE:g}s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [{
            "job_name": JOB,
            "static_configs": [{"targets": [f"127.0.0.1:{admin}"],
                                "labels": {"namespace": NAMESPACE}}],
        }],
    }
    config_path = tmp / "prometheus.yml"
    config_path.write_text(yaml.safe_dump(config))
    log = tmp / "prometheus.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            ["prometheus", f"--config.file={config_path}",
             f"--storage.tsdb.path={tmp / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
             "--log.level=warn"],
            cwd=tmp, stdout=out, stderr=subprocess.STDOUT)
    wait_until("Prometheus' /-/ready",
               lambda: http_get(f"http://127.0.0.1:{port}/-/ready")[0] == 200,
               timeout=30, process=process, log=log)
    return process, log


class PromAPI:
    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}/api/v1"

    def get(self, path, **params):
        url = f"{self.base}/{path}?{urllib.parse.urlencode(params, doseq=True)}"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                body = json.load(response)
        except urllib.error.HTTPError as err:
            body = json.load(err)
        if body.get("status") != "success":
            raise PromQLError(f"{body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, expr, at=None):
        return self.get("query", query=expr, time=at or time.time())["result"]

    def query_range(self, expr, start, end, step):
        return self.get("query_range", query=expr, start=start, end=end, step=step)["result"]

    def scalar(self, expr):
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else None

    def by_label(self, expr, label):
        return {s["metric"].get(label, ""): float(s["value"][1]) for s in self.query(expr)}


class PromQLError(Exception):
    pass


# --- traffic --------------------------------------------------------------------------------

def rfc3339(seconds):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def sign(body):
    return hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


class Traffic:
    """Sends requests and keeps what each counter should read afterwards."""

    def __init__(self, port):
        self.port = port
        self.events = Counter()  # event_type label -> accepted events
        self.rejected = Counter()  # reason -> rejections
        self.statuses = Counter()  # HTTP status -> responses
        self.attempts = Counter()  # attempt label -> verified deliveries
        self.duplicates = 0
        self.lengths = Counter()  # histogram -> observations
        self.serial = 0

    def request(self, status, body=b"", path="/api/webhooks", method="POST", headers=None):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            text = response.read().decode(errors="replace")
        finally:
            connection.close()
        assert response.status == status, f"{method} {path}: {response.status} {text}"
        self.statuses[str(status)] += 1
        return text

    def deliver(self, event, label=None, attempt=None, compress=False, webhook_id=None,
                duplicate=False, length=None):
        """A correctly signed delivery, expected to be answered 200."""
        body = json.dumps(event).encode()
        headers = {"Content-Type": "application/json", "X-Signature": sign(body)}
        if webhook_id is None:
            self.serial += 1
            webhook_id = f"e2e-{self.serial}"
        headers["X-Webhook-Id"] = webhook_id
        if attempt is not None:
            headers["X-Webhook-Attempt"] = str(attempt)
        if compress:
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        self.request(200, body, headers=headers)
        self.attempts[attempt_label(attempt)] += 1
        if duplicate:
            self.duplicates += 1
            return webhook_id
        self.events[label or event["type"]] += 1
        if length:
            self.lengths[length] += 1
        return webhook_id

    def refuse(self, reason, status, body=b"", **kwargs):
        self.request(status, body, **kwargs)
        self.rejected[reason] += 1

    def phase(self, n):
        """One round of realistic traffic: 18 deliveries answered 200 and 8 refusals."""
        now = time.time()
        cid = f"default:e2e-call-{n}"
        call = {"id": f"e2e-call-{n}", "type": "default", "cid": cid,
                "created_at": rfc3339(now - 900)}
        for i in range(3):
            created = self.deliver({"type": "call.created", "call_cid": f"{cid}-{i}",
                                    "created_at": rfc3339(now), "call": call})
        self.deliver({"type": "call.created", "call_cid": f"{cid}-2", "call": call},
                     webhook_id=created, duplicate=True)
        session = {**call, "session": {"id": f"s{n}", "started_at": rfc3339(now - 900)}}
        self.deliver({"type": "call.session_started", "call_cid": cid, "session_id": f"s{n}",
                      "call": session})
        for user, seconds in (("alice", 120), ("bob", 600)):
            participant = {"user": {"id": user}, "user_session_id": f"{user}-{n}",
                           "role": "user", "joined_at": rfc3339(now - seconds)}
            self.deliver({"type": "call.session_participant_joined", "call_cid": cid,
                          "session_id": f"s{n}", "participant": participant}, attempt=1)
            self.deliver({"type": "call.session_participant_left", "call_cid": cid,
                          "session_id": f"s{n}", "participant": participant,
                          "duration_seconds": seconds},
                         attempt=2 if user == "bob" else None,
                         length="participant_session")
        self.deliver({"type": "call.participant_left", "call_cid": cid,
                      "participant": {"user_id": "carol", "joined_at": rfc3339(now - 45),
                                      "left_at": rfc3339(now)}},
                     length="participant_session")
        self.deliver({"type": "call.ended", "call_cid": cid,
                      "call": {**call, "ended_at": rfc3339(now), "duration_seconds": 900}},
                     attempt=3, length="call")
        ended = {**call, "session": {"id": f"s{n}", "started_at": rfc3339(now - 900),
                                     "ended_at": rfc3339(now)}}
        self.deliver({"type": "call.session_ended", "call_cid": cid, "session_id": f"s{n}",
                      "call": ended}, length="call")
        self.deliver({"type": "call.recording_stopped", "call_cid": cid,
                      "recording": {"id": f"r{n}", "started_at": rfc3339(now - 600),
                                    "stopped_at": rfc3339(now)}}, length="recording")
        self.deliver({"type": "call.recording_ready", "call_cid": cid,
                      "call_recording": {"filename": f"r{n}.mp4", "url": "https://x.invalid/r",
                                         "start_time": rfc3339(now - 600),
                                         "end_time": rfc3339(now)}},
                     attempt=5, length="recording")
        self.deliver({"type": "call.transcription_ready", "call_cid": cid,
                      "call_transcription": {"filename": f"t{n}.jsonl",
                                             "url": "https://x.invalid/t",
                                             "start_time": rfc3339(now - 600),
                                             "end_time": rfc3339(now)}})
        self.deliver({"type": "call.recording_failed", "call_cid": cid, "egress_id": f"e{n}"})
        # A gzip body, inflated before verification; an unknown type counts as `other`.
        self.deliver({"type": "call.updated", "call_cid": cid, "call": call}, compress=True)
        self.deliver({"type": "message.new", "cid": "messaging:general"}, label="other")

        body = json.dumps({"type": "call.created", "call_cid": cid}).encode()
        json_headers = {"Content-Type": "application/json"}
        self.refuse("invalid_signature", 400, body,
                    headers={**json_headers, "X-Signature": "0" * 64})
        self.refuse("invalid_signature", 400, body,
                    headers={**json_headers, "X-Signature": sign(body + b" ")})
        self.refuse("missing_signature", 400, body, headers=json_headers)
        self.refuse("unsupported_media_type", 415, body,
                    headers={"Content-Type": "text/plain", "X-Signature": sign(body)})
        bad = b'{"type": "call.created", '
        self.refuse("invalid_json", 400, bad, headers={**json_headers, "X-Signature": sign(bad)})
        corrupt = gzip.compress(body)[:12]
        self.refuse("invalid_gzip", 400, corrupt,
                    headers={**json_headers, "X-Signature": sign(body),
                             "Content-Encoding": "gzip"})
        self.refuse("not_found", 404, body, path="/api/webhook",
                    headers={**json_headers, "X-Signature": sign(body)})
        self.refuse("method_not_allowed", 405, method="GET")


def attempt_label(attempt):
    if attempt is None or attempt <= 1:
        return "1"
    return str(attempt) if attempt <= 3 else "4+"


# --- the running stack ----------------------------------------------------------------------

class Stack:
    def __init__(self, api, traffic, admin, started):
        self.api, self.traffic, self.admin, self.started = api, traffic, admin, started

    def selector(self, extra=""):
        return f'{{job="{JOB}", namespace="{NAMESPACE}"{extra}}}'

    def wait_for_scrape_after(self, moment):
        expr = f"timestamp(up{self.selector()})"
        return wait_until(f"a scrape after {moment:.1f}",
                          lambda: (v := self.api.scalar(expr)) and v > moment and v, timeout=15)

    def wait_for_rules_after(self, moment):
        expr = "timestamp(namespace_job:stream_webhooks_requests:rate5m)"
        wait_until(f"a rule evaluation after {moment:.1f}",
                   lambda: (v := self.api.scalar(expr)) and v > moment, timeout=15)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e")
    port, admin, prom_port = free_ports(3)
    service, service_log = start_service(tmp, port, admin)
    prometheus = None
    try:
        prometheus, prom_log = start_prometheus(tmp, prom_port, admin)
        api = PromAPI(prom_port)
        traffic = Traffic(port)
        stack = Stack(api, traffic, admin, time.time())
        # A first scrape before any traffic, so that every counter starts from a sample.
        wait_until("the first scrape", lambda: api.scalar(f"up{stack.selector()}") == 1,
                   timeout=20, process=prometheus, log=prom_log)
        traffic.phase(1)
        # Two rounds, a few scrapes apart: series created by the first round (statuses,
        # encodings) have grown by the second, so rates over short windows are not all zero.
        stack.wait_for_scrape_after(time.time() + 2 * SCRAPE)
        traffic.phase(2)
        done = time.time()
        scraped = stack.wait_for_scrape_after(done)
        stack.wait_for_rules_after(scraped + SCRAPE)
        stack.exposition = http_get(f"http://127.0.0.1:{admin}/metrics")[1]
        yield stack
    finally:
        if prometheus is not None:
            stop(prometheus)
        stop(service)


# --- (a) exact counts -----------------------------------------------------------------------

def test_events_are_counted_exactly_per_type(stack):
    got = stack.api.by_label(f"stream_webhooks_events_total{stack.selector()}", "event_type")
    sent = stack.traffic.events
    assert sent["other"] == 2 and sent["call.created"] == 6
    assert {t: v for t, v in got.items() if v} == dict(sent)
    assert "call.transcription_failed" in got, "known types are counted from zero"


def test_rejections_are_counted_exactly_per_reason(stack):
    got = stack.api.by_label(f"stream_webhooks_rejected_total{stack.selector()}", "reason")
    assert {r: v for r, v in got.items() if v} == dict(stack.traffic.rejected)
    assert got["processing_failed"] == 0, "every reason is counted from zero"


def test_responses_attempts_duplicates_and_lengths_are_counted_exactly(stack):
    api, traffic, sel = stack.api, stack.traffic, stack.selector()
    statuses = api.by_label(f"stream_webhooks_request_duration_seconds_count{sel}", "status")
    assert {s: v for s, v in statuses.items() if v} == dict(traffic.statuses)
    assert statuses["500"] == 0, "answered statuses are counted from zero"
    attempts = api.by_label(f"stream_webhooks_delivery_attempts_total{sel}", "attempt")
    assert {a: v for a, v in attempts.items() if v} == dict(traffic.attempts)
    assert api.scalar(f"stream_webhooks_duplicates_total{sel}") == traffic.duplicates == 2
    for histogram in ("call", "participant_session", "recording"):
        count = api.scalar(f"stream_webhooks_{histogram}_duration_seconds_count{sel}")
        assert count == traffic.lengths[histogram], histogram
    encodings = api.by_label(f"stream_webhooks_body_bytes_count{sel}", "encoding")
    assert encodings["gzip"] == 2, "the valid gzip bodies (the corrupt ones never inflate)"


# --- (b) every expression of the dashboards and rules ---------------------------------------

def dashboard_targets():
    """(dashboard, panel title, refId, expression, instant) for every query of every panel."""
    found = []
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        panels = list(board["panels"])
        while panels:
            panel = panels.pop(0)
            panels.extend(panel.get("panels", []))  # collapsed rows hold their panels
            for target in panel.get("targets", []):
                if target.get("expr"):
                    found.append((path.stem, panel["title"], target.get("refId", "A"),
                                  target["expr"], bool(target.get("instant"))))
    return found


def substitute(expr, range_seconds):
    values = {
        "namespace": NAMESPACE, "job": JOB, "__rate_interval": RATE_INTERVAL,
        "__interval": INTERVAL, "__range": f"{range_seconds}s",
        "__range_s": str(range_seconds), "__range_ms": str(range_seconds * 1000),
        "__interval_ms": str(int(INTERVAL[:-1]) * 1000),
    }

    def replace(match):
        name = match.group(1) or match.group(2)
        if name not in values:
            raise AssertionError(f"unknown variable ${name} in {expr}")
        return values[name]

    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", replace, expr)


def has_data(result):
    """Some series with a number in it; NaN (e.g. a quantile of no requests) is no data."""
    for series in result:
        points = series.get("values") or [series["value"]]
        if any(not math.isnan(float(value)) for _, value in points):
            return True
    return False


TARGETS = dashboard_targets()


@pytest.mark.parametrize("board,title,ref,expr,instant", TARGETS,
                         ids=[f"{t[0]}:{t[1]}:{t[2]}" for t in TARGETS])
def test_every_dashboard_query_evaluates_and_shows_data(stack, board, title, ref, expr,
                                                        instant):
    now = time.time()
    range_seconds = math.ceil(now - stack.started) + 1
    query = substitute(expr, range_seconds)
    try:
        if instant:
            result = stack.api.query(query, at=now)
        else:
            # A timeseries panel is a range query over the dashboard's time range.
            result = stack.api.query_range(query, stack.started, now, INTERVAL)
    except PromQLError as err:
        pytest.fail(f"{board} / {title} / {ref}: {err}\n{query}")
    if (board, title) in MAY_BE_EMPTY:
        return
    assert has_data(result), f"{board} / {title} / {ref} shows no data:\n{query}"


def test_the_dashboard_variables_find_the_job_and_namespace(stack):
    for path in DASHBOARDS:
        variables = json.loads(path.read_text())["templating"]["list"]
        for variable in variables:
            if variable["type"] != "query":
                continue
            definition = variable["definition"]
            match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", definition)
            assert match, f"{path.name}: unexpected variable query {definition}"
            selector = substitute(match.group(1), 60)
            values = stack.api.get(f"label/{match.group(2)}/values", **{"match[]": selector})
            expected = {"namespace": NAMESPACE, "job": JOB}[variable["name"]]
            assert values == [expected], f"{path.name}: ${variable['name']} = {values}"


def rules():
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


RECORDS = [r for r in rules() if "record" in r]
ALERTS = [r for r in rules() if "alert" in r]


@pytest.mark.parametrize("rule", RECORDS,
                         ids=[f"{r['record']}{r.get('labels', {})}" for r in RECORDS])
def test_every_recording_rule_evaluates_and_has_data(stack, rule):
    try:
        result = stack.api.query(rule["expr"])
    except PromQLError as err:
        pytest.fail(f"{rule['record']}: {err}")
    assert has_data(result), f"{rule['record']} has no data:\n{rule['expr']}"
    # The series Prometheus recorded itself, with the labels the dashboards select on.
    matcher = ", ".join(f'{k}="{v}"' for k, v in rule.get("labels", {}).items())
    selector = stack.selector(f", {matcher}" if matcher else "")
    assert has_data(stack.api.query(f"{rule['record']}{selector}")), rule["record"]


@pytest.mark.parametrize("rule", ALERTS, ids=[r["alert"] for r in ALERTS])
def test_every_alert_expression_evaluates_as_the_traffic_says(stack, rule):
    assert rule["alert"] in ALERTS_EXPECTED_TO_HOLD, "add the new alert to the table above"
    try:
        result = stack.api.query(rule["expr"])
    except PromQLError as err:
        pytest.fail(f"{rule['alert']}: {err}")
    expected = ALERTS_EXPECTED_TO_HOLD[rule["alert"]]
    assert bool(result) == expected, f"{rule['alert']}: {result}"
    for series in result:
        assert series["metric"].get("namespace") == NAMESPACE, "alerts must name the namespace"


def test_prometheus_evaluates_every_rule_without_error(stack):
    groups = stack.api.get("rules")["groups"]
    loaded = [rule for group in groups for rule in group["rules"]]
    assert len(loaded) == len(rules())
    for rule in loaded:
        assert rule["health"] == "ok", f"{rule['name']}: {rule.get('lastError')}"


def test_dashboards_and_rules_use_only_metrics_the_service_exposes(stack):
    exposed = {line.split("{")[0].split(" ")[0]
               for line in stack.exposition.splitlines() if line and not line.startswith("#")}
    recorded = {r["record"] for r in RECORDS}
    texts = [t[3] for t in TARGETS] + [r["expr"] for r in rules()]
    used = set()
    for text in texts:
        used |= set(re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?:\{|\[)", text))
    missing = used - exposed - recorded - {"up"}
    assert not missing, f"not in the service's /metrics: {sorted(missing)}"


# --- (c) the exposition ---------------------------------------------------------------------

def test_promtool_accepts_the_exposition(stack):
    result = subprocess.run(["promtool", "check", "metrics"], input=stack.exposition,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
