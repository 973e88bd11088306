"""A small run with every kind of work for export: distinct problems, exact and near copies
of problems, copied solutions, a problem quoting HumanEval, a rejected record. Its export
by the list-based implementation (commit 834b333) is kept in tests/fixtures/export-834b333.json:
the streaming export must keep the same rows, in the same order, on the same sides."""

from __future__ import annotations

from pathlib import Path

from synth.records import record_id
from synth.store import RunStore
from tests.export.test_export import WORDS, record, rejected, statement

GOLDEN = Path(__file__).parent.parent / "fixtures" / "export-834b333.json"
# (validation share, split seed) of the exports kept: an ordinary split, one where no
# problem falls below the share (validation gets the lowest one), one where all but a
# one does (train gets the highest back)
SPLITS = ((0.3, 0), (0.01, 0), (0.99, 1))


def leaked_docstring() -> str:
    from synth.evals.benchmarks import load_humaneval

    return load_humaneval().tasks[0].prompt.split('"""')[1]


def write_golden_run(run_dir: Path) -> Path:
    """Writes the run (16 records a shard, as the pipeline does) and returns its path."""
    details = " ".join(f"{w} means {i}" for i, w in enumerate(WORDS * 2))
    records = [record(slot) for slot in range(40)]
    for slot in (40, 41, 42):  # exact copies of problems 1-3, after normalising
        records.append(record(slot, text=statement(slot - 39).upper() + " "))
    for slot in (43, 44, 45):  # long problems, then a near copy of each (one word changed)
        records.append(record(slot, text=f"{statement(slot)} {details}."))
    for slot in (46, 47, 48):
        text = f"{statement(slot - 3)} {details}.".replace("number", "count", 1)
        records.append(record(slot, text=text))
    records.append(record(49, solutions=("def f(x):\n    return x * 2\n",) * 2))
    records.append(record(50, solutions=("def f(x):\n    return x + 5\n", "def f(x): pass\n")))
    records.append(record(51, text=f"{statement(51)} {leaked_docstring()}"))
    records.append(rejected(52))
    store = RunStore(run_dir)
    store.write_settings({"taxonomy": "taxonomies/code/python.yaml"})
    for start in range(0, len(records), 16):
        store.write(records[start : start + 16])
    assert {r.id for r in records} == {record_id(0, slot) for slot in range(53)}
    return run_dir
