"""Every kind of check gives the same result run in place, shipped through JSON (what a
verify worker receives and sends back), and cut into parts and joined again."""

from __future__ import annotations

import json

import pytest

from synth.checks import (
    CHECKS,
    Check,
    CheckTools,
    check_from_json,
)
from synth.checks.code import RebuildCheck, SampleTestsCheck, StubCheck, TranslationCheck
from synth.checks.math import AnswerCheck, CodeRunCheck, MajorityCheck, ReferenceCheck
from synth.code.static import LintConfig
from synth.engines.base import user
from synth.records import MathProblem, Problem, Rejection, Sample, TestCase, TestSuite
from synth.sandbox.base import Limits
from tests.sandbox.programs import CASES

pytestmark = pytest.mark.sandbox

LIMITS = Limits(timeout_s=5)
PROBLEM = Problem(
    id="p", slot=3, concept_ids=("c",), statement="add", signature="def add(a, b):",
    entry_point="add",
)  # fmt: skip
SUITE = TestSuite(
    problem_id="p",
    cases=(
        TestCase(name="t1", source="assert add(1, 2) == 3"),
        TestCase(name="t2", source="assert add(0, 0) == 0 or True"),  # a stub passes it
    ),
)
OTHER = PROBLEM.model_copy(update={"id": "q", "slot": 4, "entry_point": "sub"})
OTHER_SUITE = TestSuite(
    problem_id="q",
    cases=(
        TestCase(name="t1", source="assert sub(3, 2) == 1"),
        TestCase(name="t2", source="assert sub(2, 2) == 0"),
    ),
)


@pytest.fixture(scope="module")
def tools(sandbox):
    with CheckTools(sandbox, workers=2) as tools:
        yield tools


def shipped(check: Check, tools: CheckTools):
    """The check as a verify worker runs it: JSON in, JSON out, read back."""
    message = json.loads(json.dumps(check.model_dump(mode="json")))
    received = check_from_json(message)
    answer = json.loads(json.dumps(received.result_json(received.run(tools))))
    return check.result_from_json(answer)


def timeless(verdicts):
    """Verdicts less their runs' durations (two runs of one program differ only there)."""
    return [
        v.model_copy(
            update={"execution": v.execution.model_copy(update={"duration_s": 0, "compile_s": 0})}
        )
        if v.execution
        else v
        for v in verdicts
    ]


def in_parts(check: Check, tools: CheckTools):
    parts = check.split()
    return len(parts), check.join([shipped(part, tools) for part in parts])


def sample(index: int, code: str, problem_id: str = "p", **extra) -> Sample:
    fields = {"text": code, "code": code or None, **extra}
    return Sample(id=f"s{index}", problem_id=problem_id, trajectory=index, round=1, **fields)


def test_every_kind_is_known_by_name():
    assert set(CHECKS) == {
        "stub", "sample_tests", "translation", "rebuild", "reference", "code_runs",
        "majority", "answers",
    }  # fmt: skip
    with pytest.raises(ValueError, match="unknown check kind 'nope'"):
        check_from_json({"kind": "nope"})


def test_a_stub_check_drops_what_a_stub_passes_here_shipped_and_in_parts(tools):
    check = StubCheck(
        problems={3: PROBLEM, 4: OTHER}, suites={3: SUITE, 4: OTHER_SUITE}, limits=LIMITS,
        min_tests=1,
    )  # fmt: skip
    here = check.run(tools)
    assert [c.name for c in here[3].cases] == ["t1"]  # the vacuous case was dropped
    assert shipped(check, tools) == here
    assert in_parts(check, tools) == (2, here)
    too_strict = check.model_copy(update={"min_tests": 2})
    assert isinstance(shipped(too_strict, tools)[3], Rejection)


def test_sample_tests_travel_with_their_runs_and_leave_the_prompts_behind(tools):
    codes = [
        ("p", "def add(a, b):\n    return a + b\n"),
        ("q", "def sub(a, b):\n    return a + b\n"),
        ("q", "def sub(a, b):\n    return a - b\n"),
        ("p", "def add(a, b):\n    return a\n"),
    ]
    samples = [
        sample(i, code, pid, prompt=(user("a long prompt " * 50),))
        for i, (pid, code) in enumerate(codes)
    ]
    check = SampleTestsCheck(
        samples=samples, suites={"p": SUITE, "q": OTHER_SUITE}, limits=LIMITS,
        lint=LintConfig(), workers=1,
    )  # fmt: skip
    assert all(s.prompt == () for s in check.samples)  # export's, never shipped
    here = check.run(tools)
    assert [v.passed for v, _ in here] == [True, False, True, False]
    away = shipped(check, tools)
    assert timeless(v for v, _ in away) == timeless(v for v, _ in here)
    assert [r.outcomes for _, r in away] == [r.outcomes for _, r in here]
    # the per-case statuses (passed, failed, exited early, tampering, wrong type) travel too
    assert [r.statuses for _, r in away] == [r.statuses for _, r in here] != [()] * 4
    parts, joined = in_parts(check, tools)
    assert parts == 4  # one sample each: as wide as the verify worker's one thread
    assert [v.id for v, _ in joined] == [v.id for v, _ in here]


