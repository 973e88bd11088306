"""The bubblewrap sandbox: one short-lived, isolated process tree per run.

Each run gets:
- a private, size-capped tmpfs at /work (the working directory) where each of its files
  is bind-mounted read-only from a fresh host temporary directory, and another at /tmp:
  whatever it writes stays in memory and within `disk_mb`, never on the host's disk;
- new user, PID, network, IPC, UTS and cgroup namespaces (`--unshare-all`): no network
  at all, no view of host processes; `--die-with-parent` and `--new-session`;
- a read-only /usr (with the /bin, /lib symlinks) and nothing else of the host: no /etc,
  no /home, no host environment (`--clearenv`), all capabilities dropped;
- an unprivileged uid of its own when synth runs as root, so the process limit holds: runs
  take turns through 4096 unused uids (300000 up), because the kernel keeps charging a
  uid's process count for a while after its runs' namespaces end, and one shared uid then
  hits the limit under a steady stream of runs;
- a lower CPU priority (nice 10 by default), so checks yield to the LLM engine;
- rlimits set by `prlimit` before bwrap starts: CPU seconds, address space, processes,
  file size, no core dumps; a wall-clock limit enforced here, and an output cap (the run
  is killed as soon as stdout + stderr exceed it).

When the program's main process ends, bwrap ends and the kernel kills everything left in
the PID namespace. bwrap's monitor exits as soon as the main process does, while the
namespace's init is still killing and reaping the rest; so a run also waits (bounded) for
that init, whose host pid bwrap reports on its status fd, to be gone: once it is, the
kernel has reaped every process of the namespace (an init exits only after its namespace is
empty), and a run returns only when every process it started is gone.

Not guaranteed: this is not a defence against kernel exploits, the memory limit is per
process address space (not the total of a process tree). The Docker backend gives
stronger isolation.
"""

from __future__ import annotations

import functools
import itertools
import math
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from synth.errors import SynthError
from synth.records import ExecResult
from synth.sandbox.base import Limits, check_file_names
from synth.sandbox.forkserver import MEMORY_MARKERS
from synth.sandbox.languages import get_language

WORKDIR = "/work"
UID_BASE, UID_COUNT = 300000, 4096  # unused uids the runs take turns with (root only)
READ_CHUNK = 65536
REAP_TIMEOUT_S = 5.0  # how long a run waits for its namespace to empty after bwrap ends


