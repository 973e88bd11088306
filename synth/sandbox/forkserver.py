"""The execution server inside a warm sandbox container (standard library only, Python >= 3.8).

It runs as the container's PID 1, unprivileged, and serves one execution at a time over a
Unix socket in a directory the host bind-mounts at /run/synth. A request names files, an
optional compile command and a run command with their limits; for each one the server

- makes a fresh private directory under /work (a tmpfs), writes the files there;
- forks one child per step: new session, rlimits (CPU seconds, address space where the
  language allows it, file size, no core files), a clean environment, the output caps;
  a Python program runs in the forked child of this already-started, pre-imported
  interpreter (no new interpreter per run), every other command is exec'd;
- when the step ends, kills every other process in the container (`kill(-1)` from PID 1
  spares only PID 1 itself) and reaps them, so nothing a run started outlives it;
- removes the directory and empties /tmp, and answers with the outcome and whether the
  container should be recycled (a timeout, a memory kill, an output flood, processes left
  behind: anything that may have left state the next run could see).

The same file runs once per `docker exec` with `--once REQUEST` (the slower path, kept to
measure against). Protocol: `send` and `receive`, both ways; the host imports them from
here, so the two ends cannot drift apart.
"""

import ctypes
import importlib
import json
import os
import resource
import selectors
import shutil
import signal
import socket
import struct
import sys
import time
import traceback

READ_CHUNK = 65536
MEMORY_MARKERS = (
    "MemoryError",
    "std::bad_alloc",
    "Cannot allocate memory",
    "out of memory",
    "OutOfMemoryError",
    "JavaScript heap out of memory",
    "memory allocation of",
)
BASE_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "TMPDIR": "/tmp",
    "PYTHONHASHSEED": "0",
    "PYTHONDONTWRITEBYTECODE": "1",
    "OPENBLAS_NUM_THREADS": "1",
}


# --- one step: fork, limit, run, collect ------------------------------------------------


def _limit_child(step):
    mb = 1024 * 1024
    cpu = int(step["cpu_s"] + 0.999)
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))  # SIGXCPU, then SIGKILL
    resource.setrlimit(resource.RLIMIT_FSIZE, (step["max_file_mb"] * mb,) * 2)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if step.get("address_space_mb"):
        resource.setrlimit(resource.RLIMIT_AS, (step["address_space_mb"] * mb,) * 2)
    try:  # the container's memory limit should take the run, never this server
        with open("/proc/self/oom_score_adj", "w") as handle:
            handle.write("1000")
    except OSError:
        pass


def _run_python_here(argv):
    """Run a Python program in this (forked) interpreter as `python3 argv...` would."""
    sys.argv = list(argv)
    sys.path[0] = os.getcwd()
    sys.stdin = open(0, closefd=False)
    sys.stdout = open(1, "w", closefd=False)
    sys.stderr = open(2, "w", closefd=False)
    code = 0
    try:
        import runpy

        runpy.run_path(argv[0], run_name="__main__")
    except SystemExit as exc:
        if exc.code is None:
            code = 0
        elif isinstance(exc.code, int):
            code = exc.code
        else:
            print(exc.code, file=sys.stderr)
            code = 1
    except BaseException as exc:  # noqa: BLE001 - reported as the interpreter would
        tb = exc.__traceback__  # drop runpy's frames, as `python3 main.py` shows none
        program = os.path.abspath(argv[0])
        while tb is not None and os.path.abspath(tb.tb_frame.f_code.co_filename) != program:
            tb = tb.tb_next
        traceback.print_exception(type(exc), exc, tb or exc.__traceback__)
        code = 1
    try:
        import threading

        threading._shutdown()  # wait for non-daemon threads, as interpreter exit does
        import atexit

        atexit._run_exitfuncs()
    except BaseException:  # noqa: BLE001
        pass
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001
            pass
    os._exit(code & 0xFF)


