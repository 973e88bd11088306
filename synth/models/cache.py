"""Where models live on disk, and the lock that lets several processes build one at once."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path


def cache_root() -> Path:
    """`$SYNTH_CACHE/models`, or `~/.cache/synth/models`."""
    cache = os.environ.get("SYNTH_CACHE") or Path.home() / ".cache" / "synth"
    return Path(cache).expanduser() / "models"


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on `path` (created) for the block; builders of the same model wait
    for each other and then find it built."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock, the rename still keeps builds whole
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
