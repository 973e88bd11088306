"""Guards against bad generated tests, and the agreement rule."""

import pytest

from synth.code.execute import TestRun
from synth.code.tests import apply_agreement_rule, drop_vacuous, parse_tests, stub_solution
from synth.engines.base import Completion
from synth.records import ExecResult, Problem, Rejection, TestOutcome, TestSuite
from synth.sandbox.base import Limits

PROBLEM = Problem(
    id="p",
    slot=0,
    concept_ids=("c",),
    statement="Square a number.",
    signature="def square(x: int) -> int:",
    entry_point="square",
)


def suite_of(text: str) -> TestSuite | Rejection:
    return parse_tests(Completion(text=text, finish_reason="stop"), PROBLEM)


def test_asserts_and_test_functions_are_cases_the_rest_is_setup():
    suite = suite_of(
        "```python\nimport math\nHELPER = 3\nassert square(2) == 4\n"
        "def test_negative():\n    assert square(-3) == 9\nassert math.pi > 3\n```"
    )
    assert isinstance(suite, TestSuite)
    assert suite.setup == "import math\nHELPER = 3"
    assert [c.name for c in suite.cases] == ["t1", "t2"]
    assert [(d.test.name, d.reason) for d in suite.dropped] == [("t3", "no_entry_point")]


def test_tests_may_not_redefine_the_solution():
    suite = suite_of("```python\ndef square(x):\n    return 0\nassert square(2) == 4\n```")
    assert "def square" not in suite.setup


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("no code here", "tests_unparseable"),
        ("```python\nassert square(2 == 4\n```", "tests_unparseable"),
        ("```python\nx = square(2)\n```", "tests_unparseable"),
    ],
)
def test_unusable_tests_are_rejected(text, reason):
    assert suite_of(text).reason == reason


def test_truncated_tests_are_rejected():
    rejected = parse_tests(
        Completion(text="```python\nassert square(2) == 4", finish_reason="length"), PROBLEM
    )
    assert rejected.reason == "tests_truncated"


def test_truncated_tests_keep_their_finished_cases():
    text = "Tests:\n```python\nassert square(2) == 4\nassert square(3) == 9\nassert square(4) == 1"
    suite = parse_tests(Completion(text=text, finish_reason="length"), PROBLEM)
    assert isinstance(suite, TestSuite) and suite.truncated and suite.problem_id == "p"
    assert [c.source for c in suite.cases] == ["assert square(2) == 4", "assert square(3) == 9"]
    assert not suite_of(text + "6\n```").truncated


def test_stub_returns_none_for_any_call():
    namespace: dict = {}
    exec(stub_solution(PROBLEM), namespace)
    assert namespace["square"](1, 2, k=3) is None


@pytest.mark.sandbox
def test_vacuous_cases_are_dropped_and_too_few_left_is_a_rejection(sandbox):
    suite = suite_of(
        "```python\nassert square(2) == 4\nassert square(3) == 9\nassert square(0) is None or True\n"
        "assert not square(5) or square(5) == 25\n```"
    )
    kept = drop_vacuous(suite, PROBLEM, sandbox, Limits(timeout_s=5), min_tests=2)
    assert [c.name for c in kept.cases] == ["t1", "t2"]
    assert {(d.test.name, d.reason) for d in kept.dropped} == {("t3", "vacuous"), ("t4", "vacuous")}
    rejected = drop_vacuous(suite, PROBLEM, sandbox, Limits(timeout_s=5), min_tests=3)
    assert rejected.reason == "tests_vacuous" and "t3 (vacuous)" in rejected.detail


def _run(passed: dict[str, bool], reported: bool = True) -> TestRun:
    execution = ExecResult(status="ok", exit_code=0, stdout="", stderr="", duration_s=0.01)
    outcomes = tuple(TestOutcome(name=n, source=n, passed=p) for n, p in passed.items())
    return TestRun(execution=execution, outcomes=outcomes, reported=reported)


def test_agreement_rule_drops_what_no_sample_passes():
    suite = suite_of(
        "```python\n" + "\n".join(f"assert square({i}) == {i * i}" for i in range(4)) + "\n```"
    )
    runs = [
        _run({"t1": True, "t2": False, "t3": True, "t4": False}),
        _run({"t1": True, "t2": True, "t3": False, "t4": False}),
    ]
    kept = apply_agreement_rule(suite, runs, min_tests=2)
    assert [c.name for c in kept.cases] == ["t1", "t2", "t3"]
    assert [d.test.name for d in kept.dropped if d.reason == "unconfirmed"] == ["t4"]
    assert "3 kept, 1 dropped over 2 samples" in kept.rule
    assert apply_agreement_rule(suite, runs, min_tests=4).reason == "tests_unconfirmed"


def test_agreement_rule_is_not_applied_on_too_little_evidence():
    suite = suite_of("```python\nassert square(1) == 1\nassert square(2) == 4\n```")
    one = apply_agreement_rule(suite, [_run({"t1": True, "t2": False})], min_tests=1)
    assert len(one.cases) == 2 and "not applied" in one.rule
    none_pass = apply_agreement_rule(suite, [_run({"t1": False, "t2": False})] * 2, min_tests=1)
    assert len(none_pass.cases) == 2 and "no sample passed" in none_pass.rule
