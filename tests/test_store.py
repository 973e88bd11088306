"""Shards are written whole, once per id, and read back; bad shards are named. Every test
runs on a local directory and on an S3 object store (a real S3 server, through s3fs)."""

import fsspec
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


@pytest.fixture(params=["local", "s3"])
def run(request, tmp_path) -> str:
    """A run directory that does not exist yet: a path, or a URL in a fresh bucket."""
    if request.param == "local":
        return str(tmp_path / "run")
    return request.getfixturevalue("object_store").bucket() + "/runs/r1"


def files(location: str) -> list[str]:
    """Every file or object under the run directory, as its path below it."""
    fs, root = fsspec.core.url_to_fs(location)
    fs.invalidate_cache()
    return sorted(path.removeprefix(root.rstrip("/") + "/") for path in fs.find(root))


def test_records_round_trip_in_write_order(run):
    store = RunStore(run)
    assert not store.exists()
    assert store.write([record(0), record(1)]) == 2
    assert store.write([record(2)]) == 1
    assert [r.slot for r in RunStore(run).records()] == [0, 1, 2]
    assert RunStore(run).exists()


def test_an_id_is_never_written_twice(run):
    store = RunStore(run)
    store.write([record(0)])
    assert store.write([record(0), record(0)]) == 0
    assert RunStore(run).write([record(0), record(1), record(1)]) == 1  # a fresh store reads ids
    assert len(list(RunStore(run).records())) == 2
    shards = [f for f in files(run) if f.startswith("records/")]
    assert len(shards) == 2 and all(s.startswith("records/shard-") for s in shards), shards
    entries = [s.replace("records/", "index/").replace(".jsonl", ".parquet") for s in shards]
    assert files(run) == sorted(entries + shards)  # each shard and its index entry, no more


def test_two_writers_see_each_others_records(run):
    """Two workers' stores on one run directory: the second skips what the first stored."""
    first, second = RunStore(run), RunStore(run)
    assert second.ids() == set()
    first.write([record(0), record(1)])
    assert RunStore(run).write([record(1), record(2)]) == 1
    assert {r.slot for r in second.records()} == {0, 1, 2}


def test_line_separators_inside_json_strings_survive(run):
    """JSON leaves U+2028/U+2029/U+0085 unescaped; only a newline ends a record."""
    odd = record(0).model_copy(update={"concept_ids": ("c\u2028x\u2029y\x85z",)})
    RunStore(run).write([odd, record(1)])
    assert [r.concept_ids for r in RunStore(run).records()] == [odd.concept_ids, ("c",)]


def test_a_whole_read_tells_ids_and_write_what_is_stored(run):
    """A run's start reads every record once; ids() and write() must not read them again
    (on an object store every read is a listing and a GET per shard)."""
    RunStore(run).write([record(0)])
    store = RunStore(run)
    listings = []
    shard_names = store._dir.shard_names
    store._dir.shard_names = lambda: listings.append(1) or shard_names()
    assert [r.id for r in store.records()] == [record(0).id]
    assert store.ids() == {record(0).id}
    assert store.write([record(0), record(1)]) == 1
    assert len(listings) == 1


def test_ids_are_deterministic_per_seed_and_slot():
    assert record_id(0, 1) == record_id(0, 1)
    assert len({record_id(0, 1), record_id(1, 0), record_id(0, 2)}) == 3


def test_a_corrupt_shard_is_reported_with_file_and_line(run):
    store = RunStore(run)
    store.write([record(0)])
    (shard,) = [f for f in files(run) if f.startswith("records/")]
    fs, root = fsspec.core.url_to_fs(run)
    path = f"{root}/{shard}"
    fs.pipe_file(path, fs.cat_file(path) + b'{"id": "x"}\n')
    with pytest.raises(SynthError) as info:
        list(RunStore(run).records())
    assert f"{shard}:2" in str(info.value) and "not a valid record" in str(info.value)


def test_settings_round_trip(run):
    store = RunStore(run)
    assert store.read_settings() is None
    store.write_settings({"seed": 3})
    assert RunStore(run).read_settings() == {"seed": 3}
    assert RunStore(run).exists()
    store.check_writable()
    assert files(run) == ["run.json"]  # the probe is gone


def test_a_missing_bucket_or_unknown_protocol_is_named(object_store):
    with pytest.raises(SynthError, match="s3://no-such-bucket/r: .*bucket does not exist"):
        RunStore("s3://no-such-bucket/r").check_writable()
    with pytest.raises(SynthError, match="s3://no-such-bucket/r: .*bucket does not exist"):
        RunStore("s3://no-such-bucket/r").write([record(0)])
    with pytest.raises(SynthError, match="nope://x: cannot open this URL: Protocol not known"):
        RunStore("nope://x")


def test_an_unreachable_object_store_is_named(object_store, monkeypatch):
    url = object_store.bucket() + "/r"
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    fsspec.filesystem("s3").clear_instance_cache()
    try:
        with pytest.raises(SynthError, match=f"{url}: the object store failed: .*Connect"):
            RunStore(url).read_settings()
    finally:
        fsspec.filesystem("s3").clear_instance_cache()
