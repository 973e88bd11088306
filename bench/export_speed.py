"""How fast does `synth export` go, and in how much memory? Records/s and peak RSS.

Runs `synth export RUN --format F` as a fresh process per try (so imports and the dataset
card count, as a user sees them) and reads the child's peak RSS from the kernel
(`os.wait4`). `--pythonpath DIR` runs the synth of another checkout (e.g. `git archive
834b333 | tar -x -C /tmp/before`), so before and after are measured in one session, on one
machine, over the same run directory.

    .venv/bin/python bench/export_speed.py RUN_DIR --formats jsonl parquet --repeats 3
    .venv/bin/python bench/export_speed.py RUN_DIR --pythonpath /tmp/before --repeats 1
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


def export_once(run_dir: str, fmt: str, pythonpath: str | None) -> tuple[float, float, dict]:
    """(seconds, peak RSS in MB, the counts printed) of one `synth export` process."""
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", "synth.cli", "export", run_dir, "--out", f"{tmp}/out"]
        started = time.perf_counter()
        child = subprocess.Popen(
            [*command, "--format", fmt],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=pythonpath or None,
        )
        output = child.stdout.read()
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"synth export failed ({fmt}): exit {os.waitstatus_to_exitcode(status)}")
    return seconds, usage.ru_maxrss / 1024, json.loads(output)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir")
    parser.add_argument("--formats", nargs="+", default=["jsonl", "parquet"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pythonpath", help="the synth checkout to run (default: this one)")
    args = parser.parse_args()
    results = []
    for fmt in args.formats:
        seconds, peaks, counts = [], [], {}
        for _ in range(args.repeats):
            elapsed, peak, counts = export_once(args.run_dir, fmt, args.pythonpath)
            seconds.append(elapsed)
            peaks.append(peak)
        median = statistics.median(seconds)
        results.append(
            {
                "format": fmt,
                "records": counts["records"],
                "seconds_median": round(median, 2),
                "seconds": [round(s, 2) for s in seconds],
                "records_per_s": round(counts["records"] / median),
                "peak_rss_mb": round(max(peaks)),
                "kept": counts.get("train_examples", 0) + counts.get("validation_examples", 0),
            }
        )
        print(json.dumps(results[-1]), flush=True)
    checkout = Path(args.pythonpath or ".").resolve()
    print(json.dumps({"checkout": str(checkout), "results": results}, indent=2))


if __name__ == "__main__":
    main()
