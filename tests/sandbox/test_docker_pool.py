"""The Docker pool itself: the containers' hardening, recycling, healing, the exec path,
clear errors, and `auto`'s choice."""

from __future__ import annotations

import subprocess
import sys

import docker
import pytest

from synth.errors import SynthError
from synth.sandbox import get_sandbox
from synth.sandbox.base import Limits
from synth.sandbox.docker_pool import LABEL, DockerSandbox

pytestmark = [pytest.mark.sandbox, pytest.mark.docker]

HOSTNAME = "import socket\nprint(socket.gethostname(), flush=True)\n"


def hostname_of(sandbox, code: str = HOSTNAME, limits: Limits = Limits(timeout_s=5)) -> str:
    result = sandbox.run({"main.py": code}, ["python3", "main.py"], limits)
    return result.stdout.split()[0] if result.stdout.strip() else ""


@pytest.fixture
def small_pool():
    sandbox = DockerSandbox(pool_size=1, recycle_after=3)
    yield sandbox
    sandbox.close()


def pool_containers(sandbox: DockerSandbox, hostname: str):
    return [
        c
        for c in sandbox.client.containers.list(all=True, filters={"label": LABEL})
        if c.id.startswith(hostname)
    ]


def test_containers_are_started_with_every_limit(small_pool):
    host = hostname_of(small_pool)
    (container,) = pool_containers(small_pool, host)
    config, hostconfig = container.attrs["Config"], container.attrs["HostConfig"]
    assert hostconfig["NetworkMode"] == "none"
    assert hostconfig["ReadonlyRootfs"] is True
    assert hostconfig["CapDrop"] == ["ALL"]
    assert hostconfig["SecurityOpt"] == ["no-new-privileges"]
    assert hostconfig["PidsLimit"] == Limits().max_processes + 1
    assert hostconfig["Memory"] == hostconfig["MemorySwap"] > 0  # no swap beyond the limit
    assert hostconfig["NanoCpus"] == 1_000_000_000
    assert set(hostconfig["Tmpfs"]) == {"/work", "/tmp"}
    assert "size=256m" in hostconfig["Tmpfs"]["/work"]
    assert config["User"] == "1000:1000"
    assert {u["Name"] for u in hostconfig["Ulimits"]} >= {"core", "nofile"}


def test_a_container_is_recycled_after_a_timeout(small_pool):
    looping = HOSTNAME + "while True:\n    pass\n"
    timed_out = hostname_of(small_pool, looping, Limits(timeout_s=1))
    assert timed_out
    after = {hostname_of(small_pool) for _ in range(3)}
    assert timed_out not in after and len(after) == 1


def test_a_container_is_recycled_every_n_runs(small_pool):
    hosts = [hostname_of(small_pool) for _ in range(6)]
    assert hosts[0] == hosts[1] == hosts[2] != hosts[3] == hosts[4] == hosts[5]


@pytest.mark.parametrize("how", ["kill", "remove"])
def test_the_pool_heals_when_its_container_dies(small_pool, how):
    host = hostname_of(small_pool)
    (container,) = pool_containers(small_pool, host)
    if how == "kill":
        container.kill()
    else:
        container.remove(force=True)
    healed = hostname_of(small_pool)
    assert healed and healed != host


def test_the_exec_path_runs_each_execution_in_a_fresh_process():
    sandbox = DockerSandbox(pool_size=1, mode="exec")
    try:
        ok = sandbox.run({"main.py": "print(6 * 7)"}, ["python3", "main.py"], Limits(timeout_s=5))
        failed = sandbox.run({"main.py": "raise SystemExit(3)"}, ["python3", "main.py"])
    finally:
        sandbox.close()
    assert (ok.status, ok.stdout) == ("ok", "42\n")
    assert (failed.status, failed.exit_code) == ("failed", 3)


def test_a_missing_image_names_the_build_command():
    sandbox = DockerSandbox(pool_size=1, image_tag="never-built")
    try:
        with pytest.raises(SynthError, match="synth sandbox build --language python"):
            sandbox.run({"main.py": "print(1)"}, ["python3", "main.py"])
    finally:
        sandbox.close()


def test_auto_takes_docker_when_an_engine_answers():
    sandbox = get_sandbox("auto")
    try:
        assert sandbox.name == "docker" and "Docker engine answered" in sandbox.auto_reason
    finally:
        sandbox.close()


def test_auto_falls_back_to_bubblewrap_and_says_why(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    sandbox = get_sandbox("auto")
    assert sandbox.name == "bubblewrap"
    assert "no Docker engine answers" in sandbox.auto_reason


def test_closing_the_pool_removes_its_containers():
    sandbox = DockerSandbox(pool_size=1)
    host = hostname_of(sandbox)
    assert pool_containers(sandbox, host)
    sandbox.close()
    client = docker.from_env()
    assert not [c for c in client.containers.list(all=True) if c.id.startswith(host)]


def test_containers_of_a_killed_process_are_removed_by_the_next_pool(tmp_path):
    script = (
        "import os\n"
        "from synth.sandbox.docker_pool import DockerSandbox\n"
        "sandbox = DockerSandbox(pool_size=1)\n"
        "print(sandbox.run({'main.py': 'import socket; print(socket.gethostname())'},"
        " ['python3', 'main.py']).stdout.strip(), flush=True)\n"
        "os.kill(os.getpid(), 9)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == -9
    orphan = done.stdout.strip()
    client = docker.from_env()
    assert [c for c in client.containers.list(all=True) if c.id.startswith(orphan)]
    DockerSandbox(pool_size=1).close()
    assert not [c for c in client.containers.list(all=True) if c.id.startswith(orphan)]
