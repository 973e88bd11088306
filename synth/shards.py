"""The shard format: records/shard-<ns>-<id8>.jsonl, one JSON Record per line.

A shard is written once, whole (see synth/run_dir.py), and never changed; its name sorts by
the time it was written. Shards are a run's source of truth: everything else in a run
directory (the index, summary.json) can be rebuilt from them.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator

from pydantic import ValidationError

from synth.errors import SynthError
from synth.records import Record


def shard_name(first_id: str) -> str:
    """A new shard's file name: the write time in nanoseconds, then its first record id."""
    return f"shard-{time.time_ns():020d}-{first_id[:8]}.jsonl"


def shard_text(records: Iterable[Record]) -> str:
    return "".join(record.model_dump_json() + "\n" for record in records)


def parse_shard(where: str, text: str) -> Iterator[tuple[int, Record]]:
    """(line number, record) of each record of a shard's text; SynthError naming
    `where`:line and the first bad field when a line is not a valid record."""
    # "\n" only: str.splitlines also cuts at U+2028 and friends, which JSON strings may
    # hold unescaped
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            yield number, Record.model_validate_json(line)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "record"
            raise SynthError(
                f"{where}:{number}", f"not a valid record ({field}: {first['msg']})"
            ) from None
