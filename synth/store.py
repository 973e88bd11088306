"""Durable, append-only record shards in a run directory, their index, and resume.

Layout of a run directory:

    run.json                 the run's settings (a resumed run must match them)
    records/shard-*.jsonl    one JSON Record per line; each shard is written once, whole
    index/*.parquet          what resume and status need of each record (synth/run_index.py)
    summary.json             the whole run's counts, and what the last `synth generate` over
                             this directory did (written as it goes: see synth/summary.py)

A run directory is a local path or an fsspec URL (synth/run_dir.py). Either way a file is
written whole or not at all: a crash leaves the whole shard or none of it, never half a
line. A shard's index entry is written after the shard; a shard without one is indexed
from the shard by the next read, so the shards stay the source of truth. Record ids are
deterministic (seed and slot), and `write` skips ids already stored, so re-running or
resuming a run never writes a record twice.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from synth.errors import SynthError
from synth.near_duplicates import Signatures, problem_signer
from synth.records import Record
from synth.run_dir import SHARDS, is_url, local_path, open_dir
from synth.run_index import RunIndex, problem_signatures
from synth.shards import parse_shard, shard_name, shard_text

__all__ = ["RunStore", "StoredProblems", "is_url", "local_path"]


@dataclass(frozen=True)
class StoredProblems:
    """The problems of the stored records (those that have one), as a resumed run's
    near-duplicate index needs them: their ids, whether each was itself rejected as a near
    copy (`duplicate`), and their statements' signatures in the pipelines' scheme
    (synth.near_duplicates.problem_signer), row by row."""

    ids: list[str]
    duplicate: np.ndarray  # bool
    signatures: Signatures

    def __len__(self) -> int:
        return len(self.ids)


class RunStore:
    """The records, settings and summary of one run directory (a path or an fsspec URL)."""

    def __init__(self, run_dir: str | Path) -> None:
        self.location = str(run_dir)
        self._dir = open_dir(run_dir)
        self._index = RunIndex(self._dir, self.location)
        self._lock = threading.RLock()
        self._ids: set[str] | None = None

    @property
    def name(self) -> str:
        """The run directory's last path component (for titles)."""
        return self.location.rstrip("/").rsplit("/", 1)[-1]

    def exists(self) -> bool:
        return self._dir.exists()

    def check_writable(self) -> None:
        """Write and remove a probe; raises SynthError saying why it cannot be written."""
        probe = f".synth-write-check-{os.getpid()}"
        try:
            self._dir.write(probe, "")
        except OSError as exc:
            raise SynthError(self.location, f"cannot be written here: {exc}") from None
        try:
            self._dir.remove(probe)
        except (OSError, SynthError):
            pass  # runs never delete: a store that allows writes but not deletes will do

    # --- settings --------------------------------------------------------------------

    def read_settings(self) -> dict | None:
        """run.json, or None when there is none; SynthError naming the file when corrupt."""
        return self._read_json("run.json")

    def read_summary(self) -> dict | None:
        """summary.json, or None when there is none; SynthError naming the file when corrupt."""
        return self._read_json("summary.json")

    def _read_json(self, name: str) -> dict | None:
        where = f"{self.location.rstrip('/')}/{name}"
        try:
            text = self._dir.read(name)
        except UnicodeDecodeError:
            raise SynthError(where, "not UTF-8 text") from None
        if text is None:
            return None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SynthError(where, f"not valid JSON (line {exc.lineno}): {exc.msg}") from None
        if not isinstance(data, dict):
            raise SynthError(where, f"not a JSON object but {type(data).__name__}")
        return data

    def write_settings(self, settings: dict) -> None:
        self._dir.write("run.json", json.dumps(settings, indent=2, sort_keys=True) + "\n")

    def write_summary(self, summary: dict) -> None:
        self._dir.write("summary.json", json.dumps(summary, indent=2, sort_keys=True) + "\n")

    # --- records ---------------------------------------------------------------------

    def ids(self) -> set[str]:
        """The ids of every stored record, from the index (no record is parsed)."""
        with self._lock:
            if self._ids is None:
                self._ids = set(self._index.read()["id"].to_pylist())
            return set(self._ids)

    def index(self, columns: Iterable[str] = ()) -> pa.Table:
        """Every stored record once, as a row of the run index holding `columns` (names of
        synth.run_index.SCHEMA) beside shard, line and id; no record is parsed. See
        synth/run_index.py for what a read guarantees."""
        return self._index.read(columns)

    def stored_problems(self) -> StoredProblems:
        """The problem of every stored record that has one, from the index: what a resumed
        run seeds its near-duplicate index with, reading no record and signing no text
        (signatures of another scheme, from an older synth, are made again from the
        stored statements). The read also tells `ids()` and `write()` what is stored."""
        columns = ["problem_id", "rejection", "problem_scheme", "problem_exact", "problem_minhash"]
        table = self._index.read(columns)
        with self._lock:
            if self._ids is None:
                self._ids = set(table["id"].to_pylist())
        table = table.filter(pc.is_valid(table["problem_id"]))
        signer = problem_signer()
        if set(table["problem_scheme"].unique().to_pylist()) - {signer.scheme}:
            statements = self._index.read(["problem_id", "statement"])
            statements = statements.filter(pc.is_valid(statements["problem_id"]))
            ids, texts = statements["id"].to_pylist(), statements["statement"].to_pylist()
            by_id = dict(zip(ids, texts, strict=True))
            signatures = signer.sign([by_id[i] for i in table["id"].to_pylist()])
        else:
            signatures = problem_signatures(table)
        duplicate = pc.fill_null(pc.equal(table["rejection"], "duplicate"), False)
        return StoredProblems(
            table["problem_id"].to_pylist(), duplicate.to_numpy(zero_copy_only=False), signatures
        )

    def records(self) -> Iterator[Record]:
        """Every stored record once, shard by shard in the order they were written. A read
        to the end also tells `ids()` and `write()` what is stored, so they read nothing."""
        seen: set[str] = set()  # a fleet may store a record twice (a redelivered task)
        for record in self.shard_records(self.shard_names()):
            if record.id not in seen:
                seen.add(record.id)
                yield record
        with self._lock:
            if self._ids is None:
                self._ids = seen

    def shard_names(self) -> list[str]:
        """The names of the record shards, in the order they were written."""
        return self._dir.shard_names()

    def shard_records(self, names: list[str]) -> Iterator[Record]:
        """The records of these shards, in order, each validated (a record stored twice
        comes twice: `records()` gives each once). A line that is no record is refused,
        naming the shard, the line and the field."""
        for name, text in self._dir.read_shards(names):
            where = f"{self.location.rstrip('/')}/{SHARDS}/{name}"
            for _, record in parse_shard(where, text):
                yield record

    def write(self, records: Iterable[Record]) -> int:
        """Store the records whose ids are new, as one shard, then its index entry; returns
        how many were written. A crash between the two leaves a shard the next read
        indexes: nothing lost, nothing counted twice."""
        with self._lock:
            if self._ids is None:
                self.ids()
            fresh: dict[str, Record] = {}
            for record in records:
                if record.id not in self._ids:
                    fresh.setdefault(record.id, record)
            if not fresh:
                return 0
            name = shard_name(next(iter(fresh)))
            self._dir.write(f"{SHARDS}/{name}", shard_text(fresh.values()))
            self._ids.update(fresh)
            self._index.add(name, list(fresh.values()))
            return len(fresh)
