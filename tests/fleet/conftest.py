"""A real Redis server (AOF on) and real worker processes for the fleet tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from tests.services import free_port

ROOT = Path(__file__).resolve().parents[2]
VISIBILITY_S = 6  # a whole worker killed gives its task back after this long
CHECK_TIMEOUT_S = 8  # a check unanswered this long is sent again


class RedisServer:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.directory),
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()  # SIGTERM: Redis flushes its AOF and exits
            self.process.wait(timeout=20)
            self.process = None


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(tmp_path / "redis")
    server.directory.mkdir()
    server.start()
    yield server
    server.stop()


class Workers:
    """Worker processes started like a user would (`synth worker`), each in its own group."""

    def __init__(self, url: str, logs: Path) -> None:
        self.url = url
        self.logs = logs
        self.started: list[subprocess.Popen] = []
        self.roles: dict[subprocess.Popen, tuple[str, str]] = {}
        self.replaced: set[subprocess.Popen] = set()
        self.visibility_s = VISIBILITY_S

    def start(
        self, queue: str, name: str, concurrency: int = 2, sandbox: str = "bubblewrap"
    ) -> subprocess.Popen:
        env = {
            **os.environ,
            "SYNTH_VISIBILITY_TIMEOUT": str(self.visibility_s),
            "SYNTH_CHECK_TIMEOUT": str(CHECK_TIMEOUT_S),
            "PYTHONPATH": str(ROOT),
        }
        log = (self.logs / f"{name}.log").open("ab")
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "synth.cli",
                "worker",
                "--queues",
                queue,
                "--redis",
                self.url,
                "--sandbox",
                sandbox,
                "--concurrency",
                str(concurrency),
                "--name",
                f"{name}@test",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.started.append(process)
        self.roles[process] = (queue, name)
        return process

    def wait_ready(self, name: str, timeout_s: float = 60) -> None:
        """Until the worker's log says it is ready (it consumes from then on)."""
        log = self.logs / f"{name}.log"
        deadline = time.monotonic() + timeout_s
        while not (log.exists() and f"{name}@test ready." in log.read_text(errors="replace")):
            if time.monotonic() > deadline:
                raise AssertionError(f"worker {name} did not start: see {log}")
            time.sleep(0.1)

    def supervise(self) -> None:
        """Start again every worker that exited, as compose's `restart: always` does."""
        for process in list(self.started):
            if process.poll() is not None and process not in self.replaced:
                self.replaced.add(process)
                queue, name = self.roles[process]
                self.start(queue, f"{name}r")

    def kill(self, process: subprocess.Popen) -> None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def stop_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.started:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@pytest.fixture
def workers(redis_server, tmp_path):
    pool = Workers(redis_server.url, tmp_path)
    yield pool
    pool.stop_all()