class BubblewrapSandbox:
    name = "bubblewrap"
    auto_reason = ""

    def __init__(
        self, bwrap: str | None = None, prlimit: str | None = None, niceness: int = 10
    ) -> None:
        self.bwrap = bwrap or shutil.which("bwrap")
        self.prlimit = prlimit or shutil.which("prlimit")
        if not self.bwrap:
            raise SynthError(
                "sandbox", "bubblewrap (bwrap) is not installed", "apt-get install bubblewrap"
            )
        if not self.prlimit:
            raise SynthError("sandbox", "prlimit is not installed", "apt-get install util-linux")
        # RLIMIT_NPROC does not bind root: as root, each run gets a uid of its own.
        self.uids = (
            itertools.cycle(range(UID_BASE, UID_BASE + UID_COUNT)) if os.geteuid() == 0 else None
        )
        self.uid_lock = threading.Lock()
        # Generation is the expensive resource: checks run at a lower CPU priority so that,
        # on a machine shared with the engine, they use idle cycles instead of the engine's.
        nice = shutil.which("nice")
        self.nice = [nice, "-n", str(niceness)] if nice and niceness else []

    def describe(self) -> str:
        return "bubblewrap"

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
        for program in (command[0], *(compile[:1] if compile else ())):
            _check_visible(program, language)
        env = {k: v.replace("{workdir}", WORKDIR) for k, v in get_language(language).env.items()}
        host_dir = Path(tempfile.mkdtemp(prefix="synth-sbx-"))
        uid = self._next_uid()
        try:
            self._populate(host_dir, files, uid)
            address_space = get_language(language).address_space_limit
            if not compile:
                return self._execute(host_dir, command, limits, stdin, env, address_space, uid)
            # The compiler (trusted, bounded by time and file size) writes the binary into
            # the host directory; the run then sees it, read-only, like the sources.
            compiled = self._execute(
                host_dir,
                compile,
                limits.for_compile(),
                "",
                env,
                address_space=False,
                uid=uid,
                writable=True,
            )
            if compiled.status != "ok":
                status = "compile_error" if compiled.status == "failed" else compiled.status
                return compiled.model_copy(
                    update={"status": status, "compile_s": compiled.duration_s}
                )
            result = self._execute(host_dir, command, limits, stdin, env, address_space, uid)
            return result.model_copy(
                update={
                    "duration_s": compiled.duration_s + result.duration_s,
                    "compile_s": compiled.duration_s,
                }
            )
        finally:
            shutil.rmtree(host_dir, ignore_errors=True)

    def close(self) -> None:
        pass

    # --- internals -------------------------------------------------------------------

    def _next_uid(self) -> int | None:
        if self.uids is None:
            return None
        with self.uid_lock:
            return next(self.uids)

    def _populate(self, host_dir: Path, files: Mapping[str, str], uid: int | None) -> None:
        for name, content in files.items():
            path = host_dir / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
        if uid is not None:
            for path in [host_dir, *host_dir.rglob("*")]:
                os.chown(path, uid, uid)

    def _argv(
        self,
        host_dir: Path,
        command: Sequence[str],
        limits: Limits,
        env: Mapping[str, str],
        address_space: bool,
        writable: bool,
        status_fd: int | None = None,
    ) -> list[str]:
        cpu = math.ceil(limits.cpu_s or limits.timeout_s)
        memory = limits.memory_mb * 1024 * 1024
        disk = str(limits.disk_mb * 1024 * 1024)
        if writable:
            work = ["--bind", str(host_dir), WORKDIR]
        else:
            work = ["--size", disk, "--tmpfs", WORKDIR]
            for path in sorted(host_dir.rglob("*")):
                relative = path.relative_to(host_dir)
                if path.is_file() and not relative.parts[0].startswith("."):
                    work += ["--ro-bind", str(path), f"{WORKDIR}/{relative.as_posix()}"]
        return [
            *self.nice,
            self.prlimit,
            f"--cpu={cpu}:{cpu + 1}",  # soft: SIGXCPU, hard: SIGKILL one second later
            *([f"--as={memory}"] if address_space else []),
            f"--nproc={limits.max_processes}",
            f"--fsize={limits.max_file_mb * 1024 * 1024}",
            "--core=0",
            self.bwrap,
            *(["--json-status-fd", str(status_fd)] if status_fd is not None else []),
            "--unshare-all",
            "--die-with-parent",
            "--new-session",
            "--cap-drop",
            "ALL",
            "--ro-bind",
            "/usr",
            "/usr",
            "--symlink",
            "usr/lib",
            "/lib",
            "--symlink",
            "usr/lib64",
            "/lib64",
            "--symlink",
            "usr/bin",
            "/bin",
            "--symlink",
            "usr/sbin",
            "/sbin",
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--size",
            disk,
            "--tmpfs",
            "/tmp",
            *work,
            "--remount-ro",
            "/",  # the sandbox's own root: nothing but the mounts above is writable
            "--chdir",
            WORKDIR,
            "--clearenv",
            "--setenv",
            "PATH",
            "/usr/local/bin:/usr/bin:/bin",
            "--setenv",
            "HOME",
            WORKDIR,
            "--setenv",
            "LANG",
            "C.UTF-8",
            "--setenv",
            "PYTHONDONTWRITEBYTECODE",
            "1",
            "--setenv",
            "PYTHONHASHSEED",
            "0",
            *[arg for name, value in env.items() for arg in ("--setenv", name, value)],
            "--",
            *command,
        ]

    def _execute(
        self,
        host_dir: Path,
        command: Sequence[str],
        limits: Limits,
        stdin: str,
        env: Mapping[str, str],
        address_space: bool,
        uid: int | None,
        writable: bool = False,
    ) -> ExecResult:
        started = time.monotonic()
        user = {} if uid is None else {"user": uid, "group": uid, "extra_groups": []}
        status_r, status_w = os.pipe()
        try:
            process = subprocess.Popen(
                self._argv(host_dir, command, limits, env, address_space, writable, status_w),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
                close_fds=True,
                pass_fds=(status_w,),
                **user,
            )
        except OSError as exc:
            os.close(status_r)
            os.close(status_w)
            return ExecResult(
                status="error",
                exit_code=None,
                stdout="",
                stderr=f"cannot start bwrap: {exc}",
                duration_s=time.monotonic() - started,
            )
        capture = _Capture(process, limits.max_output_bytes)
        capture.start(stdin)
        timed_out = False
        try:
            process.wait(timeout=limits.timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
        if timed_out or capture.overflow.is_set():
            _kill(process)
        process.wait()
        os.close(status_w)
        _wait_for_namespace(_sandbox_init_pid(status_r), uid)
        capture.join()
        duration = time.monotonic() - started
        stdout, stderr = capture.text()
        status = _classify(process.returncode, stderr, timed_out, capture.overflow.is_set())
        exit_code = process.returncode if process.returncode is not None else None
        if exit_code is not None and exit_code < 0:  # killed by us: report as the shell would
            exit_code = 128 - exit_code
        return ExecResult(
            status=status, exit_code=exit_code, stdout=stdout, stderr=stderr, duration_s=duration
        )


class _Capture:
    """Read stdout and stderr concurrently, keeping at most `cap` bytes in all."""

    def __init__(self, process: subprocess.Popen, cap: int) -> None:
        self.process = process
        self.cap = cap
        self.lock = threading.Lock()
        self.total = 0
        self.buffers: dict[str, bytearray] = {"stdout": bytearray(), "stderr": bytearray()}
        self.overflow = threading.Event()
        self.threads: list[threading.Thread] = []

    def start(self, stdin: str) -> None:
        for name in ("stdout", "stderr"):
            thread = threading.Thread(target=self._read, args=(name,), daemon=True)
            thread.start()
            self.threads.append(thread)
        feeder = threading.Thread(target=self._feed, args=(stdin.encode(),), daemon=True)
        feeder.start()
        self.threads.append(feeder)

    def _feed(self, data: bytes) -> None:
        assert self.process.stdin is not None
        try:
            if data:
                self.process.stdin.write(data)
            self.process.stdin.close()
        except (BrokenPipeError, OSError):
            pass

    def _read(self, name: str) -> None:
        stream = getattr(self.process, name)
        while True:
            chunk = stream.read1(READ_CHUNK)
            if not chunk:
                break
            with self.lock:
                room = self.cap - self.total
                self.buffers[name] += chunk[: max(room, 0)]
                self.total += len(chunk)
                if self.total > self.cap and not self.overflow.is_set():
                    self.overflow.set()
                    _kill(self.process)
        stream.close()

    def join(self) -> None:
        for thread in self.threads:
            thread.join()

    def text(self) -> tuple[str, str]:
        return tuple(
            bytes(self.buffers[n]).decode("utf-8", errors="replace") for n in ("stdout", "stderr")
        )


def _sandbox_init_pid(status_r: int) -> int | None:
    """The host pid of the sandbox's PID-namespace init, from bwrap's status fd (closes it)."""
    data = b""
    try:
        while chunk := os.read(status_r, READ_CHUNK):
            data += chunk
    except OSError:
        pass
    finally:
        os.close(status_r)
    found = re.search(rb'"child-pid"\s*:\s*(\d+)', data)
    return int(found.group(1)) if found else None


def _wait_for_namespace(init_pid: int | None, uid: int | None) -> None:
    """Return once the namespace's init is gone (or a zombie): the kernel lets an init exit
    only after every other process of its namespace is reaped. Bounded; a namespace that
    does not empty in time is killed (as root, by its uid: nothing else runs under it)."""
    if init_pid is None:
        return
    deadline = time.monotonic() + REAP_TIMEOUT_S
    while _alive_not_zombie(init_pid, uid):
        if time.monotonic() > deadline:
            try:
                os.kill(init_pid, signal.SIGKILL)
            except OSError:
                pass
            return
        time.sleep(0.0005)  # the kernel is killing the rest: microseconds to a few ms


def _alive_not_zombie(pid: int, uid: int | None) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
        if uid is not None and os.stat(f"/proc/{pid}").st_uid != uid:
            return False  # the pid was reused by an unrelated process
    except OSError:
        return False
    return stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3] not in (b"Z", b"X")


