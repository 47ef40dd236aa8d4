"""Helpers for the deployment tests: render the chart with helm and look at what comes out.

The helm binary comes from $HELM (set by .ci/deploy-checks.sh) or the tools directory that
script fills; a missing helm is a failure, not a skip.
"""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "stream-webhooks"
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
RULES_TEST = ROOT / "deploy" / "prometheus" / "alerts_test.yml"
RUNBOOK = ROOT / "deploy" / "RUNBOOK.md"
DASHBOARDS = ROOT / "dashboards"
CI_VALUES = sorted((CHART / "ci").glob("*-values.yaml"))
DEV_SECRET = "dev-secret-do-not-use-in-production"
SECRET = "a-test-secret-0123456789"


def service_binary():
    """The service binary built from this tree ($STREAM_WEBHOOKS_BIN or the debug build);
    .ci/deploy-checks.sh builds it when it is missing. A missing binary is a failure."""
    path = Path(os.environ.get("STREAM_WEBHOOKS_BIN") or ROOT / "target/debug/stream-webhooks")
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} not found: run `cargo build --locked` or set $STREAM_WEBHOOKS_BIN")
    return str(path)


def helm_binary():
    candidates = [
        os.environ.get("HELM"),
        str(Path.home() / ".cache" / "stream-webhooks-deploy" / "bin" / "helm"),
        shutil.which("helm"),
    ]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    pytest.fail("helm not found: run `bash .ci/deploy-checks.sh tools` or set $HELM")


class Rendered:
    """The objects of one `helm template` run, found by kind and name."""

    def __init__(self, text):
        self.text = text
        self.objects = [doc for doc in yaml.safe_load_all(text) if doc]

    def all(self, kind):
        return [o for o in self.objects if o["kind"] == kind]

    def one(self, kind):
        found = self.all(kind)
        assert len(found) == 1, f"expected one {kind}, found {len(found)}"
        return found[0]

    def kinds(self):
        return sorted(o["kind"] for o in self.objects)

    def deployment(self):
        return self.one("Deployment")

    def pod(self):
        return self.deployment()["spec"]["template"]["spec"]

    def container(self):
        containers = self.pod()["containers"]
        assert len(containers) == 1
        return containers[0]

    def env(self):
        return {e["name"]: e for e in self.container().get("env", [])}


def helm_args(values_files=(), sets=None):
    args = []
    for path in values_files:
        args += ["--values", str(path)]
    for key, value in (sets or {}).items():
        args += ["--set-string" if isinstance(value, str) else "--set", f"{key}={value}"]
    return args


def run_helm(chart, values_files=(), sets=None, extra=()):
    cmd = [helm_binary(), "template", "webhooks", str(chart), "--namespace", "video"]
    cmd += helm_args(values_files, sets) + list(extra)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def render(values_files=(), sets=None):
    """Renders the chart and fails the test with helm's message when it does not render."""
    result = run_helm(CHART, values_files, sets)
    assert result.returncode == 0, f"helm template failed:\n{result.stderr}"
    return Rendered(result.stdout)


def render_error(values_files=(), sets=None):
    """Renders the chart expecting a refusal; returns helm's error text."""
    result = run_helm(CHART, values_files, sets)
    assert result.returncode != 0, "helm template accepted values it should refuse"
    return result.stderr


def render_notes(values_files=(), sets=None):
    """NOTES.txt as `helm install` would print it (helm template skips it, so a copy of the
    chart renders it into a ConfigMap)."""
    with tempfile.TemporaryDirectory() as tmp:
        chart = Path(tmp) / "chart"
        shutil.copytree(CHART, chart)
        shutil.copy(chart / "templates" / "NOTES.txt", chart / "notes.txt")
        (chart / "templates" / "zz-notes.yaml").write_text(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\n"
            'data:\n  notes: {{ tpl (.Files.Get "notes.txt") . | toJson }}\n'
        )
        result = run_helm(chart, values_files, sets,
                          ["--show-only", "templates/zz-notes.yaml"])
        assert result.returncode == 0, result.stderr
        return yaml.safe_load(result.stdout)["data"]["notes"]


def load_yaml(path):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)
