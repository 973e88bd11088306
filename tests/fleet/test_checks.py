"""A check shipped as JSON, whole or split into one message per problem, gives the pipeline
the same result as the check run in place."""

from __future__ import annotations

import json

import pytest

from synth.code.static import LintConfig
from synth.code.verify import verify_samples
from synth.fleet.checks import decode_result, encode, join, run_encoded, split
from synth.pipelines.code import stub_checks
from synth.pipelines.scheduler import CheckTask
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
    # the per-case statuses (passed, failed, exited early, tampering, wrong type) travel too
    assert [r.statuses for _, r in shipped] == [r.statuses for _, r in local] != [(), ()]


def shipped_in_parts(task: CheckTask, sandbox):
    parts = split(task)
    return len(parts), join(task.kind, [through_json(part, sandbox) for part in parts])


OTHER = PROBLEM.model_copy(update={"id": "q", "slot": 4, "entry_point": "sub"})
OTHER_SUITE = TestSuite(
    problem_id="q",
    cases=(
        TestCase(name="t1", source="assert sub(3, 2) == 1"),
        TestCase(name="t2", source="assert sub(2, 2) == 0"),
    ),
)


def test_a_split_verify_joins_to_the_whole_result_in_sample_order(sandbox):
    codes = [
        ("p", "def add(a, b):\n    return a + b\n"),
        ("q", "def sub(a, b):\n    return a + b\n"),
        ("q", "def sub(a, b):\n    return a - b\n"),
        ("p", "def add(a, b):\n    return a\n"),
    ]
    samples = [
        Sample(id=f"s{i}", problem_id=pid, trajectory=i, round=1, text=code, code=code)
        for i, (pid, code) in enumerate(codes)
    ]
    suites = {"p": SUITE, "q": OTHER_SUITE}
    payload = {
        "samples": samples,
        "suites": suites,
        "limits": LIMITS,
        "lint": LintConfig(),
        "workers": 1,
    }
    parts, shipped = shipped_in_parts(CheckTask("verify", payload), sandbox)
    assert parts == 4  # one sample each: as wide as the verify worker's one thread
    local = verify_samples(samples, suites, sandbox, LIMITS, LintConfig(), 1)
    assert (
        [v.passed for v, _ in shipped]
        == [v.passed for v, _ in local]
        == [
            True,
            False,
            True,
            False,
        ]
    )
    assert [v.id for v, _ in shipped] == [v.id for v, _ in local]


def test_a_split_stub_check_joins_to_every_slot(sandbox):
    suites, problems = {3: SUITE, 4: OTHER_SUITE}, {3: PROBLEM, 4: OTHER}
    payload = {"suites": suites, "problems": problems, "limits": LIMITS, "min_tests": 1}
    parts, shipped = shipped_in_parts(CheckTask("stub_checks", payload), sandbox)
    assert parts == 2
    assert shipped == stub_checks(suites, problems, sandbox, LIMITS, 1)
