"""Durable, append-only record shards in a run directory, and resume.

Layout of a run directory:

    run.json                 the run's settings (a resumed run must match them)
    records/shard-*.jsonl    one JSON Record per line; each shard is written once, whole
    summary.json             the counts of the last `synth generate` over this directory

A shard is written to a temporary file, fsynced and renamed into place, so a crash leaves
either the whole shard or none of it, never half a line. Record ids are deterministic
(seed and slot), and `write` skips ids already stored, so re-running or resuming a run
never writes a record twice.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from pydantic import ValidationError

from synth.errors import SynthError
from synth.records import Record


class RunStore:
    def __init__(self, run_dir: str | Path) -> None:
        self.root = Path(run_dir)
        self.shards = self.root / "records"
        self._lock = threading.Lock()
        self._ids: set[str] | None = None

    # --- settings --------------------------------------------------------------------

    def read_settings(self) -> dict | None:
        path = self.root / "run.json"
        if not path.exists():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise SynthError(str(path), f"not valid JSON (line {exc.lineno}): {exc.msg}") from None

    def write_settings(self, settings: dict) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        _atomic_write(self.root / "run.json", json.dumps(settings, indent=2, sort_keys=True) + "\n")

    def write_summary(self, summary: dict) -> None:
        _atomic_write(
            self.root / "summary.json", json.dumps(summary, indent=2, sort_keys=True) + "\n"
        )

    # --- records ---------------------------------------------------------------------

    def ids(self) -> set[str]:
        with self._lock:
            if self._ids is None:
                self._ids = {record.id for record in self.records()}
            return set(self._ids)

    def records(self) -> Iterator[Record]:
        """Every stored record once, shard by shard in the order they were written."""
        if not self.shards.exists():
            return
        seen: set[str] = set()  # a fleet may store a record twice (a redelivered task)
        for shard in sorted(self.shards.glob("shard-*.jsonl")):
            with shard.open(encoding="utf-8") as handle:
                for number, line in enumerate(handle, start=1):
                    if not line.strip():
                        continue
                    try:
                        record = Record.model_validate_json(line)
                    except ValidationError as exc:
                        first = exc.errors()[0]
                        field = ".".join(str(p) for p in first["loc"]) or "record"
                        raise SynthError(
                            f"{shard}:{number}", f"not a valid record ({field}: {first['msg']})"
                        ) from None
                    if record.id not in seen:
                        seen.add(record.id)
                        yield record

    def write(self, records: Iterable[Record]) -> int:
        """Store the records whose ids are new, as one shard; returns how many were written."""
        with self._lock:
            if self._ids is None:
                self._ids = {record.id for record in self.records()}
            fresh: dict[str, Record] = {}
            for record in records:
                if record.id not in self._ids:
                    fresh.setdefault(record.id, record)
            if not fresh:
                return 0
            self.shards.mkdir(parents=True, exist_ok=True)
            name = f"shard-{time.time_ns():020d}-{next(iter(fresh))[:8]}.jsonl"
            _atomic_write(
                self.shards / name, "".join(r.model_dump_json() + "\n" for r in fresh.values())
            )
            self._ids.update(fresh)
            return len(fresh)


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{threading.get_ident()}")
    with tmp.open("w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
