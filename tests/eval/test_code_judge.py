"""The program a code answer becomes, and its verdict under the benchmark's tests."""

from __future__ import annotations

import pytest

from synth.engines.base import Completion
from synth.evals.benchmarks import CodeTask
from synth.evals.code_judge import code_messages, judge_code, program_from_completion

PROMPT = 'from typing import List\n\n\ndef total(xs: List[int]) -> int:\n    """Sum xs."""\n'
TASK = CodeTask(
    task_id="t/0",
    prompt=PROMPT,
    entry_point="total",
    test="def check(candidate):\n    assert candidate([1, 2]) == 3\n    assert candidate([]) == 0\n",
)
# HumanEval/38's shape: a helper the prompt implements, and the stub the model must write
HELPED = CodeTask(
    task_id="t/1",
    prompt="def encode(s: str):\n    return s[::-1]\n\n\ndef decode(s: str):\n    "
    '"""Undo encode."""\n',
    entry_point="decode",
    test="def check(candidate):\n    assert candidate(encode('abc')) == 'abc'\n",
)


def fenced(code: str, prose: str = "Here is the function:") -> str:
    return f"{prose}\n```python\n{code}```\nIt adds the numbers."


def test_the_question_is_qwens_humaneval_prompt_word_for_word():
    system, user = code_messages(TASK)
    assert system.role == "system"
    assert system.content == (
        "You are an intelligent programming assistant to produce Python algorithmic solutions"
    )
    assert user.content == (
        f"Can you complete the following Python function?\n```python\n{PROMPT}\n```\n"
    )


def test_a_whole_program_is_taken_as_it_is():
    code = "from typing import List\n\n\ndef total(xs: List[int]) -> int:\n    return sum(xs)\n"
    assert program_from_completion(TASK, fenced(code)) == code


def test_a_function_without_the_prompts_imports_gets_them():
    code = "def total(xs: List[int]) -> int:\n    return sum(xs)\n"
    program = program_from_completion(TASK, fenced(code))
    assert program == "from typing import List\n\n\n" + code


def test_a_block_that_never_defines_the_function_runs_after_the_prompt():
    body = "    return sum(xs)\n"
    assert program_from_completion(TASK, fenced(body)) == PROMPT + body


def test_the_prompts_helpers_are_added_but_not_its_stub():
    code = "def decode(s: str):\n    return s[::-1]\n"
    program = program_from_completion(HELPED, fenced(code))
    assert program.startswith("def encode(s: str):\n    return s[::-1]\n")
    assert program.count("def decode") == 1 and program.endswith(code)


def test_a_helper_the_model_wrote_itself_is_not_doubled():
    code = "def encode(s):\n    return s[::-1]\n\n\ndef decode(s):\n    return s[::-1]\n"
    assert program_from_completion(HELPED, fenced(code)) == code


def test_an_answer_without_code_has_no_program():
    assert program_from_completion(TASK, "I cannot help with that.") is None


def answer(text: str, finish_reason: str = "stop") -> Completion:
    return Completion(text=text, finish_reason=finish_reason, completion_tokens=len(text.split()))


@pytest.mark.sandbox
def test_each_sample_gets_its_verdict_and_reason(sandbox):
    right = fenced("def total(xs):\n    return sum(xs)\n")
    wrong = fenced("def total(xs):\n    return 0\n")
    cut = fenced("def total(xs):\n    return sum(xs)\n") + " and then it went on and on"
    results = judge_code(
        TASK,
        [
            answer(right),
            answer(wrong),
            answer("no code here"),
            answer(cut, "length"),
            Completion(text="", finish_reason="error", error="server gone"),
            answer(fenced("def total(xs):\n    return eval('+'.join(map(str, xs)) or '0')\n")),
        ],
        sandbox,
        timeout_s=5,
    )
    assert [r.passed for r in results] == [True, False, False, True, False, True]
    assert [r.reason for r in results] == [
        "passed", "tests_failed", "no_code", "passed", "engine_error", "passed",
    ]  # fmt: skip
    assert "AssertionError" in results[1].detail and results[4].detail == "server gone"
    assert results[3].finish_reason == "length"  # judged on the code it holds
    assert results[0].code.startswith("from typing import List")


@pytest.mark.sandbox
def test_an_infinite_loop_is_a_timeout(sandbox):
    (result,) = judge_code(
        TASK, [answer(fenced("def total(xs):\n    while True:\n        pass\n"))], sandbox, 1
    )
    assert not result.passed and result.stage == "tests" and result.reason == "timeout"


@pytest.mark.sandbox
def test_the_guards_other_than_eval_still_refuse(sandbox):
    leave = fenced("import sys\n\n\ndef total(xs):\n    sys.exit(0)\n")
    (result,) = judge_code(TASK, [answer(leave)], sandbox, 5)
    assert not result.passed and result.reason == "static/tampering"
    assert "sys.exit" in result.detail


@pytest.mark.sandbox
def test_with_eval_allowed_the_driver_still_proves_the_tests_ran_to_the_end(sandbox):
    """`dynamic` is off, so __import__ passes the static guard; leaving early still fails."""
    leave = fenced("def total(xs):\n    __import__('os')._exit(0)\n")
    (result,) = judge_code(TASK, [answer(leave)], sandbox, 5)
    assert not result.passed and result.stage == "tests"
    assert result.reason == "exited_early"


def test_the_answer_is_sanitized_to_the_function_and_what_it_needs():
    """As EvalPlus's sanitize, which Qwen's published scores ran through: example calls,
    their prints and a __main__ block go; imports, helpers, constants and decorators stay."""
    from synth.evals.code_judge import sanitized

    code = (
        "import functools\nfrom typing import List\n\nLIMIT = 10\nUNUSED = 3\n\n\n"
        "def helper(x):\n    return min(x, LIMIT)\n\n\n@functools.cache\n"
        "def total(xs: List[int]) -> int:\n    return sum(helper(x) for x in xs)\n\n\n"
        "print(total([1, 2]))\nresult = total([3])\n\nif __name__ == '__main__':\n    total(0)\n"
    )
    assert sanitized(code, "total") == (
        "import functools\n\nfrom typing import List\n\nLIMIT = 10\n\n"
        "def helper(x):\n    return min(x, LIMIT)\n\n"
        "@functools.cache\ndef total(xs: List[int]) -> int:\n    return sum(helper(x) for x in xs)\n"
    )
    assert sanitized("def total(:\n", "total") == "def total(:\n"  # unparseable: as written
    inside = "class A:\n    def total(self):\n        return 1\n"
    assert sanitized(inside, "total") == inside  # not a top-level function: as written


@pytest.mark.sandbox
def test_an_example_that_crashes_at_import_does_not_fail_a_right_function(sandbox):
    answer = fenced("def total(xs):\n    return sum(xs)\n\n\nprint(total(undefined_name))\n")
    (result,) = judge_code(TASK, [Completion(text=answer, finish_reason="stop")], sandbox, 10)
    assert result.passed and "undefined_name" not in result.code
