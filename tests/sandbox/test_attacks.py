"""The attack battery, run on both backends (bubblewrap and the Docker pool): each attack
ends with the right status, leaves the host and the worker as they were, and the next
execution runs normally."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from pathlib import Path

import psutil
import pytest

from synth.errors import SynthError
from synth.sandbox import get_sandbox
from synth.sandbox.base import Limits

pytestmark = [pytest.mark.sandbox, pytest.mark.docker]

FAST = Limits(timeout_s=2, memory_mb=256)


def run(backend, code: str, limits: Limits = FAST, files: dict | None = None):
    return backend.run({"main.py": code, **(files or {})}, ["python3", "main.py"], limits)


def test_ok_with_stdout_and_exit_code(backend):
    result = run(backend, "print('hello')")
    assert (result.status, result.exit_code, result.stdout) == ("ok", 0, "hello\n")
    assert 0 < result.duration_s < 2


def test_failed_assert_is_failed_with_traceback(backend):
    result = run(backend, "assert 1 + 1 == 3, 'arithmetic'")
    assert (result.status, result.exit_code) == ("failed", 1)
    assert "AssertionError: arithmetic" in result.stderr


def test_infinite_loop_times_out(backend):
    result = run(backend, "while True:\n    pass")
    assert result.status == "timeout" and result.duration_s < FAST.timeout_s + 1.5


def test_sleeping_past_the_wall_limit_times_out(backend):
    result = run(backend, "import time\ntime.sleep(100)", Limits(timeout_s=1))
    assert result.status == "timeout" and result.duration_s < 2.5


def test_busy_threads_hit_the_cpu_limit(backend):
    code = (
        "import threading\ndef spin():\n    while True: pass\n"
        "for _ in range(4): threading.Thread(target=spin).start()\n"
    )
    result = run(backend, code, Limits(timeout_s=3, cpu_s=1))
    assert result.status == "timeout"


@pytest.mark.parametrize(
    "code", ["x = bytearray(2 * 1024 ** 3)", "x = []\nwhile True:\n    x.append(' ' * 10 ** 6)"]
)
def test_memory_bombs_hit_the_memory_limit(backend, code):
    result = run(backend, code, Limits(timeout_s=10, memory_mb=256))
    assert result.status == "memory", result


def test_output_flood_is_cut_at_the_cap(backend):
    limits = Limits(timeout_s=10, max_output_bytes=64 * 1024)
    result = run(backend, "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)", limits)
    assert result.status == "output_limit"
    assert len(result.stdout) + len(result.stderr) <= limits.max_output_bytes


def test_fork_bomb_is_bounded_and_the_next_run_is_normal(backend):
    code = (
        "import os\ncount = 0\n"
        "for _ in range(10000):\n"
        "    try:\n        pid = os.fork()\n    except OSError:\n        break\n"
        "    if pid == 0:\n        import time; time.sleep(30); os._exit(0)\n"
        "    count += 1\n"
        "print(count)\n"
    )
    result = run(backend, code, Limits(timeout_s=5, max_processes=32))
    assert result.status == "ok" and int(result.stdout) < 32
    assert run(backend, "print('alive')").stdout == "alive\n"


def test_no_network(backend):
    code = (
        "import socket\n"
        "for host in ('127.0.0.1', '1.1.1.1'):\n"
        "    try:\n        socket.create_connection((host, 80), timeout=1)\n        print('connected', host)\n"
        "    except OSError as e:\n        print('refused', host, type(e).__name__)\n"
    )
    result = run(backend, code)
    assert "connected" not in result.stdout and result.stdout.count("refused") == 2


def test_system_is_read_only_and_work_dir_and_tmp_are_writable(backend):
    code = (
        "import os\n"
        "for path in ('/usr/evil', '/evil', '/work/ok', '/tmp/ok'):\n"
        "    try:\n        open(path, 'w').write('x')\n        print('wrote', path)\n"
        "    except OSError:\n        print('denied', path)\n"
    )
    assert run(backend, code).stdout.split("\n")[:4] == [
        "denied /usr/evil",
        "denied /evil",
        "wrote /work/ok",
        "wrote /tmp/ok",
    ]
    assert not os.path.exists("/usr/evil")


def test_file_size_limit(backend):
    result = run(
        backend,
        "open('big', 'wb').write(b'x' * (3 * 1024 * 1024))",
        Limits(timeout_s=5, max_file_mb=1),
    )
    assert result.status == "failed" and "File too large" in result.stderr


def test_host_files_and_environment_are_invisible(backend, tmp_path, monkeypatch):
    monkeypatch.setenv("SYNTH_SECRET_SENTINEL", "s3cr3t")
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    host_only = Path(__file__).resolve()
    code = (
        "import os\n"
        f"print(os.path.exists({str(secret)!r}), os.path.exists({str(host_only)!r}))\n"
        "print('SYNTH_SECRET_SENTINEL' in os.environ, sorted(os.environ))\n"
        "print(len([p for p in os.listdir('/proc') if p.isdigit()]))\n"
    )
    lines = run(backend, code).stdout.splitlines()
    assert lines[0] == "False False"
    assert lines[1].startswith("False")
    assert int(lines[2]) <= 3  # only the sandbox's own processes are visible


def test_a_gigabyte_of_stdout_is_cut_at_the_cap(backend):
    code = "import sys\nfor _ in range(1024):\n    sys.stdout.write('x' * (1 << 20))\n"
    result = run(backend, code, Limits(timeout_s=30))
    assert result.status == "output_limit"
    assert len(result.stdout) + len(result.stderr) <= Limits().max_output_bytes
    assert run(backend, "print('next')").stdout == "next\n"


@pytest.mark.parametrize("where", [".", "/tmp"])
def test_filling_the_disk_stops_at_the_sandbox_size_and_leaves_the_host_alone(backend, where):
    free_before = shutil.disk_usage(tempfile.gettempdir()).free
    code = (
        "import os\n"
        f"os.makedirs('{where}/fill', exist_ok=True)\n"
        "for i in range(64):\n"
        f"    open(f'{where}/fill/{{i}}', 'wb').write(b'x' * (8 << 20))\n"
    )
    result = run(backend, code, Limits(timeout_s=20, max_file_mb=8, disk_mb=64))
    assert result.status == "failed" and "No space left on device" in result.stderr
    # at most what the sandbox may hold (64 MB) could have landed anywhere near the host
    assert shutil.disk_usage(tempfile.gettempdir()).free > free_before - (96 << 20)
    listing = "import os\nprint(sorted(os.listdir('.')), sorted(os.listdir('/tmp')))"
    assert run(backend, listing).stdout == "['main.py'] []\n"


def test_the_next_execution_cannot_read_what_the_last_one_wrote(backend):
    write = "open('secret', 'w').write('s1')\nopen('/tmp/secret', 'w').write('s2')\nprint('wrote')"
    assert run(backend, write).stdout == "wrote\n"
    for _ in range(3):  # whichever warm container serves it
        look = "import os\nprint(os.path.exists('secret'), os.path.exists('/tmp/secret'))"
        assert run(backend, look).stdout == "False False\n"


def test_ctypes_and_setuid_cannot_raise_limits_or_privileges(backend):
    code = (
        "import ctypes, os, resource\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "class Limit(ctypes.Structure):\n"
        "    _fields_ = [('cur', ctypes.c_ulong), ('max', ctypes.c_ulong)]\n"
        "unlimited = Limit(2 ** 62, 2 ** 62)\n"
        "print(libc.prlimit(0, resource.RLIMIT_AS, ctypes.byref(unlimited), None))\n"
        "print(resource.getrlimit(resource.RLIMIT_AS)[1] == 256 * 1024 * 1024)\n"
        "try:\n    os.setuid(0)\n    print('root')\nexcept OSError:\n    print('not root')\n"
    )
    assert run(backend, code).stdout == "-1\nTrue\nnot root\n"


def test_background_process_does_not_outlive_the_run(backend):
    code = "import subprocess\nsubprocess.Popen(['sleep', '321'], start_new_session=True)\nprint('left')"
    assert run(backend, code).stdout == "left\n"
    leftovers = [
        p for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] == ["sleep", "321"]
    ]
    assert leftovers == []


def test_killing_everything_inside_leaves_the_host_alone(backend):
    code = "import os, signal\nfor pid in range(1, 50):\n    try: os.kill(pid, signal.SIGKILL)\n    except OSError: pass\n"
    run(backend, code)
    assert psutil.pid_exists(os.getpid()) and run(backend, "print(1)").stdout == "1\n"


def test_raising_limits_from_inside_fails(backend):
    code = (
        "import resource\n"
        "try:\n    resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))\n"
        "    print('raised')\nexcept (ValueError, OSError):\n    print('refused')\n"
    )
    assert run(backend, code).stdout == "refused\n"


def test_concurrent_runs_do_not_see_each_other(backend):
    results = {}

    def worker(index: int) -> None:
        code = f"import os\nopen('mine', 'w').write('{index}')\nprint(sorted(os.listdir('.')), open('mine').read())"
        results[index] = run(backend, code)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for index, result in results.items():
        assert result.stdout == f"['main.py', 'mine'] {index}\n"


def test_file_names_must_stay_inside_the_work_dir(backend):
    for name in ("/etc/x", "../x", "a/../../x"):
        with pytest.raises(ValueError):
            backend.run({name: ""}, ["true"])


def test_unknown_backend_names_the_choices():
    with pytest.raises(SynthError, match="choose one of: auto, bubblewrap, docker"):
        get_sandbox("nope")


def test_a_forked_child_does_not_outlive_the_run(backend):
    code = (
        "import os, time\n"
        "if os.fork() == 0:\n    os.setsid()\n    time.sleep(300)\n    os._exit(0)\n"
        "print('parent done')\n"
    )
    assert run(backend, code).stdout == "parent done\n"  # the fixture then finds no child
