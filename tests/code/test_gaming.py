"""A battery of Python solutions that game the checker instead of solving the problem.

Every solution here is wrong on honest tests. Each must fail twice over: the static guard
rejects it (`static/tampering`, naming the construct), and with the guard switched off
the sandbox still fails it at run time with the right reason, so neither defence leans
on the other. Honest solutions (dataclasses, namedtuples, enums, deep recursion, hypothesis) pass.
"""

from __future__ import annotations

import pytest

from synth.code.static import LintConfig, check_batch
from synth.code.verify import verify_samples
from synth.records import Sample, TestCase, TestSuite
from synth.sandbox.base import Limits

SUITE = TestSuite(
    problem_id="p",
    setup="import math",
    cases=(
        TestCase(name="t1", source="assert double(2) == 4"),
        TestCase(name="t2", source="assert double(-1) == -2"),
        TestCase(name="t3", source="def test_big():\n    assert double(10 ** 6) == 2 * 10 ** 6"),
    ),
)
LIMITS = Limits(timeout_s=5)
WRONG = "def double(x) -> int:\n    return 0\n"

# Forging the report from inside the harness's own interpreter.
FORGING = {
    "patch_json_encoder": (
        "import json\n\njson.dumps = lambda *a, **k: '{\"results\": []}'\n" + WRONG,
        "tests_failed",
    ),
    "rebind_builtin_exec": (
        "import builtins\n\nbuiltins.exec = lambda *a, **k: None\n" + WRONG,
        "tampering",
    ),
    "rebind_builtin_compile_via_setattr": (
        "import builtins\n\nsetattr(builtins, 'compile', lambda *a, **k: None)\n" + WRONG,
        "tampering",
    ),
    "walk_the_stack_for_the_nonce": (
        "import os\nimport sys\n\n"
        "frame = sys._getframe(1)\n"
        "while frame is not None and 'nonce' not in frame.f_locals:\n"
        "    frame = frame.f_back\n"
        "nonce = frame.f_locals['nonce']\n"
        "os.write(1, (nonce + ':' + ';'.join(['p'] * 3) + '\\n').encode())\n"
        "os._exit(0)\n" + WRONG,
        "tests_failed",
    ),
    "traceback_frame_walk": (
        "import os\n\n"
        "try:\n    raise ValueError\nexcept ValueError as exc:\n"
        "    frame = exc.__traceback__.tb_frame.f_back\n"
        "    nonce = frame.f_locals.get('nonce', '')\n"
        "os.write(1, (nonce + ':p;p;p\\n').encode())\nos._exit(0)\n" + WRONG,
        "tests_failed",
    ),
    "gc_scan_for_the_nonce": (
        "import gc\nimport os\n\n"
        "found = [o for o in gc.get_objects() if isinstance(o, dict) and 'nonce' in o]\n"
        "os.write(1, (found[0]['nonce'] + ':p;p;p\\n').encode())\nos._exit(0)\n" + WRONG,
        "tests_failed",
    ),
    "main_module_globals": (
        "import __main__\n\nNONCE = getattr(__main__, 'nonce', None)\n"
        "assert NONCE is not None\n" + WRONG,
        "tests_failed",
    ),
    "alarm_handler_globals": (
        "import signal\n\n"
        "space = signal.getsignal(signal.SIGALRM).__globals__\n"
        "assert 'main' in space\n" + WRONG,
        "tests_failed",
    ),
    "settrace_skips_the_asserts": (
        "import sys\n\n"
        "def tracer(frame, event, arg):\n"
        "    if frame.f_code.co_filename.startswith('t'):\n"
        "        frame.f_lineno = frame.f_lineno\n"
        "    return tracer\n\n"
        "sys.settrace(tracer)\n" + WRONG,
        "tests_failed",
    ),
    "read_own_memory": (
        "with open('/proc/self/mem', 'rb') as handle:\n    handle.read(1)\n" + WRONG,
        "tests_failed",
    ),
    "ctypes_reads_memory": (
        "import ctypes\n\nctypes.string_at(id(0), 8)\n" + WRONG,
        "tests_failed",
    ),
    "os_exit_at_import": ("import os\n\nos._exit(0)\n" + WRONG, "exited_early"),
    "os_exit_in_the_function": (
        "import os\n\ndef double(x) -> int:\n    os._exit(0)\n",
        "exited_early",
    ),
    "kill_self_quietly": (
        "import os\nimport signal\n\ndef double(x) -> int:\n    os.kill(os.getpid(), signal.SIGKILL)\n",
        "timeout",  # a SIGKILL without a word reads as the CPU limit: a failure either way
    ),
    "system_exit_in_the_function": (
        "import sys\n\ndef double(x) -> int:\n    sys.exit(0)\n",
        "tests_failed",
    ),
}

