"""Executions per second and latency of a small passing Python test, per sandbox path.

Paths (the same program everywhere: a solution and three asserts, ~10 lines):
- cold:       `docker run --rm` of a fresh container per execution (docker-py
              `containers.run(remove=True)` with the pool's limits; the program bind-mounted);
- exec:       the warm pool, one `docker exec` per execution (DockerSandbox(mode="exec"));
- forkserver: the warm pool's default, one fork of the pre-imported server per execution;
- bubblewrap: one bwrap process tree per execution.

Latency: sequential executions, p50 and p95. Throughput: executions per second with
`--threads` callers at once (2 = the cores of these machines), after a warm-up. Then
compile + run time of the `add` test program in each compiled language (warm pool).

    .venv/bin/python bench/sandbox_speed.py --repeats 3

Prints one JSON line per path per repeat, then the medians and the ratio of each warm path
to the cold start.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from synth.sandbox import get_sandbox  # noqa: E402
from synth.sandbox.base import Limits  # noqa: E402
from synth.sandbox.docker_pool import DockerSandbox  # noqa: E402
from synth.sandbox.languages import LANGUAGES  # noqa: E402
from tests.sandbox.programs import CASES  # noqa: E402

PROGRAM = (
    "def running_max(xs):\n"
    "    out, best = [], None\n"
    "    for x in xs:\n"
    "        best = x if best is None or x > best else best\n"
    "        out.append(best)\n"
    "    return out\n\n"
    "assert running_max([]) == []\n"
    "assert running_max([1, 3, 2]) == [1, 3, 3]\n"
    "assert running_max([-1, -2]) == [-1, -1]\n"
)
LIMITS = Limits(timeout_s=10, memory_mb=512)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def cold_runner(client, image: str):
    directory = Path(tempfile.mkdtemp(prefix="synth-bench-"))
    (directory / "main.py").write_text(PROGRAM)
    directory.chmod(0o755)
    (directory / "main.py").chmod(0o644)

    def run() -> bool:
        output = client.containers.run(
            image,
            ["python3", "/src/main.py"],
            remove=True,
            network_mode="none",
            read_only=True,
            user="1000:1000",
            volumes={str(directory): {"bind": "/src", "mode": "ro"}},
            tmpfs={"/work": "rw,size=64m", "/tmp": "rw,size=64m"},
            pids_limit=LIMITS.max_processes + 1,
            mem_limit=f"{LIMITS.memory_mb}m",
            memswap_limit=f"{LIMITS.memory_mb}m",
            nano_cpus=1_000_000_000,
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
        )
        return output == b""

    return run


def sandbox_runner(sandbox):
    def run() -> bool:
        return sandbox.run({"main.py": PROGRAM}, ["python3", "main.py"], LIMITS).status == "ok"

    return run


def measure(run, sequential: int, parallel: int, threads: int) -> dict:
    for _ in range(3):  # warm-up: containers started, caches filled
        assert run(), "the benchmark program failed"
    latencies = []
    for _ in range(sequential):
        started = time.perf_counter()
        assert run()
        latencies.append(time.perf_counter() - started)
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        assert all(pool.map(lambda _: run(), range(parallel)))
    elapsed = time.perf_counter() - started
    return {
        "p50_ms": round(1000 * statistics.median(latencies), 1),
        "p95_ms": round(1000 * percentile(latencies, 0.95), 1),
        "exec_per_s": round(parallel / elapsed, 1),
    }


def compiled_languages(sandbox) -> dict:
    times = {}
    for name in ("cpp", "rust", "go", "java"):
        spec, case = LANGUAGES[name], CASES[name]
        runs = []
        for _ in range(3):
            result = sandbox.run(
                spec.program(case.right, case.tests),
                spec.command(LIMITS.memory_mb),
                LIMITS,
                compile=spec.compile,
                language=name,
            )
            assert result.status == "ok", result
            runs.append((result.compile_s, result.duration_s - result.compile_s))
        times[name] = {
            "compile_s": round(statistics.median(c for c, _ in runs), 2),
            "run_s": round(statistics.median(r for _, r in runs), 3),
        }
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sequential", type=int, default=60, help="runs for the latencies")
    parser.add_argument("--parallel", type=int, default=120, help="runs for the throughput")
    parser.add_argument("--cold-runs", type=int, default=12, help="cold starts are slow")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    forkserver = DockerSandbox(pool_size=args.threads)
    exec_mode = DockerSandbox(pool_size=args.threads, mode="exec")
    bubblewrap = get_sandbox("bubblewrap")
    for pool in (forkserver, exec_mode):  # every container of the pool started before timing
        pool.warm("python", LIMITS)
    paths = {
        "cold": cold_runner(forkserver.client, forkserver.image("python")),
        "exec": sandbox_runner(exec_mode),
        "forkserver": sandbox_runner(forkserver),
        "bubblewrap": sandbox_runner(bubblewrap),
    }
    results: dict[str, list[dict]] = {name: [] for name in paths}
    try:
        for repeat in range(args.repeats):
            for name, run in paths.items():
                count = args.cold_runs if name == "cold" else None
                row = measure(run, count or args.sequential, count or args.parallel, args.threads)
                results[name].append(row)
                print(json.dumps({"repeat": repeat, "path": name, **row}), flush=True)
        compiled = compiled_languages(forkserver)
    finally:
        forkserver.close()
        exec_mode.close()
    medians = {
        name: {key: statistics.median(r[key] for r in rows) for key in rows[0]}
        for name, rows in results.items()
    }
    cold = medians["cold"]["exec_per_s"]
    for name, row in medians.items():
        row["x_cold"] = round(row["exec_per_s"] / cold, 1)
        print(json.dumps({"median": name, **row}))
    print(json.dumps({"compile_and_run": compiled}))


if __name__ == "__main__":
    main()
