"""synth.rewards: exact rewards for right, wrong, garbage and cut answers, in both completion
shapes; the same results from threads and asyncio; timeouts; a GRPO run that calls them."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

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
    ]:
        with pytest.raises(ValueError, match=message):
            code_suite(tests, entry_point)


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
