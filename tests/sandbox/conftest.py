"""`backend`: runs a test on both sandbox backends, and checks what each attack left."""

from __future__ import annotations

import psutil
import pytest

from synth.sandbox.base import Limits
from synth.sandbox.bubblewrap import UID_BASE, UID_COUNT


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
