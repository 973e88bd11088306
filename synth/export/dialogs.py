"""Verified records as chat examples: one row per verified trajectory.

Code and math records both export; a math dialog in code style interleaves the model's
turns with the outputs of the code it ran (as user turns, the way it saw them).

Two dialog shapes:
- final (the training data): the problem as the user turn and the verified solution as
  the assistant turn. A first-round solution keeps the model's own words (reasoning and
  code); a corrected one is the verified code alone, since the model's repair answer
  speaks to feedback that is not in this dialog.
- trajectory: the whole correction conversation, attempt, feedback, attempt, ..., ending
  with the verified attempt (for learning from mistakes).

The user turns are the ones the model was sent, kept on each sample (`Sample.prompt`), so a
template edited between generate and export cannot pair a new prompt with an old answer;
a system prompt the samples were steered with is left out (the example teaches answering the
problem itself). Records written before samples kept their prompts get the templates
rendered at export time.

Each row is {"messages": [...], ...metadata}: the metadata links back to the evidence in the
run directory (record, sample and verdict ids) and says what the example is (domain,
language, skills, rounds, verdict, model, seed, the problem's statement).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from synth.code.explain import explain_prompt
from synth.code.feedback import feedback_text
from synth.code.solutions import solution_prompt
from synth.code.translate import LAYOUTS, translation_feedback, translation_prompt
from synth.math.solutions import attempt_turns, conversation, turn_messages
from synth.math.verify import math_feedback
from synth.prompts import render
from synth.records import MathProblem, Problem, Record, Sample, Trajectory, Verdict

DialogShape = Literal["final", "trajectory"]


def examples(record: Record, dialog: DialogShape = "final") -> Iterator[dict]:
    """One chat example per verified trajectory of the record (every row has one schema)."""
    if record.status != "verified" or record.problem is None:
        return
    if isinstance(record.problem, MathProblem):
        yield from _math_examples(record, record.problem, dialog)
        return
    for trajectory in record.trajectories:
        if not trajectory.verified:
            continue
        if record.kind == "translate":
            messages = _translation(record, trajectory, dialog)
        elif record.kind == "explain":
            assert record.source is not None
            explanation = trajectory.attempts[-1].sample
            opening = sent_messages(explanation) or [
                {"role": "user", "content": explain_prompt(record.problem, record.source)}
            ]
            messages = [*opening, {"role": "assistant", "content": explanation.text}]
        elif dialog == "final":
            messages = _final(record, trajectory)
        else:
            messages = _trajectory(record, trajectory)
        yield _row(
            record,
            trajectory,
            messages,
            domain="code",
            language=record.problem.language,
            answer="",
            verdict=verdict_words(record, trajectory.attempts[-1].verdict),
            dialog=dialog,
        )


def _row(
    record: Record,
    trajectory: Trajectory,
    messages: list[dict],
    *,
    domain: str,
    language: str,
    answer: str,
    verdict: str,
    dialog: DialogShape,
) -> dict:
    assert record.problem is not None
    last = trajectory.attempts[-1]
    return {
        "messages": messages,
        "record_id": record.id,
        "problem_id": record.problem.id,
        "sample_id": last.sample.id,
        "kind": record.kind,
        "domain": domain,
        "language": language,
        "skills": list(record.concept_ids),
        "problem": record.problem.statement,
        "answer": answer,
        "rounds": len(trajectory.attempts),
        "corrected": trajectory.corrected,
        "verdict": verdict,
        "verdict_ids": [a.verdict.id for a in trajectory.attempts],
        "dialog": dialog,
        "model": record.model,
        "seed": record.seed,
    }


def _final(record: Record, trajectory: Trajectory) -> list[dict]:
    assert isinstance(record.problem, Problem)
    last = trajectory.attempts[-1].sample
    answer = last.text if last.round == 1 else f"```python\n{(last.code or '').strip()}\n```"
    opening = sent_messages(trajectory.attempts[0].sample) or [
        {"role": "user", "content": solution_prompt(record.problem)}
    ]
    return [*opening, {"role": "assistant", "content": answer}]


def _trajectory(record: Record, trajectory: Trajectory) -> list[dict]:
    assert isinstance(record.problem, Problem)
    last = trajectory.attempts[-1].sample
    sent = sent_messages(last)  # a repair's prompt holds every earlier attempt and its feedback
    if sent:
        return [*sent, {"role": "assistant", "content": last.text}]
    messages = [{"role": "user", "content": solution_prompt(record.problem)}]
    for index, attempt in enumerate(trajectory.attempts):
        messages.append({"role": "assistant", "content": attempt.sample.text})
        if index < len(trajectory.attempts) - 1:
            feedback = render(
                "code/repair.j2", problem=record.problem, feedback=feedback_text(attempt.verdict)
            )
            messages.append({"role": "user", "content": feedback})
    return messages


def sent_messages(sample: Sample) -> list[dict]:
    """The messages the sample answered, as rows hold them, without a system prompt ([] in
    records written before samples kept their prompts)."""
    return [m.model_dump() for m in sample.prompt if m.role != "system"]


def verdict_words(record: Record, verdict: Verdict) -> str:
    """What a passing verdict on one of the record's answers says, in words."""
    if isinstance(record.problem, MathProblem):
        wrong = len(verdict.wrong_steps)
        return f"answer equal ({record.problem.answer_source}), {wrong} wrong steps"
    tests = len(verdict.tests)
    if record.kind == "translate":
        return "compiles, passes its tests, and they fail a default-value stub"
    if record.kind == "explain":
        return f"code rebuilt from the explanation passed {tests}/{tests} tests"
    return f"passed {tests}/{tests} tests, ruff clean"


