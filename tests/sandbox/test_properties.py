"""Hypothesis properties among a Python problem's tests: run with a fixed seed and bounded
examples on both backends, and the falsifying example reaches the model's feedback."""

from __future__ import annotations

import pytest

from synth.code.execute import run_tests
from synth.code.feedback import feedback_text
from synth.code.tests import split_tests
from synth.code.verify import verdict_from_run
from synth.records import Sample, TestSuite
from synth.sandbox.base import Limits

pytestmark = [pytest.mark.sandbox, pytest.mark.docker]

TESTS = """from hypothesis import given, strategies as st


@given(st.lists(st.integers()))
def test_sorted_is_ordered(xs):
    ys = my_sort(xs)
    assert all(a <= b for a, b in zip(ys, ys[1:]))


assert my_sort([3, 1]) == [1, 3]
"""
RIGHT = "def my_sort(xs):\n    return sorted(xs)\n"
WRONG = "def my_sort(xs):\n    return sorted(xs) if len(xs) < 4 else list(xs)\n"


def suite() -> TestSuite:
    setup, cases, dropped = split_tests(TESTS, "my_sort")
    assert dropped == [] and len(cases) == 2
    assert cases[0].source.startswith("@given(")  # the decorator belongs to its test
    return TestSuite(problem_id="p", setup=setup, cases=tuple(cases))


def test_a_property_passes_a_right_solution(backend):
    run = run_tests(backend, RIGHT, suite(), _limits())
    assert run.passed, run


def test_a_falsifying_example_is_reported_the_same_way_every_run(backend):
    first = run_tests(backend, WRONG, suite(), _limits())
    second = run_tests(backend, WRONG, suite(), _limits())
    prop = first.outcomes[0]
    assert not prop.passed and first.outcomes[1].passed
    assert "Falsifying example: test_sorted_is_ordered(" in prop.error
    assert prop.error == second.outcomes[0].error  # fixed seed: the same example
    verdict = verdict_from_run(_sample(WRONG), suite(), first, None)
    assert "Falsifying example: test_sorted_is_ordered(" in feedback_text(verdict)


def _limits() -> Limits:
    return Limits(timeout_s=30)


def _sample(code: str) -> Sample:
    return Sample(id="s", problem_id="p", trajectory=0, round=1, text=code, code=code)
