"""Exact and near-duplicate removal over exported examples, on problems and on solutions.

Problems first: the examples of a problem whose statement copies (normalised text) or
nearly copies (MinHash Jaccard over word shingles >= `problem_threshold`) an earlier
problem's are all dropped, so a problem is never half kept. Then solutions: an example
whose assistant turns copy or nearly copy an earlier kept example's (code-aware token
shingles, >= `solution_threshold`) is dropped. Earlier means first in run order.

Preference pairs (`solutions=False`) are deduplicated on their problems alone: the pairs
of one problem share their chosen answers by design (one verified answer against several
failures), so a pair is no copy of another for sharing one side, and answers with the same
text were made one answer before pairing (synth.export.preferences).

`Dedup` streams: it keeps no rows, only the two indexes (synth.near_duplicates, about 100
bytes a distinct problem or solution with its key) and each problem's verdict, under a
64-bit hash of its id (two ids share one with a chance of about n**2 / 2**65 in an export
of n problems).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass

import numpy as np

from synth.errors import SynthError
from synth.key_table import ABSENT, KeyTable
from synth.near_duplicates import NearDuplicateIndex


@dataclass(frozen=True)
class DedupOptions:
    problem_threshold: float = 0.8
    solution_threshold: float = 0.9
    shingle: int = 5

    def __post_init__(self) -> None:
        for name in ("problem_threshold", "solution_threshold"):
            value = getattr(self, name)
            if not 0.1 <= value <= 0.98:  # MinHash LSH needs at least two bands
                raise SynthError(f"--{name.replace('_', '-')}", f"{value} is outside 0.1-0.98")


def solution_text(row: dict) -> str:
    """The assistant turns of a row: a dialog's `messages`, or a pair's chosen and rejected."""
    turns = [m for column in ("messages", "chosen", "rejected") for m in row.get(column, ())]
    return "\n".join(m["content"] for m in turns if m["role"] == "assistant")


class Dedup:
    """The dedup of one export, fed rows in run order a batch at a time (`keep`), so it
    holds no rows: only the two near-duplicate indexes and each problem's verdict. Feeding
    the rows in any batches gives the same rows as feeding them all at once."""

    def __init__(self, options: DedupOptions = DedupOptions(), solutions: bool = True) -> None:
        self.solutions = solutions
        self.dropped: Counter = Counter()
        self.problems = NearDuplicateIndex(
            threshold=options.problem_threshold, shingle=options.shingle
        )
        self.answers = NearDuplicateIndex(
            threshold=options.solution_threshold, shingle=options.shingle, tokens="code"
        )
        # problem id -> its verdict (an index into _VERDICTS), decided on its first row
        self._verdicts = KeyTable()

    def keep(self, rows: list[dict]) -> list[dict]:
        """The rows of this batch that copy no earlier row, in order; `dropped` counts the others."""
        ids = np.fromiter((_id_key(row["problem_id"]) for row in rows), np.uint64, len(rows))
        decided = self._verdicts.lookup(ids).tolist()
        fresh: dict[str, int] = {}  # first row of each problem seen for the first time
        for i, row in enumerate(rows):
            if decided[i] == ABSENT:
                fresh.setdefault(row["problem_id"], i)
        if fresh:
            signatures = self.problems.sign([rows[i]["problem"] for i in fresh.values()])
            found = self.problems.match_or_add(list(fresh), signatures)
            for i, copy in zip(fresh.values(), found, strict=True):
                verdict = _VERDICTS.index(f"{copy[0]}_problem" if copy else None)
                self._verdicts.recent[int(ids[i])] = verdict
            self._verdicts.settle()
            decided = self._verdicts.lookup(ids).tolist()
        passed = [row for row, verdict in zip(rows, decided, strict=True) if not verdict]
        self.dropped.update(_VERDICTS[v] for v in decided if v)
        if not self.solutions or not passed:
            return passed
        signatures = self.answers.sign([solution_text(row) for row in passed])
        found = self.answers.match_or_add([row["sample_id"] for row in passed], signatures)
        kept = []
        for row, copy in zip(passed, found, strict=True):
            if copy:
                self.dropped[f"{copy[0]}_solution"] += 1
            else:
                kept.append(row)
        return kept


_VERDICTS = (None, "exact_problem", "near_problem")


def _id_key(problem_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(problem_id.encode(), digest_size=8).digest(), "little")


def dedup(
    rows: list[dict], options: DedupOptions = DedupOptions(), solutions: bool = True
) -> tuple[list[dict], Counter]:
    """The rows kept, in order, and how many were dropped for each reason (`solutions=False`:
    on problems only)."""
    batch = Dedup(options, solutions)
    return batch.keep(rows), batch.dropped
