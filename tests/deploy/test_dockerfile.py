"""The Dockerfile, read as text: no container engine runs in CI, so it cannot be built there."""

import re
import tomllib
from pathlib import Path

from chartlib import ROOT

DOCKERFILE = (ROOT / "Dockerfile").read_text()
INSTRUCTIONS = [line.strip() for line in DOCKERFILE.splitlines()
                if line.strip() and not line.lstrip().startswith("#")]


def instructions(keyword):
    return [line for line in INSTRUCTIONS if line.split()[0] == keyword]


def test_it_builds_in_one_stage_and_runs_from_a_minimal_one():
    stages = instructions("FROM")
    assert len(stages) == 2
    assert " AS build" in stages[0]
    assert "distroless" in stages[1]


def test_it_builds_the_release_binary_with_the_lock_file():
    assert re.search(r"cargo build --release --locked", DOCKERFILE)


def test_it_runs_as_a_numeric_non_root_user():
    (user,) = instructions("USER")
    uid, _, gid = user.split()[1].partition(":")
    assert uid.isdigit() and int(uid) > 0
    assert gid.isdigit() and int(gid) > 0


def test_it_runs_in_production_mode_and_exposes_both_listeners():
    assert "ENV STREAM_WEBHOOKS_ENV=production" in INSTRUCTIONS
    (expose,) = instructions("EXPOSE")
    assert set(expose.split()[1:]) == {"3000", "3001"}
    (entrypoint,) = instructions("ENTRYPOINT")
    assert "stream-webhooks" in entrypoint


def test_the_build_context_leaves_out_build_output_and_history():
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in ("target", ".git"):
        assert entry in ignored
    for needed in ("Cargo.toml", "Cargo.lock", "src"):
        assert needed not in ignored


def test_the_build_context_keeps_every_target_cargo_must_find():
    """Cargo refuses a manifest whose [[bench]] or [[test]] file is missing, even when it builds
    only the binary: the directories of declared targets must reach the build context."""
    manifest = tomllib.loads((ROOT / "Cargo.toml").read_text())
    ignored = (ROOT / ".dockerignore").read_text().split()
    defaults = {"bench": "benches", "test": "tests", "example": "examples", "bin": "src/bin"}
    for kind, directory in defaults.items():
        for target in manifest.get(kind, []):
            path = target.get("path") or f"{directory}/{target['name']}.rs"
            parts = Path(path).parts
            prefixes = {"/".join(parts[: i + 1]) for i in range(len(parts))}
            assert not prefixes & set(ignored), f"{kind} {target['name']}: {path} is ignored"
