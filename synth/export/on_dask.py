"""The export on a Dask cluster (`synth export --engine dask`): the local engine's stages,
run where a run outgrows one machine, writing the same files.

Guarantee: the same rows, in the same order, on the same sides of the split, with the same
card and export.json, as the local engine (tests/export/test_dask.py compares them byte
for byte). The cluster runs the local engine's own functions (synth.export.parts: rows,
signatures and contamination verdicts by synth.export.batches.make_batch); what needs the
whole run is done so that the local rule holds:

- Run order: parts follow the sorted shard names, and a row or record is named by its
  part and its place in it (`parts.seq`).
- A record stored twice: the cluster groups records by id, and the first in run order is
  kept, as `RunStore.records()` keeps it.
- Dedup: "first in run order wins" is sequential, but a text can match only a text that
  shares its exact key or a band key (synth.near_duplicates). The cluster groups the keys
  of every problem (once a part) and every solution, and keeps the texts that share one
  with another text; the driver runs the local engine's `Dedup.decide` over those rows
  alone, in run order. A text that shares no key is kept by either engine and changes no
  other decision, so the decisions are the local ones; the driver's memory grows with
  the rows that share keys (duplicates and LSH near misses), not with the run.
- The split: each part routes its rows with its own `Split`; the parts' counts are added
  in run order (synth.export.totals), a problem seen by several parts counted once, and the
  two whole-export rules (validation never empty, train never empty) then read the totals.
- The files: each part's kept rows are written to a part file a split, beside the export;
  the driver appends them in run order through the local engine's writers
  (synth.export.formats), which make JSONL, Parquet or a DatasetDict alike.

Where it runs: `scheduler` is a running cluster's address (`tcp://host:8786`; its workers
need this synth installed); without one, a LocalCluster of `workers` processes starts here
and stops after. The run directory (a path or fsspec URL) must be readable by every
worker, and the export's directory (where the part files are written) shared with them.
Not guaranteed: that it is faster on one machine (bench/README.md "Export on Dask").
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dask.dataframe as dd
import pandas as pd
from distributed import Client, LocalCluster

from synth.errors import SynthError
from synth.export import parts
from synth.export.batches import Work, shard_chunks
from synth.export.dedup import Dedup
from synth.export.formats import SPLITS, SplitFiles
from synth.export.totals import Totals

log = logging.getLogger(__name__)


def export_rows(work: Work, files: SplitFiles, scheduler: str | None) -> Totals:
    """Write the run's kept rows to `files` (not closed) on a Dask cluster; the totals."""
    options = work.options
    with _client(scheduler, options.workers) as client:
        clock = _Clock(f"{len(client.scheduler_info()['workers'])} workers")
        folder = files.out / ".parts"
        folder.mkdir()
        chunks = shard_chunks(work.location)
        read = client.map(
            parts.read_part,
            range(len(chunks)),
            chunks,
            work=_share(client, work),
            folder=str(folder),
            pure=False,
        )
        copies, repeated = _copies_and_repeats(client, read)
        clock.lap(
            f"{len(read)} parts read; {sum(map(len, copies.values()))} records stored again, "
            f"{len(repeated)} problem ids in several parts"
        )
        repeated = _share(client, repeated)
        dropped_problems, dropped_rows = {}, defaultdict(dict)
        if options.dedup:
            problems, solutions = _sharing(client, read, options)
            clock.lap(f"{len(problems)} problems, {len(solutions)} solutions share a dedup key")
            dropped_problems, dropped_rows = _decide(
                client, read, options, problems, solutions, copies, repeated
            )
            clock.lap("their dedup decided here")
        written = client.map(
            parts.write_part,
            read,
            [copies[n] for n in range(len(read))],
            [dropped_rows[n] for n in range(len(read))],
            options=options,
            problems_dropped=_share(client, dropped_problems),
            repeated=repeated,
            pure=False,
        )
        totals = Totals.of(options)
        for number, future in enumerate(written):  # in run order
            part = future.result()
            future.release()
            totals.absorb(part.totals)
            if part.first is not None:
                files.begin(part.first)
            for split in SPLITS:
                files.append(split, Path(part.paths[split]))
            for path in (*part.paths.values(), parts.part_path(folder, number)):
                Path(path).unlink()
        clock.lap("parts written and appended")
        return totals


class _Clock:
    """Logs each stage's seconds (at INFO: `synth export -v`)."""

    def __init__(self, started: str) -> None:
        self.last = time.perf_counter()
        log.info("dask export: %s", started)

    def lap(self, done: str) -> None:
        now = time.perf_counter()
        log.info("dask export: %s (%.1f s)", done, now - self.last)
        self.last = now


