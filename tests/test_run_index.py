"""The run index (synth/run_index.py): what resume and status need of each record, read
without parsing records, always equal to what the shards say. The records are real ones,
from a scripted run of the fleet's world, plus rejected variants of them; the stores are a
local directory and an S3 object store."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from collections import Counter

import fsspec
import pytest

import synth.run_index as run_index
from synth.counts import count_records, run_counts
from synth.near_duplicates import problem_signer
from synth.records import Record, Rejection, problem_id, record_id
from synth.store import RunStore
from tests.fleet.world import record_world

pytestmark = pytest.mark.sandbox


@pytest.fixture(scope="module")
def real_records(tmp_path_factory, sandbox) -> list[Record]:
    """Twelve records of a scripted run (verified, one sample corrected each), and three
    rejected variants: a problem that did not parse, a near copy, failed tests."""
    world = tmp_path_factory.mktemp("world")
    _, _, statuses = record_world(world, 12, sandbox)
    records = sorted(RunStore(world / "local").records(), key=lambda r: r.slot)
    assert len(records) == 12 and set(statuses.values()) == {"verified"}
    base = records[0]

    def variant(slot: int, **update) -> Record:
        problem = base.problem.model_copy(update={"id": problem_id(0, slot), "slot": slot})
        fields = {"id": record_id(0, slot), "slot": slot, "problem": problem, **update}
        return base.model_copy(update=fields)

    unparsed = Rejection(reason="unparseable")
    return [
        *records,
        variant(
            12,
            status="rejected",
            rejected_at="problem",
            rejection=unparsed.reason,
            problem=None,
            trajectories=(),
        ),  # fmt: skip
        variant(
            13, status="rejected", rejected_at="problem", rejection="duplicate", trajectories=()
        ),  # fmt: skip
        variant(
            14, status="rejected", rejected_at="tests", rejection="tests_vacuous", trajectories=()
        ),  # fmt: skip
    ]


@pytest.fixture(params=["local", "s3"])
def run(request, tmp_path) -> str:
    if request.param == "local":
        return str(tmp_path / "run")
    return request.getfixturevalue("object_store").bucket() + "/runs/r1"


def files(location: str, folder: str) -> list[str]:
    fs, root = fsspec.core.url_to_fs(location)
    fs.invalidate_cache()
    if not fs.exists(f"{root}/{folder}"):
        return []
    return sorted(p.rsplit("/", 1)[-1] for p in fs.ls(f"{root}/{folder}", detail=False))


def remove(location: str, folder: str, name: str | None = None) -> None:
    fs, root = fsspec.core.url_to_fs(location)
    fs.rm(f"{root}/{folder}" + (f"/{name}" if name else ""), recursive=True)
    fs.invalidate_cache()


def expected_counts(records: list[Record]) -> dict:
    """What summary.json's whole-run counts mean, spelled out from the records alone."""
    rejected = Counter(key for r in records for key in r.rejection_keys())
    attempts = [a for r in records for t in r.trajectories for a in t.attempts]
    trajectories = [t for r in records for t in r.trajectories]
    return {
        "slots": None,
        "slots_done": len(records),
        "problems_accepted": sum(r.rejected_at not in ("problem", "reference") for r in records),
        "samples": len(attempts),
        "verified": sum(t.verified for t in trajectories),
        "corrected": sum(t.corrected for t in trajectories),
        "problems_with_verified_solution": sum(r.status == "verified" for r in records),
        "rejected": dict(sorted(rejected.items())),
        "prompt_tokens": sum(a.sample.prompt_tokens for a in attempts),
        "completion_tokens": sum(a.sample.completion_tokens for a in attempts),
    }


def write_in_batches(location: str, records: list[Record], size: int = 4) -> None:
    store = RunStore(location)
    for start in range(0, len(records), size):
        store.write(records[start : start + size])


