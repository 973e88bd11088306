"""Sandbox fixtures: the Docker pool (one per session) and `backend`, which runs a test on
both backends. A machine without a Docker engine or the images fails these tests with the
reason (`make test` installs and builds what they need); nothing is skipped."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def docker_sandbox():
    from synth.sandbox import get_sandbox

    backend = get_sandbox("docker", pool_size=2)
    for language in ("python", "javascript", "cpp", "rust", "go", "java", "php"):
        backend.image_ready(language)  # names `synth sandbox build` when one is missing
    yield backend
    backend.close()


@pytest.fixture(params=["bubblewrap", "docker"])
def backend(request):
    return request.getfixturevalue("sandbox" if request.param == "bubblewrap" else "docker_sandbox")
