"""The ConfigMap's config.toml, read by the real service binary exactly as the pod does.

The service ignores keys it does not know, so a misspelt key would pass unnoticed: each key the
chart writes must come back, with its value, in the service's effective configuration.
"""

import json
import subprocess
import tomllib

import pytest

from chartlib import SECRET, service_binary

RENDERS = ["default_render", "minimal_render", "full_render", "existing_secret_render"]
UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}


def config_toml(rendered):
    config_map = next(c for c in rendered.all("ConfigMap") if "config.toml" in c["data"])
    return config_map["data"]["config.toml"]


def normalised(value):
    """Durations in seconds ("10m" and "600s" are equal); anything else unchanged."""
    if isinstance(value, str):
        for suffix in ("ms", "s", "m", "h"):
            number = value[: -len(suffix)]
            if value.endswith(suffix) and number.isdigit():
                return float(number) * UNITS[suffix]
    return value


def effective_config(rendered, tmp_path):
    """`stream-webhooks --config <file> config` in production with a mounted secret file."""
    config = tmp_path / "config.toml"
    config.write_text(config_toml(rendered))
    secret = tmp_path / "webhook-secret"
    secret.write_text(SECRET + "\n")
    env = {
        "PATH": "/usr/bin:/bin",
        "STREAM_WEBHOOKS_ENV": "production",
        "WEBHOOK_SECRET_FILE": str(secret),
        "STREAM_WEBHOOKS_CONFIG_DIR": str(tmp_path / "no-config-dir"),
    }
    result = subprocess.run(
        [service_binary(), "--config", str(config), "config"],
        capture_output=True, text=True, timeout=30, env=env, cwd=tmp_path)
    assert result.returncode == 0, f"the service refuses the chart's config:\n{result.stderr}"
    return json.loads(result.stdout)


@pytest.mark.parametrize("render_name", RENDERS)
def test_the_service_accepts_every_key_the_chart_writes(render_name, request, tmp_path):
    rendered = request.getfixturevalue(render_name)
    written = tomllib.loads(config_toml(rendered))
    effective = effective_config(rendered, tmp_path)
    assert effective["environment"] == "production"
    assert effective["webhook"]["secret"] == "[redacted]"
    for section, keys in written.items():
        assert section in effective, f"[{section}] is not a section of the service"
        for key, value in keys.items():
            assert key in effective[section], f"{section}.{key} is not a setting of the service"
            assert normalised(effective[section][key]) == normalised(value), f"{section}.{key}"


def test_the_chart_sets_the_settings_that_matter_in_a_cluster(default_render, tmp_path):
    effective = effective_config(default_render, tmp_path)
    # Both listeners reachable from outside the pod; a shutdown delay for endpoint removal.
    assert effective["server"]["host"] == effective["admin"]["host"] == "0.0.0.0"
    assert normalised(effective["server"]["shutdown_delay"]) > 0
    assert effective["log"]["format"] == "json"