def _child(step, workdir, fds, in_process):
    stdin_r, stdout_w, stderr_w = fds
    try:
        os.setsid()
        os.chdir(workdir)
        os.dup2(stdin_r, 0)
        os.dup2(stdout_w, 1)
        os.dup2(stderr_w, 2)
        os.closerange(3, 65536)
        env = dict(BASE_ENV, HOME=workdir, **step.get("env", {}))
        env = {k: v.replace("{workdir}", workdir) for k, v in env.items()}
        _limit_child(step)
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        if in_process:
            os.environ.clear()
            os.environ.update(env)
            _run_python_here(step["command"][1:])
        os.execvpe(step["command"][0], step["command"], env)
    except BaseException as exc:  # noqa: BLE001 - exec failed: say why on stderr
        try:
            os.write(2, f"cannot start {step['command'][0]!r}: {exc}\n".encode())
        finally:
            os._exit(127)


def run_step(step, workdir, in_process):
    """Run one command; returns (status, exit_code, stdout, stderr, duration, killed_by_us)."""
    started = time.monotonic()
    stdin_r, stdin_w = os.pipe()
    stdout_r, stdout_w = os.pipe()
    stderr_r, stderr_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        _child(step, workdir, (stdin_r, stdout_w, stderr_w), in_process)
    for fd in (stdin_r, stdout_w, stderr_w):
        os.close(fd)
    pidfd = os.pidfd_open(pid)
    data = step.get("stdin", "").encode()
    cap = step["max_output_bytes"]
    buffers = {stdout_r: bytearray(), stderr_r: bytearray()}
    total = 0
    timed_out = overflow = False
    selector = selectors.DefaultSelector()
    for fd in buffers:
        os.set_blocking(fd, False)
        selector.register(fd, selectors.EVENT_READ)
    selector.register(pidfd, selectors.EVENT_READ)
    if data:
        os.set_blocking(stdin_w, False)
        selector.register(stdin_w, selectors.EVENT_WRITE)
    else:
        os.close(stdin_w)
    deadline = started + step["timeout_s"]
    exited = False
    while not exited:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            timed_out = True
            break
        for key, _ in selector.select(remaining):
            fd = key.fd
            if fd == pidfd:
                exited = True
            elif fd == stdin_w:
                try:
                    data = data[os.write(fd, data[:READ_CHUNK]) :]
                except OSError:
                    data = b""
                if not data:
                    selector.unregister(fd)
                    os.close(fd)
            else:
                chunk = _read(fd)
                if not chunk:
                    selector.unregister(fd)
                    continue
                buffers[fd] += chunk[: max(cap - total, 0)]
                total += len(chunk)
                if total > cap:
                    overflow = True
        if overflow:
            break
    if timed_out or overflow:
        for kill in (os.killpg, os.kill):  # the group, and the child if it had no group yet
            try:
                kill(pid, signal.SIGKILL)
            except OSError:
                pass
    _, wait_status = os.waitpid(pid, 0)
    for fd in buffers:  # what the program wrote before it ended
        while total <= cap:
            chunk = _read(fd)
            if not chunk:
                break
            buffers[fd] += chunk[: max(cap - total, 0)]
            total += len(chunk)
        overflow = overflow or total > cap
    selector.close()
    for fd in (*buffers, pidfd):
        os.close(fd)
    if data:
        try:
            os.close(stdin_w)
        except OSError:
            pass
    duration = time.monotonic() - started
    stdout, stderr = (bytes(buffers[fd]).decode("utf-8", "replace") for fd in buffers)
    code = os.waitstatus_to_exitcode(wait_status)
    status = _classify(code, stderr, timed_out, overflow)
    exit_code = 128 - code if code < 0 else code
    return status, exit_code, stdout, stderr, duration


def _read(fd):
    try:
        return os.read(fd, READ_CHUNK)
    except BlockingIOError:
        return b""
    except OSError:
        return b""


def _classify(code, stderr, timed_out, overflow):
    if overflow:
        return "output_limit"
    if timed_out or code in (-signal.SIGXCPU, 128 + signal.SIGXCPU):
        return "timeout"
    if code == 0:
        return "ok"
    tail = stderr[-3000:]
    if any(marker in tail for marker in MEMORY_MARKERS):
        return "memory"
    if code == -signal.SIGKILL:
        # Not killed by this server: the kernel's CPU hard limit (stderr empty) or the
        # container's memory limit (the OOM killer).
        return "memory" if _oom_killed() else "timeout"
    return "failed"


_OOM_SEEN = [0]


