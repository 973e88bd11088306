"""Math problems: written by the model from sampled skills, or imported from a file.

A generated problem comes with a reference program (prompts/math/problem.j2) whose
printed result becomes the ground truth (see `reference`). An engine that enforces the
request's schema gets the two as a JSON object (`PROBLEM_SCHEMA`), any other engine as
Markdown sections (`synth.problem_requests` says why a request carries both); the parser reads
JSON first, then the sections. An imported problem (JSONL,
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
from synth.problem_requests import (
    json_answer,
    skill_problem_request,
    string_field,
    string_fields_schema,
    unusable,
)
from synth.records import MathProblem, Rejection, SkillCombo

_PROBLEM = re.compile(r"^\s*(?:#{1,6}\s*|\*\*)\s*problem\b.*$", re.I | re.M)
_PROGRAM = re.compile(
    r"^\s*(?:#{1,6}\s*|\*\*)\s*(?:reference\s+)?(?:program|code)\b.*$", re.I | re.M
)
MIN_STATEMENT_CHARS = 20
FIELDS = ("problem", "reference_program")
# Characters (escapes count once): about 750 tokens together, inside the request's 1024
# max_tokens, so a looping string is closed by the grammar before the limit.
PROBLEM_SCHEMA = string_fields_schema(
    {"problem": 1000, "reference_program": 1800},
    # an empty problem or program is never usable: the grammar rules them out
    {"problem": {"minLength": 30}, "reference_program": {"minLength": 20}},
)


def problem_request(combo: SkillCombo, *, seed: int, temperature: float = 1.0) -> ChatRequest:
    return skill_problem_request(
        "math/problem.j2", combo, seed=seed, temperature=temperature, schema=PROBLEM_SCHEMA
    )


def parse_problem(
    completion: Completion, combo: SkillCombo, problem_id: str
) -> MathProblem | Rejection:
    """Read the statement and the reference program out of the model's answer, or say why not."""
    if (why := unusable(completion)) is not None:
        return why
    text = completion.text
    found = json_answer(text, FIELDS)
    if found.fields is not None:
        return _from_json(found.fields, combo, problem_id)
    start = _PROBLEM.search(text)
    program_heading = _PROGRAM.search(text, start.end() if start else 0)
    if start is None or program_heading is None:
        detail = "no '## Problem' and '## Reference program' sections"
        if found.error:  # it tried to answer in JSON: that is the more useful reason
            detail = f"{found.error} (and {detail})"
        return Rejection(reason="unparseable", detail=detail)
    statement = text[start.end() : program_heading.start()].strip()
    blocks = python_blocks(text[program_heading.end() :])
    program = blocks[0] if blocks else ""
    return _problem(statement, program, combo, problem_id, "no ```python block after the heading")


def _from_json(fields: dict, combo: SkillCombo, problem_id: str) -> MathProblem | Rejection:
    statement = string_field(fields, "problem")
    if isinstance(statement, Rejection):
        return statement
    program = string_field(fields, "reference_program")
    if isinstance(program, Rejection):
        return program
    # a model may still fence the program inside the string
    program = (python_blocks(program) or [program])[0].strip()
    return _problem(
        statement,
        program + "\n" if program else "",
        combo,
        problem_id,
        "JSON field 'reference_program' is empty",
    )


def _problem(
    statement: str, program: str, combo: SkillCombo, problem_id: str, no_program: str
) -> MathProblem | Rejection:
    """The MathProblem, from either format's fields, or why not (`no_program`: the detail)."""
    if len(statement) < MIN_STATEMENT_CHARS:
        return Rejection(reason="empty", detail=f"statement of {len(statement)} characters")
    if not program.strip():
        return Rejection(reason="no_reference_program", detail=no_program)
    return MathProblem(
        id=problem_id,
        slot=combo.slot,
        concept_ids=tuple(combo.concept_ids),
        statement=statement,
        reference_program=program,
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
