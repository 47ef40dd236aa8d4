"""The webhook secret reaches the pod only as a mounted file read through WEBHOOK_SECRET_FILE."""

import base64

from chartlib import CHART, SECRET, render, render_notes

MINIMAL = CHART / "ci" / "minimal-values.yaml"
EXISTING = CHART / "ci" / "existing-secret-values.yaml"


def secret_volume(rendered):
    pod = rendered.pod()
    volume = next(v for v in pod["volumes"] if "secret" in v)
    mount = next(m for m in rendered.container()["volumeMounts"] if m["name"] == volume["name"])
    return volume, mount


def assert_read_from_a_file(rendered, secret_name, key):
    volume, mount = secret_volume(rendered)
    assert volume["secret"]["secretName"] == secret_name
    assert volume["secret"]["items"] == [{"key": key, "path": key}]
    assert mount["readOnly"] is True
    env = rendered.env()
    assert env["WEBHOOK_SECRET_FILE"]["value"] == f"{mount['mountPath']}/{key}"
    assert "WEBHOOK_SECRET" not in env


def assert_never_in_the_workload(rendered, value):
    for obj in rendered.objects:
        if obj["kind"] == "Secret":
            continue
        assert value not in str(obj), f"the secret appears in {obj['kind']}"
    for entry in rendered.container().get("env", []):
        assert "secretKeyRef" not in str(entry.get("valueFrom", {}))


def test_the_chart_stores_a_given_secret_and_mounts_it():
    rendered = render([MINIMAL], {"webhook.secret": SECRET})
    secret = rendered.one("Secret")
    name = secret["metadata"]["name"]
    assert base64.b64decode(secret["data"]["webhook-secret"]).decode() == SECRET
    assert_read_from_a_file(rendered, name, "webhook-secret")
    assert_never_in_the_workload(rendered, SECRET)


def test_the_ci_minimal_values_keep_their_secret_out_of_the_workload(minimal_render):
    assert_never_in_the_workload(minimal_render, "ci-secret-0123456789abcdef")


def test_an_existing_secret_is_used_by_name_and_key(existing_secret_render):
    assert existing_secret_render.all("Secret") == []
    assert_read_from_a_file(existing_secret_render, "stream-video-app", "api-secret")


def test_an_existing_secret_wins_over_an_inline_one():
    rendered = render([EXISTING], {"webhook.secret": SECRET})
    assert rendered.all("Secret") == []
    assert_never_in_the_workload(rendered, SECRET)


def test_the_secret_file_is_readable_by_the_pod_group_only(minimal_render):
    volume, _ = secret_volume(minimal_render)
    assert volume["secret"]["defaultMode"] == 0o440
    assert minimal_render.pod()["securityContext"]["fsGroup"] == 65532


def test_without_a_secret_the_chart_generates_one_and_warns(default_render):
    generated = base64.b64decode(default_render.one("Secret")["data"]["webhook-secret"])
    assert len(generated) >= 32
    assert render().one("Secret")["data"] != default_render.one("Secret")["data"]
    notes = render_notes()
    assert "WARNING: no webhook secret was given" in notes


def test_with_a_secret_the_notes_do_not_warn():
    notes = render_notes([MINIMAL])
    assert "WARNING" not in notes
    assert "/api/webhooks" in notes


def test_a_changed_secret_rolls_the_pods():
    def annotation(secret):
        rendered = render([MINIMAL], {"webhook.secret": secret})
        return rendered.deployment()["spec"]["template"]["metadata"]["annotations"][
            "checksum/secret"]

    assert annotation(SECRET) != annotation(SECRET + "-rotated")
    assert SECRET not in annotation(SECRET)
