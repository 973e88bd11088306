"""How reading a run directory grows with the run: ids, counts, status, resume, export.

`build` makes a run directory of N records the way a long run leaves it: 16 records a shard,
cloned from the records of a real (scripted) `synth generate` run of the fleet's world
(tests/fleet/world.py, answered from a replay file, checked in bubblewrap). Each clone gets
its own slot, record id and problem id (those of seed 0, so a resume recognises them), its
own story words in the statement and its own function name in statement, tests and
solutions, so export's dedup has real work. run.json is the template run's, with `problems`
set to N, so `synth generate` with the same settings resumes it with nothing to do. No index
is written: the first read of a synth that has one builds it (measured as `index_build`).

`measure` runs each operation as its own process (so peak RSS is the operation's), with the
synth of `--tree` (a checkout: measure a commit before and after on the same directory), and
prints one JSON line per repeat and one per operation with the medians:

- index_build   the first read of a directory without an index (trees that have one)
- ids           RunStore(run).ids()
- counts        synth.counts.run_counts(RunStore(run))
- status        `synth status RUN --json`
- resume_read   the store's part of a resume's start-up: the whole-run counts, every stored
                problem for the near-duplicate index (RunStore.stored_problems where the tree
                has it, else every record), and the stored ids; no MinHash is computed
- generate      `synth generate` with the run's settings on the finished run: its whole
                start-up (engine, sandbox, near-duplicate seeding) and nothing to generate
- export        `synth export RUN --out DIR --format jsonl`

Seconds are wall time; peak RSS comes from wait4 of the process; files opened counts the
openat calls under the run directory in a separate run under strace (not timed).

    .venv/bin/python bench/scale.py build --records 10000 --out /tmp/scale/10k
    .venv/bin/python bench/scale.py measure --run /tmp/scale/10k --tree . --repeats 3
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PER_SHARD = 16
TEMPLATE_SLOTS = 16
WORLD_SETTINGS = [  # tests/fleet/world.py's config(), as `synth generate` flags
    "--samples", "2", "--max-rounds", "2", "--batch-size", "4", "--min-tests", "2",
    "--timeout-s", "5", "--memory-mb", "256", "--sandbox", "bubblewrap", "--engine", "replay",
]  # fmt: skip

OPS = {
    "ids": "from synth.store import RunStore\nprint(len(RunStore(RUN).ids()))",
    "counts": "from synth.counts import run_counts\nfrom synth.store import RunStore\n"
    "print(run_counts(RunStore(RUN)).slots_done)",
    "resume_read": """
from synth.counts import run_counts
from synth.store import RunStore
store = RunStore(RUN)
run_counts(store)
if hasattr(store, "stored_problems"):
    stored = store.stored_problems()
    problems = [i for i, d in zip(stored.ids, stored.duplicate.tolist()) if not d]
else:
    problems = [(r.problem.id, r.problem.statement) for r in store.records()
                if r.problem is not None and r.rejection != "duplicate"]