def _kill(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _classify(returncode: int | None, stderr: str, timed_out: bool, overflow: bool) -> str:
    """Map how the run ended to a status; see the module docstring for the limits behind each."""
    if overflow:
        return "output_limit"
    if timed_out or returncode in (-signal.SIGXCPU, 128 + signal.SIGXCPU):
        return "timeout"
    if returncode == 0:
        return "ok"
    if stderr.startswith("bwrap:"):
        return "error"
    tail = stderr[-2000:]
    if any(marker in tail for marker in MEMORY_MARKERS):
        return "memory"
    if returncode in (-signal.SIGKILL, 128 + signal.SIGKILL) and not stderr.strip():
        return "timeout"  # the hard CPU limit kills without a word
    return "failed"


@functools.cache
def _visible_inside(program: str) -> bool:
    """Whether `program` resolves inside the sandbox, which sees only the host's /usr."""
    if program.startswith("./"):
        return True
    found = shutil.which(program, path="/usr/local/bin:/usr/bin:/bin")
    if found is None:
        return False
    path = Path(found)
    for _ in range(40):  # follow the links one hop at a time: each hop must stay in /usr
        if not str(path).startswith(("/usr/", "/bin/")):
            return False
        if not path.is_symlink():
            return path.exists()
        path = Path(os.path.normpath(path.parent / os.readlink(path)))  # absolute links win
    return False


def _check_visible(program: str, language: str) -> None:
    if not _visible_inside(program):
        raise SynthError(
            "sandbox",
            f"bubblewrap cannot run {language} here: {program!r} is not installed under /usr",
            "use the Docker sandbox (--sandbox docker) with `synth sandbox build`",
        )
