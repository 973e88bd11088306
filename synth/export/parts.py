"""One stretch of a run as the tasks of the Dask export see it (synth.export.on_dask): plain
functions of a batch of shards, with no Dask in them.

A part is one batch of shards (synth.export.batches.make_batch, the local engine's own
function): its rows are written to a part file as the JSONL split would hold them, and
what the later steps need of them stays in the `Part` (ids, signatures, contamination
verdicts, the card's facts of each record). Rows and records are named across the run by a
sequence number, `seq(part, index)`, which sorts in run order: parts follow the sorted
shard names, rows and records their order in the part.

The steps, in order:
1. `read_part`: the batch, and its part file.
2. `key_table` and `id_table`: every dedup key of its texts (a problem once a part, at its
   first row; a solution a row) and every record and problem id, for the cluster to find
   the keys and ids that more than one entry holds.
3. `feed`: the rows the driver's dedup pass needs (those whose problem or solution shares
   a key, the first row of a problem seen in another part too), with their signatures.
4. `write_part`: the decisions applied; the kept rows written to a part file a split, in
   order, and the part's `Totals`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from synth.export.batches import Work, make_batch
from synth.export.card import RecordFacts
from synth.export.decontaminate import dropped_entry
from synth.export.dedup import Dedup, Signed
from synth.export.formats import SPLITS, jsonl_line
from synth.export.totals import Totals

PROBLEM_EXACT, PROBLEM_BANDS, SOLUTION_EXACT, SOLUTION_BANDS = range(4)  # key tables
RECORD, PROBLEM = 0, 1  # id kinds
KEYS = {"table": "uint8", "key": "uint64", "seq": "int64"}
IDS = {"kind": "uint8", "id": "string", "seq": "int64"}


def seq(part: int, index: int) -> int:
    """The run-wide number of a part's row or record: sorts in run order."""
    return part << 32 | index


def unseq(number: int) -> tuple[int, int]:
    """(part, index) of a `seq` number."""
    return number >> 32, number & 0xFFFFFFFF


@dataclass
class Part:
    """A batch of shards read on a worker; its rows are in the file at `path`."""

    number: int
    path: str
    record_ids: list[str]
    facts: list[RecordFacts]  # one a record
    row_records: list[int]  # each row's record
    problem_ids: list[str]  # each row's
    signed: Signed | None  # None without dedup
    contamination: list[tuple[str, str] | None]  # each row's; [] without decontamination

    def problem_rows(self) -> list[int]:
        """The first row of each problem of the part (the rows `signed.problems` is of)."""
        assert self.signed is not None
        first: dict[int, int] = {}
        for i, number in enumerate(self.signed.problem_of):
            first.setdefault(number, i)
        return [first[number] for number in range(len(first))]


def part_path(folder: str | Path, number: int) -> Path:
    """Where step 1 writes the rows of part `number`."""
    return Path(folder) / f"{number:08d}.jsonl"


def read_part(number: int, names: list[str], work: Work, folder: str) -> Part:
    """Step 1: the batch of these shards; its rows written to `folder`/NUMBER.jsonl."""
    batch = make_batch(work, names)
    path = part_path(folder, number)
    with path.open("w", encoding="utf-8") as handle:
        handle.writelines(jsonl_line(row) for row in batch.rows)
    return Part(
        number,
        str(path),
        batch.record_ids,
        batch.facts,
        batch.row_records,
        [row["problem_id"] for row in batch.rows],
        batch.signed,
        batch.contamination,
    )


def key_table(part: Part, options) -> pd.DataFrame:
    """Step 2: (table, key, seq) for every key of the part's texts: the exact key and band
    keys of each problem (seq: its first row) and of each row's solution (seq: the row),
    by the dedup's own indexes. Two texts can match only if they share a key in one table."""
    frames = [pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in KEYS.items()})]
    signed = part.signed
    if signed is not None:
        dedup = Dedup(options.dedup, solutions=options.kind == "sft")
        texts = [(PROBLEM_EXACT, dedup.problems, signed.problems, part.problem_rows())]
        if signed.solutions is not None:
            rows = list(range(len(signed.solutions)))
            texts.append((SOLUTION_EXACT, dedup.answers, signed.solutions, rows))
        for table, index, signatures, rows in texts:
            numbers = [seq(part.number, row) for row in rows]
            frames.append(_keys(table, signatures.exact[:, None], numbers))
            frames.append(_keys(table + 1, index.band_keys(signatures.minhash), numbers))
    return pd.concat(frames, ignore_index=True).drop_duplicates()


