"""Step 3 and 6: sample solutions, and ask for corrections with the checks' feedback.

A repair request continues the same conversation: the problem, the model's faulty answer,
then a user turn with the exact feedback (prompts/code/repair.j2). The ground truth (the
tests' expected values) is shown only as far as the failing asserts quote it.
"""

from __future__ import annotations

from synth.code.extract import extract_code
from synth.engines.base import ChatRequest, Completion, assistant, user
from synth.prompts import render
from synth.records import Problem, Sample, stable_id


def solution_prompt(problem: Problem) -> str:
    return render("code/solution.j2", problem=problem)


def solution_request(
    problem: Problem, *, n: int, temperature: float, max_tokens: int, seed: int
) -> ChatRequest:
    return ChatRequest(
        messages=(user(solution_prompt(problem)),),
        n=n,
        temperature=temperature,
        max_tokens=max_tokens,
        seed=seed,
        tag="solution",
    )


def repair_request(
    problem: Problem,
    history: list[Sample],
    feedback: list[str],
    *,
    temperature: float,
    max_tokens: int,
    seed: int,
) -> ChatRequest:
    """The conversation so far (every earlier attempt and its feedback) plus a request to fix."""
    messages = [user(solution_prompt(problem))]
    for sample, text in zip(history, feedback, strict=True):
        messages.append(assistant(sample.text))
        messages.append(user(render("code/repair.j2", problem=problem, feedback=text)))
    return ChatRequest(
        messages=tuple(messages),
        n=1,
        temperature=temperature,
        max_tokens=max_tokens,
        seed=seed,
        tag="repair",
    )


def to_sample(completion: Completion, problem: Problem, *, trajectory: int, round: int) -> Sample:
    """A Sample with the code extracted from the completion (None when there is none)."""
    code = None
    if completion.finish_reason == "stop":
        code = extract_code(completion.text, problem.entry_point).code
    return Sample(
        id=stable_id("sample", problem.id, trajectory, round),
        problem_id=problem.id,
        trajectory=trajectory,
        round=round,
        text=completion.text,
        code=code,
        finish_reason=completion.finish_reason,
        prompt_tokens=completion.prompt_tokens,
        completion_tokens=completion.completion_tokens,
    )
