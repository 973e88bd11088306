"""The Docker sandbox: a warm pool of hardened containers per language, driven by docker-py.

Every container of the pool starts with `--network none`, a read-only root, tmpfs work and
temporary directories (size-capped), pids, memory (= memory + swap, so no swapping) and CPU
limits, a file-size ulimit, all capabilities dropped, `no-new-privileges`, as uid 1000.
Its PID 1 is synth's execution server (forkserver.py, passed on the command line so images
never need rebuilding when it changes), which serves one execution at a time over a Unix
socket in a host directory bind-mounted at /run/synth:

- "forkserver" mode (the default) sends each execution over that socket; Python programs
  run in a forked child of the pre-imported server, others are exec'd by it;
- "exec" mode runs each execution through `docker exec` of the same server code in
  one-shot mode, the slower path kept for the benchmark.

A container is recycled (removed, and replaced in the background) after a timeout, a
memory kill, an output flood, processes left behind, every `recycle_after` executions,
and whenever it stops answering; an execution that met a dead container (killed, removed,
daemon restarted) is retried once on a fresh one, so the pool heals on its own.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import psutil

from synth.errors import SynthError
from synth.records import ExecResult
from synth.sandbox.base import Limits, check_file_names
from synth.sandbox.forkserver import receive, send
from synth.sandbox.languages import Language, get_language

SOCKET_DIR = "/run/synth"
SOCKET_NAME = "server.sock"
LABEL = "org.synth.sandbox.pool"  # value: "<host>:<pid>" of the process owning the pool
SERVER_OVERHEAD_MB = 128  # the server's interpreter and pre-imported modules
START_TIMEOUT_S = 60.0


@cache
def server_source() -> str:
    return Path(__file__).with_name("forkserver.py").read_text(encoding="utf-8")


def docker_client(timeout_s: float = 30.0):
    """A docker-py client from the environment (DOCKER_HOST, ...), checked with a ping."""
    try:
        import docker
    except ImportError:
        raise SynthError(
            "sandbox", "the docker package is not installed", "pip install docker"
        ) from None
    try:
        client = docker.from_env(timeout=int(timeout_s))
        client.ping()
    except Exception as exc:  # noqa: BLE001 - docker-py raises several kinds here
        raise SynthError(
            "sandbox",
            f"no Docker engine answers ({exc.__class__.__name__}: {exc})",
            "start dockerd, set DOCKER_HOST, or use --sandbox bubblewrap",
        ) from None
    return client


@dataclass(frozen=True)
class PoolKey:
    """Containers are interchangeable when these container-level settings agree."""

    language: str
    memory_mb: int
    max_processes: int
    disk_mb: int


class _Container:
    """One warm container and the host directory holding its server's socket."""

    def __init__(self, client, image: str, key: PoolKey, language: Language, cpus: float) -> None:
        self.runs = 0
        self.host_dir = Path(tempfile.mkdtemp(prefix="synth-pool-"))
        socket_dir = self.host_dir / "socket"
        socket_dir.mkdir()
        socket_dir.chmod(0o777)  # the server runs as uid 1000 and creates its socket here
        self.socket_path = socket_dir / SOCKET_NAME
        memory = f"{max(key.memory_mb, language.min_memory_mb) + SERVER_OVERHEAD_MB}m"
        tmpfs_options = f"rw,exec,nosuid,nodev,size={key.disk_mb}m,uid=1000,gid=1000,mode=0700"
        try:
            from docker.types import Ulimit

            self.container = client.containers.run(
                image,
                command=[
                    "python3",
                    "-c",
                    server_source(),
                    f"{SOCKET_DIR}/{SOCKET_NAME}",
                    ",".join(language.preload),
                ],
                name=f"synth-sbx-{key.language}-{secrets.token_hex(4)}",
                labels={LABEL: _owner()},
                detach=True,
                user="1000:1000",
                working_dir="/work",
                environment={
                    "PYTHONHASHSEED": "0",
                    "PYTHONDONTWRITEBYTECODE": "1",
                    "OPENBLAS_NUM_THREADS": "1",
                    "LANG": "C.UTF-8",
                },
                network_mode="none",
                read_only=True,
                tmpfs={"/work": tmpfs_options, "/tmp": tmpfs_options.replace("0700", "1777")},
                volumes={str(socket_dir): {"bind": SOCKET_DIR, "mode": "rw"}},
                pids_limit=key.max_processes + 1,  # + the server
                mem_limit=memory,
                memswap_limit=memory,
                nano_cpus=int(cpus * 1e9),
                cap_drop=["ALL"],
                security_opt=["no-new-privileges"],
                ulimits=[
                    Ulimit(name="core", soft=0, hard=0),
                    Ulimit(name="nofile", soft=1024, hard=1024),
                ],
                ipc_mode="private",
                stdin_open=False,
            )
        except Exception as exc:  # noqa: BLE001
            shutil.rmtree(self.host_dir, ignore_errors=True)
            raise _unavailable(image, exc) from None
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.socket_path.exists():  # the server renames its socket in once listening
            if time.monotonic() > deadline:
                self.remove()
                raise SynthError("sandbox", "a sandbox container did not start its server in time")
            self.container.reload()
            if self.container.status not in ("created", "running"):
                logs = self.container.logs(tail=20).decode("utf-8", "replace")
                self.remove()
                raise SynthError("sandbox", f"a sandbox container exited at start: {logs.strip()}")
            time.sleep(0.02)

    def call(self, request: dict, timeout_s: float) -> dict:
        """Send one request to the server and read its reply (socket errors propagate)."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(timeout_s)
            conn.connect(str(self.socket_path))
            send(conn, request)
            return receive(conn)

    def exec_once(self, request: dict) -> dict:
        """The `docker exec` path: one fresh server process per execution."""
        code, output = self.container.exec_run(
            ["python3", "-c", server_source(), "--once", json.dumps(request)],
            user="1000:1000",
            workdir="/work",
        )
        if code != 0:
            raise ConnectionError(f"docker exec failed ({code}): {output[-500:]!r}")
        return json.loads(output)

    def remove(self) -> None:
        try:
            self.container.remove(force=True)
        except Exception:  # noqa: BLE001 - already gone, or the daemon is down
            pass
        shutil.rmtree(self.host_dir, ignore_errors=True)


class _Pool:
    """Idle containers of one key; at most `size` exist, replacements start in the background."""

    def __init__(self, factory, size: int, replacer: ThreadPoolExecutor) -> None:
        self.factory = factory
        self.size = size
        self.replacer = replacer
        self.idle: list[_Container] = []
        self.count = 0  # live containers, idle or busy, plus those being started
        self.failure: Exception | None = None
        self.ready = threading.Condition()

    def acquire(self) -> _Container:
        with self.ready:
            while not self.idle and self.count >= self.size:
                self.ready.wait()
            if self.idle:
                return self.idle.pop()
            self.count += 1
        try:
            return self.factory()
        except BaseException:
            self._forget()
            raise

    def release(self, container: _Container, recycle: bool) -> None:
        if not recycle:
            with self.ready:
                self.idle.append(container)
                self.ready.notify()
            return
        self.replacer.submit(self._replace, container)

    def _replace(self, old: _Container) -> None:
        old.remove()
        try:
            fresh = self.factory()
        except Exception:  # noqa: BLE001 - the next acquire starts one and reports why
            self._forget()
            return
        with self.ready:
            self.idle.append(fresh)
            self.ready.notify()

    def discard(self, container: _Container) -> None:
        container.remove()
        self._forget()

    def _forget(self) -> None:
        with self.ready:
            self.count -= 1
            self.ready.notify()

    def close(self) -> None:
        with self.ready:
            idle, self.idle = self.idle, []
            self.count -= len(idle)
        for container in idle:
            container.remove()


class DockerSandbox:
    """Runs programs in warm, hardened containers; see the module docstring."""

    name = "docker"
    auto_reason = ""

    def __init__(
        self,
        pool_size: int | None = None,
        recycle_after: int = 500,
        mode: str = "forkserver",
        cpus: float = 1.0,
        image_tag: str = "latest",
    ) -> None:
        if mode not in ("forkserver", "exec"):
            raise SynthError("sandbox", f"unknown Docker mode {mode!r}", "forkserver or exec")
        self.client = docker_client()
        remove_orphans(self.client)
        self.pool_size = pool_size or os.cpu_count() or 2
        self.recycle_after = recycle_after
        self.mode = mode
        self.cpus = cpus
        self.image_tag = image_tag
        self.pools: dict[PoolKey, _Pool] = {}
        self.lock = threading.Lock()
        self.replacer = ThreadPoolExecutor(max_workers=2, thread_name_prefix="sandbox-pool")
        self.closed = False

    def describe(self) -> str:
        version = self.client.version().get("Version", "?")
        return f"docker (engine {version}, warm pool, {self.mode})"

    def image(self, language: str) -> str:
        return f"{get_language(language).image}:{self.image_tag}"

    def image_ready(self, language: str) -> None:
        """Raise a SynthError naming the build command when the language's image is missing."""
        self._check_image(self.image(language))

    def run(
        self,
        files: Mapping[str, str],
        command: Sequence[str],
        limits: Limits = Limits(),
        stdin: str = "",
        *,
        compile: Sequence[str] | None = None,
        language: str = "python",
    ) -> ExecResult:
        check_file_names(files)
        spec = get_language(language)
        request = {
            "files": dict(files),
            "steps": [
                *([_step(spec, compile, limits.for_compile(), compile=True)] if compile else []),
                _step(spec, command, limits, stdin=stdin),
            ],
        }
        wait_s = limits.timeout_s + (limits.compile_timeout_s if compile else 0) + 30
        pool = self._pool(spec, limits)
        for attempt in (1, 2):  # a dead container is replaced and the run retried once
            container = pool.acquire()
            try:
                if self.mode == "exec":
                    reply = container.exec_once(request)
                else:
                    reply = container.call(request, wait_s)
            except Exception as exc:  # noqa: BLE001 - socket, JSON or docker-py: it is gone
                pool.discard(container)
                if attempt == 2:
                    return _error(f"the sandbox container failed twice: {exc}")
                continue
            container.runs += 1
            pool.release(
                container, bool(reply.pop("recycle")) or container.runs >= self.recycle_after
            )
            return ExecResult(**reply)
        raise AssertionError("unreachable")

    def warm(self, language: str = "python", limits: Limits = Limits()) -> None:
        """Start the pool's containers now instead of on first use."""
        pool = self._pool(get_language(language), limits)
        taken = [pool.acquire() for _ in range(pool.size)]
        for container in taken:
            pool.release(container, recycle=False)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.replacer.shutdown(wait=True)
        for pool in self.pools.values():
            pool.close()

    # --- internals -------------------------------------------------------------------

    def _pool(self, spec: Language, limits: Limits) -> _Pool:
        key = PoolKey(spec.name, limits.memory_mb, limits.max_processes, limits.disk_mb)
        with self.lock:
            if key not in self.pools:
                image = self.image(spec.name)
                self._check_image(image)
                self.pools[key] = _Pool(
                    lambda: _Container(self.client, image, key, spec, self.cpus),
                    self.pool_size,
                    self.replacer,
                )
            return self.pools[key]

    def _check_image(self, image: str) -> None:
        import docker

        try:
            self.client.images.get(image)
        except docker.errors.ImageNotFound:
            language = image.split(":")[0].removeprefix("synth-sandbox-")
            raise SynthError(
                "sandbox",
                f"the image {image} is not built",
                f"run `synth sandbox build --language {language}`",
            ) from None


