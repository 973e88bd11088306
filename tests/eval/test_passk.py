"""pass@k against hand computations of 1 - C(n-c, k) / C(n, k)."""

from __future__ import annotations

from math import comb

import pytest

from synth.evals.passk import mean_pass_at_k, pass_at_k


@pytest.mark.parametrize(
    ("n", "c", "k", "expected"),
    [
        (5, 2, 1, 0.4),  # c / n
        (5, 2, 2, 0.7),  # 1 - C(3,2)/C(5,2) = 1 - 3/10
        (5, 0, 1, 0.0),
        (5, 0, 5, 0.0),
        (5, 4, 2, 1.0),  # n - c = 1 < k: every pair holds a passing sample
        (5, 5, 1, 1.0),
        (1, 1, 1, 1.0),
        (10, 3, 5, 1 - comb(7, 5) / comb(10, 5)),
    ],
)
def test_pass_at_k_is_one_minus_the_chance_that_k_draws_all_fail(n, c, k, expected):
    assert pass_at_k(n, c, k) == pytest.approx(expected)


def test_the_product_form_stays_exact_where_binomials_get_huge():
    n, c, k = 200, 13, 100
    assert pass_at_k(n, c, k) == pytest.approx(1 - comb(n - c, k) / comb(n, k), rel=1e-12)


@pytest.mark.parametrize(("n", "c", "k"), [(5, 6, 1), (5, -1, 1), (5, 2, 0), (5, 2, 6)])
def test_counts_outside_their_range_are_refused(n, c, k):
    with pytest.raises(ValueError):
        pass_at_k(n, c, k)


def test_the_benchmark_score_is_the_mean_over_problems():
    counts = [(5, 2), (5, 0), (5, 5), (5, 4)]
    assert mean_pass_at_k(counts, 1) == pytest.approx((0.4 + 0 + 1 + 0.8) / 4)
    assert mean_pass_at_k(counts, 2) == pytest.approx((0.7 + 0 + 1 + 1) / 4)
    with pytest.raises(ValueError):
        mean_pass_at_k([], 1)
