"""A check shipped as JSON gives the pipeline the same result as the check run in place."""

from __future__ import annotations

import json

import pytest

from synth.code.static import LintConfig
from synth.code.verify import verify_samples
from synth.fleet.checks import decode_result, encode, run_encoded
from synth.pipeline import CheckTask, stub_checks
from synth.records import Problem, Sample, TestCase, TestSuite
from synth.sandbox.base import Limits

pytestmark = pytest.mark.sandbox

PROBLEM = Problem(
    id="p",
    slot=3,
    concept_ids=("c",),
    statement="add",
    signature="def add(a, b):",
    entry_point="add",
)
SUITE = TestSuite(
    problem_id="p",
    cases=(
        TestCase(name="t1", source="assert add(1, 2) == 3"),
        TestCase(name="t2", source="assert add(0, 0) == 0 or True"),
    ),
)
LIMITS = Limits(timeout_s=5)


def through_json(task: CheckTask, sandbox):
    message = json.loads(json.dumps(encode(task)))
    return decode_result(task.kind, json.loads(json.dumps(run_encoded(message, sandbox))))


def test_stub_checks_round_trip(sandbox):
    payload = {"suites": {3: SUITE}, "problems": {3: PROBLEM}, "limits": LIMITS, "min_tests": 1}
    shipped = through_json(CheckTask("stub_checks", payload), sandbox)
    assert shipped == stub_checks({3: SUITE}, {3: PROBLEM}, sandbox, LIMITS, 1)
    assert [c.name for c in shipped[3].cases] == ["t1"]  # the vacuous case was dropped


def test_verify_round_trip(sandbox):
    samples = [
        Sample(id=f"s{i}", problem_id="p", trajectory=i, round=1, text=code, code=code)
        for i, code in enumerate(
            ["def add(a, b):\n    return a + b\n", "def add(a, b):\n    return a\n"]
        )
    ]
    payload = {
        "samples": samples,
        "suites": {"p": SUITE},
        "limits": LIMITS,
        "lint": LintConfig(),
        "workers": 2,
    }
    shipped = through_json(CheckTask("verify", payload), sandbox)
    local = verify_samples(samples, {"p": SUITE}, sandbox, LIMITS, LintConfig(), 2)
    assert [v.passed for v, _ in shipped] == [v.passed for v, _ in local] == [True, False]
    assert [r.outcomes for _, r in shipped] == [r.outcomes for _, r in local]
