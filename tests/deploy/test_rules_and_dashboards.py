"""Static checks of the alert rules, their unit tests, the runbook and the dashboards.

Whether the expressions return data is checked against a real Prometheus in tests/prometheus.
"""

import json
import re

import pytest

from chartlib import DASHBOARDS, RULES, RULES_TEST, RUNBOOK, load_yaml

REQUIRED_ALERTS = {
    "StreamWebhooksInvalidSignatureSpike", "StreamWebhooksRejectionRatioHigh",
    "StreamWebhooksLatencyHigh", "StreamWebhooksProcessingFailures",
    "StreamWebhooksNoEvents", "StreamWebhooksTargetDown"}


def rules():
    return [rule for group in load_yaml(RULES)["groups"] for rule in group["rules"]]


def alerts():
    return [rule for rule in rules() if "alert" in rule]


def github_anchor(heading):
    anchor = heading.strip().lower()
    anchor = re.sub(r"[^\w\- ]", "", anchor)
    return anchor.replace(" ", "-")


def test_the_issue_alerts_all_exist():
    assert REQUIRED_ALERTS <= {a["alert"] for a in alerts()}


@pytest.mark.parametrize("alert", alerts(), ids=lambda a: a["alert"])
def test_each_alert_is_documented_and_has_a_severity(alert):
    assert alert["labels"]["severity"] in {"warning", "critical"}
    assert set(alert["annotations"]) == {"summary", "description", "runbook_url"}
    assert alert.get("for"), "an alert without `for` pages on a single scrape"
    path, anchor = alert["annotations"]["runbook_url"].split("#")
    assert path == "deploy/RUNBOOK.md"
    headings = [github_anchor(line[3:]) for line in RUNBOOK.read_text().splitlines()
                if line.startswith("## ")]
    assert anchor in headings, f"no section #{anchor} in RUNBOOK.md"


def test_every_alert_has_a_firing_and_a_quiet_unit_test():
    firing, quiet = set(), set()
    for case in load_yaml(RULES_TEST)["tests"]:
        for check in case.get("alert_rule_test", []):
            (firing if check["exp_alerts"] else quiet).add(check["alertname"])
    names = {a["alert"] for a in alerts()}
    assert names <= firing, f"never tested firing: {names - firing}"
    assert names <= quiet, f"never tested quiet: {names - quiet}"


def test_the_rules_file_used_by_promtool_tests_is_this_one():
    assert load_yaml(RULES_TEST)["rule_files"] == ["alerts.yml"]
    assert (RULES_TEST.parent / "alerts.yml").resolve() == RULES.resolve()


def test_recording_rules_follow_the_naming_convention():
    for rule in rules():
        if "record" in rule:
            level, metric, operation = rule["record"].split(":")
            assert metric.startswith("stream_webhooks_")
            for label in level.split("_"):
                assert label in {"namespace", "job", "event", "type", "reason", "le", "status"}
            assert operation


def dashboards():
    return {path.stem: json.loads(path.read_text()) for path in sorted(DASHBOARDS.glob("*.json"))}


def panels(board):
    return [p for p in board["panels"] if p["type"] != "row"]


def test_there_is_an_overview_and_a_calls_dashboard():
    assert set(dashboards()) == {"overview", "calls"}


@pytest.mark.parametrize("name", ["overview", "calls"])
def test_dashboard_is_current_and_stable(name):
    board = dashboards()[name]
    assert board["schemaVersion"] >= 39
    assert board["uid"] == f"stream-webhooks-{name}"
    assert board["id"] is None
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for var in ("namespace", "job"):
        assert variables[var]["type"] == "query"
        assert variables[var]["datasource"]["uid"] == "${datasource}"


@pytest.mark.parametrize("name", ["overview", "calls"])
def test_every_panel_uses_the_variables(name):
    for panel in panels(dashboards()[name]):
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel.get("description"), f"panel {panel['title']!r} has no description"
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}"
            assert 'namespace=~"$namespace"' in target["expr"], panel["title"]
            assert 'job=~"$job"' in target["expr"], panel["title"]


@pytest.mark.parametrize("name", ["overview", "calls"])
def test_panels_have_unique_ids_and_do_not_overlap(name):
    board = dashboards()[name]
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    cells = set()
    for panel in board["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps another panel"
                cells.add((x, y))


def metrics_in(board):
    text = " ".join(t["expr"] for p in panels(board) for t in p["targets"])
    # A metric name is followed by its selector or range: `name{...}` or `name[5m]`.
    return set(re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{|\[)", text))


def test_the_overview_shows_what_the_issue_asks_for():
    used = metrics_in(dashboards()["overview"])
    for metric in (
        "stream_webhooks_events_total", "stream_webhooks_rejected_total",
        "namespace_job:stream_webhooks_request_duration_seconds:quantile_rate5m",
        "stream_webhooks_requests_in_flight", "stream_webhooks_delivery_attempts_total",
        "stream_webhooks_body_bytes_bucket", "process_cpu_seconds_total",
        "process_resident_memory_bytes", "up"):
        assert metric in used, metric


def test_the_calls_dashboard_shows_what_the_issue_asks_for():
    board = dashboards()["calls"]
    used = metrics_in(board)
    for metric in (
        "stream_webhooks_call_duration_seconds_bucket",
        "stream_webhooks_participant_session_duration_seconds_bucket",
        "stream_webhooks_recording_duration_seconds_bucket"):
        assert metric in used, metric
    text = " ".join(t["expr"] for p in panels(board) for t in p["targets"])
    for event in ("call.created", "call.session_started", "call.ended", "call.session_ended",
                  "call.recording_ready", "call.transcription_ready", "_failed"):
        assert event in text, event


def test_recording_rules_used_by_dashboards_exist():
    recorded = {r["record"] for r in rules() if "record" in r}
    for board in dashboards().values():
        for metric in metrics_in(board):
            if ":" in metric:
                assert metric in recorded, metric
