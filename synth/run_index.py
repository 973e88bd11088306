"""The run index: what resume, status and the counts need of every stored record, read
without parsing a record.

Layout, beside records/:

    index/shard-<ns>-<id8>.parquet   one shard's entry: a row per record of that shard
    index/L<k>-<hash>.parquet        the entries of many shards merged, level k >= 1

A row (SCHEMA): shard, line (the record's line in its shard), id, slot, status,
rejected_at, rejection, rejection_keys, problem_accepted, samples, verified, corrected,
prompt_tokens, completion_tokens (what synth.counts adds up), problem_id, statement and
the statement's signature in the pipelines' scheme (problem_scheme, problem_exact,
problem_minhash: synth.near_duplicates), what a resumed pipeline's near-duplicate index is
seeded from without signing a text again. Readers ask for the columns they need, so a
column added later costs the others nothing; a file lacking a column a reader asks for is
rebuilt from its shards.

Guarantees:
- The shards stay the source of truth, and the index can always be rebuilt from them. A
  shard's entry is written after the shard, each whole (synth/run_dir.py). A read takes the
  shards it lists as the run: a shard without an entry (a writer killed between the two
  writes, or a run directory older than the index) gets its entry rebuilt from the shard,
  and written; an entry whose shard is not listed is ignored. So a crash between a shard
  and its entry loses nothing and counts nothing twice.
- The rows of a shard are taken from one file only (the first read that holds them, higher
  levels first), and a record id stored in two shards (a fleet's redelivered task) is read
  once: the copy in the shard whose name sorts first, the one RunStore.records() keeps.
- Compaction: 64 shard entries are merged into one level-1 file, and 16 files of a level
  into one of the next; a merged file is written before its sources are removed, and its
  name comes from its sources', so two processes merging the same files write the same
  file. A crash between the write and the removals leaves rows in two files, read once. A
  reader that finds a file it listed gone (removed by a merge meanwhile) lists again. A run
  of 3M records (187,500 shards of 16) is read from at most about 110 files.
- A file that cannot be read (not Parquet, a column missing or of another type) is named
  in a warning and its shards' entries are rebuilt from the shards, then it is removed: it
  holds nothing the shards don't, and a run should not stop for a file it can remake.
- Writes made by a read (rebuilt entries, merges) are best effort: a run directory that
  cannot be written is read all the same, with a warning, and rebuilt again next time.

Not guaranteed: rows come in no particular order.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from synth.errors import SynthError
from synth.near_duplicates import Signatures, problem_signer
from synth.records import Record
from synth.run_dir import SHARDS, LocalDir, RemoteDir
from synth.shards import parse_shard

INDEX = "index"
LEVEL0_FANOUT = 64  # shard entries merged into one level-1 file
FANOUT = 16  # files of a level merged into one of the next
BAR_FROM = 64  # shards to index before a progress bar is shown
READ_TRIES = 5

PROBLEM_PERMUTATIONS = 128  # the pipelines' MinHash width (synth.near_duplicates)

SCHEMA = pa.schema(
    [
        ("shard", pa.string()),
        ("line", pa.int32()),
        ("id", pa.string()),
        ("slot", pa.int64()),
        ("status", pa.string()),
        ("rejected_at", pa.string()),
        ("rejection", pa.string()),
        ("rejection_keys", pa.list_(pa.string())),
        ("problem_accepted", pa.bool_()),
        ("samples", pa.int64()),
        ("verified", pa.int64()),
        ("corrected", pa.int64()),
        ("prompt_tokens", pa.int64()),
        ("completion_tokens", pa.int64()),
        ("problem_id", pa.string()),
        ("statement", pa.string()),
        ("problem_scheme", pa.string()),
        ("problem_exact", pa.uint64()),
        ("problem_minhash", pa.binary(4 * PROBLEM_PERMUTATIONS)),  # little-endian uint32s
    ]
)
KEY = ("shard", "line", "id")  # every read holds these
SHARD_TYPE = pa.dictionary(pa.int32(), pa.string())  # how reads hold the shard column

log = logging.getLogger(__name__)


def entry(record: Record) -> dict:
    """The index's facts of one record (a row without its shard and line)."""
    attempts = [a for t in record.trajectories for a in t.attempts]
    problem = record.problem
    return {
        "id": record.id,
        "slot": record.slot,
        "status": record.status,
        "rejected_at": record.rejected_at,
        "rejection": record.rejection,
        "rejection_keys": record.rejection_keys(),
        "problem_accepted": record.rejected_at not in ("problem", "reference"),
        "samples": len(attempts),
        "verified": sum(t.verified for t in record.trajectories),
        "corrected": sum(t.corrected for t in record.trajectories),
        "prompt_tokens": sum(a.sample.prompt_tokens for a in attempts),
        "completion_tokens": sum(a.sample.completion_tokens for a in attempts),
        "problem_id": problem.id if problem is not None else None,
        "statement": problem.statement if problem is not None else None,
    }