def _oom_killed():
    """Whether the container's memory cgroup killed a process since the last call."""
    for path in ("/sys/fs/cgroup/memory.events", "/sys/fs/cgroup/memory/memory.oom_control"):
        try:
            with open(path) as handle:
                for line in handle:
                    name, _, value = line.partition(" ")
                    if name == "oom_kill":
                        count = int(value)
                        seen, _OOM_SEEN[0] = _OOM_SEEN[0], count
                        return count > seen
        except (OSError, ValueError):
            continue
    return False


# --- one request: directory, steps, clean-up --------------------------------------------


def _kill_everything_else():
    """Kill every process in the container but this one; True when any was found."""
    try:
        os.kill(-1, signal.SIGKILL)
        found = True
    except ProcessLookupError:
        found = False
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            break
    return found


def _empty(directory):
    for name in os.listdir(directory):
        path = os.path.join(directory, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            try:
                os.unlink(path)
            except OSError:
                pass


def handle(request):
    workdir = request.get("workdir", "/work/run")
    os.mkdir(workdir, 0o700)
    reply = {
        "status": "ok",
        "exit_code": 0,
        "stdout": "",
        "stderr": "",
        "duration_s": 0.0,
        "compile_s": 0.0,
        "recycle": False,
    }
    try:
        for name, content in request["files"].items():
            path = os.path.join(workdir, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as handle_:
                handle_.write(content)
        for step in request["steps"]:
            in_process = bool(step.get("in_process")) and request.get("preloaded", False)
            status, code, stdout, stderr, duration = run_step(step, workdir, in_process)
            leftovers = _kill_everything_else()
            reply["recycle"] = reply["recycle"] or leftovers or status not in ("ok", "failed")
            if step.get("compile"):
                reply["compile_s"] = duration
                if status != "ok":
                    status = "compile_error" if status == "failed" else status
                    reply.update(
                        status=status,
                        exit_code=code,
                        stdout=stdout,
                        stderr=stderr,
                        duration_s=duration,
                    )
                    break
                continue
            reply.update(
                status=status,
                exit_code=code,
                stdout=stdout,
                stderr=stderr,
                duration_s=reply["compile_s"] + duration,
            )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        _empty("/tmp")
    return reply


# --- the server loop ----------------------------------------------------------------------


def receive(conn):
    """One message: a 4-byte big-endian length, then that many bytes of JSON."""
    size = struct.unpack(">I", _exactly(conn, 4))[0]
    return json.loads(_exactly(conn, size))


def send(conn, message):
    blob = json.dumps(message).encode()
    conn.sendall(struct.pack(">I", len(blob)) + blob)


def _exactly(conn, size):
    data = bytearray()
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise ConnectionError("the other side closed the connection")
        data += chunk
    return bytes(data)


def _not_dumpable():
    """Make this process impossible to ptrace or read through /proc by the runs (same uid)."""
    try:
        ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE, 0
    except (OSError, AttributeError):
        pass


def serve(socket_path, preload):
    for name in preload:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a missing module is imported by the run, if at all
            pass
    _not_dumpable()
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    temporary = socket_path + ".new"
    if os.path.exists(temporary):
        os.unlink(temporary)
    server.bind(temporary)
    os.chmod(temporary, 0o666)
    server.listen(8)
    os.rename(temporary, socket_path)  # the host sees the socket only once it accepts
    while True:
        conn, _ = server.accept()
        with conn:
            try:
                request = receive(conn)
            except (ConnectionError, ValueError, OSError):
                continue
            request["preloaded"] = True
            try:
                reply = handle(request)
            except Exception as exc:  # noqa: BLE001 - the server survives a bad request
                reply = {
                    "status": "error",
                    "exit_code": None,
                    "stdout": "",
                    "stderr": f"sandbox server: {exc}",
                    "duration_s": 0.0,
                    "compile_s": 0.0,
                    "recycle": True,
                }
            try:
                send(conn, reply)
            except OSError:
                pass


def main(argv):
    if argv[:1] == ["--once"]:
        request = json.loads(argv[1])
        request["preloaded"] = False
        print(json.dumps(handle(request)))
        return
    serve(argv[0], [name for name in argv[1].split(",") if name])


if __name__ == "__main__":
    main(sys.argv[1:])
