"""A run's records as batches of rows, made in worker processes: the part of an export that
needs no other batch.

A batch is `SHARDS_AT_ONCE` record shards, read and validated, turned into rows (the only
step where the two kinds differ: synth.export.dialogs or synth.export.preferences), with
what the dataset card counts of each record, the rows' dedup signatures
(synth.export.dedup.Dedup.sign) and each row's contamination verdict. What needs the
batches before it (which copies are dropped, the split's counts, the files) stays with the
caller, which gets the batches in run order.

With `workers` above 1 the batches are made by that many processes (a process pool started
by forkserver, each worker handed the options, benchmark index and taxonomy areas once),
at most two batches a worker in flight, so memory stays bounded; with 1 or a run of a few
batches, in this process. Either way the batches are the same. A record stored twice (a
fleet's redelivered task) is in its batch each time; the caller keeps the first.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from synth.export.card import RecordFacts, RunStats
from synth.export.decontaminate import BenchmarkIndex
from synth.export.dedup import Dedup, Signed
from synth.export.dialogs import examples
from synth.export.preferences import preference_pairs
from synth.records import Record
from synth.store import RunStore

SHARDS_AT_ONCE = 16  # 256 records as the pipelines write shards


@dataclass
class Batch:
    record_ids: list[str]
    facts: list[RecordFacts]  # one a record
    rows: list[dict]
    row_records: list[int]  # each row's record, an index into record_ids
    signed: Signed | None  # None without dedup
    contamination: list[tuple[str, str] | None]  # each row's (benchmark, n-gram); [] without


@dataclass(frozen=True)
class Work:
    """What making a batch needs besides its shards (sent once to each worker)."""

    location: str
    options: object  # synth.export.ExportOptions
    benchmarks: BenchmarkIndex | None  # None: not decontaminating
    areas: dict[str, str]  # concept id -> taxonomy area


def read_batches(work: Work, workers: int) -> Iterator[Batch]:
    """The run's batches, in run order."""
    chunks = shard_chunks(work.location)
    if workers <= 1 or len(chunks) < 2 * workers:
        yield from (make_batch(work, chunk) for chunk in chunks)
        return
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(workers, context, initializer=_start, initargs=(work,)) as pool:
        pending: deque = deque()
        for chunk in chunks:
            pending.append(pool.submit(_make, chunk))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def shard_chunks(location: str) -> list[list[str]]:
    """The run's shard names in run order, `SHARDS_AT_ONCE` a batch."""
    names = RunStore(location).shard_names()
    return [names[i : i + SHARDS_AT_ONCE] for i in range(0, len(names), SHARDS_AT_ONCE)]


_work: Work | None = None  # this process's, set by _start (the process pool's workers)


def _start(work: Work) -> None:
    global _work
    _work = work


def _make(names: list[str]) -> Batch:
    assert _work is not None
    return make_batch(_work, names)


def make_batch(work: Work, names: list[str]) -> Batch:
    """The batch of these shards: a function of the work and the shards alone (what a
    process of this pool or a task of synth.export.on_dask runs)."""
    options = work.options
    batch = Batch([], [], [], [], None, [])
    for record in RunStore(work.location).shard_records(names):
        batch.facts.append(RunStats.facts(record, _area(work, record.concept_ids)))
        for row in _rows(record, options):
            batch.rows.append(row)
            batch.row_records.append(len(batch.record_ids))
        batch.record_ids.append(record.id)
    if options.dedup:
        batch.signed = Dedup(options.dedup, options.kind == "sft").sign(batch.rows)
    if work.benchmarks is not None:
        batch.contamination = work.benchmarks.contaminations(batch.rows)
    return batch


def _area(work: Work, concept_ids: tuple[str, ...]) -> str:
    """The taxonomy area of the first concept ("imported" for none, "unknown" off the map)."""
    if not concept_ids:
        return "imported"
    return work.areas.get(concept_ids[0], "unknown")


def _rows(record: Record, options) -> list[dict]:
    """The rows one record gives: the only step where the two kinds differ."""
    if options.kind == "dpo":
        return preference_pairs(
            record,
            max_pairs=options.max_pairs_per_problem,
            rejected_stages=options.rejected_stages,
            seed=options.split_seed,
        )
    return list(examples(record, options.dialog))
