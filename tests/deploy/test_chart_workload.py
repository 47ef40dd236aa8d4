"""The Deployment the chart renders: security, probes, rollout, shutdown and configuration."""

import tomllib

import pytest

from chartlib import CHART, CI_VALUES, render, render_error

RENDERS = ["default_render", "minimal_render", "full_render", "existing_secret_render"]


@pytest.fixture(params=RENDERS)
def any_render(request):
    return request.getfixturevalue(request.param)


def seconds(duration):
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    for suffix in ("ms", "s", "m", "h"):
        if duration.endswith(suffix):
            return float(duration[: -len(suffix)]) * units[suffix]
    raise ValueError(duration)


def config_of(rendered):
    config_map = next(c for c in rendered.all("ConfigMap") if "config.toml" in c["data"])
    return tomllib.loads(config_map["data"]["config.toml"])


def test_every_ci_values_file_renders():
    assert {p.name for p in CI_VALUES} >= {
        "minimal-values.yaml", "full-values.yaml", "existing-secret-values.yaml"}
    for path in CI_VALUES:
        assert "Deployment" in render([path]).kinds(), path.name


def test_pods_run_as_a_numeric_non_root_user_with_runtime_default_seccomp(any_render):
    pod = any_render.pod()["securityContext"]
    assert pod["runAsNonRoot"] is True
    assert isinstance(pod["runAsUser"], int) and pod["runAsUser"] > 0
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}


def test_the_container_is_locked_down(any_render):
    context = any_render.container()["securityContext"]
    assert context["allowPrivilegeEscalation"] is False
    assert context["readOnlyRootFilesystem"] is True
    assert context["runAsNonRoot"] is True
    assert context.get("privileged", False) is False
    assert context["capabilities"]["drop"] == ["ALL"]
    assert "add" not in context["capabilities"]


def test_no_service_account_token_is_mounted(any_render):
    assert any_render.pod()["automountServiceAccountToken"] is False
    for account in any_render.all("ServiceAccount"):
        assert account["automountServiceAccountToken"] is False


def test_probes_hit_the_admin_port(any_render):
    container = any_render.container()
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    config = config_of(any_render)
    assert ports == {"http": config["server"]["port"], "metrics": config["admin"]["port"]}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"


def test_resources_have_requests_and_limits(any_render):
    resources = any_render.container()["resources"]
    for part in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(resources[part]), part


def test_rolling_update_never_removes_a_pod_before_its_replacement_is_ready(any_render):
    strategy = any_render.deployment()["spec"]["strategy"]
    assert strategy["type"] == "RollingUpdate"
    assert strategy["rollingUpdate"]["maxUnavailable"] == 0


def test_two_replicas_by_default(default_render):
    assert default_render.deployment()["spec"]["replicas"] == 2


def test_grace_period_outlasts_the_shutdown_delay_and_timeout(any_render):
    server = config_of(any_render)["server"]
    budget = seconds(server["shutdown_delay"]) + seconds(server["shutdown_timeout"])
    assert any_render.pod()["terminationGracePeriodSeconds"] > budget


def test_a_grace_period_shorter_than_the_shutdown_is_refused():
    error = render_error(sets={"terminationGracePeriodSeconds": 30})
    assert "terminationGracePeriodSeconds" in error


def test_the_config_map_carries_production_settings_and_is_passed_with_config(any_render):
    container = any_render.container()
    assert container["args"][:1] == ["serve"]
    config_path = container["args"][container["args"].index("--config") + 1]
    mount = next(m for m in container["volumeMounts"] if m["name"] == "config")
    assert config_path == mount["mountPath"] + "/config.toml"
    assert any_render.env()["STREAM_WEBHOOKS_ENV"]["value"] == "production"

    config = config_of(any_render)
    assert set(config) == {"server", "admin", "webhook", "log", "telemetry"}
    assert config["server"]["host"] == "0.0.0.0"
    assert "secret" not in config["webhook"] and "previous_secrets" not in config["webhook"]
    for key in ("shutdown_delay", "shutdown_timeout", "request_timeout", "dedupe_ttl"):
        section = "webhook" if key.startswith("dedupe") else "server"
        seconds(config[section][key])
    assert isinstance(config["webhook"]["max_body_bytes"], int)


