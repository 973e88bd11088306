"""The export streams: the rows of the list-based export, never more than a batch of rows in
memory, Parquet in row groups, and every batch deduplicated and decontaminated."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

import synth.export.batches as batches
import synth.export.formats as formats
from synth.errors import SynthError
from synth.export import ExportOptions, export_dataset, read_split
from synth.store import RunStore
from tests.export.golden_run import GOLDEN, SPLITS, write_golden_run
from tests.export.test_export import record


@pytest.fixture(scope="module")
def golden_run(tmp_path_factory):
    return write_golden_run(tmp_path_factory.mktemp("golden") / "run")


@pytest.mark.parametrize(("shards_at_once", "workers"), [(16, 1), (1, 1), (1, 2)])
@pytest.mark.parametrize(("share", "seed"), SPLITS)
def test_the_rows_and_split_are_those_of_the_list_based_export(
    golden_run, tmp_path, monkeypatch, shards_at_once, workers, share, seed
):
    """Whatever the batch size and however many worker processes make the batches: the same
    rows kept in the same order on the same side, the same counts and reasons
    (tests/export/golden_run.py says how the fixture was made)."""
    expected = json.loads(GOLDEN.read_text())[f"{share}/{seed}"]
    monkeypatch.setattr(batches, "SHARDS_AT_ONCE", shards_at_once)
    out = tmp_path / "out"
    options = ExportOptions(validation_share=share, split_seed=seed, workers=workers)
    counts = export_dataset(golden_run, out, options)
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
    """By design, not by timing: 300 records (16 a shard) give 600 rows, and no more than
    one batch's rows (a shard here: 32) plus, in Parquet, the row groups being filled are
    ever alive at once."""
    run_dir = _many_records(tmp_path / "run", 300)
    rows_of = batches._rows
    monkeypatch.setattr(batches, "_rows", lambda r, o: [_CountedRow(row) for row in rows_of(r, o)])
    monkeypatch.setattr(batches, "SHARDS_AT_ONCE", 1)
    monkeypatch.setattr(formats, "ROW_GROUP_ROWS", 16)
    _CountedRow.alive = _CountedRow.most = 0
    counts = export_dataset(run_dir, tmp_path / "out", ExportOptions(format=fmt, workers=1))
    assert counts["train_examples"] + counts["validation_examples"] == 600
    assert _CountedRow.most <= 16 * 2 + 2 * 16, _CountedRow.most
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
    monkeypatch.setattr(batches, "SHARDS_AT_ONCE", 1)
    out = tmp_path / "out"
    counts = export_dataset(store.location, out, ExportOptions(validation_share=0))
    report = json.loads((out / "export.json").read_text())
    assert counts["dropped_contaminated"] == 2 and counts["train_examples"] == 40
    assert {d["sample_id"] for d in report["contaminated"]} == {"s20-0", "s20-1"}
    assert "p20" not in {r["problem_id"] for r in read_split(out, "train")}


@pytest.mark.parametrize("workers", [1, 2])
def test_a_record_stored_twice_is_exported_once(tmp_path, monkeypatch, workers):
    """A fleet may store a record twice (a redelivered task): two stores that each wrote
    before seeing the other's shard."""
    location = tmp_path / "run"
    RunStore(location).write_settings({})
    first, second = RunStore(location), RunStore(location)
    first.ids(), second.ids()
    first.write([record(slot) for slot in range(8)])
    second.write([record(slot) for slot in range(4, 12)])
    for slot in range(12, 60, 8):
        first.write([record(s) for s in range(slot, slot + 8)])
    monkeypatch.setattr(batches, "SHARDS_AT_ONCE", 1)
    counts = export_dataset(location, tmp_path / "out", ExportOptions(workers=workers))
    assert counts["records"] == 60
    assert counts["train_examples"] + counts["validation_examples"] == 120


@pytest.mark.parametrize("workers", [1, 2])
def test_a_broken_record_is_refused_naming_the_shard_line_and_field(tmp_path, monkeypatch, workers):
    """Read in a worker process or here, the same error (and nothing written)."""
    location = _many_records(tmp_path / "run", 80)
    shard = sorted((location / "records").glob("shard-*.jsonl"))[3]
    lines = shard.read_text().split("\n")
    lines[2] = lines[2].replace('"status":"verified"', '"status":"maybe"')
    shard.write_text("\n".join(lines))
    monkeypatch.setattr(batches, "SHARDS_AT_ONCE", 1)
    with pytest.raises(SynthError, match=rf"{shard.name}:3: not a valid record \(status"):
        export_dataset(location, tmp_path / "out", ExportOptions(workers=workers))
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.*"))
