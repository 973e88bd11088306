"""Solutions to math problems: requests, the code-and-text loop, and samples.

Two styles. `text`: chain-of-thought ending in \\boxed{}. `code`: the model may stop after
a ```python block; the block runs in the sandbox and its output comes back as the next
user turn (prompts/math/output.j2), up to `max_tool_calls` times; the turns are kept in
the sample, so the exported dialog interleaves reasoning, code and real outputs.
"""

from __future__ import annotations

from collections.abc import Sequence

from synth.code.extract import python_blocks
from synth.engines.base import ChatRequest, Completion, Message, assistant, user
from synth.math.answers import final_answer
from synth.prompts import render
from synth.records import MathProblem, Sample, ToolTurn, stable_id

MAX_OUTPUT_CHARS = 2000
CODE_STOP = "```output"


def solution_prompt(problem: MathProblem, style: str) -> str:
    template = "math/solution_code.j2" if style == "code" else "math/solution.j2"
    return render(template, problem=problem)


def tool_output_message(output: str) -> str:
    if len(output) > MAX_OUTPUT_CHARS:
        output = output[:MAX_OUTPUT_CHARS] + "\n... (output truncated)"
    return render("math/output.j2", output=output.rstrip())


def conversation(
    problem: MathProblem,
    style: str,
    earlier: Sequence[Sample],
    feedback: Sequence[str],
    turns: Sequence[ToolTurn] = (),
) -> tuple[Message, ...]:
    """The dialog so far: the problem, each earlier attempt with its feedback, then the
    current attempt's finished turns (each assistant turn followed by its code's output)."""
    messages = [user(solution_prompt(problem, style))]
    for sample, text in zip(earlier, feedback, strict=True):
        messages += turn_messages(attempt_turns(sample))
        messages.append(user(render("math/repair.j2", feedback=text)))
    messages += turn_messages(turns)
    return tuple(messages)


def attempt_turns(sample: Sample) -> tuple[ToolTurn, ...]:
    """A sample's assistant turns (a text-style sample is one turn)."""
    return sample.turns or (ToolTurn(text=sample.text),)


def turn_messages(turns: Sequence[ToolTurn]) -> list[Message]:
    """An attempt's turns as chat messages: each assistant turn, then its code's output."""
    messages = []
    for turn in turns:
        messages.append(assistant(turn.text))
        if turn.output is not None:
            messages.append(user(tool_output_message(turn.output)))
    return messages


def request(
    messages: tuple[Message, ...],
    *,
    n: int,
    temperature: float,
    max_tokens: int,
    seed: int,
    style: str,
    tag: str,
) -> ChatRequest:
    return ChatRequest(
        messages=messages,
        n=n,
        temperature=temperature,
        max_tokens=max_tokens,
        seed=seed,
        stop=(CODE_STOP,) if style == "code" else (),
        tag=tag,
    )


def wants_code_run(completion: Completion) -> str | None:
    """The code to run when a `code`-style turn stopped right after a python block, unanswered."""
    if completion.finish_reason != "stop" or final_answer(completion.text) is not None:
        return None
    blocks = python_blocks(completion.text)
    if not blocks or not completion.text.rstrip().endswith("```"):
        return None
    return blocks[-1]


def to_sample(
    problem: MathProblem,
    turns: Sequence[ToolTurn],
    last: Completion,
    *,
    trajectory: int,
    round: int,
    prompt_tokens: int,
    completion_tokens: int,
    prompt: tuple[Message, ...] = (),
) -> Sample:
    """The attempt: all its turns, the answer boxed in the last one, the token counts;
    `prompt`: the dialog the attempt began from, kept for export."""
    text = "\n\n".join(
        turn.text + ("\n\n" + tool_output_message(turn.output) if turn.output is not None else "")
        for turn in turns
    )
    return Sample(
        id=stable_id("math-sample", problem.id, trajectory, round),
        problem_id=problem.id,
        trajectory=trajectory,
        round=round,
        text=text,
        finish_reason=last.finish_reason,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        answer=final_answer(turns[-1].text) if turns else None,
        turns=tuple(turns) if len(turns) > 1 or any(t.code for t in turns) else (),
        prompt=prompt,
    )
