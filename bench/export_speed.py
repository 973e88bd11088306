"""How fast does `synth export` go, and in how much memory? Records/s and peak RSS.

Runs `synth export RUN --format F` as a fresh process per try (so imports and the dataset
card count, as a user sees them), and samples its whole process tree with psutil every
0.1 s (export's worker processes included): the peak of the tree's summed RSS, and the CPU
seconds of every process in it. Both matter on a shared machine: wall seconds say what a
user waits, CPU seconds what the export costs whatever else runs (records per CPU second
is the rate one idle core would give). `--pythonpath DIR` runs the synth of another
checkout (e.g. `git archive 834b333 | tar -x -C /tmp/before`), so before and after are
measured in one session, on one machine, over the same run directory.

    .venv/bin/python bench/export_speed.py RUN_DIR --formats jsonl parquet --repeats 3
    .venv/bin/python bench/export_speed.py RUN_DIR --pythonpath /tmp/before --repeats 1
    .venv/bin/python bench/export_speed.py RUN_DIR --formats jsonl --workers 1
    .venv/bin/python bench/export_speed.py RUN_DIR --formats jsonl --engine dask --workers 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil


def export_once(run_dir: str, fmt: str, pythonpath: str | None, extra: list[str]) -> dict:
    """Wall and CPU seconds, peak tree RSS (MB) and the counts of one `synth export`."""
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", "synth.cli", "export", run_dir, "--out", f"{tmp}/out"]
        started = time.perf_counter()
        child = psutil.Popen(
            [*command, "--format", fmt, *extra],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=pythonpath or None,
        )
        cpu: dict[int, float] = {}
        peak = 0
        while child.poll() is None:
            rss = 0
            try:
                processes = [child, *child.children(recursive=True)]
            except psutil.NoSuchProcess:
                break
            for process in processes:
                try:
                    rss += process.memory_info().rss
                    times = process.cpu_times()
                    cpu[process.pid] = times.user + times.system
                except psutil.NoSuchProcess:
                    pass
            peak = max(peak, rss)
            time.sleep(0.1)
        output = child.stdout.read()
        seconds = time.perf_counter() - started
    if child.returncode != 0:
        raise SystemExit(f"synth export failed ({fmt}): exit {child.returncode}")
    return {
        "seconds": seconds,
        "cpu_seconds": sum(cpu.values()),
        "peak_mb": peak / 2**20,
        "counts": json.loads(output),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir")
    parser.add_argument("--formats", nargs="+", default=["jsonl", "parquet"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pythonpath", help="the synth checkout to run (default: this one)")
    parser.add_argument("--workers", type=int, help="passed on to `synth export --workers`")
    parser.add_argument("--engine", help="passed on to `synth export --engine` (local, dask)")
    args = parser.parse_args()
    extra = [] if args.workers is None else ["--workers", str(args.workers)]
    extra += [] if args.engine is None else ["--engine", args.engine]
    results = []
    for fmt in args.formats:
        tries = [
            export_once(args.run_dir, fmt, args.pythonpath, extra) for _ in range(args.repeats)
        ]
        counts = tries[-1]["counts"]
        wall = statistics.median(t["seconds"] for t in tries)
        cpu = statistics.median(t["cpu_seconds"] for t in tries)
        results.append(
            {
                "format": fmt,
                "records": counts["records"],
                "seconds_median": round(wall, 1),
                "records_per_s": round(counts["records"] / wall),
                "cpu_seconds_median": round(cpu, 1),
                "records_per_cpu_s": round(counts["records"] / cpu),
                "peak_rss_mb": round(max(t["peak_mb"] for t in tries)),
                "kept": counts.get("train_examples", 0) + counts.get("validation_examples", 0),
                "workers": args.workers,
                "engine": args.engine or "local",
                "load_average": round(os.getloadavg()[0], 1),
            }
        )
        print(json.dumps(results[-1]), flush=True)
    checkout = Path(args.pythonpath or ".").resolve()
    print(json.dumps({"checkout": str(checkout), "results": results}, indent=2))


if __name__ == "__main__":
    main()