def entry_table(shard: str, numbered: Iterable[tuple[int, Record]]) -> pa.Table:
    """The rows of `shard`'s records, given with their line numbers; the problems'
    statements signed in one call."""
    rows = [{"shard": shard, "line": line, **entry(record)} for line, record in numbered]
    problems = [row for row in rows if row["statement"] is not None]
    if problems:
        signer = problem_signer()
        signed = signer.sign([row["statement"] for row in problems])
        for row, exact, minhash in zip(problems, signed.exact, signed.minhash, strict=True):
            row["problem_scheme"] = signed.scheme
            row["problem_exact"] = int(exact)
            row["problem_minhash"] = minhash.astype("<u4").tobytes()
    return pa.Table.from_pylist(rows, schema=SCHEMA)


def problem_signatures(table: pa.Table) -> Signatures:
    """The signatures of `table`'s problems, from its problem_exact and problem_minhash
    columns as `entry_table` writes them (rows of the pipelines' scheme only)."""
    minhash = table["problem_minhash"].combine_chunks()
    width = minhash.type.byte_width
    data = np.frombuffer(minhash.buffers()[1], dtype=np.uint8)
    data = data[minhash.offset * width : (minhash.offset + len(minhash)) * width]
    return Signatures(
        problem_signer().scheme,
        table["problem_exact"].to_numpy().astype(np.uint64),
        data.view("<u4").astype(np.uint32).reshape(len(minhash), width // 4),
    )


def entry_name(shard: str) -> str:
    return shard.removesuffix(".jsonl") + ".parquet"


def level_of(name: str) -> int:
    """0 for a shard's entry, k for a merged `Lk-...` file."""
    return 0 if name.startswith("shard-") else int(name[1 : name.index("-")])


class Unreadable(Exception):
    """An index file that is not what this module writes."""


class RunIndex:
    """The index of one run directory (see the module docstring for its guarantees)."""

    def __init__(self, directory: LocalDir | RemoteDir, location: str) -> None:
        self._dir = directory
        self.location = location.rstrip("/")
        self._added = 0

    def add(self, shard: str, records: Sequence[Record]) -> None:
        """Write the entry of `shard`, just written with `records` one a line. Call it
        after the shard's write returned, never before. Every LEVEL0_FANOUT entries
        added, the index is compacted."""
        self._write(entry_name(shard), entry_table(shard, enumerate(records, start=1)))
        self._added += 1
        if self._added % LEVEL0_FANOUT == 0:
            self.compact()

    def read(self, columns: Iterable[str] = ()) -> pa.Table:
        """Every stored record once: its KEY columns and `columns` (names of SCHEMA)."""
        need = list(dict.fromkeys([*KEY, *columns]))
        unknown = [c for c in need if c not in SCHEMA.names]
        assert not unknown, f"not index columns: {unknown}"
        for _ in range(READ_TRIES):
            try:
                return self._read(need)
            except FileNotFoundError:
                continue  # a merge removed a file listed before it: list again
        raise SynthError(
            f"{self.location}/{INDEX}",
            f"index files vanished while read, {READ_TRIES} times in a row",
            "is something other than synth deleting them?",
        )

    def compact(self) -> None:
        """Merge entries into fewer files, level by level (best effort: a failed write or
        a merge another process got to first leaves the index as it is, still whole)."""
        try:
            self._compact()
        except (OSError, SynthError) as exc:
            log.warning("%s/%s: not compacted: %s", self.location, INDEX, exc)

    # --- reading -------------------------------------------------------------------------

    def _read(self, need: list[str]) -> pa.Table:
        shards = self._dir.shard_names()  # the run, as of now; listed before the entries
        files = self._dir.names(INDEX, ".parquet")
        taken = _Taken(set(shards))
        parts: list[pa.Table] = []
        unreadable: list[str] = []
        merged = sorted((f for f in files if level_of(f) > 0), key=lambda f: (-level_of(f), f))
        for _, table in self._tables(merged, need, unreadable):
            parts.append(taken.rows_of(table))
        present = set(files)
        singles = [entry_name(s) for s in shards if s not in taken.shards]
        singles = [name for name in singles if name in present]
        for _, table in self._tables(singles, need, unreadable):
            parts.append(taken.rows_of(table))
        missing = [s for s in shards if s not in taken.shards]
        rebuilt: set[str] = set()
        if missing:
            parts.append(self._rebuild(missing, need, rebuilt))
        for name in unreadable:
            if name not in rebuilt:
                self._remove_quietly(name)
        if rebuilt or _crowded(files):
            self.compact()
        if not parts:
            return _empty(need)
        return _first_copies(pa.concat_tables(parts))

    def _tables(
        self, names: list[str], need: list[str] | None, unreadable: list[str] | None = None
    ) -> Iterator[tuple[str, pa.Table]]:
        """Each file's table (the `need` columns; all when None). A file that cannot be read
        is warned about and added to `unreadable`, or raises Unreadable when that is None.
        FileNotFoundError passes: a file listed has gone."""
        opened = self._open(names)
        for name, source in opened:
            try:
                yield name, _checked(_read_parquet(source, need), need)
            except FileNotFoundError:
                raise
            except (Unreadable, pa.ArrowException, OSError) as exc:
                if unreadable is None:
                    raise Unreadable(f"{name}: {exc}") from None
                log.warning(
                    "%s/%s/%s: unreadable (%s); its entries are rebuilt from the shards",
                    self.location,
                    INDEX,
                    name,
                    exc,
                )
                unreadable.append(name)

    def _open(self, names: list[str]) -> Iterator[tuple[str, object]]:
        """(name, what pyarrow reads): a local path (read column by column), or an object's
        bytes (fetched whole, many at a time)."""
        if not names:
            return iter(())
        if self._dir.local_file(INDEX, names[0]) is not None:
            return ((n, str(self._dir.local_file(INDEX, n))) for n in names)
        return ((n, pa.BufferReader(data)) for n, data in self._dir.read_many(INDEX, names))

    def _rebuild(self, missing: list[str], need: list[str], written: set[str]) -> pa.Table:
        """The rows of `missing` shards, parsed from them; their entries are written (one
        per shard when few, else level-1 files of LEVEL0_FANOUT shards) and named in
        `written`."""
        log.info("%s: indexing %d shards without an index entry", self.location, len(missing))
        kept: list[pa.Table] = []
        group: list[tuple[str, pa.Table]] = []
        writable = True

        def flush() -> None:
            nonlocal writable
            if writable and group:
                writable = self._write_rebuilt(group, written, alone=len(missing) < LEVEL0_FANOUT)
            group.clear()

        with _progress(len(missing), f"indexing {self.location}") as advance:
            for name, text in self._dir.read_shards(missing):
                where = f"{self.location}/{SHARDS}/{name}"
                table = entry_table(name, parse_shard(where, text))
                kept.append(_typed(table.select(need)))
                group.append((name, table))
                if len(group) == LEVEL0_FANOUT:
                    flush()
                advance()
        flush()
        return pa.concat_tables(kept)

    def _write_rebuilt(self, group: list[tuple[str, pa.Table]], written: set, alone: bool):
        """Write a group of rebuilt entries; False (and a warning) when that fails."""
        try:
            if alone:
                for shard, table in group:
                    self._write(entry_name(shard), table)
                    written.add(entry_name(shard))
            else:
                name = _merged_name(1, [entry_name(shard) for shard, _ in group])
                self._write(name, pa.concat_tables(t for _, t in group))
                written.add(name)
            return True
        except (OSError, SynthError) as exc:
            log.warning(
                "%s/%s: cannot write the index (%s); read from the shards this time",
                self.location,
                INDEX,
                exc,
            )
            return False

    # --- writing and merging -------------------------------------------------------------

    def _write(self, name: str, table: pa.Table) -> None:
        if pa.types.is_dictionary(table.schema.field("shard").type):
            table = table.set_column(0, "shard", table["shard"].cast(pa.string()))
        buffer = io.BytesIO()
        pq.write_table(table, buffer, compression="zstd")
        self._dir.write(f"{INDEX}/{name}", buffer.getvalue())

    def _compact(self) -> None:
        by_level: dict[int, list[str]] = defaultdict(list)
        for name in self._dir.names(INDEX, ".parquet"):
            by_level[level_of(name)].append(name)
        for level in itertools.count():
            if level > max(by_level, default=0):
                return
            fanout = LEVEL0_FANOUT if level == 0 else FANOUT
            waiting = sorted(by_level[level])
            while len(waiting) >= fanout:
                sources, waiting = waiting[:fanout], waiting[fanout:]
                merged = self._merge(sources, level + 1)
                if merged is None:
                    return  # another process is merging these: leave it to it
                by_level[level + 1].append(merged)

    def _merge(self, sources: list[str], level: int) -> str | None:
        taken = _Taken(None)
        try:
            parts = [taken.rows_of(table) for _, table in self._tables(sources, None)]
            table = pa.concat_tables(parts)
        except (FileNotFoundError, Unreadable, pa.ArrowInvalid):
            return None  # gone (merged elsewhere), or for a read to rebuild
        name = _merged_name(level, sources)
        self._write(name, table)
        for source in sources:
            self._remove_quietly(source)
        return name

    def _remove_quietly(self, name: str) -> None:
        try:
            self._dir.remove(f"{INDEX}/{name}")
        except (OSError, SynthError) as exc:  # a store that refuses deletes: reads skip it
            log.warning("%s/%s/%s: not removed: %s", self.location, INDEX, name, exc)


class _Taken:
    """Which shards' rows are taken already: a shard's rows come from one file only."""

    def __init__(self, listed: set[str] | None) -> None:
        self.listed = listed  # None: every shard counts
        self.shards: set[str] = set()

    def rows_of(self, table: pa.Table) -> pa.Table:
        """The rows of `table` whose shard is listed and not taken yet; takes them."""
        present = pc.unique(table["shard"].cast(pa.string())).to_pylist()
        fresh = [
            s for s in present if s not in self.shards and (self.listed is None or s in self.listed)
        ]
        self.shards.update(fresh)
        if len(fresh) == len(present):
            return table
        return table.filter(pc.is_in(table["shard"], value_set=pa.array(fresh, pa.string())))


def _read_parquet(source, need: list[str] | None) -> pa.Table:
    with pq.ParquetFile(source, read_dictionary=["shard"]) as parquet:
        held = parquet.schema_arrow.names
        for name in need or SCHEMA.names:
            if name not in held:
                raise Unreadable(f"no column {name!r}")
        return parquet.read(columns=need)


def _checked(table: pa.Table, need: list[str] | None) -> pa.Table:
    """`table` if its columns (all of SCHEMA when `need` is None) are typed as SCHEMA
    says; else Unreadable naming the first that is not."""
    for name in need or SCHEMA.names:
        want = SHARD_TYPE if name == "shard" else SCHEMA.field(name).type
        got = table.schema.field(name).type
        if got != want:
            raise Unreadable(f"column {name!r} is {got}, not {want}")
    return table


def _typed(table: pa.Table) -> pa.Table:
    """A freshly built table typed as reads return them (the shard column a dictionary)."""
    return table.set_column(0, "shard", table["shard"].dictionary_encode().cast(SHARD_TYPE))


def _empty(need: list[str]) -> pa.Table:
    return _typed(SCHEMA.empty_table().select(need))


def _first_copies(table: pa.Table) -> pa.Table:
    """Each record id once: the copy in the shard whose name sorts first."""
    if pc.count_distinct(table["id"]).as_py() == table.num_rows:
        return table
    shard = table["shard"].cast(pa.string())
    order = pc.sort_indices(
        pa.table({"shard": shard, "line": table["line"]}),
        sort_keys=[("shard", "ascending"), ("line", "ascending")],
    )
    table = table.take(order)
    positions = pa.table({"id": table["id"], "at": pa.array(range(table.num_rows), pa.int64())})
    firsts = positions.group_by("id", use_threads=False).aggregate([("at", "min")])["at_min"]
    return table.take(pc.take(firsts, pc.sort_indices(firsts)))


def _merged_name(level: int, sources: list[str]) -> str:
    digest = hashlib.sha256("\n".join(sorted(sources)).encode()).hexdigest()[:16]
    return f"L{level}-{digest}.parquet"


def _crowded(files: list[str]) -> bool:
    """Whether a merge is due (the reader's listing says so; no extra listing)."""
    counts = defaultdict(int)
    for name in files:
        counts[level_of(name)] += 1
    return counts[0] >= LEVEL0_FANOUT or any(n >= FANOUT for k, n in counts.items() if k)


@contextmanager
def _progress(total: int, label: str) -> Iterator[Callable[[], None]]:
    """A progress bar on stderr while `total` shards are indexed (none for a few)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=Console(stderr=True),
        transient=True,
        disable=total < BAR_FROM,
    ) as bar:
        task = bar.add_task(label, total=total)
        yield lambda: bar.advance(task)
