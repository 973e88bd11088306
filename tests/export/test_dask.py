"""`synth export --engine dask` writes what the local engine writes, on a Dask LocalCluster
started once for this module (two worker processes, as on a real cluster's workers).

The run holds every case where "first in run order wins" decides, spread over many parts
(two shards a part): exact and near copies of problems, copied solutions, a problem id
used again by a later record (once with its statement, once with another statement that
copies a third problem), a record stored twice, a row that quotes HumanEval, a rejected
record, and failed first answers so that it also gives preference pairs.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import distributed
import pytest
from typer.testing import CliRunner

import synth.export.batches as batches
from synth.cli import app
from synth.errors import SynthError
from synth.export import ExportOptions, export_dataset, read_split
from synth.export.split import position
from synth.records import Attempt, Record, Sample, Trajectory, Verdict
from synth.store import RunStore
from tests.export.golden_run import leaked_docstring
from tests.export.test_export import WORDS, record, rejected, statement

on_cluster = pytest.mark.slow  # the cluster, then two exports a test: about a minute in all


@pytest.fixture(scope="module")
def scheduler():
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",
        silence_logs=logging.ERROR,
    )
    with cluster:
        yield cluster.scheduler_address


def with_failure(base: Record) -> Record:
    """`base` with a third first answer that failed the tests (so it gives pairs)."""
    assert base.problem is not None
    sample = Sample(
        id=f"{base.trajectories[0].attempts[0].sample.id}-bad",
        problem_id=base.problem.id,
        trajectory=2,
        round=1,
        text=f"```python\ndef f(x):\n    return x - {base.slot}\n```",
    )
    verdict = Verdict(id=f"{sample.id}-v", passed=False, stage="tests", reason="tests_failed")
    failed = Trajectory(index=2, attempts=(Attempt(sample=sample, verdict=verdict),))
    return base.model_copy(update={"trajectories": (*base.trajectories, failed)})


def problem_id_again(slot: int, problem_id: str, text: str) -> Record:
    """A record of its own whose problem has the id of an earlier record's."""
    base = record(slot, text=text)
    assert base.problem is not None
    return base.model_copy(update={"problem": base.problem.model_copy(update={"id": problem_id})})


def write_mixed_run(run_dir: Path) -> Path:
    details = " ".join(f"{w} means {i}" for i, w in enumerate(WORDS * 2))
    records = [record(slot) for slot in range(40)]
    records += [record(slot, text=f"{statement(slot)} {details}.") for slot in (40, 41, 42)]
    records += [record(43, text=statement(1).upper() + " ")]  # exact copy of problem 1
    records += [record(44, text=f"{statement(41)} {details}.".replace("number", "count", 1))]
    records += [record(45, solutions=("def f(x):\n    return x * 2\n",) * 2)]  # in one record
    records += [record(46, solutions=(f"def f(x):\n    return x + {3}\n",))]  # copies 3's first
    records += [record(47, text=f"{statement(47)} {leaked_docstring()}")]
    records += [rejected(48)]
    records += [problem_id_again(49, "p5", statement(5))]  # p5 again, its own statement
    records += [problem_id_again(50, "p7", statement(30))]  # p7 again, copying p30's
    for slot in range(51, 60):  # near copies of the long problems (a word changed), late
        text = f"{statement(40 + slot % 3)} {details}."
        records.append(
            record(slot, text=text.replace(f"means {slot - 45} ", f"is {slot - 45} ", 1))
        )
    records = [with_failure(r) if r.status == "verified" else r for r in records]
    store = RunStore(run_dir)
    store.write_settings({"taxonomy": "taxonomies/code/python.yaml"})
    again = RunStore(run_dir)  # a fleet's redelivered task: records 10-13 stored twice
    again.ids()  # read before the others were written
    for start in range(0, len(records), 5):
        store.write(records[start : start + 5])
    again.write(records[10:14])
    assert len(list(RunStore(run_dir).records())) == 60
    return run_dir


@pytest.fixture(scope="module")
def mixed_run(tmp_path_factory):
    return write_mixed_run(tmp_path_factory.mktemp("mixed") / "run")


def _problem_ids(run_dir: Path) -> list[str]:
    return sorted({r.problem.id for r in RunStore(run_dir).records() if r.problem is not None})


def splits(run_dir: Path) -> dict[str, tuple[float, int]]:
    """(validation share, seed): an ordinary split; one where no problem falls in
    validation (it gets the lowest); one where all do (train gets the highest back)."""
    lowest = min(position(p, 0) for p in _problem_ids(run_dir))
    return {"ordinary": (0.3, 0), "validation_empty": (lowest / 2, 0), "train_empty": (1.0, 0)}


def same_files(local: Path, dask: Path, fmt: str) -> None:
    """Every file byte for byte; a DatasetDict's Arrow files row for row (they carry a
    fingerprint of their own)."""
    names = sorted(p.relative_to(local) for p in local.rglob("*") if p.is_file())
    assert names == sorted(p.relative_to(dask) for p in dask.rglob("*") if p.is_file())
    for name in names:
        if fmt == "hf" and name.parts[0] in ("train", "validation"):
            continue
        assert (local / name).read_bytes() == (dask / name).read_bytes(), name
    for split in ("train", "validation"):
        assert read_split(local, split) == read_split(dask, split)