def must_not_parse(monkeypatch) -> None:
    """From here on, parsing a record fails the test: reads must come from the index."""

    def refuse(*args, **kwargs):
        raise AssertionError("a record was parsed")

    monkeypatch.setattr(Record, "model_validate_json", refuse)


def test_the_index_says_what_the_records_say(run, real_records, monkeypatch):
    write_in_batches(run, real_records)
    rows = RunStore(run).index(["slot", "status", "rejected_at", "rejection", "rejection_keys",
                                "problem_id", "statement"]).to_pylist()  # fmt: skip
    by_id = {row["id"]: row for row in rows}
    assert len(rows) == len(by_id) == len(real_records)
    for r in real_records:
        row = by_id[r.id]
        assert (row["slot"], row["status"], row["rejected_at"], row["rejection"]) == (
            r.slot, r.status, r.rejected_at, r.rejection)  # fmt: skip
        assert row["rejection_keys"] == r.rejection_keys()
        assert row["problem_id"] == (r.problem.id if r.problem else None)
        assert row["statement"] == (r.problem.statement if r.problem else None)

    must_not_parse(monkeypatch)
    store = RunStore(run)
    assert store.ids() == {r.id for r in real_records}
    counts = run_counts(RunStore(run)).as_dict(planned=None)
    assert counts == expected_counts(real_records)
    assert counts["rejected"] == {"problem/duplicate": 1, "problem/unparseable": 1,
                                  "tests/tests_vacuous": 1}  # fmt: skip
    assert counts["corrected"] > 0 and counts["completion_tokens"] > 0


def test_counts_of_records_in_hand_follow_the_same_rule(real_records):
    assert count_records(real_records).as_dict(None) == expected_counts(real_records)
    one_by_one = count_records([])
    for record in real_records:
        one_by_one.add([record])
    assert one_by_one == count_records(real_records)


def test_stored_problems_seed_a_resume_without_reading_records(run, real_records, monkeypatch):
    write_in_batches(run, real_records)
    must_not_parse(monkeypatch)
    store = RunStore(run)
    listings = []
    shard_names = store._dir.shard_names
    store._dir.shard_names = lambda: listings.append(1) or shard_names()
    problems = store.stored_problems()
    with_problem = {r.problem.id: r for r in real_records if r.problem is not None}
    assert sorted(problems.ids) == sorted(with_problem)
    assert problems.duplicate.tolist() == [
        with_problem[i].rejection == "duplicate" for i in problems.ids
    ]
    signed = problem_signer().sign([with_problem[i].problem.statement for i in problems.ids])
    assert problems.signatures.scheme == signed.scheme  # stored, not signed again here
    assert (problems.signatures.exact == signed.exact).all()
    assert (problems.signatures.minhash == signed.minhash).all()
    assert store.ids() == {r.id for r in real_records}  # known from the read above
    assert store.write(real_records[:2]) == 0
    assert len(listings) == 1


