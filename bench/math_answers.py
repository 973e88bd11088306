"""Answer checks per second per core: synth's checker against math-verify called directly.

Workloads:
- typical: fresh answers in the mix of GSM8K and MATH (see `typical`), half right;
- table: every pair of tests/math/equivalence_cases.yaml once, hard ones included (the
  first repeat parses them cold, later repeats find them in the parsers' caches).

Sides:
- checker (1 worker): `AnswerChecker(workers=1)`, what the pipeline uses: time- and
  memory-bounded worker processes, synth's decisions on top of math-verify;
- direct: math-verify's parse + verify in this process, no time bound (the baseline: what
  the bound and synth's additions cost).

    .venv/bin/python bench/math_answers.py --repeats 3

Prints one JSON line per workload and side per repeat, then the medians.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import statistics
import time
from pathlib import Path

import yaml


def typical(count: int, seed: int) -> list[tuple[str, str]]:
    """Unique (gold, pred) pairs in the mix of GSM8K and MATH answers: 7 in 10 are plain
    numbers (integers, decimals, fractions, percentages), 3 in 10 need LaTeX (roots, pi,
    expressions, tuples, sets, intervals); about half the predictions are right."""
    rng = random.Random(seed)
    pairs = []
    for i in range(count):
        a, b = rng.randint(2, 9999), rng.randint(2, 999)
        right = rng.random() < 0.5
        c = a if right else a + rng.randint(1, 9)
        kind = i % 10
        if kind < 4:
            pairs.append((str(a), str(c)))
        elif kind == 4:
            pairs.append((f"\\frac{{{a}}}{{{b}}}", f"{c / b:.6f}"))
        elif kind == 5:
            pairs.append((f"{a % 100}\\%", str(c % 100)))
        elif kind == 6:
            pairs.append((f"\\dfrac{{{a}}}{{{b}}}", f"{c}/{b}"))
        elif kind == 7:
            pairs.append((f"{b}\\sqrt{{{a % 97 + 2}}}", f"\\sqrt{{{b * b * (c % 97 + 2)}}}"))
        elif kind == 8:
            pairs.append((f"{a}x^2 + {b}", f"{b} + {c}x^2"))
        else:
            pairs.append((f"({a}, {b})", f"({c},{b})"))
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--count", type=int, default=500, help="typical pairs per repeat")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    table = yaml.safe_load(
        (Path(__file__).parent.parent / "tests/math/equivalence_cases.yaml").read_text()
    )
    table_pairs = [(c["gold"], c["pred"]) for c in table]

    from synth.math.checker import AnswerChecker

    results: dict[tuple[str, str], list[float]] = {}
    with AnswerChecker(workers=1, timeout_s=5.0) as checker:
        checker.equal("1", "1")  # the worker is up and warm
        for repeat in range(args.repeats):
            # fresh answers each repeat: parsers cache, and real answers rarely repeat
            workloads = {"typical": typical(args.count, seed=repeat), "table": table_pairs}
            for name, work in workloads.items():
                for side, run in (
                    ("checker", lambda w=work: checker.equal_many(w)),
                    ("direct", lambda w=work: [_direct(g, p) for g, p in w]),
                ):
                    started = time.perf_counter()
                    run()
                    rate = len(work) / (time.perf_counter() - started)
                    results.setdefault((name, side), []).append(rate)
                    print(
                        json.dumps(
                            {
                                "repeat": repeat,
                                "workload": name,
                                "side": side,
                                "checks_per_s": round(rate, 1),
                            }
                        )
                    )
    for name in ("typical", "table"):
        checker_rate = statistics.median(results[name, "checker"])
        direct_rate = statistics.median(results[name, "direct"])
        print(
            json.dumps(
                {
                    "median": name,
                    "checker_per_s": round(checker_rate, 1),
                    "direct_per_s": round(direct_rate, 1),
                    "ratio": round(checker_rate / direct_rate, 2),
                }
            )
        )


def _direct(gold: str, pred: str) -> bool:
    from math_verify import parse, verify

    return verify(
        parse(f"${gold}$", parsing_timeout=None),
        parse(f"${pred}$", parsing_timeout=None),
        timeout_seconds=None,
    )


if __name__ == "__main__":
    main()