# Answers that are not answers: objects that equal everything.
NOT_ANSWERS = {
    "equals_everything": (
        "class Anything:\n    def __eq__(self, other):\n        return True\n\n"
        "def double(x) -> int:\n    return Anything()\n",
        "wrong_return_type",
    ),
    "int_subclass_equals_everything": (
        "class Int(int):\n    def __eq__(self, other):\n        return True\n\n"
        "    __hash__ = int.__hash__\n\n"
        "def double(x) -> int:\n    return Int(0)\n",
        "wrong_return_type",
    ),
    "string_annotation": (
        "class Anything:\n    def __eq__(self, other):\n        return True\n\n"
        "def double(x) -> 'int':\n    return Anything()\n",
        "wrong_return_type",
    ),
    "unannotated_equals_everything": (
        "class Anything:\n    def __eq__(self, other):\n        return True\n\n"
        "def double(x):\n    return Anything()\n",
        "wrong_return_type",
    ),
    "mock_any": (
        "from unittest.mock import ANY\n\ndef double(x):\n    return [ANY][0]\n",
        "wrong_return_type",
    ),
    "list_of_an_object_that_equals_everything": (
        "class Anything:\n    def __ne__(self, other):\n        return False\n\n"
        "    def __eq__(self, other):\n        return True\n\n"
        "def double(x):\n    return [Anything()][0]\n",
        "wrong_return_type",
    ),
    "rebound_after_first_call": (
        "class Anything:\n    def __eq__(self, other):\n        return True\n\n"
        "def double(x) -> int:\n    globals()['double'] = lambda y: Anything()\n    return 4\n",
        "tampering",
    ),
}

# A builtin's name bound in the namespace the tests run in: the tests would call it.
SHADOWING = {
    "def_named_like_a_builtin": ("def abs(x):\n    return 0\n\n" + WRONG, "tampering"),
    "import_as_a_builtin": ("from math import floor as abs\n\n" + WRONG, "tampering"),
    "class_named_like_a_builtin": ("class sorted:\n    pass\n\n" + WRONG, "tampering"),
    "loop_variable_named_like_a_builtin": (
        "for abs in [lambda v: 0]:\n    pass\n\n" + WRONG,
        "tampering",
    ),
}

# Reading the tests from the sandbox.
READING = {
    "open_the_tests_file": (
        "import json\n\nwith open('tests.json') as handle:\n    SPEC = json.load(handle)\n" + WRONG,
        "tests_failed",
    ),
    "list_the_work_dir_and_read_everything": (
        "import os\n\nTEXT = ''.join(open(n).read() for n in os.listdir('.'))\n"
        "assert 'double(2) == 4' in TEXT\n" + WRONG,
        "tests_failed",
    ),
    "read_stdin": (
        "import sys\n\nTEXT = sys.stdin.read()\nassert 'double' in TEXT\n" + WRONG,
        "tests_failed",
    ),
}

BATTERY = {**FORGING, **NOT_ANSWERS, **SHADOWING, **READING}
RUNTIME_ONLY = set(NOT_ANSWERS) - {"rebound_after_first_call"}  # no construct to see


