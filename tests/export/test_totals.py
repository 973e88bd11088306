"""Counts made a stretch of the run at a time and added up in run order are the counts of
one pass (what the Dask export relies on), and the dedup decided over the texts that share
a key is the dedup decided over all of them."""

from __future__ import annotations

import random

import pytest

from synth.export import ExportOptions, parts
from synth.export.dedup import Dedup, DedupOptions
from synth.export.split import Split


def _stretches(items: list, cuts: list[int]) -> list[list]:
    edges = [0, *cuts, len(items)]
    return [items[a:b] for a, b in zip(edges, edges[1:], strict=False)]


@pytest.mark.parametrize("share", [0.3, 0.001, 1.0])  # ordinary, validation empty, train empty
@pytest.mark.parametrize("cuts", [[], [1], [40, 41, 90], list(range(5, 120, 7))])
def test_splits_of_stretches_absorbed_in_order_are_one_split(share, cuts):
    rng = random.Random(len(cuts))
    problems = [f"p{rng.randrange(50)}" for _ in range(200)]  # ids seen again, far apart
    whole = Split(share)
    sides = [whole.side(p) for p in problems]
    stretches = _stretches(problems, cuts)
    seen_in = [set(stretch) for stretch in stretches]
    in_several = {p for p in problems if sum(p in seen for seen in seen_in) > 1}
    total, parted = Split(share), []
    for stretch in stretches:
        split = Split(share)
        parted += [split.side(p) for p in stretch]
        split.keep_only(in_several)
        total.absorb(split)
    assert parted == sides
    assert (total.rows, total.problems) == (whole.rows, whole.problems)
    assert total.finish() == whole.finish()


def _texts(count: int) -> list[str]:
    """Distinct sentences, with exact copies (case and spacing) and near copies (a word)."""
    rng = random.Random(3)
    words = [f"w{i}" for i in range(400)]
    texts = []
    for i in range(count):
        if texts and rng.random() < 0.15:
            texts.append(rng.choice(texts).upper() + "  ")
        elif texts and rng.random() < 0.2:
            base = rng.choice(texts).split()
            base[rng.randrange(len(base))] = f"x{i}"
            texts.append(" ".join(base))
        else:
            texts.append(" ".join(rng.choice(words) for _ in range(rng.randrange(8, 40))))
    return texts


@pytest.mark.parametrize("threshold", [0.5, 0.8])
def test_the_dedup_of_the_rows_sharing_a_key_is_the_dedup_of_all(threshold):
    """A text that shares no exact or band key with another is kept, and its absence
    changes no other decision: the Dask export's steps 2 and 3 (synth.export.parts),
    without Dask, decide what the local engine decides."""
    texts = _texts(600)
    rows = [
        {
            "problem_id": f"p{i // 2}",
            "sample_id": f"s{i}",
            "problem": texts[i // 2],
            "messages": [{"role": "assistant", "content": texts[-1 - i]}],
        }
        for i in range(len(texts))
    ]
    options = ExportOptions(dedup=DedupOptions(threshold, threshold))
    whole = Dedup(options.dedup)
    signed = whole.sign(rows)
    reasons = whole.decide(rows, signed)
    assert {"exact_problem", "near_problem", "exact_solution", "near_solution"} <= set(
        whole.dropped
    )

    problem_ids = [row["problem_id"] for row in rows]
    part = parts.Part(7, "", [], [], list(range(len(rows))), problem_ids, signed, [])
    keys = parts.shared(parts.key_table(part, options), ["table", "key"])
    of_problems = keys["table"].isin([parts.PROBLEM_EXACT, parts.PROBLEM_BANDS])
    problems, solutions = (
        {parts.unseq(n)[1] for n in keys[f]["seq"]} for f in (of_problems, ~of_problems)
    )
    fed = parts.feed(part, problems, solutions, copies=set(), repeated=set())
    assert 0 < len(fed.rows) < len(rows)
    found = Dedup(options.dedup).decide(fed.rows, fed.signed)
    pairs = [(parts.unseq(row["sample_id"])[1], r) for row, r in zip(fed.rows, found, strict=True)]
    of_problem = {problem_ids[i]: r for i, r in pairs if r and r.endswith("_problem")}
    of_row = {i: r for i, r in pairs if r and r.endswith("_solution")}
    decided = [of_problem.get(p) or of_row.get(i) for i, p in enumerate(problem_ids)]
    assert decided == reasons
