"""Rendered chart fixtures shared by the deployment tests."""

import pytest

from chartlib import CHART, render


@pytest.fixture(scope="session")
def default_render():
    return render()


@pytest.fixture(scope="session")
def minimal_render():
    return render([CHART / "ci" / "minimal-values.yaml"])


@pytest.fixture(scope="session")
def full_render():
    return render([CHART / "ci" / "full-values.yaml"])


@pytest.fixture(scope="session")
def existing_secret_render():
    return render([CHART / "ci" / "existing-secret-values.yaml"])
