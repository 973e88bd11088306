"""Math tasks: a step-by-step solution ending in \\boxed{}, its answer compared by sympy.

The answer is the solution's final box (synth.math.answers); equivalence is synth's
grader (synth.math.equivalence, math-verify underneath), run in the time- and
memory-bounded checker processes (synth.math.checker), so an answer such as
`10^{10^{10}}` is a timeout, not a hung eval. As for code, a completion cut at max_tokens
is judged on what it holds: a box written before the cut still counts.
"""

from __future__ import annotations

from collections.abc import Sequence

from synth.engines.base import Completion, Message, user
from synth.evals.benchmarks import MathTask
from synth.evals.results import SampleResult
from synth.math.answers import final_answer
from synth.math.checker import AnswerChecker
from synth.prompts import render


def math_messages(task: MathTask) -> tuple[Message, ...]:
    """The conversation asking for `task`'s solution."""
    return (user(render("eval/math_user.j2", problem=task.problem)),)


def judge_math(
    problems: Sequence[tuple[MathTask, Sequence[Completion]]], checker: AnswerChecker
) -> list[list[SampleResult]]:
    """Per problem, one result per completion: is its final answer the task's answer?"""
    answers = [[_answer(c) for c in completions] for _, completions in problems]
    pairs = [
        (task.answer, answer)
        for (task, _), found in zip(problems, answers, strict=True)
        for answer in found
        if answer is not None
    ]
    decisions = iter(checker.equal_many(pairs))
    results = []
    for (_, completions), found in zip(problems, answers, strict=True):
        results.append(
            [
                _result(completion, answer, None if answer is None else next(decisions))
                for completion, answer in zip(completions, found, strict=True)
            ]
        )
    return results


def _answer(completion: Completion) -> str | None:
    return None if completion.finish_reason == "error" else final_answer(completion.text)


def _result(completion: Completion, answer: str | None, decision) -> SampleResult:
    common = {
        "finish_reason": completion.finish_reason,
        "completion_tokens": completion.completion_tokens,
        "answer": answer,
    }
    if completion.finish_reason == "error":
        return SampleResult(
            passed=False, stage="extract", reason="engine_error", detail=completion.error, **common
        )
    if decision is None:
        return SampleResult(
            passed=False,
            stage="extract",
            reason="no_answer",
            detail="no \\boxed{} answer",
            **common,
        )
    if decision.equivalent:
        return SampleResult(passed=True, stage="ok", reason="passed", **common)
    reason = "answer_timeout" if decision.reason == "timeout" else "wrong_answer"
    detail = f"{decision.pred} is not {decision.gold} ({decision.reason})"
    return SampleResult(passed=False, stage="answer", reason=reason, detail=detail, **common)