print(len(problems), len(store.ids()))
""",
}


def world_dir(run: Path) -> Path:
    return run.parent / f".{run.name}-world"


def generate_command(run: Path, problems: int, world: Path) -> list[str]:
    return [
        "-m", "synth.cli", "generate", "--out", str(run), "--problems", str(problems),
        "--taxonomy", str(world / "taxonomy.yaml"), "--replay", str(world / "replay.jsonl"),
        *WORLD_SETTINGS,
    ]  # fmt: skip


# --- build ---------------------------------------------------------------------------------


def build(records: int, out: Path) -> None:
    sys.path.insert(0, str(ROOT))
    from synth.records import Record, problem_id, record_id
    from synth.sandbox import get_sandbox
    from tests.fleet.world import record_world

    if out.exists():
        raise SystemExit(f"{out} exists")
    world = world_dir(out)
    shutil.rmtree(world, ignore_errors=True)
    world.mkdir(parents=True)
    record_world(world, TEMPLATE_SLOTS, get_sandbox("bubblewrap"))  # the replay file
    template_run = world / "template"
    subprocess.run([sys.executable, *generate_command(template_run, TEMPLATE_SLOTS, world)],
                   check=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                   capture_output=True)  # fmt: skip
    templates = []
    for shard in sorted((template_run / "records").iterdir()):
        for line in shard.read_text().splitlines():
            record = Record.model_validate_json(line)
            story = record.problem.statement.split("Story: ", 1)[1].rstrip(".")
            name = "add_" + record.problem.signature.split("add_", 1)[1].split("(", 1)[0]
            templates.append((record, line, story, name))
    templates.sort(key=lambda t: t[0].slot)

    (out / "records").mkdir(parents=True)
    settings = json.loads((template_run / "run.json").read_text())
    (out / "run.json").write_text(json.dumps({**settings, "problems": records}, indent=2))
    started = time.time_ns()
    lines: list[str] = []
    for slot in range(records):
        record, text, story, name = templates[slot % len(templates)]
        digest = hashlib.sha256(f"clone:{slot}".encode()).hexdigest()
        words = " ".join(f"w{digest[i : i + 3]}" for i in range(0, 60, 3))
        text = (
            text.replace(record.id, record_id(0, slot))
            .replace(record.problem.id, problem_id(0, slot))
            .replace(f'"slot":{record.slot},', f'"slot":{slot},')
            .replace(story, words)
            .replace(name, f"add_{digest[60:64]}{slot}")
        )
        lines.append(text)
        if len(lines) == PER_SHARD or slot == records - 1:
            first = record_id(0, slot - len(lines) + 1)
            name_ = f"shard-{started + slot:020d}-{first[:8]}.jsonl"
            (out / "records" / name_).write_text("\n".join(lines) + "\n")
            lines = []
    print(json.dumps({"built": str(out), "records": records, "templates": len(templates)}))


# --- measure -------------------------------------------------------------------------------


def op_command(op: str, run: Path, scratch: Path) -> list[str]:
    if op in OPS or op == "index_build":
        code = OPS["ids" if op == "index_build" else op].replace("RUN", repr(str(run)))
        return ["-c", code]
    if op == "status":
        return ["-m", "synth.cli", "status", str(run), "--json"]
    if op == "generate":
        settings = json.loads((run / "run.json").read_text())
        return generate_command(run, settings["problems"], world_dir(run))
    if op == "export":
        shutil.rmtree(scratch / "export", ignore_errors=True)
        return ["-m", "synth.cli", "export", str(run), "--out", str(scratch / "export"),
                "--format", "jsonl"]  # fmt: skip
    raise SystemExit(f"unknown operation {op}")


def peak_rss_mb(command: list[str], tree: Path) -> tuple[float, float, str]:
    """(seconds, peak RSS in MB, stdout tail) of one run of `command` in its own process."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, *command], cwd=tree, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    out = process.stdout.read()
    err = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"{command} failed:\n{err.decode()[-3000:]}")
    return seconds, usage.ru_maxrss / 1024, out.decode().strip()[-120:]


def files_opened(command: list[str], tree: Path, run: Path, scratch: Path) -> int:
    """openat calls under the run directory (strace, every thread and child)."""
    log = scratch / "strace.log"
    env = {**os.environ, "PYTHONPATH": str(tree)}
    subprocess.run(["strace", "-f", "-qq", "-e", "trace=openat", "-o", str(log),
                    sys.executable, *command], cwd=tree, env=env, check=True,
                   capture_output=True)  # fmt: skip
    prefix = f'"{str(run).rstrip("/")}/'
    with log.open() as lines:
        return sum(prefix in line and "ENOENT" not in line for line in lines)


def measure(run: Path, tree: Path, ops: list[str], repeats: int, strace: list[str]) -> None:
    label = subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"],
                           capture_output=True, text=True).stdout.strip()  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="scale-") as scratch_dir:
        scratch = Path(scratch_dir)
        for op in ops:
            times, peaks, out = [], [], ""
            for repeat in range(1 if op == "index_build" else repeats):
                if op == "index_build":
                    shutil.rmtree(run / "index", ignore_errors=True)
                seconds, peak, out = peak_rss_mb(op_command(op, run, scratch), tree)
                times.append(seconds)
                peaks.append(peak)
                row = {"op": op, "repeat": repeat, "seconds": round(seconds, 3)}
                print(json.dumps({**row, "peak_rss_mb": round(peak)}), flush=True)
            opened = None
            if op in strace:
                opened = files_opened(op_command(op, run, scratch), tree, run, scratch)
            line = {
                "op": op,
                "tree": label,
                "run": str(run),
                "median_s": round(statistics.median(times), 3),
                "peak_rss_mb": round(statistics.median(peaks)),
                "files_opened": opened,
                "repeats": len(times),
                "out": out.splitlines()[-1][:80] if out else "",
            }
            print(json.dumps(line), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    b = commands.add_parser("build")
    b.add_argument("--records", type=int, required=True)
    b.add_argument("--out", type=Path, required=True)
    m = commands.add_parser("measure")
    m.add_argument("--run", type=Path, required=True)
    m.add_argument("--tree", type=Path, default=ROOT)
    m.add_argument("--ops", default="ids,counts,status,resume_read,generate,export")
    m.add_argument("--repeats", type=int, default=3)
    m.add_argument(
        "--strace",
        default="ids,counts,status,resume_read",
        help="operations whose files opened are counted (one more run each)",
    )
    args = parser.parse_args()
    if args.command == "build":
        build(args.records, args.out.resolve())
    else:
        measure(args.run.resolve(), args.tree.resolve(), args.ops.split(","), args.repeats,
                args.strace.split(","))  # fmt: skip


if __name__ == "__main__":
    main()
