"""Running solutions against tests in the sandbox: one outcome per test, evidence kept."""

import pytest

from synth.code.execute import run_tests
from synth.code.feedback import feedback_text
from synth.code.verify import verify_samples
from synth.records import Sample, TestCase, TestSuite
from synth.sandbox.base import Limits

pytestmark = pytest.mark.sandbox

SUITE = TestSuite(
    problem_id="p",
    setup="import math",
    cases=(
        TestCase(name="t1", source="assert double(2) == 4"),
        TestCase(name="t2", source="assert double(-1) == -2, 'negatives'"),
        TestCase(name="t3", source="def test_float():\n    assert math.isclose(double(0.1), 0.2)"),
    ),
)
LIMITS = Limits(timeout_s=5)


def test_passing_solution(sandbox):
    run = run_tests(sandbox, "def double(x):\n    return 2 * x\n", SUITE, LIMITS)
    assert run.reported and run.passed
    assert [o.passed for o in run.outcomes] == [True, True, True]


def test_each_failure_is_reported_with_its_message(sandbox):
    run = run_tests(sandbox, "def double(x):\n    return abs(2 * x)\n", SUITE, LIMITS)
    assert [o.passed for o in run.outcomes] == [True, False, True]
    assert "AssertionError: negatives" in run.outcomes[1].error


def test_exception_in_solution_quotes_the_traceback(sandbox):
    run = run_tests(sandbox, "def double(x):\n    return x / 0\n", SUITE, LIMITS)
    assert not any(o.passed for o in run.outcomes)
    assert "ZeroDivisionError" in run.outcomes[0].error and "solution.py" in run.outcomes[0].error
    assert "harness.py" not in run.outcomes[0].error


def test_a_hanging_test_is_stopped_alone(sandbox):
    code = "def double(x):\n    while x == 2:\n        pass\n    return 2 * x\n"
    run = run_tests(sandbox, code, SUITE, Limits(timeout_s=3))
    assert run.reported
    assert (
        run.outcomes[0].error == "timed out" and run.outcomes[1].passed and run.outcomes[2].passed
    )


def test_solution_output_cannot_forge_a_report(sandbox):
    code = (
        'print(\'{"results": [{"name": "t1", "passed": true, "error": ""}]}\')\n'
        "import sys\nsys.stdout.write('x' * 10)\n"
        "def double(x):\n    return 0\n"
    )
    run = run_tests(sandbox, code, SUITE, LIMITS)
    assert not any(o.passed for o in run.outcomes)
    assert '"results"' in run.execution.stdout  # kept as evidence


def test_exiting_early_fails_every_test_with_the_exit_code(sandbox):
    run = run_tests(sandbox, "import os\nos._exit(3)\n", SUITE, LIMITS)
    assert not run.reported and run.execution.exit_code == 3
    assert all("exited with code 3" in o.error for o in run.outcomes)
    caught = run_tests(sandbox, "import sys\nsys.exit(0)\n", SUITE, LIMITS)
    assert caught.reported and not any(o.passed for o in caught.outcomes)  # SystemExit is caught


def test_verify_samples_stops_at_the_first_failing_stage_and_feedback_says_why(sandbox):
    def sample(i: int, text: str, code: str | None, finish: str = "stop") -> Sample:
        return Sample(
            id=f"s{i}",
            problem_id="p",
            trajectory=i,
            round=1,
            text=text,
            code=code,
            finish_reason=finish,
        )

    samples = [
        sample(0, "", "def double(x):\n    return 2 * x\n"),
        sample(1, "", None, finish="length"),
        sample(2, "prose", None),
        sample(3, "", "def double(x)\n    return 2 * x\n"),
        sample(4, "", "def double(x):\n    return 2 * y\n"),
        sample(5, "", "def double(x):\n    return x\n"),
    ]
    results = verify_samples(samples, {"p": SUITE}, sandbox, LIMITS)
    verdicts = [v for v, _ in results]
    assert [(v.stage, v.reason) for v in verdicts] == [
        ("ok", "passed"),
        ("extract", "truncated"),
        ("extract", "no_code"),
        ("parse", "syntax"),
        ("lint", "lint"),
        ("tests", "tests_failed"),
    ]
    assert verdicts[0].passed and not any(v.passed for v in verdicts[1:])
    assert "cut off" in feedback_text(verdicts[1])
    assert "no Python code block" in feedback_text(verdicts[2])
    assert "SyntaxError" in feedback_text(verdicts[3])
    assert "F821" in feedback_text(verdicts[4]) and "line 2" in feedback_text(verdicts[4])
    text = feedback_text(verdicts[5])
    assert (
        text.startswith("3 of 3 tests fail.")
        and "assert double(2) == 4" in text
        and "exit code: 0" in text
    )
