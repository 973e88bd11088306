"""Datasets out of a run directory: verified dialogs as JSONL chat examples.

Code and math records both export; a math dialog in code style interleaves the model's
turns with the outputs of the code it ran (as user turns, the way it saw them).

Two dialog shapes:
- final (the training data): the problem as the user turn and the verified solution as
  the assistant turn. A first-round solution keeps the model's own words (reasoning and
  code); a corrected one is the verified code alone, since the model's repair answer
  speaks to feedback that is not in this dialog.
- trajectory: the whole correction conversation, attempt, feedback, attempt, ..., ending
  with the verified attempt (for learning from mistakes).

Each line is {"messages": [...], "meta": {...}}; `meta` links back to the evidence in the
run directory (record, sample and verdict ids).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from synth.code.feedback import feedback_text
from synth.code.solutions import solution_prompt
from synth.errors import SynthError
from synth.math.solutions import conversation
from synth.math.verify import math_feedback
from synth.prompts import render
from synth.records import MathProblem, Record, Sample, ToolTurn, Trajectory
from synth.store import RunStore

DialogShape = Literal["final", "trajectory"]


def examples(record: Record, dialog: DialogShape = "final") -> Iterator[dict]:
    """One chat example per verified trajectory of the record."""
    if record.status != "verified" or record.problem is None:
        return
    if isinstance(record.problem, MathProblem):
        yield from _math_examples(record, record.problem, dialog)
        return
    for trajectory in record.trajectories:
        if not trajectory.verified:
            continue
        messages = (
            _final(record, trajectory) if dialog == "final" else _trajectory(record, trajectory)
        )
        last = trajectory.attempts[-1]
        yield {
            "messages": messages,
            "meta": {
                "record_id": record.id,
                "problem_id": record.problem.id,
                "sample_id": last.sample.id,
                "language": record.problem.language,
                "concept_ids": list(record.concept_ids),
                "entry_point": record.problem.entry_point,
                "rounds": len(trajectory.attempts),
                "corrected": trajectory.corrected,
                "tests": len(record.tests.cases) if record.tests else 0,
                "verdict_ids": [a.verdict.id for a in trajectory.attempts],
                "model": record.model,
                "seed": record.seed,
            },
        }


def _final(record: Record, trajectory: Trajectory) -> list[dict]:
    assert record.problem is not None
    last = trajectory.attempts[-1].sample
    answer = last.text if last.round == 1 else f"```python\n{(last.code or '').strip()}\n```"
    return [
        {"role": "user", "content": solution_prompt(record.problem)},
        {"role": "assistant", "content": answer},
    ]


def _trajectory(record: Record, trajectory: Trajectory) -> list[dict]:
    assert record.problem is not None
    messages = [{"role": "user", "content": solution_prompt(record.problem)}]
    for index, attempt in enumerate(trajectory.attempts):
        messages.append({"role": "assistant", "content": attempt.sample.text})
        if index < len(trajectory.attempts) - 1:
            feedback = render(
                "code/repair.j2", problem=record.problem, feedback=feedback_text(attempt.verdict)
            )
            messages.append({"role": "user", "content": feedback})
    return messages


def _math_examples(record: Record, problem: MathProblem, dialog: DialogShape) -> Iterator[dict]:
    for trajectory in record.trajectories:
        if not trajectory.verified:
            continue
        attempts = trajectory.attempts
        last = attempts[-1]
        style = "code" if any(a.sample.turns for a in attempts) else "text"
        if dialog == "final":
            messages = conversation(problem, style, [], [], _turns(last.sample))
        else:
            messages = conversation(
                problem,
                style,
                [a.sample for a in attempts[:-1]],
                [math_feedback(a.verdict) for a in attempts[:-1]],
                _turns(last.sample),
            )
        yield {
            "messages": [m.model_dump() for m in messages],
            "meta": {
                "record_id": record.id,
                "problem_id": problem.id,
                "sample_id": last.sample.id,
                "domain": "math",
                "style": style,
                "concept_ids": list(record.concept_ids),
                "answer": problem.answer,
                "answer_source": problem.answer_source,
                "rounds": len(attempts),
                "corrected": trajectory.corrected,
                "wrong_steps": len(last.verdict.wrong_steps),
                "verdict_ids": [a.verdict.id for a in attempts],
                "model": record.model,
                "seed": record.seed,
            },
        }


def _turns(sample: Sample) -> tuple[ToolTurn, ...]:
    return sample.turns or (ToolTurn(text=sample.text),)


def export_jsonl(
    run_dir: str | Path, out: str | Path, dialog: DialogShape = "final"
) -> dict[str, int]:
    """Write every verified example of the run to `out`; returns counts. Writes all or nothing."""
    store = RunStore(run_dir)
    if not store.root.is_dir():
        raise SynthError(str(run_dir), "not a run directory (it does not exist)")
    out = Path(out)
    records = verified = lines = 0
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        with tmp.open("w", encoding="utf-8") as handle:
            for record in store.records():
                records += 1
                verified += record.status == "verified"
                for example in examples(record, dialog):
                    handle.write(json.dumps(example, ensure_ascii=False) + "\n")
                    lines += 1
        if records == 0:
            raise SynthError(
                str(run_dir), "holds no records", "run `synth generate --out` into it first"
            )
        if lines == 0:
            raise SynthError(
                str(run_dir),
                f"none of its {records} records is verified, nothing to export",
                "see summary.json for the rejection reasons",
            )
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return {"records": records, "verified_records": verified, "examples": lines}
