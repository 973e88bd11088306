"""Shards are written whole, once per id, and read back; bad shards are named."""

import pytest

from synth.errors import SynthError
from synth.records import Record, record_id
from synth.store import RunStore


def record(slot: int, seed: int = 0) -> Record:
    return Record(
        id=record_id(seed, slot),
        slot=slot,
        status="rejected",
        concept_ids=("c",),
        rejected_at="problem",
        rejection="unparseable",
    )


def test_records_round_trip_in_write_order(tmp_path):
    store = RunStore(tmp_path)
    assert store.write([record(0), record(1)]) == 2
    assert store.write([record(2)]) == 1
    assert [r.slot for r in RunStore(tmp_path).records()] == [0, 1, 2]


def test_an_id_is_never_written_twice(tmp_path):
    store = RunStore(tmp_path)
    store.write([record(0)])
    assert store.write([record(0), record(0)]) == 0
    assert (
        RunStore(tmp_path).write([record(0), record(1), record(1)]) == 1
    )  # a fresh store reads the ids
    assert len(list(RunStore(tmp_path).records())) == 2
    assert len(list((tmp_path / "records").iterdir())) == 2  # no temporary files left behind


def test_ids_are_deterministic_per_seed_and_slot():
    assert record_id(0, 1) == record_id(0, 1)
    assert len({record_id(0, 1), record_id(1, 0), record_id(0, 2)}) == 3


def test_a_corrupt_shard_is_reported_with_file_and_line(tmp_path):
    store = RunStore(tmp_path)
    store.write([record(0)])
    shard = next((tmp_path / "records").iterdir())
    shard.write_text(shard.read_text() + '{"id": "x"}\n')
    with pytest.raises(SynthError) as info:
        list(RunStore(tmp_path).records())
    assert f"{shard.name}:2" in str(info.value) and "not a valid record" in str(info.value)


def test_settings_round_trip(tmp_path):
    store = RunStore(tmp_path / "run")
    assert store.read_settings() is None
    store.write_settings({"seed": 3})
    assert RunStore(tmp_path / "run").read_settings() == {"seed": 3}
