"""Durable, append-only record shards in a run directory, and resume.

Layout of a run directory:

    run.json                 the run's settings (a resumed run must match them)
    records/shard-*.jsonl    one JSON Record per line; each shard is written once, whole
    summary.json             the whole run's counts, and what the last `synth generate` over
                             this directory did (written as it goes: see synth/summary.py)

A run directory is a local path or an fsspec URL (`s3://bucket/runs/r1`, `gs://...`, any
protocol whose fsspec implementation is installed; credentials and endpoints come from the
usual environment, e.g. AWS_ACCESS_KEY_ID and AWS_ENDPOINT_URL). On a local disk a shard is
written to a temporary file, fsynced and renamed into place; on an object store it is one
PUT, which the store shows whole or not at all. Either way a crash leaves the whole shard or
none of it, never half a line. Record ids are deterministic (seed and slot), and `write`
skips ids already stored, so re-running or resuming a run never writes a record twice.
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

SHARDS = "records"
READ_AT_ONCE = 32  # shards fetched concurrently from an object store


def is_url(location: str | Path) -> bool:
    """Whether a run directory is an fsspec URL rather than a local path."""
    text = str(location)
    return "://" in text and not text.startswith("file://")


def local_path(location: str | Path) -> Path:
    """A local run directory's path (a `file://` URL is one too)."""
    return Path(str(location).removeprefix("file://"))


class _LocalDir:
    """A run directory on a local (or network-mounted) file system."""

    def __init__(self, location: str | Path) -> None:
        self.root = local_path(location)

    def exists(self) -> bool:
        return self.root.is_dir()

    def read(self, name: str) -> str | None:
        path = self.root / name
        return path.read_text(encoding="utf-8") if path.exists() else None

    def write(self, name: str, text: str) -> None:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
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

    def remove(self, name: str) -> None:
        (self.root / name).unlink(missing_ok=True)

    def shard_names(self) -> list[str]:
        folder = self.root / SHARDS
        return sorted(p.name for p in folder.glob("shard-*.jsonl")) if folder.is_dir() else []

    def read_shards(self, names: list[str]) -> Iterator[tuple[str, str]]:
        for name in names:
            yield name, (self.root / SHARDS / name).read_text(encoding="utf-8")


class _RemoteDir:
    """A run directory under an fsspec URL (an object store): whole-object writes only."""

    def __init__(self, url: str) -> None:
        import fsspec

        try:
            self.fs, self.root = fsspec.core.url_to_fs(url)
        except (ValueError, ImportError) as exc:  # unknown protocol, or its package missing
            raise SynthError(url, f"cannot open this URL: {exc}") from None
        self.url = url

    def _path(self, name: str) -> str:
        return f"{self.root.rstrip('/')}/{name}"

    def _call(self, action, *args, absent_ok: bool = False):
        """`action(*args)` on the store. Failures (refused, unreachable, no credentials, no
        such bucket: each backend has its own exception types) are named; with `absent_ok`
        a FileNotFoundError passes through for the caller to take as "nothing there"."""
        try:
            return action(*args)
        except FileNotFoundError as exc:
            if absent_ok:
                raise
            raise self._failed(exc) from None
        except Exception as exc:  # noqa: BLE001 - the backend's own error types
            raise self._failed(exc) from None

    def _failed(self, exc: Exception) -> SynthError:
        return SynthError(self.url, f"the object store failed: {exc.__class__.__name__}: {exc}")

    def exists(self) -> bool:
        return self.read("run.json") is not None or bool(self.shard_names())

    def read(self, name: str) -> str | None:
        try:
            return self._call(self.fs.cat_file, self._path(name), absent_ok=True).decode("utf-8")
        except FileNotFoundError:
            return None

    def write(self, name: str, text: str) -> None:
        self._call(self.fs.pipe_file, self._path(name), text.encode("utf-8"))

    def remove(self, name: str) -> None:
        try:
            self._call(self.fs.rm_file, self._path(name), absent_ok=True)
        except FileNotFoundError:
            pass

    def shard_names(self) -> list[str]:
        folder = self._path(SHARDS)
        self.fs.invalidate_cache(folder)  # other workers add shards all the time
        try:
            paths = self._call(self.fs.ls, folder, False, absent_ok=True)
        except FileNotFoundError:
            return []
        names = (p.rsplit("/", 1)[-1] for p in paths)
        return sorted(n for n in names if n.startswith("shard-") and n.endswith(".jsonl"))

    def read_shards(self, names: list[str]) -> Iterator[tuple[str, str]]:
        for start in range(0, len(names), READ_AT_ONCE):
            group = names[start : start + READ_AT_ONCE]
            paths = [self._path(f"{SHARDS}/{name}") for name in group]
            contents = self._call(self.fs.cat, paths, False, "raise")
            by_name = {p.rsplit("/", 1)[-1]: data for p, data in contents.items()}
            for name in group:
                yield name, by_name[name].decode("utf-8")


class RunStore:
    """The records, settings and summary of one run directory (a path or an fsspec URL)."""

    def __init__(self, run_dir: str | Path) -> None:
        self.location = str(run_dir)
        self._dir = _RemoteDir(self.location) if is_url(run_dir) else _LocalDir(run_dir)
        self._lock = threading.RLock()  # ids() reads records(), which primes the ids
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
        with self._lock:
            if self._ids is None:
                for _ in self.records():
                    pass
            return set(self._ids)

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
            # "\n" only: str.splitlines also cuts at U+2028 and friends, which JSON strings
            # may hold unescaped
            for number, line in enumerate(text.split("\n"), start=1):
                if not line.strip():
                    continue
                try:
                    record = Record.model_validate_json(line)
                except ValidationError as exc:
                    first = exc.errors()[0]
                    field = ".".join(str(p) for p in first["loc"]) or "record"
                    where = f"{self.location.rstrip('/')}/{SHARDS}/{name}:{number}"
                    raise SynthError(
                        where, f"not a valid record ({field}: {first['msg']})"
                    ) from None
                yield record

    def write(self, records: Iterable[Record]) -> int:
        """Store the records whose ids are new, as one shard; returns how many were written."""
        with self._lock:
            if self._ids is None:
                self.ids()
            fresh: dict[str, Record] = {}
            for record in records:
                if record.id not in self._ids:
                    fresh.setdefault(record.id, record)
            if not fresh:
                return 0
            name = f"shard-{time.time_ns():020d}-{next(iter(fresh))[:8]}.jsonl"
            self._dir.write(
                f"{SHARDS}/{name}", "".join(r.model_dump_json() + "\n" for r in fresh.values())
            )
            self._ids.update(fresh)
            return len(fresh)