def test_a_rebuild_is_judged_on_the_source_tests(tools):
    right, wrong = "def add(a, b):\n    return a + b\n", "def add(a, b):\n    return 0\n"
    check = RebuildCheck(
        probes=[sample(0, right), sample(1, wrong)], suites=[SUITE, SUITE], limits=LIMITS,
        workers=2,
    )  # fmt: skip
    here = check.run(tools)
    assert [v.reason for v in here] == ["rebuild_passes", "rebuild_fails"]
    assert timeless(shipped(check, tools)) == timeless(here)
    one_wide = check.model_copy(update={"workers": 1})
    parts, joined = in_parts(one_wide, tools)
    assert parts == 2  # a probe each: as wide as the verify worker's one thread
    assert timeless(joined) == timeless(here)


def test_reference_programs_give_an_answer_or_a_reason(tools):
    def math(slot: int, program: str) -> MathProblem:
        return MathProblem(
            id=f"m{slot}", slot=slot, concept_ids=(), statement="?", reference_program=program
        )

    check = ReferenceCheck(
        problems={
            0: math(0, "from sympy import Rational\nprint(Rational(1, 2))\n"),
            1: math(1, "raise SystemExit(3)\n"),
            2: math(2, "import random\nprint(random.random())\n"),
        },
        limits=LIMITS,
        answer_timeout_s=5,
    )
    here = check.run(tools)
    assert here[0] == "1/2"
    assert here[1].reason == "reference_failed"
    assert here[2].reason == "reference_nondeterministic"

    def outcome(answers):  # the random program prints other numbers every time
        return {slot: getattr(answer, "reason", answer) for slot, answer in answers.items()}

    assert outcome(shipped(check, tools)) == outcome(here)
    parts, joined = in_parts(check, tools)
    assert (parts, outcome(joined)) == (3, outcome(here))


def test_code_runs_show_the_output_or_the_error(tools):
    check = CodeRunCheck(codes=["print(6 * 7)", "1 / 0"], limits=LIMITS)
    here = check.run(tools)
    assert here[0] == "42\n"
    assert "ZeroDivisionError" in here[1] and "[failed, exit code 1]" in here[1]
    assert shipped(check, tools) == here
    assert in_parts(check, tools) == (2, here)


def test_the_majority_is_an_answer_enough_samples_share(tools):
    check = MajorityCheck(
        answers={0: ["1/2", "0.5", "3"], 1: ["1", "2", "3"], 2: [None, None]},
        share=0.5,
        answer_timeout_s=5,
    )
    assert check.run(tools) == shipped(check, tools) == {0: "1/2", 1: None, 2: None}


def test_answers_are_judged_against_the_ground_truth(tools):
    right = sample(0, "", text="So $x = \\frac{1}{2}$.\n\n\\boxed{0.5}", answer="0.5")
    wrong = sample(1, "", text="\\boxed{3}", answer="3")
    none = sample(2, "", text="I do not know.")
    check = AnswerCheck(
        samples=[right, wrong, none], golds=["1/2"] * 3, drop_wrong_steps=False,
        answer_timeout_s=5,
    )  # fmt: skip
    here = check.run(tools)
    assert [(v.passed, v.reason) for v in here] == [
        (True, "ok"), (False, "wrong_answer"), (False, "no_answer"),
    ]  # fmt: skip
    assert shipped(check, tools) == here
    assert in_parts(check, tools) == (1, here)


@pytest.mark.docker
def test_translations_compile_pass_and_fail_the_stub(docker_sandbox):
    case = CASES["javascript"]
    good = sample(0, case.right, tests=case.tests)
    vacuous = sample(1, case.right, tests="const assert = require('assert');\nassert(true);\n")
    check = TranslationCheck(
        samples=[good, vacuous], languages=["javascript"] * 2, entry_points=["add"] * 2,
        limits=LIMITS, workers=1,
    )  # fmt: skip
    with CheckTools(docker_sandbox) as tools:
        here = check.run(tools)
        assert [(v.passed, v.reason) for v in here][1] == (False, "tests_vacuous")
        assert here[0].passed, here[0].detail
        parts, joined = in_parts(check, tools)
        assert (parts, timeless(joined)) == (2, timeless(here))
