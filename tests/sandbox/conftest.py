"""Sandbox fixtures: the Docker pool (one per session) and `backend`, which runs a test on
both backends. A machine without a Docker engine or the images fails these tests with the
reason (`make test` installs and builds what they need); nothing is skipped."""

from __future__ import annotations

import psutil
import pytest

from synth.sandbox.base import Limits
from synth.sandbox.bubblewrap import UID_BASE, UID_COUNT


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
    """Each backend in turn; after the test, nothing the runs started lives on and a plain
    run works (what every attack must leave behind)."""
    sandbox = request.getfixturevalue(
        "sandbox" if request.param == "bubblewrap" else "docker_sandbox"
    )
    yield sandbox
    assert stray_processes() == []
    result = sandbox.run({"main.py": "print('next')"}, ["python3", "main.py"], Limits(timeout_s=5))
    assert result.stdout == "next\n", result


def stray_processes() -> list[list[str]]:
    """Processes of the sandboxes' uids other than a pool container's execution server."""
    stray = []
    for process in psutil.process_iter(["uids", "cmdline", "status"]):
        if process.info["status"] == psutil.STATUS_ZOMBIE or not process.info["uids"]:
            continue
        uid, cmdline = process.info["uids"].real, process.info["cmdline"] or []
        if not cmdline:  # exiting (a recycled container going away) or not yet exec'd
            continue
        in_bubblewrap = UID_BASE <= uid < UID_BASE + UID_COUNT
        in_docker = uid == 1000 and cmdline[:2] != ["python3", "-c"]
        if in_bubblewrap or in_docker:
            stray.append(cmdline)
    return stray
