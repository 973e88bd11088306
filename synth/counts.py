"""The whole run's counts: what every stored record of a run directory adds up to.

`summary.json`, the closing table of `synth generate` and `synth status RUN_DIR` all report
these, so a resumed run (or one with nothing left to do) describes the whole run, not the
invocation that happened to write last. Counts come from the records alone, never from an
invocation's memory: the same records give the same counts, however many invocations
stored them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from synth.records import Record
from synth.store import RunStore


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

    def add(self, record: Record) -> None:
        """Count one stored record (a slot done)."""
        self.slots_done += 1
        if record.rejected_at not in ("problem", "reference"):
            self.problems_accepted += 1
        self.problems_with_verified_solution += record.status == "verified"
        self.rejected.update(record.rejection_keys())
        for trajectory in record.trajectories:
            self.verified += trajectory.verified
            self.corrected += trajectory.corrected
            for attempt in trajectory.attempts:
                self.samples += 1
                self.prompt_tokens += attempt.sample.prompt_tokens
                self.completion_tokens += attempt.sample.completion_tokens

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
    """The counts of `records`, each counted once."""
    counts = RunCounts()
    for record in records:
        counts.add(record)
    return counts


def run_counts(store: RunStore) -> RunCounts:
    """The whole run's counts, from the store; the one place every reader gets them from.

    Today this reads every record of every shard (the store's `records()`, which skips a
    record stored twice), so it costs what a resume's start-up read costs. The scale work
    (an index beside the shards, written with each shard) swaps this body for a read of
    that index: per-shard RunCounts summed with `+`, no record parsed. Callers need not
    change."""
    return count_records(store.records())
