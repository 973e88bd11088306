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

`Dedup` streams: fed the rows a batch at a time in run order, it keeps no rows, only the
two indexes (synth.near_duplicates: about 100 bytes a distinct problem or solution, with
its key) and each problem's verdict by id. Signing (`sign`) needs no earlier batch, so it
can run elsewhere (synth.export.batches: in worker processes); deciding (`keep`) does.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from synth.errors import SynthError
from synth.near_duplicates import NearDuplicateIndex, Signatures


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


@dataclass
class Signed:
    """The dedup signatures of a batch of rows: row i's problem is `problems[problem_of[i]]`
    (one a problem), its solution `solutions[i]` (None when only problems are deduplicated)."""

    problems: Signatures
    problem_of: list[int]
    solutions: Signatures | None


class Dedup:
    """The dedup of one export, fed rows in run order a batch at a time (`keep`). Feeding the
    rows in any batches gives the same rows as feeding them all at once."""

    def __init__(self, options: DedupOptions = DedupOptions(), solutions: bool = True) -> None:
        self.solutions = solutions
        self.dropped: Counter = Counter()
        self.problems = NearDuplicateIndex(
            threshold=options.problem_threshold, shingle=options.shingle
        )
        self.answers = NearDuplicateIndex(
            threshold=options.solution_threshold, shingle=options.shingle, tokens="code"
        )
        self._verdicts: dict[str, str | None] = {}  # problem id -> its reason to drop, or None

    def sign(self, rows: list[dict]) -> Signed:
        """The signatures `keep` needs for these rows (a pure function of the rows)."""
        first: dict[str, int] = {}  # problem id -> its number in this batch
        problem_of = [first.setdefault(row["problem_id"], len(first)) for row in rows]
        texts = {}
        for row, number in zip(rows, problem_of, strict=True):
            texts.setdefault(number, row["problem"])
        return Signed(
            self.problems.sign(list(texts.values())),
            problem_of,
            self.answers.sign([solution_text(row) for row in rows]) if self.solutions else None,
        )

    def keep(self, rows: list[dict], signed: Signed | None = None) -> list[dict]:
        """The rows of this batch that copy no earlier row, in order; `dropped` counts the
        others. `signed`: what `sign(rows)` returns, if it was computed already."""
        return [rows[i] for i in self.keep_indices(rows, signed)]

    def keep_indices(self, rows: list[dict], signed: Signed | None = None) -> list[int]:
        """`keep`, as the rows' numbers in the batch."""
        return [i for i, reason in enumerate(self.decide(rows, signed)) if reason is None]

    def decide(self, rows: list[dict], signed: Signed | None = None) -> list[str | None]:
        """Each row's reason to be dropped ("exact_problem", "near_solution", ...), or None
        for a row kept; `dropped` counts the reasons. The decision rule of the export,
        whichever engine runs it (synth.export.on_dask feeds it the rows that share a key)."""
        signed = signed or self.sign(rows)
        fresh: dict[str, int] = {}  # problem id -> its first row, for problems new here
        for i, row in enumerate(rows):
            if row["problem_id"] not in self._verdicts:
                fresh.setdefault(row["problem_id"], i)
        if fresh:
            numbers = [signed.problem_of[i] for i in fresh.values()]
            found = self.problems.match_or_add(list(fresh), signed.problems[numbers])
            for problem_id, copy in zip(fresh, found, strict=True):
                self._verdicts[problem_id] = f"{copy[0]}_problem" if copy else None
        reasons = [self._verdicts[row["problem_id"]] for row in rows]
        passed = [i for i, reason in enumerate(reasons) if reason is None]
        if self.solutions and passed:
            assert signed.solutions is not None
            keys = [rows[i]["sample_id"] for i in passed]
            found = self.answers.match_or_add(keys, signed.solutions[passed])
            for i, copy in zip(passed, found, strict=True):
                reasons[i] = f"{copy[0]}_solution" if copy else None
        self.dropped.update(reason for reason in reasons if reason)
        return reasons


def dedup(
    rows: list[dict], options: DedupOptions = DedupOptions(), solutions: bool = True
) -> tuple[list[dict], Counter]:
    """The rows kept, in order, and how many were dropped for each reason (`solutions=False`:
    on problems only)."""
    batch = Dedup(options, solutions)
    return batch.keep(rows), batch.dropped
