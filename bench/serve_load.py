"""Requests per second and latency of `synth serve` on loopback, for 1, 8 and 32 clients.

The service runs as a user starts it (`synth serve --port 0`, its own process, the
bubblewrap sandbox). Each client is a thread with its own keep-alive connection, sending
one request after another; a request is a batch of `--items` items cycling through a right
and a wrong code answer (three asserts each, run in the sandbox) and a right and a wrong
math answer (sympy in the checker process); `--kind code` or `math` keeps one kind. Each level stops after `--requests` requests
or `--seconds`, whichever comes first, after a warm-up that starts the sandbox and the math
checker.

    .venv/bin/python bench/serve_load.py --requests 120 --seconds 20

Prints one JSON line per level per repeat (requests/s, items/s, p50 and p99 latency, the
answers by status), then a median line per level.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
TESTS = "assert total([1, 2]) == 3\nassert total([]) == 0\nassert total([5]) == 5\n"
ITEMS = [
    {"completion": "```python\ndef total(xs):\n    return sum(xs)\n```", "tests": TESTS,
     "entry_point": "total"},
    {"completion": "```python\ndef total(xs):\n    return 3\n```", "tests": TESTS,
     "entry_point": "total"},
    {"completion": "So the answer is $\\boxed{\\frac{1}{2}}$.", "answer": "0.5"},
    {"completion": "So the answer is $\\boxed{3}$.", "answer": "2"},
]  # fmt: skip


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def start_service(args) -> tuple[subprocess.Popen, str]:
    command = [
        sys.executable, "-m", "synth.cli", "serve", "--port", "0", "--sandbox", "bubblewrap",
        "--workers", str(args.workers), "--queue-size", str(args.queue_size),
    ]  # fmt: skip
    process = subprocess.Popen(
        command, cwd=ROOT, stderr=subprocess.PIPE, text=True, env={**os.environ, "COLUMNS": "200"}
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in process.stderr], daemon=True).start()
    end = time.monotonic() + 120
    while time.monotonic() < end:
        try:
            line = lines.get(timeout=max(0.0, end - time.monotonic()))
        except queue.Empty:
            break
        if line.startswith("synth serve: http://"):
            return process, line.split()[2]
    process.kill()
    raise SystemExit(f"synth serve did not start (exit {process.poll()})")


def level(url: str, clients: int, body: dict, requests: int, seconds: float) -> dict:
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    lock = threading.Lock()
    issued = [0]
    deadline = time.monotonic() + seconds

    def client() -> None:
        with httpx.Client(timeout=120) as http:
            while time.monotonic() < deadline:
                with lock:
                    if issued[0] >= requests:
                        return
                    issued[0] += 1
                started = time.monotonic()
                status = str(http.post(url + "/verify", json=body).status_code)
                elapsed = time.monotonic() - started
                with lock:
                    statuses[status] = statuses.get(status, 0) + 1
                    if status == "200":
                        latencies.append(elapsed)

    started = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - started
    done = len(latencies)
    return {
        "clients": clients,
        "requests": sum(statuses.values()),
        "statuses": statuses,
        "items_per_request": len(body["items"]),
        "seconds": round(wall, 2),
        "requests_per_s": round(done / wall, 2),
        "items_per_s": round(done * len(body["items"]) / wall, 2),
        "p50_ms": round(1000 * percentile(latencies, 0.5), 1) if latencies else None,
        "p99_ms": round(1000 * percentile(latencies, 0.99), 1) if latencies else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--requests", type=int, default=120, help="per level, at most")
    parser.add_argument("--seconds", type=float, default=20.0, help="per level, at most")
    parser.add_argument("--items", type=int, default=4, help="items per request")
    parser.add_argument(
        "--kind", choices=["mixed", "code", "math"], default="mixed", help="which items to cycle"
    )
    parser.add_argument("--workers", type=int, default=2, help="the service's --workers")
    parser.add_argument("--queue-size", type=int, default=64, help="the service's --queue-size")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    pool = {"mixed": ITEMS, "code": ITEMS[:2], "math": ITEMS[2:]}[args.kind]
    body = {"items": [pool[i % len(pool)] for i in range(args.items)]}
    process, url = start_service(args)
    try:
        with httpx.Client(timeout=120) as http:  # warm-up: the sandbox and the math checker
            for _ in range(3):
                verdicts = http.post(url + "/verify", json=body).json()["verdicts"]
        assert [v["passed"] for v in verdicts] == [i % 2 == 0 for i in range(args.items)]
        results: dict[int, list[dict]] = {}
        for repeat in range(args.repeats):
            for clients in args.clients:
                line = level(url, clients, body, args.requests, args.seconds)
                print(json.dumps({"repeat": repeat, "kind": args.kind, **line}), flush=True)
                results.setdefault(clients, []).append(line)
        for clients, lines in results.items():
            print(
                json.dumps(
                    {
                        "median": True,
                        "kind": args.kind,
                        "clients": clients,
                        **{
                            key: statistics.median(line[key] for line in lines)
                            for key in ("requests_per_s", "items_per_s", "p50_ms", "p99_ms")
                            if all(line[key] is not None for line in lines)
                        },
                    }
                ),
                flush=True,
            )
    finally:
        process.terminate()
        process.wait(timeout=30)


if __name__ == "__main__":
    main()
