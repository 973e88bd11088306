"""synth.rewards: exact rewards for right, wrong, garbage and cut answers, in both completion
shapes; the same results from threads and asyncio; timeouts; a GRPO run that calls them."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from synth.code.tests import split_tests
from synth.evals.code_judge import SANDBOX_GRACE_S
from synth.records import ExecResult
from synth.rewards import CodeItem, MathItem, Rewards, code_suite, completion_text

CHECK = "def check(candidate):\n    assert candidate([1, 2]) == 3\n    assert candidate([]) == 0\n"
ASSERTS = ["assert total([1, 2]) == 3", "assert total([]) == 0", "assert total([5]) == 5"]


def fenced(code: str) -> str:
    return f"Here it is:\n```python\n{code}```\nDone."


def chat(text: str) -> list[dict]:
    return [{"role": "assistant", "content": text}]


RIGHT = fenced("def total(xs):\n    return sum(xs)\n")
WRONG = fenced("def total(xs):\n    return 3\n")  # passes 1 of the 2 checks, 1 of 3 asserts
GARBAGE = "<|unk|> total total )) ((\x00 ``` ~~"
CUT = "```python\ndef total(xs):\n    return sum(x"  # cut at max_tokens inside the block
LOOP = fenced("def total(xs):\n    while True:\n        pass\n")
TAMPER = fenced("def total(xs):\n    return eval('+'.join(map(str, xs)) or '0')\n")


@pytest.fixture(scope="module")
def rewards(sandbox):
    with Rewards(sandbox, timeout_s=2.0, workers=2) as owned:
        yield owned


@pytest.fixture(scope="module")
def math_rewards():
    with Rewards("bubblewrap") as owned:  # a sandbox is opened on the first code check only
        yield owned


def code(rewards, completions, tests=CHECK):
    return rewards.code_reward(
        completions, tests=[tests] * len(completions), entry_point=["total"] * len(completions)
    )


def test_both_completion_shapes_give_the_same_text():
    assert completion_text("plain") == "plain"
    assert completion_text(chat("a")) == "a"
    assert (
        completion_text([{"role": "assistant", "content": [{"type": "text", "text": "b"}]}]) == "b"
    )
    assert completion_text([{"role": "tool", "content": "x"}, *chat("c")]) == "c"
    assert completion_text([{"content": "no role"}, *chat("c")]) == "c"  # not the answer
    assert completion_text({"content": "no role"}) == ""
    assert completion_text(42) is None and completion_text([1, 2]) is None


def test_tests_are_read_as_synth_reads_tests():
    assert [c.source for c in code_suite(CHECK, "total").cases] == [
        "assert total([1, 2]) == 3",
        "assert total([]) == 0",
    ]  # check(candidate) is called on the entry point, one case per assert
    assert len(code_suite(ASSERTS, "total").cases) == 3
    assert len(code_suite("def test_a():\n    assert total([]) == 0\n").cases) == 1
    for tests, entry_point, message in [
        (CHECK, "", "give entry_point"),
        ("assert other(1) == 1", "total", "no test case calls total"),
        ("x = 1", "", "no test case found"),
        ("assert total(", "total", "do not parse"),
        ("   ", "", "empty"),
        (7, "", "a Python test source"),
        (CHECK, "total); import os; (x", "a Python name"),
        (CHECK, 5, "a function name"),
    ]:
        with pytest.raises(ValueError, match=message):
            code_suite(tests, entry_point)


@pytest.mark.parametrize(
    ("tests", "lost"),
    [
        (["assert f(1) == 1", "assert g(2) == 99"], "`assert g(2) == 99` does not call f"),
        ("assert f(1) == 1\nx = f(2)\nassert x == 99", "`assert x == 99` does not call f"),
        (
            "import unittest\nassert f(1) == 1\nunittest.TestCase().assertEqual(f(1), 5)",
            "`unittest.TestCase().assertEqual(f(1), 5)` calls f outside an assert",
        ),
        (
            "from numpy.testing import assert_allclose\nassert f(1) == 1\n"
            "assert_allclose(f(1), 5.0)",
            "`assert_allclose(f(1), 5.0)` calls f outside an assert",
        ),
        (
            'assert f(1) == 1\nif __name__ == "__main__":\n    if f(2) != 4:\n'
            '        raise ValueError("f(2)")',
            "calls f outside an assert",
        ),
    ],
)
def test_tests_that_would_run_in_part_are_refused(tests, lost):
    with pytest.raises(ValueError, match="the tests would run in part") as refused:
        code_suite(tests, "f")
    assert lost in str(refused.value)


def test_what_reading_the_tests_may_drop_weakens_nothing():
    # the tests' own f (the answer's is tested), a duplicate and a print check nothing more
    tests = "def f(x):\n    return x\nassert f(1) == 1\nassert f(1) == 1\nprint(f(3))\n"
    assert [c.source for c in code_suite(tests, "f").cases] == ["assert f(1) == 1"]
    _, _, dropped = split_tests("assert f(1) == 1\nassert_allclose(f(1), 5.0)\n", "f")
    assert [(d.test.source, d.reason) for d in dropped] == [
        ("assert_allclose(f(1), 5.0)", "not_an_assert")
    ]  # recorded, never run: generation's suites are as before


DEEP = fenced("def total(xs):\n    return sum(xs)" + " + 0" * 3000 + "\n")
DEEP_TESTS = "assert total([1])" + " + 0" * 3000 + " == 1"


def test_tests_the_parser_cannot_read_are_a_value_error():
    with pytest.raises(ValueError, match="RecursionError"):
        code_suite(DEEP_TESTS, "total")


class CountingSandbox:
    """A real sandbox that counts its runs."""

    def __init__(self, inner) -> None:
        self.inner, self.runs, self._lock = inner, 0, threading.Lock()
        self.name, self.auto_reason = inner.name, ""

    def describe(self) -> str:
        return self.inner.describe()

    def run(self, *args, **kwargs):
        with self._lock:
            self.runs += 1
        return self.inner.run(*args, **kwargs)

    def close(self) -> None:
        pass


VACUOUS = [
    "assert True",
    "def total(xs):\n    return 0\nassert total([]) == 0",  # replaces the answer's total
]


@pytest.mark.sandbox
@pytest.mark.parametrize("tests", VACUOUS)
def test_tests_that_pass_without_a_solution_are_refused_at_one_run(sandbox, tests):
    counting = CountingSandbox(sandbox)
    with Rewards(counting, timeout_s=2.0, workers=2) as rewards:
        checks = rewards.check([CodeItem(c, tests) for c in (RIGHT, WRONG, RIGHT, chat(RIGHT))])
        assert [c.reason for c in checks] == ["bad_tests"] * 4
        assert "the tests pass without a solution" in checks[0].detail
        assert counting.runs == 1  # the empty program's run, shared; no answer was run
        assert rewards.check([CodeItem(RIGHT, tests)])[0].reason == "bad_tests"
        assert counting.runs == 1  # remembered
        # with entry_point, the tests' own total is dropped and the answer's tested
        (check,) = rewards.check([CodeItem(WRONG, VACUOUS[1], "total")])
        assert check.reason == "tests_failed" and counting.runs == 3


@pytest.mark.sandbox
def test_callers_at_once_share_one_empty_run_per_suite(sandbox):
    counting = CountingSandbox(sandbox)
    tests = ["assert total([2, 2]) == 4", "assert total([]) == 0"]
    start = threading.Barrier(4)

    def at_once(completion):
        start.wait(timeout=30)
        return rewards.check([CodeItem(completion, tests, "total")])[0].reason

    with Rewards(counting, timeout_s=2.0, workers=4) as rewards:
        with ThreadPoolExecutor(4) as callers:
            reasons = list(callers.map(at_once, [RIGHT, WRONG, RIGHT, WRONG]))
    assert reasons == ["passed", "tests_failed", "passed", "tests_failed"]
    assert counting.runs == 4 + 1  # one run per answer, one against the empty program


@pytest.mark.sandbox
def test_one_bad_item_does_not_cost_the_batch_its_verdicts(rewards):
    items = [
        CodeItem(RIGHT, CHECK, "total"),
        CodeItem(DEEP, CHECK, "total"),  # RecursionError in the parser
        CodeItem(RIGHT, DEEP_TESTS, "total"),
        CodeItem(RIGHT, CHECK, 5),  # type: ignore[arg-type]
        CodeItem(WRONG, CHECK, "total"),
    ]
    checks = rewards.check(items)
    assert [c.reason for c in checks] == [
        "passed", "syntax", "bad_tests", "bad_tests", "tests_failed",
    ]  # fmt: skip
    assert "RecursionError" in checks[1].detail and "RecursionError" in checks[2].detail
    assert rewards.code_reward([RIGHT, RIGHT], tests=[CHECK, CHECK], entry_point=[5, "total"]) == [
        0.0,
        1.0,
    ]


@pytest.mark.sandbox
def test_code_rewards_right_wrong_garbage_and_cut_in_both_shapes(rewards):
    completions = [RIGHT, WRONG, GARBAGE, CUT, chat(RIGHT), chat(WRONG), chat(GARBAGE), TAMPER]
    assert code(rewards, completions) == [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]
    checks = rewards.check([CodeItem(c, CHECK, "total") for c in completions])
    assert [c.reason for c in checks] == [
        "passed", "tests_failed", "no_code", "syntax",
        "passed", "tests_failed", "no_code", "static/tampering",
    ]  # fmt: skip
    assert [(c.tests_passed, c.tests_total) for c in checks[:4]] == [(2, 2), (1, 2), (0, 2), (0, 2)]
    assert "AssertionError" in checks[1].detail and "eval()" in checks[7].detail


@pytest.mark.sandbox
def test_partial_credit_is_the_share_of_tests_passed(sandbox):
    with Rewards(sandbox, timeout_s=2.0, partial_credit=True) as partial:
        scores = partial.code_reward(
            [RIGHT, WRONG, GARBAGE, TAMPER], tests=[ASSERTS] * 4, entry_point=["total"] * 4
        )
    assert scores == [1.0, pytest.approx(1 / 3), 0.0, 0.0]


@pytest.mark.sandbox
def test_rows_without_tests_are_not_scored_and_a_missing_column_is_an_error(rewards):
    assert rewards.code_reward(
        [RIGHT, RIGHT], tests=[CHECK, None], entry_point=["total", None]
    ) == [
        1.0,
        None,
    ]
    with pytest.raises(ValueError, match="needs a `tests` column"):
        rewards.code_reward([RIGHT])
    with pytest.raises(ValueError, match="1 `tests` values for 2 completions"):
        rewards.code_reward([RIGHT, RIGHT], tests=[CHECK])


@pytest.mark.sandbox
def test_the_reasons_go_to_trls_completions_table(rewards):
    logged = {}
    rewards.code_reward(
        [RIGHT, GARBAGE],
        tests=[CHECK, CHECK],
        entry_point=["total", "total"],
        log_extra=lambda column, values: logged.update({column: values}),
    )
    assert logged == {"code_reason": ["passed", "no_code"]}


def test_math_rewards_right_wrong_garbage_and_cut_in_both_shapes(math_rewards):
    rewards = math_rewards
    completions = [
        "So the answer is $\\boxed{\\frac{1}{2}}$.",
        "It is \\boxed{0.75}.",
        GARBAGE,
        "So the answer is \\boxed{\\frac{1",  # cut inside the box
        chat("$\\boxed{0.5}$"),
        chat("\\boxed{3}"),
        chat(None),  # a message without content: nothing boxed
    ]
    answers = ["0.5"] * len(completions)
    assert rewards.math_reward(completions, answer=answers) == [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0]
    checks = rewards.check([MathItem(c, a) for c, a in zip(completions, answers, strict=True)])
    assert [c.reason for c in checks] == [
        "passed", "wrong_answer", "no_answer", "no_answer", "passed", "wrong_answer", "no_answer",
    ]  # fmt: skip
    assert rewards.math_reward(["\\boxed{2}", "\\boxed{2}"], answer=[2, None]) == [1.0, None]
    assert rewards.check([MathItem("\\boxed{2}", " ")])[0].reason == "bad_answer"
    assert rewards.check([MathItem(42, "2")])[0].reason == "unreadable_completion"


def mixed_batch(index: int) -> tuple[list, list]:
    """A batch that differs per caller, so answers cannot be swapped between threads unseen."""
    code_batch = [RIGHT, WRONG, GARBAGE, chat(RIGHT)][index % 4 :] + [RIGHT, WRONG][: index % 2 + 1]
    math_batch = [f"\\boxed{{{index}}}", f"\\boxed{{{index + 1}}}", chat(f"\\boxed{{{index}}}")]
    return code_batch, math_batch


def score(rewards, index: int) -> tuple[list, list]:
    code_batch, math_batch = mixed_batch(index)
    return code(rewards, code_batch), rewards.math_reward(math_batch, answer=[str(index)] * 3)


@pytest.mark.sandbox
def test_eight_threads_at_once_score_as_sequential_calls_do(rewards):
    sequential = [score(rewards, i) for i in range(8)]
    start = threading.Barrier(8)

    def at_once(index: int):
        start.wait(timeout=30)
        return score(rewards, index)

    with ThreadPoolExecutor(8) as callers:
        concurrent = list(callers.map(at_once, range(8)))
    assert concurrent == sequential
    assert sequential[0] == ([1.0, 0.0, 0.0, 1.0, 1.0], [1.0, 0.0, 1.0])


@pytest.mark.sandbox
def test_async_callers_score_as_sequential_calls_do(rewards):
    sequential = [score(rewards, i) for i in range(4)]

    async def main():
        calls = []
        for index in range(4):
            code_batch, math_batch = mixed_batch(index)
            calls.append(
                rewards.code_reward_async(
                    code_batch,
                    tests=[CHECK] * len(code_batch),
                    entry_point=["total"] * len(code_batch),
                )
            )
            calls.append(rewards.math_reward_async(math_batch, answer=[str(index)] * 3))
        results = await asyncio.gather(*calls)
        return [(results[i], results[i + 1]) for i in range(0, len(results), 2)]

    assert asyncio.run(main()) == sequential


@pytest.mark.sandbox
def test_tests_that_never_end_score_zero_within_the_time_limit(sandbox):
    with Rewards(sandbox, timeout_s=0.5) as quick:
        started = time.monotonic()
        (check,) = quick.check([CodeItem(LOOP, "assert total([1]) == 1", "total")])
        elapsed = time.monotonic() - started
    assert (check.reward, check.reason, check.passed) == (0.0, "timeout", False)
    assert elapsed < 0.5 + SANDBOX_GRACE_S  # the test's alarm, well before the wall clock


class BlockedSandbox:
    """A sandbox whose runs wait for `release`, or raise when told to."""

    name, auto_reason = "blocked", ""

    def __init__(self, fail: bool = False) -> None:
        self.release, self.started = threading.Event(), threading.Event()
        self.fail, self.runs = fail, 0

    def describe(self) -> str:
        return self.name

    def run(self, files, command, limits, stdin="", *, compile=None, language="python"):
        self.runs += 1
        self.started.set()
        if self.fail:
            raise RuntimeError("the engine is gone")
        self.release.wait(timeout=60)
        return ExecResult(status="error", exit_code=None, stdout="", stderr="gone", duration_s=0)

    def close(self) -> None:
        pass


def test_a_batch_deadline_turns_unchecked_items_into_timeouts():
    box = BlockedSandbox()
    with Rewards(box, workers=1) as blocked:
        (first,) = blocked.submit([CodeItem(RIGHT, CHECK, "total")])
        assert box.started.wait(timeout=30)  # the one worker is busy with it
        checks = blocked.check([CodeItem(RIGHT, CHECK, "total")] * 2, timeout_s=0.2)
        box.release.set()
        assert first.result(timeout=30).reason == "sandbox_error"
    assert [c.reason for c in checks] == ["timeout"] * 2
    assert "deadline of 0.2 s" in checks[0].detail
    assert box.runs == 1  # the two that had not started were dropped, not run later


def test_a_deadline_counts_from_the_time_given_not_from_the_call():
    box = BlockedSandbox()
    with Rewards(box, workers=1) as blocked:
        checks = blocked.check([CodeItem(RIGHT, CHECK, "total")], deadline=time.monotonic())
        assert [c.reason for c in checks] == ["timeout"] and box.runs == 0  # none started
        (first,) = blocked.submit([CodeItem(RIGHT, CHECK, "total")])
        assert box.started.wait(timeout=30)
        late = blocked.check([CodeItem(RIGHT, CHECK, "total")], deadline=time.monotonic() + 0.2)
        box.release.set()
        assert first.result(timeout=30).reason == "sandbox_error"
    assert late[0].reason == "timeout" and late[0].detail == "not checked by the deadline"


def test_items_close_cancels_say_closed_not_timeout():
    box = BlockedSandbox()
    blocked = Rewards(box, workers=1)
    (first,) = blocked.submit([CodeItem(RIGHT, CHECK, "total")])
    assert box.started.wait(timeout=30)  # the one worker is busy: the next item waits
    waiting: dict = {}
    caller = threading.Thread(
        target=lambda: waiting.update(checks=blocked.check([CodeItem(RIGHT, CHECK, "total")])),
        daemon=True,
    )
    caller.start()
    closer = threading.Thread(target=blocked.close, daemon=True)
    closer.start()
    caller.join(timeout=30)  # back as soon as close() cancelled its item, no deadline needed
    box.release.set()
    closer.join(timeout=30)
    assert not caller.is_alive() and not closer.is_alive()
    assert [(c.reason, c.detail) for c in waiting["checks"]] == [
        ("closed", "the verifier was closed before this item was checked")
    ]
    assert first.result(timeout=30).reason == "sandbox_error"
    assert blocked.check([CodeItem(RIGHT, CHECK, "total")])[0].reason == "closed"


def test_a_sandbox_that_fails_scores_zero_with_the_reason():
    with Rewards(BlockedSandbox(fail=True)) as failing:
        assert failing.code_reward([RIGHT], tests=[CHECK], entry_point=["total"]) == [0.0]
        (check,) = failing.check([CodeItem(RIGHT, CHECK, "total")])
    assert check.reason == "sandbox_error" and "the engine is gone" in check.detail


@pytest.mark.slow
@pytest.mark.sandbox
def test_grpo_steps_on_the_tiny_model_call_synths_rewards(tmp_path, tiny_model, rewards):
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    prompt = [{"role": "user", "content": "Write total(xs), the sum of xs, in Python."}]
    rows = [
        {"prompt": prompt, "tests": CHECK, "entry_point": "total", "answer": None},
        {"prompt": [{"role": "user", "content": "What is 1 + 1?"}], "tests": None,
         "entry_point": None, "answer": "2"},
    ]  # fmt: skip
    seen: list[tuple[list, list]] = []

    def code_reward(completions, **columns):
        scores = rewards.code_reward(completions, **columns)
        seen.append((completions, scores))
        return scores

    args = GRPOConfig(
        output_dir=str(tmp_path / "grpo"),
        per_device_train_batch_size=4,  # both rows, 2 completions each, every step
        num_generations=2,
        max_completion_length=8,
        max_steps=2,
        logging_steps=1,
        learning_rate=1e-5,
        use_vllm=False,
        use_cpu=True,
        bf16=False,
        report_to="none",
        save_strategy="no",
        seed=0,
    )
    trainer = GRPOTrainer(
        model=str(tiny_model),
        reward_funcs=[code_reward, rewards.math_reward_async],
        args=args,
        train_dataset=Dataset.from_list(rows),
    )
    trainer.train()
    logged = [h for h in trainer.state.log_history if "reward" in h]
    assert len(logged) == len(seen) == 2  # one reward call per step, and its mean logged
    for step, (completions, scores) in zip(logged, seen, strict=True):
        assert all(c[0]["role"] == "assistant" for c in completions)  # conversational
        values = [s for s in scores if s is not None]
        assert set(values) <= {0.0, 1.0}
        assert len(values) == 2 and step["rewards/code_reward/mean"] == pytest.approx(
            sum(values) / len(values)
        )
        assert step["rewards/math_reward_async/mean"] is not None  # the async one too
