"""Counts made a stretch of the run at a time and added up in run order are the counts of
one pass."""

from __future__ import annotations

import random

import pytest

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
