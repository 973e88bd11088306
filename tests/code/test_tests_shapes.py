"""Test cases read from the shapes real instruct models write their tests in.

The completions are written the way a small instruct model (Qwen2.5-Coder-0.5B) writes them:
prose around a fence, `import unittest`, the solution pasted above the tests, a `__main__`
block, repetition loops cut at max_tokens.
"""

from __future__ import annotations

import ast

import pytest

from synth.code.execute import run_tests
from synth.code.tests import read_tests, stub_solution
from synth.records import Problem, Rejection, TestSuite
from synth.sandbox.base import Limits

SQUARE = "def square(x):\n    return x * x\n"
PROBLEM = Problem(
    id="p",
    slot=0,
    concept_ids=("c",),
    statement="Square a number.",
    signature="def square(x: float) -> float:",
    entry_point="square",
)


def read(text: str, finish_reason: str = "stop") -> TestSuite:
    suite = read_tests(text, finish_reason, "square", "p")
    assert isinstance(suite, TestSuite), suite
    return suite


def dropped(suite: TestSuite) -> list[tuple[str, str]]:
    return [(d.test.name, d.reason) for d in suite.dropped]


def run_all(suite: TestSuite, code: str, namespace: dict | None = None) -> dict[str, bool]:
    """Each case the way the harness runs it (setup once, then each case: exec, call a lone
    `def test*`), without a sandbox: which pass."""
    namespace = {"__name__": "solution"} if namespace is None else namespace
    exec(code, namespace)
    exec(suite.setup, namespace)
    results = {}
    for case in suite.cases:
        body = ast.parse(case.source).body
        try:
            exec(case.source, namespace)
            if len(body) == 1 and isinstance(body[0], ast.FunctionDef):
                namespace[body[0].name]()
            results[case.name] = True
        except Exception:  # noqa: BLE001 - a failing case
            results[case.name] = False
    return results


UNITTEST = """Here are the unit tests for the `square` function:

```python
import unittest

def square(x):
    return x * x

class TestSquare(unittest.TestCase):
    def test_positive(self):
        self.assertEqual(square(2), 4)
        self.assertEqual(square(3), 9, "three squared")

    def test_zero_and_negative(self):
        self.assertTrue(square(0) == 0)
        self.assertFalse(square(-2) < 0)
        self.assertIn(square(-1), [1])

    def test_float(self):
        self.assertAlmostEqual(square(0.1), 0.01)
        self.assertAlmostEqual(square(1.5), 2.25, places=3)

    def test_not_none(self):
        self.assertIsNotNone(square(5))

    def test_wrong_type(self):
        with self.assertRaises(TypeError):
            square("a")
        self.assertRaises(TypeError, square, None)

if __name__ == '__main__':
    unittest.main()
```

These tests cover positive numbers, zero, negative numbers and floats."""


def test_unittest_class_each_method_is_a_case_and_plain_asserts_a_case_each():
    """A method rewritten into plain asserts is a case per assert when nothing else is in it
    (one wrong expectation then costs only itself); any other method is one `def test*`."""
    suite = read(UNITTEST)
    assert [c.name for c in suite.cases] == [f"t{i}" for i in range(1, 10)]
    for case in suite.cases:
        assert "self" not in case.source and "unittest.main" not in case.source
    assert [c.source for c in suite.cases[:3]] == [
        "assert square(2) == 4",
        "assert square(3) == 9, 'three squared'",
        "assert square(0) == 0",
    ]
    assert suite.cases[5].source == "assert round(abs(square(0.1) - 0.01), 7) == 0"
    for case in suite.cases[7:]:  # one assert, or a try block: the method whole
        (function,) = ast.parse(case.source).body  # one `def test*`: the harness calls it
        assert isinstance(function, ast.FunctionDef) and function.name.startswith("test_")
    assert suite.cases[7].source == "def test_not_none():\n    assert square(5) is not None"
    assert "except TypeError:" in suite.cases[8].source
    assert "unittest.main" not in suite.setup and "def square" not in suite.setup
    assert dropped(suite) == [("solution", "solution_in_tests")]
    assert suite.dropped[0].test.source == SQUARE.strip()


def test_a_test_function_of_plain_asserts_is_a_case_per_assert():
    text = (
        '```python\ndef test_square():\n    """Squares."""\n    assert square(2) == 4\n'
        "    assert square(3) == 10\n\n"
        "def test_setup():\n    x = 3\n    assert square(x) == 9\n    assert square(-x) == 9\n\n"
        "def test_walrus():\n    assert (y := square(2)) == 4\n    assert y == 4\n```"
    )
    suite = read(text)
    assert [c.source for c in suite.cases[:2]] == [
        "assert square(2) == 4",
        "assert square(3) == 10",
    ]
    # a local, or a name bound by `:=`: the asserts depend on each other, the function is one case
    assert [c.source.splitlines()[0] for c in suite.cases[2:]] == [
        "def test_setup():",
        "def test_walrus():",
    ]
    assert run_all(suite, SQUARE) == {"t1": True, "t2": False, "t3": True, "t4": True}


