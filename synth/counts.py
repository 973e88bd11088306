"""The whole run's counts: what every stored record of a run directory adds up to.

`summary.json`, the closing table of `synth generate` and `synth status RUN_DIR` all report
these, so a resumed run (or one with nothing left to do) describes the whole run, not the
invocation that happened to write last. Counts come from the records alone, never from an
invocation's memory: the same records give the same counts, however many invocations
stored them. What a record adds is its row of the run index (synth.run_index.entry), so
counts read from the index and counts of records in hand follow one rule.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from synth.records import Record
from synth.run_index import SCHEMA, entry
from synth.store import RunStore

COUNTED = (
    "status",
    "problem_accepted",
    "rejection_keys",
    "samples",
    "verified",
    "corrected",
    "prompt_tokens",
    "completion_tokens",
)  # the index columns the counts add up


@dataclass
class RunCounts:
    """Counts over a set of records; `add` folds one more in, `+` merges two sets (the
    counts of two shards, say). Tokens are the stored samples' (solutions and corrections);
    the tokens of problem, test and judge calls are not kept in records, so only an
    invocation's own engine count (`this_invocation` in summary.json) includes them."""

    slots_done: int = 0
    problems_accepted: int = 0
    samples: int = 0
    verified: int = 0
    corrected: int = 0
    problems_with_verified_solution: int = 0
    rejected: Counter = field(default_factory=Counter)
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def add(self, records: Iterable[Record]) -> None:
        """Count stored records (a slot done each)."""
        more = count_records(records)
        for name in (f.name for f in fields(self)):
            setattr(self, name, getattr(self, name) + getattr(more, name))

    @classmethod
    def of_index(cls, rows: pa.Table) -> RunCounts:
        """The counts of index rows (the COUNTED columns of synth.run_index.SCHEMA), each
        row one record."""

        def total(column: str | pa.ChunkedArray) -> int:
            values = rows[column] if isinstance(column, str) else column
            return int(pc.sum(values).as_py() or 0)

        keys = pc.value_counts(pc.list_flatten(rows["rejection_keys"]))
        return cls(
            slots_done=rows.num_rows,
            problems_accepted=total("problem_accepted"),
            samples=total("samples"),
            verified=total("verified"),
            corrected=total("corrected"),
            problems_with_verified_solution=total(pc.equal(rows["status"], "verified")),
            rejected=Counter({k["values"]: k["counts"] for k in keys.to_pylist()}),
            prompt_tokens=total("prompt_tokens"),
            completion_tokens=total("completion_tokens"),
        )

    def __add__(self, other: RunCounts) -> RunCounts:
        return RunCounts(
            **{
                name: getattr(self, name) + getattr(other, name)
                for name in self.__dataclass_fields__
            }
        )

    def as_dict(self, planned: int | None) -> dict[str, Any]:
        """The whole-run section of summary.json (`planned`: the run's slot count)."""
        return {
            "slots": planned,
            "slots_done": self.slots_done,
            "problems_accepted": self.problems_accepted,
            "samples": self.samples,
            "verified": self.verified,
            "corrected": self.corrected,
            "problems_with_verified_solution": self.problems_with_verified_solution,
            "rejected": dict(sorted(self.rejected.items())),
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
        }


def count_records(records: Iterable[Record]) -> RunCounts:
    """The counts of `records`, each counted once (as listed; ids are not compared): their
    index rows' facts (synth.run_index.entry), without the signatures counts never read."""
    return RunCounts.of_index(pa.Table.from_pylist([entry(r) for r in records], schema=SCHEMA))


def run_counts(store: RunStore) -> RunCounts:
    """The whole run's counts, from the store's index (no record parsed; a record stored
    twice counts once); the one place every reader gets them from."""
    return RunCounts.of_index(store.index(COUNTED))
