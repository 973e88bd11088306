"""Math problems: written by the model from sampled skills, or imported from a file.

A generated problem comes with a reference program (prompts/math/problem.j2) whose
printed result becomes the ground truth (see `reference`). An imported problem (JSONL,
`{"problem": ..., "answer": ...}`, the answer optional) has its given answer, or none, in
which case the majority of the samples decides it.
"""

from __future__ import annotations

import re
from pathlib import Path

from synth.code.extract import python_blocks
from synth.engines.base import ChatRequest, Completion
from synth.errors import SynthError
from synth.inputs import read_jsonl
from synth.problems import skill_problem_request, unusable
from synth.records import MathProblem, Rejection, SkillCombo

_PROBLEM = re.compile(r"^\s*(?:#{1,6}\s*|\*\*)\s*problem\b.*$", re.I | re.M)
_PROGRAM = re.compile(
    r"^\s*(?:#{1,6}\s*|\*\*)\s*(?:reference\s+)?(?:program|code)\b.*$", re.I | re.M
)
MIN_STATEMENT_CHARS = 20


def problem_request(combo: SkillCombo, *, seed: int, temperature: float = 1.0) -> ChatRequest:
    return skill_problem_request("math/problem.j2", combo, seed=seed, temperature=temperature)


def parse_problem(
    completion: Completion, combo: SkillCombo, problem_id: str
) -> MathProblem | Rejection:
    """Read the statement and the reference program out of the model's answer, or say why not."""
    if (why := unusable(completion)) is not None:
        return why
    text = completion.text
    start = _PROBLEM.search(text)
    program_heading = _PROGRAM.search(text, start.end() if start else 0)
    if start is None or program_heading is None:
        return Rejection(
            reason="unparseable", detail="no '## Problem' and '## Reference program' sections"
        )
    statement = text[start.end() : program_heading.start()].strip()
    if len(statement) < MIN_STATEMENT_CHARS:
        return Rejection(reason="empty", detail=f"statement of {len(statement)} characters")
    blocks = python_blocks(text[program_heading.end() :])
    if not blocks or not blocks[0].strip():
        return Rejection(
            reason="no_reference_program", detail="no ```python block after the heading"
        )
    return MathProblem(
        id=problem_id,
        slot=combo.slot,
        concept_ids=tuple(combo.concept_ids),
        statement=statement,
        reference_program=blocks[0],
    )


def load_problems(path: str | Path) -> list[tuple[str, str]]:
    """(statement, answer or '') per line of a JSONL file; errors name the line and field."""
    path = Path(path)
    problems = []
    for where, item in read_jsonl(path, "problems file"):
        statement = item.get("problem") if isinstance(item, dict) else None
        if not isinstance(statement, str) or not statement.strip():
            raise SynthError(
                where,
                "needs a non-empty string field 'problem'",
                '{"problem": "...", "answer": "..."}',
            )
        answer = item.get("answer", "")
        if not isinstance(answer, (str, int, float)):
            raise SynthError(f"{where}: answer", "must be a string or a number")
        problems.append((statement.strip(), str(answer).strip()))
    if not problems:
        raise SynthError(str(path), "holds no problems")
    return problems