def test_default_config_matches_the_service_defaults(default_render):
    config = config_of(default_render)
    assert config["server"]["port"] == 3000 and config["admin"]["port"] == 3001
    assert config["server"]["shutdown_delay"] == "5s"
    assert config["server"]["shutdown_timeout"] == "25s"
    assert config["webhook"]["max_body_bytes"] == 1048576
    assert config["log"] == {"level": "info", "format": "json"}


def test_full_values_reach_the_config_file(full_render):
    config = config_of(full_render)
    assert config["server"]["shutdown_delay"] == "10s"
    assert config["server"]["max_concurrent_requests"] == 512
    assert config["webhook"]["api_key"] == "mmhfdzb5evj2"
    assert config["webhook"]["max_body_bytes"] == 2097152
    assert config["log"]["format"] == "text"


def checksum(rendered):
    return rendered.deployment()["spec"]["template"]["metadata"]["annotations"][
        "checksum/config"]


def test_a_config_change_changes_the_checksum_annotation(minimal_render):
    values = [CHART / "ci" / "minimal-values.yaml"]
    same = render(values)
    changed = render(values, {"log.level": "debug"})
    scaled = render(values, {"replicaCount": 5})
    assert len(checksum(minimal_render)) == 64
    assert checksum(same) == checksum(minimal_render)
    assert checksum(changed) != checksum(minimal_render)
    assert checksum(scaled) == checksum(minimal_render)


def test_selector_labels_are_a_subset_of_the_pod_labels(any_render):
    deployment = any_render.deployment()
    selector = deployment["spec"]["selector"]["matchLabels"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= labels.items()
    assert set(selector) == {"app.kubernetes.io/name", "app.kubernetes.io/instance"}


def test_every_object_carries_the_standard_labels(any_render):
    required = {
        "app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version",
        "app.kubernetes.io/managed-by", "helm.sh/chart"}
    for obj in any_render.objects:
        labels = obj["metadata"].get("labels", {})
        assert required <= set(labels), f"{obj['kind']} lacks {required - set(labels)}"


def test_otel_variables_follow_the_telemetry_values(default_render, full_render):
    env = default_render.env()
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" not in env
    assert env["OTEL_SERVICE_NAME"]["value"] == "webhooks-stream-webhooks"
    assert "k8s.pod.name=$(POD_NAME)" in env["OTEL_RESOURCE_ATTRIBUTES"]["value"]

    env = full_render.env()
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"]["value"] == (
        "http://otel-collector.observability:4317")
    assert env["OTEL_EXPORTER_OTLP_PROTOCOL"]["value"] == "grpc"
    assert env["OTEL_SERVICE_NAME"]["value"] == "video-webhooks"
    assert env["OTEL_TRACES_SAMPLER"]["value"] == "parentbased_traceidratio"
    assert env["OTEL_TRACES_SAMPLER_ARG"]["value"] == "0.25"
    assert env["OTEL_RESOURCE_ATTRIBUTES"]["value"].endswith(
        "deployment.environment=production")
    names = list(env)
    # $(VAR) expansion only sees variables defined earlier in the list.
    assert names.index("POD_NAME") < names.index("OTEL_RESOURCE_ATTRIBUTES")


def test_the_image_defaults_to_the_app_version_and_a_digest_wins(default_render, full_render):
    assert default_render.container()["image"] == "stream-webhooks:0.1.0"
    assert full_render.container()["image"].startswith(
        "registry.example.com/video/stream-webhooks@sha256:")


def test_autoscaling_leaves_replicas_to_the_hpa(full_render):
    assert "replicas" not in full_render.deployment()["spec"]
    hpa = full_render.one("HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == full_render.deployment()["metadata"]["name"]
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 12)