def _translation(record: Record, trajectory: Trajectory, dialog: DialogShape) -> list[dict]:
    """The translation request (the Python source and tests) and the verified translation."""
    assert isinstance(record.problem, Problem) and record.source is not None
    language = record.problem.language
    last = trajectory.attempts[-1].sample
    if dialog == "trajectory" and last.prompt:  # it holds every earlier attempt and feedback
        return [*sent_messages(last), {"role": "assistant", "content": last.text}]
    messages = sent_messages(trajectory.attempts[0].sample) or [
        {"role": "user", "content": translation_prompt(record.problem, record.source, language)}
    ]
    attempts = trajectory.attempts if dialog == "trajectory" else trajectory.attempts[-1:]
    for index, attempt in enumerate(attempts):
        sample = attempt.sample
        if dialog == "final" and sample.round > 1:  # the repair answer speaks to feedback
            tag = LAYOUTS[language].tag
            content = f"```{tag}\n{sample.code}```\n\n```{tag}\n{sample.tests}```"
        else:
            content = sample.text
        messages.append({"role": "assistant", "content": content})
        if index < len(attempts) - 1:
            feedback = translation_feedback(attempt.verdict)
            repair = render("translate/repair.j2", feedback=feedback, layout=LAYOUTS[language])
            messages.append({"role": "user", "content": repair})
    return messages


def _math_examples(record: Record, problem: MathProblem, dialog: DialogShape) -> Iterator[dict]:
    for trajectory in record.trajectories:
        if not trajectory.verified:
            continue
        attempts = trajectory.attempts
        last = attempts[-1]
        style = "code" if any(a.sample.turns for a in attempts) else "text"
        if dialog == "final":
            opening = attempts[0].sample.prompt or conversation(problem, style, [], [])
        elif last.sample.prompt:
            opening = last.sample.prompt
        else:
            opening = conversation(
                problem,
                style,
                [a.sample for a in attempts[:-1]],
                [math_feedback(a.verdict) for a in attempts[:-1]],
            )
        messages = [
            *(m for m in opening if m.role != "system"),
            *turn_messages(attempt_turns(last.sample)),
        ]
        yield _row(
            record,
            trajectory,
            [m.model_dump() for m in messages],
            domain="math",
            language="python" if style == "code" else "text",
            answer=problem.answer,
            verdict=verdict_words(record, last.verdict),
            dialog=dialog,
        )
