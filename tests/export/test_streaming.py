"""The export streams: the rows of the list-based export, never more than a batch of rows in
memory, Parquet in row groups, and every batch deduplicated and decontaminated."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

import synth.export as export
import synth.export.formats as formats
from synth.export import ExportOptions, export_dataset, read_split
from synth.store import RunStore
from tests.export.golden_run import GOLDEN, SPLITS, write_golden_run
from tests.export.test_export import record


@pytest.fixture(scope="module")
def golden_run(tmp_path_factory):
    return write_golden_run(tmp_path_factory.mktemp("golden") / "run")


@pytest.mark.parametrize("records_at_once", [256, 5, 1])
@pytest.mark.parametrize(("share", "seed"), SPLITS)
def test_the_rows_and_split_are_those_of_the_list_based_export(
    golden_run, tmp_path, monkeypatch, records_at_once, share, seed
):
    """Whatever the batch size: the same rows kept in the same order on the same side, the
    same counts and reasons (tests/export/golden_run.py says how the fixture was made)."""
    expected = json.loads(GOLDEN.read_text())[f"{share}/{seed}"]
    monkeypatch.setattr(export, "RECORDS_AT_ONCE", records_at_once)
    out = tmp_path / "out"
    counts = export_dataset(golden_run, out, ExportOptions(validation_share=share, split_seed=seed))
    report = json.loads((out / "export.json").read_text())
    assert counts == expected["counts"]
    assert report["duplicates"] == expected["duplicates"]
    assert [[d["sample_id"], d["benchmark"]] for d in report["contaminated"]] == expected[
        "contaminated"
    ]
    assert [r["sample_id"] for r in read_split(out, "train")] == expected["train"]
    assert [r["sample_id"] for r in read_split(out, "validation")] == expected["validation"]


@pytest.mark.parametrize("fmt", ["parquet", "hf"])
def test_a_problem_moved_between_splits_keeps_its_rows_in_every_format(golden_run, tmp_path, fmt):
    """The two split rules settled at the end move one problem's rows after they were
    written; every format then holds what the JSONL export holds."""
    for share, seed in SPLITS[1:]:
        options = ExportOptions(validation_share=share, split_seed=seed)
        export_dataset(golden_run, tmp_path / "jsonl", options)
        export_dataset(golden_run, tmp_path / fmt, ExportOptions(format=fmt, **_split(options)))
        for split in ("train", "validation"):
            assert read_split(tmp_path / fmt, split) == read_split(tmp_path / "jsonl", split)


def _split(options: ExportOptions) -> dict:
    return {"validation_share": options.validation_share, "split_seed": options.split_seed}


class _CountedRow(dict):
    """A row that counts how many rows are alive at once (CPython frees a dict as soon as
    nothing refers to it)."""

    alive = 0
    most = 0

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _CountedRow.alive += 1
        _CountedRow.most = max(_CountedRow.most, _CountedRow.alive)

    def __del__(self):
        _CountedRow.alive -= 1


def _many_records(run_dir, count: int):
    store = RunStore(run_dir)
    store.write_settings({})
    for start in range(0, count, 16):
        store.write([record(slot) for slot in range(start, min(start + 16, count))])
    return run_dir


@pytest.mark.parametrize("fmt", ["jsonl", "parquet", "hf"])
def test_the_export_holds_at_most_a_batch_of_rows_whatever_the_run_size(tmp_path, monkeypatch, fmt):
    """By design, not by timing: 300 records give 600 rows, and no more than one batch of
    records' rows (2 a record here) plus, in Parquet, the row groups being filled are
    ever alive at once."""
    run_dir = _many_records(tmp_path / "run", 300)
    rows_of = export._rows
    monkeypatch.setattr(export, "_rows", lambda r, o: [_CountedRow(row) for row in rows_of(r, o)])
    monkeypatch.setattr(export, "RECORDS_AT_ONCE", 10)
    monkeypatch.setattr(formats, "ROW_GROUP_ROWS", 16)
    _CountedRow.alive = _CountedRow.most = 0
    counts = export_dataset(run_dir, tmp_path / "out", ExportOptions(format=fmt))
    assert counts["train_examples"] + counts["validation_examples"] == 600
    assert _CountedRow.most <= 10 * 2 + 2 * 16, _CountedRow.most
    assert _CountedRow.alive == 0


def test_parquet_is_written_in_row_groups(tmp_path, monkeypatch):
    run_dir = _many_records(tmp_path / "run", 100)
    monkeypatch.setattr(formats, "ROW_GROUP_ROWS", 32)
    out = tmp_path / "out"
    counts = export_dataset(run_dir, out, ExportOptions(format="parquet", validation_share=0.2))
    train = pq.ParquetFile(out / "train.parquet")
    sizes = [train.metadata.row_group(i).num_rows for i in range(train.num_row_groups)]
    assert sum(sizes) == counts["train_examples"] and max(sizes) <= 32 and len(sizes) >= 5
    assert train.schema_arrow.field("messages").type.value_type.names == ["role", "content"]


def test_contaminated_rows_are_dropped_in_every_batch(tmp_path, monkeypatch):
    """The leak sits in the last batch: decontamination runs on each batch as it streams."""
    from tests.export.golden_run import leaked_docstring

    store = RunStore(tmp_path / "run")
    store.write_settings({})
    store.write([record(slot) for slot in range(20)])
    store.write([record(20, text=f"Write f. {leaked_docstring()}")])
    monkeypatch.setattr(export, "RECORDS_AT_ONCE", 4)
    out = tmp_path / "out"
    counts = export_dataset(store.location, out, ExportOptions(validation_share=0))
    report = json.loads((out / "export.json").read_text())
    assert counts["dropped_contaminated"] == 2 and counts["train_examples"] == 40
    assert {d["sample_id"] for d in report["contaminated"]} == {"s20-0", "s20-1"}
    assert "p20" not in {r["problem_id"] for r in read_split(out, "train")}