def remove_orphans(client) -> int:
    """Remove pool containers whose owning process on this host is gone (killed before it
    could close its pool); containers of live processes and other hosts stay."""
    host = socket.gethostname()
    removed = 0
    for container in client.containers.list(all=True, filters={"label": LABEL}):
        owner_host, _, pid = container.labels.get(LABEL, "").rpartition(":")
        if owner_host != host or not pid.isdigit() or psutil.pid_exists(int(pid)):
            continue
        try:
            container.remove(force=True)
            removed += 1
        except Exception:  # noqa: BLE001 - another process removed it first
            pass
    return removed


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _step(
    spec: Language, command: Sequence[str], limits: Limits, stdin: str = "", compile: bool = False
) -> dict:
    python_program = (
        not compile
        and spec.name == "python"
        and len(command) >= 2
        and command[0] in ("python3", "python")
        and command[1].endswith(".py")
    )
    return {
        "command": list(command),
        "compile": compile,
        "in_process": python_program,
        "timeout_s": limits.timeout_s,
        "cpu_s": limits.cpu_s or limits.timeout_s,
        "max_file_mb": limits.max_file_mb,
        "address_space_mb": limits.memory_mb if spec.address_space_limit and not compile else None,
        "max_output_bytes": limits.max_output_bytes,
        "stdin": stdin,
        "env": spec.env,
    }


def _error(message: str) -> ExecResult:
    return ExecResult(status="error", exit_code=None, stdout="", stderr=message, duration_s=0.0)


def _unavailable(image: str, exc: Exception) -> SynthError:
    return SynthError("sandbox", f"cannot start a container of {image}: {exc}")
