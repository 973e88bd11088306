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
    """Processes a run left: any of the bubblewrap runs' uids, and in Docker any uid-1000
    process whose parent is uid 1000 too (only a container's PID 1, the execution server,
    has a parent outside the container)."""
    stray = []
    for process in psutil.process_iter(["uids", "cmdline", "status", "ppid"]):
        if process.info["status"] == psutil.STATUS_ZOMBIE or not process.info["uids"]:
            continue
        uid = process.info["uids"].real
        if UID_BASE <= uid < UID_BASE + UID_COUNT or (
            uid == 1000 and _uid(process.info["ppid"]) == 1000
        ):
            stray.append(process.info["cmdline"])
    return stray


def _uid(pid: int) -> int | None:
    try:
        return psutil.Process(pid).uids().real
    except psutil.Error:
        return None
