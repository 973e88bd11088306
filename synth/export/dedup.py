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
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from synth.errors import SynthError
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


def dedup(
    rows: list[dict], options: DedupOptions = DedupOptions(), solutions: bool = True
) -> tuple[list[dict], Counter]:
    """The rows kept, in order, and how many were dropped for each reason (`solutions=False`:
    on problems only)."""
    dropped: Counter = Counter()
    problems = NearDuplicateIndex(threshold=options.problem_threshold, shingle=options.shingle)
    verdict_by_problem: dict[str, str | None] = {}
    answers = NearDuplicateIndex(
        threshold=options.solution_threshold, shingle=options.shingle, tokens="code"
    )
    kept = []
    for row in rows:
        problem_id = row["problem_id"]
        if problem_id not in verdict_by_problem:
            found = problems.match(row["problem"])
            verdict_by_problem[problem_id] = f"{found[0]}_problem" if found else None
            if not found:
                problems.add(problem_id, row["problem"])
        if reason := verdict_by_problem[problem_id]:
            dropped[reason] += 1
            continue
        if not solutions:
            kept.append(row)
            continue
        found = answers.match(solution_text(row))
        if found:
            dropped[f"{found[0]}_solution"] += 1
            continue
        answers.add(row["sample_id"], solution_text(row))
        kept.append(row)
    return kept, dropped