CONNECT_TIMEOUT_S = 30  # how long a --scheduler may take to answer


@contextmanager
def _client(scheduler: str | None, workers: int) -> Iterator[Client]:
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError) as exc:
            raise SynthError(
                f"--scheduler {scheduler}",
                f"no Dask scheduler answers there ({exc})",
                "start one (`dask scheduler`) or drop --scheduler for a local cluster",
            ) from None
        with client:
            yield client
        return
    from synth.export import default_workers

    cluster = LocalCluster(
        n_workers=workers or default_workers(),
        threads_per_worker=1,
        processes=True,
        silence_logs=logging.ERROR,
        dashboard_address=":0",  # any free port: never a clash
    )
    with cluster, Client(cluster) as client:
        yield client


def _copies_and_repeats(client: Client, read: list) -> tuple[dict[int, set[int]], set[str]]:
    """(part -> its records stored before, in an earlier place of the run; the problem ids
    found in more than one part), from the ids the cluster finds more than once."""
    ids = dd.from_delayed(client.map(parts.id_table, read, pure=False), meta=_meta(parts.IDS))
    found = ids.shuffle(
        on=["kind", "id"], npartitions=_grouped(read), shuffle_method="tasks"
    ).map_partitions(parts.shared, ["kind", "id"], meta=_meta(parts.IDS))
    found = found.compute().sort_values("seq", kind="stable")
    copies: dict[int, set[int]] = defaultdict(set)
    records = found[found["kind"] == parts.RECORD]
    for number in records[records.duplicated("id")]["seq"].tolist():
        part, index = parts.unseq(number)
        copies[part].add(index)
    problems = found[found["kind"] == parts.PROBLEM]
    return copies, set(problems["id"].tolist())


def _sharing(client: Client, read: list, options) -> tuple[set[int], set[int]]:
    """(the problems, by their first row's seq, and the solutions, by their row's seq, that
    share an exact or band key with another text), from the keys the cluster groups."""
    keys = dd.from_delayed(
        client.map(parts.key_table, read, options=options, pure=False), meta=_meta(parts.KEYS)
    )
    found = keys.shuffle(
        on=["table", "key"], npartitions=_grouped(read), shuffle_method="tasks"
    ).map_partitions(parts.shared, ["table", "key"], meta=_meta(parts.KEYS))
    found = found.compute()
    of_problems = found["table"].isin([parts.PROBLEM_EXACT, parts.PROBLEM_BANDS])
    return set(found[of_problems]["seq"].tolist()), set(found[~of_problems]["seq"].tolist())


def _decide(
    client: Client,
    read: list,
    options,
    problems: set[int],
    solutions: set[int],
    copies: dict[int, set[int]],
    repeated,
) -> tuple[dict[str, str], dict[int, dict[int, str]]]:
    """The local dedup decisions, over the rows that share keys, in run order: (problem id
    -> reason, for the problems dropped; part -> row -> reason, for the rows dropped for
    their solution)."""
    by_part: dict[int, tuple[set[int], set[int]]] = defaultdict(lambda: (set(), set()))
    for chosen, numbers in enumerate((problems, solutions)):
        for number in numbers:
            part, index = parts.unseq(number)
            by_part[part][chosen].add(index)
    feeds = [
        client.submit(parts.feed, part, *by_part[n], copies[n], repeated, pure=False)
        for n, part in enumerate(read)
    ]
    dedup = Dedup(options.dedup, solutions=options.kind == "sft")
    dropped_problems: dict[str, str] = {}
    dropped_rows: dict[int, dict[int, str]] = defaultdict(dict)
    for future in feeds:  # in run order
        feed = future.result()
        future.release()
        if not feed.rows:
            continue
        for row, reason in zip(feed.rows, dedup.decide(feed.rows, feed.signed), strict=True):
            if reason and reason.endswith("_problem"):
                dropped_problems[row["problem_id"]] = reason
            elif reason:
                part, index = parts.unseq(row["sample_id"])
                dropped_rows[part][index] = reason
    return dropped_problems, dropped_rows


def _grouped(read: list) -> int:
    """How many partitions a grouping shuffle makes: a sixteenth of the parts. The tables
    are small (about 17 bytes a key, some 15 keys a record), so the shuffles are Dask's
    task-based ones: on a run of 20k records, p2p (made for shuffles larger than memory)
    took 6 s where these take 3.5 (bench/README.md "Export on Dask")."""
    return max(1, len(read) // 16)


def _share(client: Client, value: object):
    """`value` copied to every worker once (a future tasks take as an argument); wrapped in
    a list, since scatter spreads a collection's items."""
    return client.scatter([value], broadcast=True, hash=False)[0]


def _meta(columns: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in columns.items()})
