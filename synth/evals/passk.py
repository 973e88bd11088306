"""The unbiased pass@k estimator of Chen et al. 2021 ("Evaluating Large Language Models
Trained on Code", section 2.1), and its mean over problems.

With n samples of a problem of which c pass, pass@k = 1 - C(n-c, k) / C(n, k): the chance
that k samples drawn from the n without replacement hold at least one that passes. It is
computed as the paper's numerically stable product, 1 - prod_{i=n-c+1}^{n} (1 - k/i),
instead of the binomials, which overflow floats for n in the hundreds.
"""

from __future__ import annotations

from collections.abc import Iterable


def pass_at_k(n: int, c: int, k: int) -> float:
    """pass@k of one problem with `c` of `n` samples passing (1 <= k <= n)."""
    if not 0 <= c <= n:
        raise ValueError(f"passed count c={c} must lie in 0..n={n}")
    if not 1 <= k <= n:
        raise ValueError(f"k={k} must lie in 1..n={n}: pass@k needs at least k samples")
    if n - c < k:  # every draw of k holds a passing sample
        return 1.0
    product = 1.0
    for i in range(n - c + 1, n + 1):
        product *= 1.0 - k / i
    return 1.0 - product


def mean_pass_at_k(counts: Iterable[tuple[int, int]], k: int) -> float:
    """The benchmark's pass@k: the mean over problems of pass@k, from (n, c) per problem."""
    values = [pass_at_k(n, c, k) for n, c in counts]
    if not values:
        raise ValueError("pass@k of no problems")
    return sum(values) / len(values)
