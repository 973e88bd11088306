"""Where a run directory's files live: a local path, or an fsspec URL (an object store).

A run directory is a local path or an fsspec URL (`s3://bucket/runs/r1`, `gs://...`, any
protocol whose fsspec implementation is installed; credentials and endpoints come from the
usual environment, e.g. AWS_ACCESS_KEY_ID and AWS_ENDPOINT_URL). Both backends offer the
same few operations on files named by their path below the run directory.

Guarantee: `write` shows a file whole or not at all. On a local disk the file is written to
a temporary file, fsynced and renamed into place (temporary names start with a dot, and
`names` never lists them); on an object store it is one PUT, which the store shows whole or
not at all. Nothing here orders writes across files: callers that need an order write one
file after the other (see synth/run_index.py).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

from synth.errors import SynthError

SHARDS = "records"
READ_AT_ONCE = 32  # files fetched concurrently from an object store


def is_url(location: str | Path) -> bool:
    """Whether a run directory is an fsspec URL rather than a local path."""
    text = str(location)
    return "://" in text and not text.startswith("file://")


def local_path(location: str | Path) -> Path:
    """A local run directory's path (a `file://` URL is one too)."""
    return Path(str(location).removeprefix("file://"))


def open_dir(location: str | Path) -> LocalDir | RemoteDir:
    """The backend of the run directory at `location`."""
    return RemoteDir(str(location)) if is_url(location) else LocalDir(location)


def _is_shard(name: str) -> bool:
    return name.startswith("shard-") and name.endswith(".jsonl")


class LocalDir:
    """A run directory on a local (or network-mounted) file system."""

    def __init__(self, location: str | Path) -> None:
        self.root = local_path(location)

    def exists(self) -> bool:
        return self.root.is_dir()

    def read(self, name: str) -> str | None:
        path = self.root / name
        return path.read_text(encoding="utf-8") if path.exists() else None

    def write(self, name: str, data: str | bytes) -> None:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{threading.get_ident()}")
        with tmp.open("wb") as handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
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

    def names(self, folder: str, suffix: str) -> list[str]:
        """The names of the files in `folder` ending with `suffix`, sorted; temporary files
        (a leading dot) are never listed."""
        try:
            entries = os.scandir(self.root / folder)
        except FileNotFoundError:
            return []
        with entries:
            return sorted(
                e.name for e in entries if e.name.endswith(suffix) and not e.name.startswith(".")
            )

    def shard_names(self) -> list[str]:
        return [n for n in self.names(SHARDS, ".jsonl") if _is_shard(n)]

    def local_file(self, folder: str, name: str) -> Path | None:
        """The file's path, for readers that map it rather than read it whole."""
        return self.root / folder / name

    def read_many(self, folder: str, names: list[str]) -> Iterator[tuple[str, bytes]]:
        """Each named file's bytes, in order; FileNotFoundError when one is gone."""
        for name in names:
            yield name, (self.root / folder / name).read_bytes()

    def read_shards(self, names: list[str]) -> Iterator[tuple[str, str]]:
        for name, data in self.read_many(SHARDS, names):
            yield name, data.decode("utf-8")


class RemoteDir:
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

    def write(self, name: str, data: str | bytes) -> None:
        blob = data.encode("utf-8") if isinstance(data, str) else data
        self._call(self.fs.pipe_file, self._path(name), blob)

    def remove(self, name: str) -> None:
        try:
            self._call(self.fs.rm_file, self._path(name), absent_ok=True)
        except FileNotFoundError:
            pass

    def names(self, folder: str, suffix: str) -> list[str]:
        """The names of the objects in `folder` ending with `suffix`, sorted."""
        path = self._path(folder)
        self.fs.invalidate_cache(path)  # other workers add files all the time
        try:
            paths = self._call(self.fs.ls, path, False, absent_ok=True)
        except FileNotFoundError:
            return []
        names = (p.rsplit("/", 1)[-1] for p in paths)
        return sorted(n for n in names if n.endswith(suffix) and not n.startswith("."))

    def shard_names(self) -> list[str]:
        return [n for n in self.names(SHARDS, ".jsonl") if _is_shard(n)]

    def local_file(self, folder: str, name: str) -> Path | None:
        return None  # objects are fetched whole (read_many)

    def read_many(self, folder: str, names: list[str]) -> Iterator[tuple[str, bytes]]:
        """Each named object's bytes, in order, fetched READ_AT_ONCE at a time;
        FileNotFoundError when one is gone."""
        for start in range(0, len(names), READ_AT_ONCE):
            group = names[start : start + READ_AT_ONCE]
            paths = [self._path(f"{folder}/{name}") for name in group]
            contents = self._call(self.fs.cat, paths, False, "raise", absent_ok=True)
            by_name = {p.rsplit("/", 1)[-1]: data for p, data in contents.items()}
            for name in group:
                yield name, by_name[name]

    def read_shards(self, names: list[str]) -> Iterator[tuple[str, str]]:
        for name, data in self.read_many(SHARDS, names):
            yield name, data.decode("utf-8")