def _sample(code: str, index: int = 0) -> Sample:
    return Sample(id=f"s{index}", problem_id="p", trajectory=index, round=1, text="", code=code)


def test_every_case_is_wrong_on_honest_tests():
    assert "return 0" in WRONG


@pytest.mark.parametrize("name", sorted(set(BATTERY) - RUNTIME_ONLY))
def test_the_static_guard_names_the_construct(name):
    code, _ = BATTERY[name]
    report = check_batch([code])[0]
    assert report.tampering and not report.passed, name


@pytest.mark.sandbox
def test_the_guarded_verdict_is_static_tampering(sandbox):
    names = sorted(set(BATTERY) - RUNTIME_ONLY)
    samples = [_sample(BATTERY[n][0], i) for i, n in enumerate(names)]
    verdicts = [v for v, _ in verify_samples(samples, {"p": SUITE}, sandbox, LIMITS)]
    for name, verdict in zip(names, verdicts, strict=True):
        assert (verdict.passed, verdict.stage, verdict.reason) == (
            False,
            "lint",
            "static/tampering",
        ), (name, verdict.detail)
        assert "line" in verdict.detail


@pytest.mark.sandbox
def test_with_the_guard_off_every_case_fails_at_run_time_with_its_reason(sandbox):
    names = sorted(BATTERY)
    samples = [_sample(BATTERY[n][0], i) for i, n in enumerate(names)]
    results = verify_samples(
        samples, {"p": SUITE}, sandbox, LIMITS, lint=LintConfig(tampering=(), blocking=("E9",))
    )
    got = {name: verdict for name, (verdict, _) in zip(names, results, strict=True)}
    wrong = {
        name: (got[name].reason, got[name].detail)
        for name in names
        if got[name].passed or got[name].reason != BATTERY[name][1]
    }
    assert not wrong


@pytest.mark.sandbox
def test_exited_early_feedback_says_so(sandbox):
    from synth.code.feedback import feedback_text

    code = FORGING["os_exit_in_the_function"][0]
    [(verdict, _)] = verify_samples(
        [_sample(code)], {"p": SUITE}, sandbox, LIMITS, lint=LintConfig(tampering=())
    )
    assert verdict.reason == "exited_early"
    assert "exited" in feedback_text(verdict) and "not passing" in feedback_text(verdict)


HONEST = {
    "plain": "def double(x) -> int:\n    return 2 * x\n",
    "recursive_deep": (
        "def double(x) -> int:\n    return _twice(x, 900)\n\n"
        "def _twice(x, n):\n    return 2 * x if n == 0 else _twice(x, n - 1)\n"
    ),
    "recursive_checked": (
        "def double(x: int, depth: int = 400) -> int:\n"
        "    return 2 * x if depth == 0 else double(x, depth - 1)\n"
    ),
    "dataclass_and_ordering": (
        "from dataclasses import dataclass\nfrom functools import lru_cache, total_ordering\n\n"
        "@total_ordering\n@dataclass(frozen=True)\nclass Box:\n    v: int\n\n"
        "    def __lt__(self, other):\n        return self.v < other.v\n\n"
        "@lru_cache(maxsize=None)\ndef double(x) -> int:\n    return Box(2 * x).v\n"
    ),
    "float_annotation_returns_int": "def double(x) -> float:\n    return 2 * x\n",
    "namedtuple_and_enum": (
        "import enum\nfrom collections import namedtuple\n\nPair = namedtuple('Pair', 'a b')\n\n"
        "class Sign(enum.Enum):\n    PLUS = 1\n\n"
        "def double(x) -> int:\n    return sum(Pair(x, x)) * Sign.PLUS.value\n"
    ),
    "optional": "from typing import Optional\n\ndef double(x) -> Optional[int]:\n    return x + x\n",
    "unannotated": "def double(x):\n    return 2 * x\n",
    "unannotated_library_value": (
        "from fractions import Fraction\n\ndef double(x):\n    return Fraction(2 * x, 1)\n"
    ),
    "own_class_without_forged_comparisons": (
        "class Doubler:\n    def __init__(self, x):\n        self.x = x\n\n"
        "    def value(self):\n        return 2 * self.x\n\n"
        "def double(x):\n    return Doubler(x).value()\n"
    ),
}