def _keys(table: int, keys, numbers: list[int]) -> pd.DataFrame:
    width = keys.shape[1]
    return pd.DataFrame(
        {
            "table": pd.Series([table] * (len(numbers) * width), dtype="uint8"),
            "key": keys.reshape(-1),
            "seq": pd.Series(numbers, dtype="int64").repeat(width).to_numpy(),
        }
    )


def id_table(part: Part) -> pd.DataFrame:
    """Step 2: (kind, id, seq) of each record (seq: the record) and each problem (seq: its
    first row in the part)."""
    problems: dict[str, int] = {}
    for i, problem_id in enumerate(part.problem_ids):
        problems.setdefault(problem_id, i)
    entries = [(RECORD, r, seq(part.number, i)) for i, r in enumerate(part.record_ids)]
    entries += [(PROBLEM, p, seq(part.number, i)) for p, i in problems.items()]
    frame = pd.DataFrame(entries, columns=list(IDS))
    return frame.astype(IDS)


def shared(table: pd.DataFrame, on: list[str]) -> pd.DataFrame:
    """The entries of `table` whose value of `on` another entry holds too."""
    return table[table.duplicated(on, keep=False)]


@dataclass
class Feed:
    """The rows of a part the driver's dedup pass reads, as `Dedup.decide` takes them:
    `rows` hold the problem id and, as "sample_id", the row's seq."""

    rows: list[dict]
    signed: Signed


def feed(
    part: Part,
    problems: set[int],
    solutions: set[int],
    copies: set[int],
    repeated: set[str],
) -> Feed:
    """Step 3: the part's rows whose problem shares a key (`problems`: first rows) or was
    seen in another part too (`repeated`: problem ids), or whose solution shares a key
    (`solutions`: rows), leaving out the rows of records stored before (`copies`)."""
    assert part.signed is not None
    chosen = set(solutions)
    for row in part.problem_rows():
        if row in problems or part.problem_ids[row] in repeated:
            chosen.add(row)
    rows = sorted(i for i in chosen if part.row_records[i] not in copies)
    signed = part.signed
    return Feed(
        [{"problem_id": part.problem_ids[i], "sample_id": seq(part.number, i)} for i in rows],
        Signed(
            signed.problems[[signed.problem_of[i] for i in rows]],
            list(range(len(rows))),
            signed.solutions[rows] if signed.solutions is not None else None,
        ),
    )


@dataclass
class Written:
    """What `write_part` hands back: the part's totals, its split files, its first row."""

    totals: Totals
    paths: dict[str, str]  # split -> the part file of its rows
    first: dict | None  # the first row written, None when none was


def write_part(
    part: Part,
    copies: set[int],
    rows_dropped: dict[int, str],
    *,
    options,
    problems_dropped: dict[str, str],
    repeated: set[str],
) -> Written:
    """Step 4: the part's rows, in order, less those of records stored before (`copies`),
    of problems dropped (problem id -> reason) and those dropped for their solution (row ->
    reason), then less the contaminated ones (listed for the report); each kept row routed
    to its side of the split and written, as the local engine would (step 1's part file is
    left as it was, so that a task run again finds it)."""
    totals = Totals.of(options)
    for i, facts in enumerate(part.facts):
        if i not in copies:
            totals.stats.add_facts(facts)
    paths = {split: str(Path(part.path).with_suffix(f".{split}.jsonl")) for split in SPLITS}
    outs = {split: open(path, "w", encoding="utf-8") for split, path in paths.items()}
    first = None
    try:
        with open(part.path, encoding="utf-8", newline="\n") as lines:
            for i, line in enumerate(lines):
                if part.row_records[i] in copies:
                    continue
                totals.found += 1
                reason = problems_dropped.get(part.problem_ids[i]) or rows_dropped.get(i)
                if reason:
                    totals.duplicates[reason] += 1
                    continue
                row = json.loads(line)
                if part.contamination and part.contamination[i] is not None:
                    totals.contaminated.append(dropped_entry(row, part.contamination[i]))
                    continue
                if first is None:
                    first = row
                totals.rows.add(row)
                outs[totals.split.side(row["problem_id"])].write(line)
    finally:
        for out in outs.values():
            out.close()
    totals.split.keep_only(repeated)
    return Written(totals, paths, first)
