"""Answer checks per second per core: synth's checker against math-verify called directly.

Workloads:
- typical: answers as models box them on GSM8K/MATH-style problems (integers, fractions vs
  decimals, roots, percentages, simple expressions, tuples, sets, intervals), half right;
- table: every pair of tests/math/equivalence_cases.yaml, hard ones included.

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
import statistics
import time
from pathlib import Path

import yaml

TYPICAL = [
    ("42", "42"),
    ("42", "41"),
    ("\\frac{1}{2}", "0.5"),
    ("\\frac{3}{4}", "0.7"),
    ("\\sqrt{2}", "\\frac{2}{\\sqrt{2}}"),
    ("2\\sqrt{3}", "\\sqrt{11}"),
    ("25\\%", "25"),
    ("18", "18.0"),
    ("x^2+2x+1", "(x+1)^2"),
    ("x^2-1", "(x-1)^2"),
    ("(1, 2)", "(1,2)"),
    ("(3, 4)", "(4, 3)"),
    ("\\{1, 2\\}", "\\{2, 1\\}"),
    ("[0, 1)", "[0,1]"),
    ("\\frac{\\pi}{4}", "\\pi/4"),
    ("12", "12 dollars"),
    ("-3", "-3"),
    ("1000", "1,000"),
    ("\\dfrac{7}{3}", "2\\frac{1}{3}"),
    ("6", "7"),
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=10, help="passes over each workload")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    table = yaml.safe_load(
        (Path(__file__).parent.parent / "tests/math/equivalence_cases.yaml").read_text()
    )
    workloads = {"typical": TYPICAL, "table": [(c["gold"], c["pred"]) for c in table]}

    from synth.math.checker import AnswerChecker

    results: dict[tuple[str, str], list[float]] = {}
    with AnswerChecker(workers=1, timeout_s=5.0) as checker:
        checker.equal("1", "1")  # the worker is up and warm
        for repeat in range(args.repeats):
            for name, pairs in workloads.items():
                work = pairs * args.rounds
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
    for name in workloads:
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
