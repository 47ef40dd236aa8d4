"""values.schema.json refuses values that would deploy something broken."""

import json

import pytest
import yaml

from chartlib import CHART, DEV_SECRET, render, render_error

BAD_VALUES = [
    ({"replicaCount": "two"}, "replicaCount"),
    ({"replicaCount": -1}, "replicaCount"),
    ({"replicaCont": 2}, "replicaCont"),
    ({"image.pullPolicy": "Sometimes"}, "pullPolicy"),
    ({"image.digest": "latest"}, "digest"),
    ({"webhook.secret": "short"}, "secret"),
    ({"webhook.secret": DEV_SECRET}, "secret"),
    ({"webhook.maxBodyBytes": "1MB"}, "maxBodyBytes"),
    ({"webhook.secretKey": "a/b"}, "secretKey"),
    ({"webhook.unknown": "x"}, "unknown"),
    ({"server.shutdownDelay": "5 seconds"}, "shutdownDelay"),
    ({"server.port": 70000}, "port"),
    ({"log.format": "xml"}, "format"),
    ({"telemetry.otlpProtocol": "udp"}, "otlpProtocol"),
    ({"telemetry.otlpEndpoint": "collector:4317"}, "otlpEndpoint"),
    ({"service.type": "ExternalName"}, "type"),
    ({"ingress.enabled": "yes"}, "enabled"),
    ({"autoscaling.targetCPUUtilizationPercentage": 150}, "targetCPUUtilizationPercentage"),
    ({"serviceMonitor.interval": 30}, "interval"),
    ({"prometheusRule.noEventsFor": "soon"}, "noEventsFor"),
    ({"terminationGracePeriodSeconds": "40"}, "terminationGracePeriodSeconds"),
]


@pytest.mark.parametrize("sets,field", BAD_VALUES, ids=[f for _, f in BAD_VALUES])
def test_the_schema_refuses(sets, field):
    error = render_error(sets=sets)
    assert "schema" in error.lower() and field in error, error


def test_the_schema_closes_the_top_level():
    schema = json.loads((CHART / "values.schema.json").read_text())
    assert schema["additionalProperties"] is False
    assert schema["type"] == "object"


def test_every_default_value_is_described_in_the_schema():
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    schema = json.loads((CHART / "values.schema.json").read_text())
    assert set(values) <= set(schema["properties"])


def indent_of(line):
    return len(line) - len(line.lstrip())


def is_key(line):
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith(("#", "- ")) and ":" in stripped


def has_comment(lines, number):
    """A key is documented by a comment right above it, or above a key that contains it."""
    while True:
        if number > 0 and lines[number - 1].strip().startswith("#"):
            return True
        parents = [j for j in range(number - 1, -1, -1)
                   if is_key(lines[j]) and indent_of(lines[j]) < indent_of(lines[number])]
        if not parents:
            return False
        number = parents[0]


def test_every_value_has_a_comment():
    lines = (CHART / "values.yaml").read_text().splitlines()
    missing = [f"values.yaml:{n + 1}: {line.strip()}" for n, line in enumerate(lines)
               if is_key(line) and not has_comment(lines, n)]
    assert not missing, "\n".join(missing)


def test_good_values_still_render():
    render(sets={"webhook.secret": "x" * 16, "server.shutdownDelay": "250ms",
                 "terminationGracePeriodSeconds": 26, "server.shutdownTimeout": "25s",
                 "podDisruptionBudget.minAvailable": "50%"})