def test_unittest_cases_pass_a_right_solution_and_fail_the_stub_one_by_one():
    suite = read(UNITTEST)
    assert set(run_all(suite, SQUARE).values()) == {True}
    assert run_all(suite, stub_solution(PROBLEM)) == {f"t{i}": False for i in range(1, 10)}
    wrong = "def square(x):\n    if isinstance(x, str):\n        return ''\n    return x * x\n"
    assert run_all(suite, wrong) == {f"t{i}": i != 9 for i in range(1, 10)}


def test_a_unittest_method_that_needs_its_instance_runs_its_class():
    text = """```python
import unittest
from solution import square

class TestSquare(unittest.TestCase):
    def setUp(self):
        self.values = [1, 2, 3]

    def square(self, x):
        return x ** 2

    def test_values(self):
        self.assertEqual([self.square(v) for v in self.values], [1, 4, 9])

    def test_big(self):
        self.assertEqual(square(100), 10000)
```"""
    suite = read(text)
    assert [c.name for c in suite.cases] == ["t1", "t2"]
    first, second = (c.source for c in suite.cases)
    assert "TestSquare('test_values').debug()" in first and "def setUp" in first
    assert "test_big" not in first and "test_values" not in second  # one method per case
    assert "self.square" not in first  # the class's own copy of the solution is gone
    assert "from solution import" not in suite.setup  # no such module in the sandbox
    assert dropped(suite) == [("solution", "solution_in_tests")]
    assert run_all(suite, SQUARE) == {"t1": True, "t2": True}
    assert run_all(suite, stub_solution(PROBLEM)) == {"t1": False, "t2": False}


def test_unittest_assertions_without_a_plain_form_use_a_fresh_testcase():
    text = """```python
class SquareTests(unittest.TestCase):
    def test_count(self):
        self.assertCountEqual([square(1), square(2)], [4, 1])
```"""
    suite = read(text)
    assert "unittest.TestCase().assertCountEqual" in suite.cases[0].source
    assert suite.setup == "import unittest"  # the model forgot it; the case needs it
    assert run_all(suite, SQUARE) == {"t1": True}
    assert run_all(suite, "def square(x):\n    return x\n") == {"t1": False}


def test_pytest_style_class():
    text = """```python
import pytest

class TestSquare:
    def test_small(self):
        assert square(2) == 4

    def test_helper(self):
        assert self.expected(3) == square(3)

    def expected(self, x):
        return x * x
```"""
    suite = read(text)
    small, helper = (c.source for c in suite.cases)
    assert small == "def test_small():\n    assert square(2) == 4"
    assert "case.test_helper()" in helper and "def expected" in helper
    assert suite.setup == "import pytest"
    assert run_all(suite, SQUARE) == {"t1": True, "t2": True}
    assert run_all(suite, stub_solution(PROBLEM)) == {"t1": False, "t2": False}


def test_asserts_in_a_helper_called_at_top_level_become_cases():
    text = """Here is a check function:

```python
def check(candidate):
    assert candidate(2) == 4
    assert candidate(-3) == 9
    print("All tests passed!")

check(square)

def test():
    assert square(0) == 0
    assert square(10) == 100

test()
```"""
    suite = read(text)
    assert [c.source for c in suite.cases] == [
        "assert square(2) == 4",
        "assert square(-3) == 9",
        "assert square(0) == 0",
        "assert square(10) == 100",
    ]
    assert suite.setup == ""  # neither the helpers nor their calls run before the tests


def test_a_helper_that_is_not_only_asserts_is_called_by_its_case():
    text = """```python
def check(candidate):
    for x, expected in [(1, 1), (2, 4), (3, 9)]:
        assert candidate(x) == expected

check(square)
```"""
    suite = read(text)
    assert [c.source for c in suite.cases] == ["check(square)"]
    assert suite.setup.startswith("def check(candidate):")
    assert run_all(suite, SQUARE) == {"t1": True}
    assert run_all(suite, stub_solution(PROBLEM)) == {"t1": False}


def test_main_block_asserts_are_cases_and_its_prints_are_dropped():
    text = """```python
def test_square():
    assert square(3) == 9

if __name__ == "__main__":
    def square(x):
        return x * x
    test_square()
    print(square(4))
    assert square(5) == 25
    print("All tests passed.")
```"""
    suite = read(text)
    # test_square() is called: its asserts are cases, and the function is not one again
    assert [c.source for c in suite.cases] == ["assert square(3) == 9", "assert square(5) == 25"]
    assert suite.setup == ""
    assert dropped(suite) == [("solution", "solution_in_tests")]


def test_runners_and_helper_classes_are_not_cases():
    text = """```python
import unittest
square = lambda x: x * x

class Point:
    def __init__(self, x):
        assert x is not None
        self.x = x

class TestSquare(unittest.TestCase):
    def test_point(self):
        self.assertEqual(square(Point(3).x), 9)

suite = unittest.TestLoader().loadTestsFromTestCase(TestSquare)
unittest.TextTestRunner(verbosity=2).run(suite)
```"""
    suite = read(text)
    assert [c.source for c in suite.cases] == [
        "def test_point():\n    assert square(Point(3).x) == 9"
    ]
    assert suite.setup.startswith("import unittest\nclass Point:")  # defined before the cases
    assert "Runner" not in suite.setup and "lambda" not in suite.setup
    assert dropped(suite) == [("solution", "solution_in_tests")]