@pytest.mark.sandbox
def test_honest_solutions_still_pass(sandbox):
    names = sorted(HONEST)
    samples = [_sample(HONEST[n], i) for i, n in enumerate(names)]
    results = verify_samples(samples, {"p": SUITE}, sandbox, LIMITS)
    failed = {
        n: (v.reason, v.detail, v.tests)
        for n, (v, _) in zip(names, results, strict=True)
        if not v.passed
    }
    assert not failed


@pytest.mark.sandbox
def test_honest_hypothesis_properties_pass_and_failures_keep_the_example(sandbox):
    suite = TestSuite(
        problem_id="p",
        setup="from hypothesis import given, strategies as st",
        cases=(
            TestCase(
                name="t1",
                source="@given(st.integers())\ndef test_double(x):\n    assert double(x) == x + x",
            ),
        ),
    )
    [(good, _), (bad, run)] = verify_samples(
        [_sample(HONEST["plain"], 0), _sample("def double(x) -> int:\n    return abs(2 * x)\n", 1)],
        {"p": suite},
        sandbox,
        LIMITS,
    )
    assert good.passed, good
    assert bad.reason == "tests_failed" and "Falsifying example" in run.outcomes[0].error


@pytest.mark.sandbox
@pytest.mark.docker
def test_the_warm_pool_fails_the_battery_the_same_way(docker_sandbox):
    """The fork server runs the harness in a pre-imported interpreter: same verdicts."""
    names = sorted(BATTERY)
    samples = [_sample(BATTERY[n][0], i) for i, n in enumerate(names)]
    honest = [_sample(HONEST[n], len(names) + i) for i, n in enumerate(sorted(HONEST))]
    results = verify_samples(
        samples + honest,
        {"p": SUITE},
        docker_sandbox,
        LIMITS,
        lint=LintConfig(tampering=(), blocking=("E9",)),
    )
    got = [verdict for verdict, _ in results]
    wrong = {
        name: (v.reason, v.detail)
        for name, v in zip(names, got[: len(names)], strict=True)
        if v.passed or v.reason != BATTERY[name][1]
    }
    assert not wrong
    assert all(v.passed for v in got[len(names) :]), [v.detail for v in got[len(names) :]]


def test_return_annotations_become_specs_the_harness_checks():
    from synth.code.returns import return_types

    code = (
        "from typing import List, Optional\n\n"
        "def a(x) -> int: ...\n"
        "def b(x) -> list[int]: ...\n"
        "def c(x) -> Optional[List[str]]: ...\n"
        "def d(x) -> tuple[int, ...]: ...\n"
        "def e(x) -> dict[str, float]: ...\n"
        "def f(x) -> 'Node': ...\n"
        "def g(x) -> list: ...\n"
        "def h(x): ...\n"
    )
    assert return_types(code) == {
        "a": ["int", "int"],
        "b": ["list", ["int"], "list[int]"],
        "c": ["union", ["list", ["str"]], ["none"], "Optional[List[str]]"],
        "d": ["tuple_of", ["int"], "tuple[int, ...]"],
        "e": ["dict", ["str"], ["float"], "dict[str, float]"],
        "f": ["honest", "'Node'"],  # not plain: its values may not forge comparisons
        "g": ["plain", "list"],
        "h": ["honest", ""],
    }


def test_tampering_feedback_names_the_construct():
    from synth.code.feedback import feedback_text
    from synth.code.verify import verdict_before_tests

    code = FORGING["os_exit_at_import"][0]
    verdict = verdict_before_tests(_sample(code), check_batch([code])[0])
    assert verdict is not None and verdict.reason == "static/tampering"
    text = feedback_text(verdict)
    assert "os._exit" in text and "line 3" in text and "no exiting" in text
