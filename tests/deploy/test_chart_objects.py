"""The objects around the Deployment: Service, Ingress, PDB, NetworkPolicy and monitoring."""

import json
import subprocess

import pytest
import yaml

from chartlib import CHART, DASHBOARDS, RULES, load_yaml, render


@pytest.fixture(params=["default_render", "full_render"])
def any_service_render(request):
    return request.getfixturevalue(request.param)


def test_default_values_render_only_the_core_objects(default_render):
    assert default_render.kinds() == [
        "ConfigMap", "Deployment", "PodDisruptionBudget", "Secret", "Service",
        "ServiceAccount"]


def test_full_values_render_every_optional_object(full_render):
    kinds = set(full_render.kinds())
    assert kinds >= {
        "Ingress", "HorizontalPodAutoscaler", "NetworkPolicy", "ServiceMonitor",
        "PrometheusRule", "PodDisruptionBudget"}
    dashboards = [c for c in full_render.all("ConfigMap") if "dashboards" in c["metadata"]["name"]]
    assert len(dashboards) == 1


def test_the_service_names_its_ports_http_and_metrics(any_service_render):
    service = any_service_render.one("Service")
    ports = {p["name"]: p["targetPort"] for p in service["spec"]["ports"]}
    assert ports == {"http": "http", "metrics": "metrics"}


def test_the_ingress_routes_only_the_webhook_path(full_render):
    ingress = full_render.one("Ingress")
    service = full_render.one("Service")["metadata"]["name"]
    rules = ingress["spec"]["rules"]
    assert [r["host"] for r in rules] == ["webhooks.example.com", "webhooks.example.org"]
    for rule in rules:
        paths = rule["http"]["paths"]
        assert paths == [{
            "path": "/api/webhooks",
            "pathType": "Exact",
            "backend": {"service": {"name": service, "port": {"name": "http"}}},
        }]
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["tls"][0]["secretName"] == "webhooks-tls"


def test_the_pdb_keeps_one_pod_by_default(default_render):
    pdb = default_render.one("PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"] == (
        default_render.deployment()["spec"]["selector"]["matchLabels"])


def test_the_network_policy_opens_metrics_only_to_named_namespaces(full_render):
    policy = full_render.one("NetworkPolicy")
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    by_port = {rule["ports"][0]["port"]: rule for rule in policy["spec"]["ingress"]}
    assert set(by_port) == {"http", "metrics"}
    namespaces = [
        peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for peer in by_port["metrics"]["from"]]
    assert namespaces == ["monitoring", "observability"]


def test_a_network_policy_without_metrics_namespaces_keeps_metrics_closed():
    policy = render(sets={"networkPolicy.enabled": True}).one("NetworkPolicy")
    rules = policy["spec"]["ingress"]
    assert len(rules) == 1 and rules[0]["ports"][0]["port"] == "http"
    assert "from" not in rules[0]


def test_the_service_monitor_scrapes_the_metrics_port_as_job_stream_webhooks(full_render):
    monitor = full_render.one("ServiceMonitor")
    service = full_render.one("Service")
    assert monitor["metadata"]["namespace"] == "monitoring"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["video"]}
    assert monitor["spec"]["selector"]["matchLabels"].items() <= (
        service["metadata"]["labels"].items())
    job_label = monitor["spec"]["jobLabel"]
    assert service["metadata"]["labels"][job_label] == "stream-webhooks"
    endpoint = monitor["spec"]["endpoints"][0]
    assert (endpoint["port"], endpoint["path"]) == ("metrics", "/metrics")
    assert endpoint["metricRelabelings"][0]["action"] == "drop"


def rule_groups(rendered):
    return rendered.one("PrometheusRule")["spec"]["groups"]


def test_the_prometheus_rule_renders_the_rules_file_unchanged_by_default():
    rendered = render(sets={"prometheusRule.enabled": True})
    assert rule_groups(rendered) == load_yaml(RULES)["groups"]


def test_the_prometheus_rule_applies_its_values(full_render):
    groups = {g["name"]: g["rules"] for g in rule_groups(full_render)}
    alerts = {r["alert"]: r for r in groups["stream-webhooks.alerts"]}
    assert "StreamWebhooksOverloaded" not in alerts
    no_events = alerts["StreamWebhooksNoEvents"]
    assert no_events["for"] == "2h"
    assert "at least 2h" in no_events["annotations"]["description"]
    for alert in alerts.values():
        assert alert["labels"]["team"] == "video"
        assert alert["labels"]["severity"] in {"warning", "critical"}
        assert alert["annotations"]["runbook_url"].startswith(
            "https://git.example.com/video/stream-webhooks/blob/main/deploy/RUNBOOK.md#")
    assert groups["stream-webhooks.recording"] == load_yaml(RULES)["groups"][0]["rules"]


def test_the_rendered_prometheus_rule_passes_promtool(full_render, tmp_path):
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump({"groups": rule_groups(full_render)}))
    result = subprocess.run(["promtool", "check", "rules", str(path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_dashboards_config_map_carries_both_dashboards_for_the_sidecar(full_render):
    config_map = next(
        c for c in full_render.all("ConfigMap") if c["metadata"]["name"].endswith("dashboards"))
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert config_map["metadata"]["annotations"] == {"grafana_folder": "Stream"}
    expected = {f"stream-webhooks-{p.name}": json.loads(p.read_text())
                for p in sorted(DASHBOARDS.glob("*.json"))}
    assert set(expected) == {"stream-webhooks-overview.json", "stream-webhooks-calls.json"}
    got = {name: json.loads(text) for name, text in config_map["data"].items()}
    assert got == expected


def test_the_chart_is_self_contained():
    """Helm packages only the chart directory: rules and dashboards live inside it, and the
    top-level copies are links to them."""
    assert (CHART / "rules" / "alerts.yml").is_file()
    assert not (CHART / "rules" / "alerts.yml").is_symlink()
    assert RULES.resolve() == (CHART / "rules" / "alerts.yml").resolve()
    assert DASHBOARDS.resolve() == (CHART / "dashboards").resolve()
    for path in CHART.rglob("*"):
        assert not path.is_symlink(), f"{path} is a link: helm would warn or break"
