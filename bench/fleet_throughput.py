"""Queue overhead of the fleet, and whether verify workers scale.

Setup: a real Redis server (AOF on) and real `synth worker` processes on this machine; the
generate worker answers from a replay file (tests/fleet/world.py), so the engine costs
nothing and what is measured is the fleet: submit -> generate -> verify -> store.

- overhead: trivial tests; 1 generate + 1 verify worker; chunks of one batch (4 slots).
  Reports batches per second from submit to the job's end.
- scaling: tests that take ~0.3 s per sample (each assert sleeps), so verification is the
  bottleneck; 1 generate worker with 3 batches in flight; 1 verify worker vs 2 (one
  process each). Reports the ratio of slots per second.

    .venv/bin/python bench/fleet_throughput.py --repeats 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import tests.fleet.world as world  # noqa: E402
from synth.fleet.submit import job_status, submit_job  # noqa: E402
from synth.sandbox import get_sandbox  # noqa: E402
from tests.fleet.conftest import RedisServer, Workers  # noqa: E402


def slow_respond(request, index):
    text = world.respond(request, index)
    if request.tag == "tests":  # every assert first sleeps 0.1 s: verification dominates
        text = text.replace("assert ", "assert __import__('time').sleep(0.1) is None and ")
    return text


def run_job(base: Path, problems: int, chunk_slots: int, verify_workers: int, slow: bool) -> dict:
    base.mkdir(parents=True)
    answer = slow_respond if slow else world.respond
    taxonomy, replay, _ = world.record_world(base, problems, get_sandbox("bubblewrap"), answer)
    spec = world.job_spec(base, taxonomy, replay, problems, chunk_slots)
    server = RedisServer(base / "redis")
    server.directory.mkdir()
    server.start()
    workers = Workers(server.url, base)
    try:
        names = ["g1", *(f"v{i}" for i in range(verify_workers))]
        workers.start("generate", "g1")
        for name in names[1:]:
            workers.start("verify", name, concurrency=1)
        for name in names:  # the clock starts once every worker consumes
            workers.wait_ready(name)
        started = time.perf_counter()
        job = submit_job(spec, server.url)
        while job_status(job, server.url).status != "finished":
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
        status = job_status(job, server.url)
        assert status.records == problems and not status.parked
    finally:
        workers.stop_all()
        server.stop()
    return {
        "seconds": round(elapsed, 2),
        "batches_per_s": round(problems / 4 / elapsed, 2),
        "slots_per_s": round(problems / elapsed, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--problems", type=int, default=48)
    args = parser.parse_args()
    rows: dict[str, list[dict]] = {"overhead": [], "verify_1": [], "verify_2": []}
    with tempfile.TemporaryDirectory(prefix="synth-bench-fleet-") as tmp:
        for repeat in range(args.repeats):
            for name, chunk, verify, slow in (
                ("overhead", 4, 1, False),
                ("verify_1", 16, 1, True),
                ("verify_2", 16, 2, True),
            ):
                row = run_job(Path(tmp) / f"{name}-{repeat}", args.problems, chunk, verify, slow)
                rows[name].append(row)
                print(json.dumps({"repeat": repeat, "case": name, **row}), flush=True)
    medians = {
        name: {k: statistics.median(r[k] for r in found) for k in found[0]}
        for name, found in rows.items()
    }
    ratios = [
        b["slots_per_s"] / a["slots_per_s"]
        for a, b in zip(rows["verify_1"], rows["verify_2"], strict=True)
    ]
    print(
        json.dumps(
            {
                "median": medians,
                "verify_2_over_1": round(statistics.median(ratios), 2),
                "ratios": [round(r, 2) for r in ratios],
            }
        )
    )


if __name__ == "__main__":
    main()