def test_a_solution_nested_in_a_test_function_is_removed():
    text = """```python
def test_square():
    def square(x):
        return x * x
    assert square(4) == 16
```"""
    suite = read(text)
    assert "def square" not in suite.cases[0].source
    assert dropped(suite) == [("solution", "solution_in_tests")]
    assert run_all(suite, stub_solution(PROBLEM)) == {"t1": False}  # it tests the real one


def test_duplicate_asserts_are_dropped():
    text = """```python
assert square(2) == 4
assert square(3) == 9
assert square(2) == 4, "two squared"
assert square( 3 )==9
def test_a():
    assert square(4) == 16
def test_b():
    assert square(4) == 16
```"""
    suite = read(text)
    assert [c.name for c in suite.cases] == ["t1", "t2", "t5"]
    assert dropped(suite) == [("t3", "duplicate"), ("t4", "duplicate"), ("t6", "duplicate")]


REPETITION = "```python\n" + "".join(f"assert square({i}) == {i * i}\n" for i in range(1, 40))


def test_a_repetition_loop_cut_mid_line_keeps_its_complete_asserts():
    # The cut line `assert square(40) == 16` parses, and is wrong (1600): it must go.
    suite = read(REPETITION + "assert square(40) == 16", "length")
    assert suite.truncated
    assert len(suite.cases) == 39 and suite.cases[-1].source == "assert square(39) == 1521"
    assert run_all(suite, SQUARE) == {c.name: True for c in suite.cases}


def test_a_cut_on_a_line_end_keeps_that_line():
    suite = read(REPETITION, "length")
    assert suite.cases[-1].source == "assert square(39) == 1521"


def test_a_cut_inside_a_unittest_method_keeps_its_finished_asserts():
    text = (
        "```python\nimport unittest\n\nclass TestSquare(unittest.TestCase):\n"
        "    def test_one(self):\n        self.assertEqual(square(1), 1)\n\n"
        "    def test_many(self):\n"
        + "".join(f"        self.assertEqual(square({i}), {i * i})\n" for i in range(2, 30))
        + "        self.assertEqual(square(30), 9"
    )
    suite = read(text, "length")
    assert [c.name for c in suite.cases] == [f"t{i}" for i in range(1, 30)]  # 1 + 28 asserts
    assert suite.cases[-1].source == "assert square(29) == 841"
    assert not any("square(30)" in c.source for c in suite.cases)


def test_a_cut_loop_or_block_is_dropped_whole():
    text = (
        "```python\nassert square(1) == 1\n"
        "for x in [2, 3]:\n    assert square(x) == x * x\n    assert square(-x) == x * x\n"
    )
    suite = read(text, "length")
    assert [c.source for c in suite.cases] == ["assert square(1) == 1"]


def test_a_cut_after_the_closed_block_keeps_every_test():
    text = "```python\nassert square(2) == 4\nassert square(3) == 9\n```\n" + "Note: " * 300
    suite = read(text, "length")
    assert suite.truncated and len(suite.cases) == 2


@pytest.mark.parametrize(
    "text",
    [
        "```python\nimport unittest\nfrom solution import square\n",
        "```python\nimport unittest\n\nclass TestSquare(unittest.TestCase):\n    def test_a(self):\n",
        "```python\nassert square(2) == 4",
    ],
)
def test_a_cut_before_any_finished_case_is_rejected(text):
    rejected = read_tests(text, "length", "square", "p")
    assert isinstance(rejected, Rejection) and rejected.reason == "tests_truncated"


def test_records_written_before_the_truncated_field_still_load():
    old = {"problem_id": "p", "setup": "", "cases": [{"name": "t1", "source": "assert 1"}]}
    assert TestSuite.model_validate(old).truncated is False


@pytest.mark.sandbox
def test_every_shape_runs_in_the_harness_with_one_outcome_per_case(sandbox):
    text = UNITTEST.replace(
        "if __name__",
        "class TestState(unittest.TestCase):\n"
        "    def setUp(self):\n        self.x = 7\n"
        "    def test_state(self):\n        self.assertEqual(square(self.x), 49)\n\n"
        "def check(candidate):\n    assert candidate(6) == 36\n\ncheck(square)\n\nif __name__",
    )
    suite = read(text)
    assert len(suite.cases) == 11
    right = run_tests(sandbox, SQUARE, suite, Limits(timeout_s=10))
    assert right.reported and [o.passed for o in right.outcomes] == [True] * 11, right
    stub = run_tests(sandbox, stub_solution(PROBLEM), suite, Limits(timeout_s=10))
    assert stub.reported and [o.passed for o in stub.outcomes] == [False] * 11, stub
    assert "None != 49" in stub.outcomes[9].error  # unittest's own message, from debug()