def test_signatures_of_another_scheme_are_made_again_from_the_statements(tmp_path, real_records):
    """Index files written by a synth whose MinHash differs (another rensa algorithm, say)
    hold signatures this one cannot compare: a resume signs the stored statements anew."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    run = tmp_path / "run"
    write_in_batches(str(run), real_records)
    for entry in (run / "index").iterdir():
        table = pq.read_table(entry)
        old = pa.array(["an older scheme"] * len(table), pa.string())
        table = table.set_column(
            table.schema.get_field_index("problem_scheme"), "problem_scheme", old
        )
        pq.write_table(table, entry)
    problems = RunStore(run).stored_problems()
    statements = {r.problem.id: r.problem.statement for r in real_records if r.problem}
    signed = problem_signer().sign([statements[i] for i in problems.ids])
    assert problems.signatures.scheme == signed.scheme
    assert (problems.signatures.minhash == signed.minhash).all()


def test_a_record_stored_twice_is_read_once_from_the_first_shard(run, real_records):
    """A fleet's redelivered task stores a record again; the index, like records(), keeps
    the copy of the shard written first."""
    first, late = RunStore(run), RunStore(run)
    assert late.ids() == set()  # it read before `first` stored anything
    first.write(real_records[:3])
    changed = real_records[1].model_copy(update={"status": "rejected", "trajectories": ()})
    assert late.write([changed, real_records[3]]) == 2
    store = RunStore(run)
    assert [r.id for r in store.records()] == [r.id for r in real_records[:4]]
    assert run_counts(store).as_dict(None) == expected_counts(real_records[:4])
    assert len(RunStore(run).stored_problems()) == 4


def test_an_old_run_directory_gets_its_index_once(run, real_records, monkeypatch):
    write_in_batches(run, real_records, size=1)
    remove(run, "index")  # as an older synth left it
    assert run_counts(RunStore(run)).as_dict(None) == expected_counts(real_records)
    entries = files(run, "index")
    assert len(entries) == len(files(run, "records")) == len(real_records)

    must_not_parse(monkeypatch)
    assert RunStore(run).ids() == {r.id for r in real_records}
    assert files(run, "index") == entries


def test_many_entries_are_merged_into_few_files(tmp_path, real_records, monkeypatch):
    """64 shard entries make a level-1 file, 16 of those a level-2 one (here 4 and 2, so
    a small run shows it); reads give the same rows from fewer files."""
    monkeypatch.setattr(run_index, "LEVEL0_FANOUT", 4)
    monkeypatch.setattr(run_index, "FANOUT", 2)
    run = str(tmp_path / "run")
    write_in_batches(run, real_records, size=1)  # 15 shards: 3 merges of 4, then 2 of those
    levels = Counter(run_index.level_of(name) for name in files(run, "index"))
    assert levels == {2: 1, 1: 1, 0: 3}
    assert run_counts(RunStore(run)).as_dict(None) == expected_counts(real_records)

    remove(run, "index")  # an old directory of 15 shards: rebuilt in merged files
    assert RunStore(run).ids() == {r.id for r in real_records}
    levels = Counter(run_index.level_of(name) for name in files(run, "index"))
    assert levels == {3: 1}  # 4 level-1 files of 4 shards, merged by twos, twice
    assert run_counts(RunStore(run)).as_dict(None) == expected_counts(real_records)


def test_a_corrupt_index_file_is_named_and_rebuilt_from_the_shards(run, real_records, caplog):
    """The index holds nothing the shards don't: a bad file is a warning, not a stop."""
    write_in_batches(run, real_records)
    fs, root = fsspec.core.url_to_fs(run)
    name = files(run, "index")[0]
    fs.pipe_file(f"{root}/index/{name}", b"PAR1 not really")
    with caplog.at_level(logging.WARNING, logger="synth.run_index"):
        counts = run_counts(RunStore(run)).as_dict(None)
    assert counts == expected_counts(real_records)
    assert f"index/{name}: unreadable" in caplog.text and "rebuilt from the shards" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="synth.run_index"):
        assert RunStore(run).ids() == {r.id for r in real_records}
    assert caplog.text == ""  # rewritten whole by the first read


def test_a_merged_file_missing_a_column_is_replaced(tmp_path, real_records, caplog):
    run = tmp_path / "run"
    write_in_batches(str(run), real_records)
    import pyarrow.parquet as pq

    old = run / "index" / "L1-0000000000000000.parquet"
    entries = sorted((run / "index").iterdir())
    table = pq.read_table(entries[0]).drop_columns(["problem_minhash"])  # an older synth's
    pq.write_table(table, old)
    entries[0].unlink()
    with caplog.at_level(logging.WARNING, logger="synth.run_index"):
        problems = RunStore(run).stored_problems()
    assert len(problems) == 14 and "no column 'problem_minhash'" in caplog.text
    assert not old.exists()


