"""The bubblewrap sandbox: statuses, limits and isolation, each proven by an attack."""

from __future__ import annotations

import os
import threading

import psutil
import pytest

from synth.errors import SynthError
from synth.sandbox import get_sandbox
from synth.sandbox.base import Limits

pytestmark = pytest.mark.sandbox

FAST = Limits(timeout_s=2, memory_mb=256)


def run(sandbox, code: str, limits: Limits = FAST, files: dict | None = None):
    return sandbox.run({"main.py": code, **(files or {})}, ["python3", "main.py"], limits)


def test_ok_with_stdout_and_exit_code(sandbox):
    result = run(sandbox, "print('hello')")
    assert (result.status, result.exit_code, result.stdout) == ("ok", 0, "hello\n")
    assert 0 < result.duration_s < 2


def test_failed_assert_is_failed_with_traceback(sandbox):
    result = run(sandbox, "assert 1 + 1 == 3, 'arithmetic'")
    assert (result.status, result.exit_code) == ("failed", 1)
    assert "AssertionError: arithmetic" in result.stderr


def test_infinite_loop_times_out(sandbox):
    result = run(sandbox, "while True:\n    pass")
    assert result.status == "timeout" and result.duration_s < FAST.timeout_s + 1.5


def test_sleeping_past_the_wall_limit_times_out(sandbox):
    result = run(sandbox, "import time\ntime.sleep(100)", Limits(timeout_s=1))
    assert result.status == "timeout" and result.duration_s < 2.5


def test_busy_threads_hit_the_cpu_limit(sandbox):
    code = (
        "import threading\ndef spin():\n    while True: pass\n"
        "for _ in range(4): threading.Thread(target=spin).start()\n"
    )
    result = run(sandbox, code, Limits(timeout_s=3, cpu_s=1))
    assert result.status == "timeout"


@pytest.mark.parametrize(
    "code", ["x = bytearray(2 * 1024 ** 3)", "x = []\nwhile True:\n    x.append(' ' * 10 ** 6)"]
)
def test_memory_bombs_hit_the_memory_limit(sandbox, code):
    result = run(sandbox, code, Limits(timeout_s=10, memory_mb=256))
    assert result.status == "memory", result


def test_output_flood_is_cut_at_the_cap(sandbox):
    limits = Limits(timeout_s=10, max_output_bytes=64 * 1024)
    result = run(sandbox, "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)", limits)
    assert result.status == "output_limit"
    assert len(result.stdout) + len(result.stderr) <= limits.max_output_bytes


def test_fork_bomb_is_bounded_and_the_next_run_is_normal(sandbox):
    code = (
        "import os\ncount = 0\n"
        "for _ in range(10000):\n"
        "    try:\n        pid = os.fork()\n    except OSError:\n        break\n"
        "    if pid == 0:\n        import time; time.sleep(30); os._exit(0)\n"
        "    count += 1\n"
        "print(count)\n"
    )
    result = run(sandbox, code, Limits(timeout_s=5, max_processes=32))
    assert result.status == "ok" and int(result.stdout) < 32
    assert run(sandbox, "print('alive')").stdout == "alive\n"


def test_no_network(sandbox):
    code = (
        "import socket\n"
        "for host in ('127.0.0.1', '1.1.1.1'):\n"
        "    try:\n        socket.create_connection((host, 80), timeout=1)\n        print('connected', host)\n"
        "    except OSError as e:\n        print('refused', host, type(e).__name__)\n"
    )
    result = run(sandbox, code)
    assert "connected" not in result.stdout and result.stdout.count("refused") == 2


def test_system_is_read_only_and_work_dir_and_tmp_are_writable(sandbox):
    code = (
        "import os\n"
        "for path in ('/usr/evil', '/evil', '/work/ok', '/tmp/ok'):\n"
        "    try:\n        open(path, 'w').write('x')\n        print('wrote', path)\n"
        "    except OSError:\n        print('denied', path)\n"
    )
    assert run(sandbox, code).stdout.split("\n")[:4] == [
        "denied /usr/evil",
        "denied /evil",
        "wrote /work/ok",
        "wrote /tmp/ok",
    ]
    assert not os.path.exists("/usr/evil")


def test_file_size_limit(sandbox):
    result = run(
        sandbox,
        "open('big', 'wb').write(b'x' * (3 * 1024 * 1024))",
        Limits(timeout_s=5, max_file_mb=1),
    )
    assert result.status == "failed" and "File too large" in result.stderr


def test_host_files_and_environment_are_invisible(sandbox, tmp_path, monkeypatch):
    monkeypatch.setenv("SYNTH_SECRET_SENTINEL", "s3cr3t")
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    code = (
        "import os\n"
        f"print(os.path.exists({str(secret)!r}), os.path.exists('/root'), os.path.exists('/etc/passwd'))\n"
        "print('SYNTH_SECRET_SENTINEL' in os.environ, sorted(os.environ))\n"
        "print(len([p for p in os.listdir('/proc') if p.isdigit()]))\n"
    )
    lines = run(sandbox, code).stdout.splitlines()
    assert lines[0] == "False False False"
    assert lines[1].startswith("False")
    assert int(lines[2]) <= 3  # only the sandbox's own processes are visible


def test_background_process_does_not_outlive_the_run(sandbox):
    code = "import subprocess\nsubprocess.Popen(['sleep', '321'], start_new_session=True)\nprint('left')"
    assert run(sandbox, code).stdout == "left\n"
    leftovers = [
        p for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] == ["sleep", "321"]
    ]
    assert leftovers == []


def test_killing_everything_inside_leaves_the_host_alone(sandbox):
    code = "import os, signal\nfor pid in range(1, 50):\n    try: os.kill(pid, signal.SIGKILL)\n    except OSError: pass\n"
    run(sandbox, code)
    assert psutil.pid_exists(os.getpid()) and run(sandbox, "print(1)").stdout == "1\n"


def test_raising_limits_from_inside_fails(sandbox):
    code = (
        "import resource\n"
        "try:\n    resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))\n"
        "    print('raised')\nexcept (ValueError, OSError):\n    print('refused')\n"
    )
    assert run(sandbox, code).stdout == "refused\n"


def test_concurrent_runs_do_not_see_each_other(sandbox):
    results = {}

    def worker(index: int) -> None:
        code = f"import os\nopen('mine', 'w').write('{index}')\nprint(sorted(os.listdir('.')), open('mine').read())"
        results[index] = run(sandbox, code)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for index, result in results.items():
        assert result.stdout == f"['main.py', 'mine'] {index}\n"


def test_file_names_must_stay_inside_the_work_dir(sandbox):
    for name in ("/etc/x", "../x", "a/../../x"):
        with pytest.raises(ValueError):
            sandbox.run({name: ""}, ["true"])


def test_unknown_backend_names_the_choices():
    with pytest.raises(SynthError, match="choose one of: auto, bubblewrap, docker"):
        get_sandbox("nope")