CASES = [
    ("sft", "jsonl", "ordinary"),
    ("sft", "jsonl", "validation_empty"),
    ("sft", "jsonl", "train_empty"),
    ("sft", "parquet", "validation_empty"),
    ("sft", "parquet", "ordinary"),
    ("sft", "hf", "ordinary"),
    ("dpo", "jsonl", "ordinary"),
    ("dpo", "jsonl", "validation_empty"),
    ("dpo", "jsonl", "train_empty"),
    ("dpo", "parquet", "train_empty"),
    ("dpo", "hf", "ordinary"),
]


@on_cluster
@pytest.mark.parametrize(("kind", "fmt", "split"), CASES)
def test_the_dask_export_writes_the_local_exports_files(
    mixed_run, scheduler, tmp_path, monkeypatch, kind, fmt, split
):
    monkeypatch.setattr(batches, "SHARDS_AT_ONCE", 2)  # many parts
    share, seed = splits(mixed_run)[split]
    options = ExportOptions(
        format=fmt, kind=kind, validation_share=share, split_seed=seed, workers=1
    )
    local = export_dataset(mixed_run, tmp_path / "local", options)
    on_dask = export_dataset(mixed_run, tmp_path / "dask", options, "dask", scheduler)
    assert on_dask == local
    same_files(tmp_path / "local", tmp_path / "dask", fmt)
    report = json.loads((tmp_path / "dask" / "export.json").read_text())
    assert report["records"] == 60  # the record stored twice, once
    assert report["dropped_contaminated"] > 0
    assert {"exact_problem", "near_problem"} <= set(report["duplicates"])
    if kind == "sft":
        assert "exact_solution" in report["duplicates"]
    if split == "validation_empty":
        assert report["validation_problems"] == 1
    if split == "train_empty":
        assert report["train_problems"] == 1


@on_cluster
def test_the_same_without_dedup_or_decontamination(mixed_run, scheduler, tmp_path, monkeypatch):
    monkeypatch.setattr(batches, "SHARDS_AT_ONCE", 2)
    options = ExportOptions(validation_share=0.3, dedup=None, builtin_benchmarks=(), workers=1)
    local = export_dataset(mixed_run, tmp_path / "local", options)
    assert export_dataset(mixed_run, tmp_path / "dask", options, "dask", scheduler) == local
    same_files(tmp_path / "local", tmp_path / "dask", "jsonl")


@on_cluster
def test_the_command_takes_the_engine_and_the_scheduler(mixed_run, scheduler, tmp_path):
    """With --scheduler, that cluster; without, a local cluster of --workers processes."""
    runner = CliRunner()
    base = ["export", str(mixed_run), "--workers", "2", "--out"]
    for out, more in (
        ("local", []),
        ("given", ["--engine", "dask", "--scheduler", scheduler]),
        ("started", ["--engine", "dask"]),
    ):
        result = runner.invoke(app, [*base, str(tmp_path / out), *more])
        assert result.exit_code == 0, result.output
    same_files(tmp_path / "local", tmp_path / "given", "jsonl")
    same_files(tmp_path / "local", tmp_path / "started", "jsonl")


@on_cluster
def test_a_broken_record_is_refused_naming_the_shard_line_and_field(mixed_run, scheduler, tmp_path):
    """Read on a worker, the local engine's error (and nothing written)."""
    run_dir = tmp_path / "run"
    write_mixed_run(run_dir)
    shard = sorted((run_dir / "records").glob("shard-*.jsonl"))[5]
    lines = shard.read_text().split("\n")
    lines[2] = lines[2].replace('"status":"verified"', '"status":"maybe"')
    shard.write_text("\n".join(lines))
    with pytest.raises(SynthError, match=rf"{shard.name}:3: not a valid record \(status"):
        export_dataset(run_dir, tmp_path / "out", ExportOptions(), "dask", scheduler)
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.*"))


def test_a_scheduler_needs_the_dask_engine(mixed_run, tmp_path):
    with pytest.raises(SynthError, match="--scheduler: applies to --engine dask"):
        export_dataset(mixed_run, tmp_path / "out", ExportOptions(), scheduler="tcp://x:8786")


def test_without_dask_the_error_names_the_extra(mixed_run, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # what a missing package raises
    with pytest.raises(SynthError, match=r"--engine dask: needs Dask.*pip install 'synth\[dask\]'"):
        export_dataset(mixed_run, tmp_path / "out", ExportOptions(), engine="dask")
    assert not (tmp_path / "out").exists()


def test_an_unreachable_scheduler_is_named(mixed_run, tmp_path, monkeypatch):
    import socket

    from synth.export import on_dask

    monkeypatch.setattr(on_dask, "CONNECT_TIMEOUT_S", 1)
    with socket.socket() as held:  # a port bound and never listened on: refused, and ours
        held.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{held.getsockname()[1]}"
        with pytest.raises(SynthError, match=f"--scheduler {address}: no Dask scheduler"):
            export_dataset(mixed_run, tmp_path / "out", ExportOptions(), "dask", address)
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.*"))
