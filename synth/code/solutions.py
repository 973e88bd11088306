"""Step 3 and 6: sample solutions, and ask for corrections with the checks' feedback.

A repair request continues the same conversation: the problem, the model's faulty answer,
then a user turn with the exact feedback (prompts/code/repair.j2). The ground truth (the
tests' expected values) is shown only as far as the failing asserts quote it.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from synth.code.extract import extract_code
from synth.engines.base import ChatRequest, Completion, Message, assistant, system, user
from synth.errors import SynthError
from synth.inputs import read_yaml, validated
from synth.prompts import render
from synth.records import Problem, Sample, stable_id


class SystemPrompt(BaseModel):
    """One system prompt of a rejection-sampling run (style, comments, tests first, ...)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    text: str = Field(min_length=1)


class _SystemPrompts(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompts: list[SystemPrompt] = Field(min_length=1)


def load_system_prompts(path: Path) -> tuple[SystemPrompt, ...]:
    """`prompts: [{name, text}, ...]` from a YAML file; names must be unique."""
    prompts = validated(
        _SystemPrompts, read_yaml(path), str(path), "mapping with a `prompts` list"
    ).prompts
    names = [p.name for p in prompts]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise SynthError(f"{path}: prompts", f"duplicate names: {', '.join(duplicates)}")
    return tuple(prompts)


def _opening(problem: Problem, system_text: str) -> list[Message]:
    messages = [system(system_text)] if system_text else []
    return [*messages, user(solution_prompt(problem))]


def solution_prompt(problem: Problem) -> str:
    return render("code/solution.j2", problem=problem)


def solution_request(
    problem: Problem,
    *,
    n: int,
    temperature: float,
    max_tokens: int,
    seed: int,
    system_text: str = "",
) -> ChatRequest:
    return ChatRequest(
        messages=tuple(_opening(problem, system_text)),
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
    system_text: str = "",
) -> ChatRequest:
    """The conversation so far (every earlier attempt and its feedback) plus a request to fix."""
    messages = _opening(problem, system_text)
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


def to_sample(
    completion: Completion,
    problem: Problem,
    *,
    trajectory: int,
    round: int,
    system_prompt: str = "",
    prompt: tuple[Message, ...] = (),
) -> Sample:
    """A Sample with the code extracted from the completion (None when there is none);
    `prompt`: the messages the completion answered, kept for export."""
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
        system_prompt=system_prompt,
        prompt=prompt,
    )