def test_an_entry_without_its_shard_is_ignored(tmp_path, real_records):
    run = tmp_path / "run"
    write_in_batches(str(run), real_records)
    gone = sorted((run / "records").iterdir())[0]
    gone.unlink()
    assert RunStore(run).ids() == {r.id for r in real_records[4:]}


def test_a_read_lists_again_when_a_merge_removed_what_it_listed(tmp_path, real_records):
    run = tmp_path / "run"
    write_in_batches(str(run), real_records)
    store = RunStore(run)
    names = store._dir.names
    stale = [*names("index", ".parquet"), "L1-ffffffffffffffff.parquet"]
    calls = []

    def listing(folder, suffix):
        calls.append(folder)
        return stale if folder == "index" and len(calls) == 2 else names(folder, suffix)

    store._dir.names = listing
    assert store.ids() == {r.id for r in real_records}
    assert calls.count("index") == 2


def test_a_directory_that_cannot_be_written_is_read_all_the_same(tmp_path, real_records, caplog):
    run = tmp_path / "run"
    write_in_batches(str(run), real_records)
    remove(str(run), "index")
    store = RunStore(run)

    def refuse(name, data):
        raise PermissionError(f"read-only: {name}")

    store._dir.write = refuse
    with caplog.at_level(logging.WARNING, logger="synth.run_index"):
        assert store.ids() == {r.id for r in real_records}
    assert "cannot write the index" in caplog.text and not (run / "index").exists()


# --- a writer killed between its two writes -------------------------------------------

KILLED = 9


def killed_writer(run: str, records: list[Record], patch: str) -> None:
    """Store `records` (batches of 4) in a fresh process that `patch` kills (os._exit) at
    the point it patches; the process must die there."""
    lines = "\n".join(r.model_dump_json() for r in records)
    code = "\n".join(
        [
            "import os",
            "import synth.run_index as run_index",
            "from synth.records import Record",
            "from synth.store import RunStore",
            textwrap.dedent(patch),
            f"records = [Record.model_validate_json(line) for line in {lines!r}.split('\\n')]",
            f"store = RunStore({run!r})",
            "for start in range(0, len(records), 4):",
            "    store.write(records[start : start + 4])",
        ]
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == KILLED, done.stderr


def test_a_writer_killed_between_a_shard_and_its_entry_loses_and_doubles_nothing(
    run, real_records, monkeypatch
):
    write_in_batches(run, real_records[:8])
    killed_writer(
        run,
        real_records[8:],
        """
        def die(self, shard, records):
            os._exit(9)
        run_index.RunIndex.add = die
        """,
    )
    assert len(files(run, "records")) == 3 and len(files(run, "index")) == 2  # shard, no entry
    stored = real_records[:12]  # its first batch is in a shard, the rest never written
    store = RunStore(run)
    assert store.ids() == {r.id for r in stored}
    assert run_counts(store).as_dict(None) == expected_counts(stored)
    assert len(files(run, "index")) == 3  # the missing entry, rebuilt and written

    # the run resumed: what was stored is not stored again, nor counted twice
    assert RunStore(run).write(real_records[8:]) == 3
    must_not_parse(monkeypatch)
    assert run_counts(RunStore(run)).as_dict(None) == expected_counts(real_records)


def test_a_writer_killed_inside_a_merge_doubles_nothing(tmp_path, real_records):
    """Killed after the merged file is written, before its sources are removed: every
    row is in the index twice, and read once."""
    run = str(tmp_path / "run")
    killed_writer(
        run,
        real_records,
        """
        run_index.LEVEL0_FANOUT = 2
        def die(self, name):
            os._exit(9)
        run_index.RunIndex._remove_quietly = die
        """,
    )
    names = files(run, "index")
    assert len(names) == 3 and sum(run_index.level_of(n) == 1 for n in names) == 1
    assert run_counts(RunStore(run)).as_dict(None) == expected_counts(real_records[:8])
