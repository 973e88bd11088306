"""Step 1: problem descriptions from sampled concepts.

The model is asked for a statement, a typed signature and examples in Markdown sections
(prompts/code/problem.j2). A completion is rejected with a reason when it was truncated,
has no statement or no parseable signature; near copies are found with
`synth.problems.NearDuplicateIndex`.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from synth.code.extract import python_blocks
from synth.engines.base import ChatRequest, Completion
from synth.errors import SynthError
from synth.problems import NearDuplicateIndex, problem_id, skill_problem_request, unusable
from synth.records import Problem, Rejection, SkillCombo, TestSuite

__all__ = [
    "NearDuplicateIndex",
    "load_verified_problems",
    "parse_problem",
    "problem_id",
    "problem_request",
]

HEADING = re.compile(r"^\s*(?:#{1,6}\s*|\*\*)\s*(problem|signature|examples?)\b.*$", re.I | re.M)
MIN_STATEMENT_CHARS = 40


def problem_request(combo: SkillCombo, *, seed: int, temperature: float = 1.0) -> ChatRequest:
    return skill_problem_request("code/problem.j2", combo, seed=seed, temperature=temperature)


def parse_problem(
    completion: Completion, combo: SkillCombo, problem_id: str
) -> Problem | Rejection:
    """Read a Problem out of the model's answer, or say why not."""
    if (why := unusable(completion)) is not None:
        return why
    sections = _sections(completion.text)
    statement = sections.get("problem", "").strip()
    if not statement:
        return Rejection(reason="unparseable", detail="no '## Problem' section")
    if len(statement) < MIN_STATEMENT_CHARS:
        return Rejection(reason="empty", detail=f"statement of {len(statement)} characters")
    signature = _signature(sections.get("signature", "") or completion.text)
    if signature is None:
        return Rejection(reason="unparseable", detail="no parseable Python function signature")
    header, entry_point = signature
    examples = sections.get("examples", sections.get("example", "")).strip()
    return Problem(
        id=problem_id,
        slot=combo.slot,
        concept_ids=tuple(combo.concept_ids),
        statement=statement,
        signature=header,
        entry_point=entry_point,
        examples=examples,
    )


def _sections(text: str) -> dict[str, str]:
    """Markdown sections keyed by heading word (problem, signature, examples)."""
    matches = list(HEADING.finditer(text))
    sections: dict[str, str] = {}
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        key = match.group(1).lower()
        sections.setdefault(key, text[match.end() : end])
    return sections


def _signature(text: str) -> tuple[str, str] | None:
    """The first top-level function's `def` line(s), with the body elided, and its name."""
    for block in python_blocks(text) or [text]:
        tree = _parse_header(block)
        if tree is None:
            continue
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                node.body = [ast.Expr(ast.Constant(...))]
                node.decorator_list = []
                header = ast.unparse(node).rsplit("\n", 1)[0]
                return header, node.name
    return None


def _parse_header(block: str) -> ast.Module | None:
    """Parse a block that may hold only `def f(...) -> T:` lines (no body)."""
    for candidate in (block, block.rstrip() + "\n    ..."):
        try:
            return ast.parse(candidate)
        except (SyntaxError, ValueError):
            continue
    return None


def load_verified_problems(run_dir: str | Path) -> list[tuple[Problem, TestSuite]]:
    """The problems of a run's verified records with their kept tests, to solve again (a
    held-out set, or a new model on known problems)."""
    from synth.store import RunStore

    store = RunStore(run_dir)
    if not store.exists():
        raise SynthError(str(run_dir), "not a run directory (code problems come from one)")
    problems = [
        (record.problem, record.tests)
        for record in store.records()
        if record.status == "verified"
        and isinstance(record.problem, Problem)
        and record.tests is not None
    ]
    if not problems:
        raise SynthError(str(run_dir), "holds no verified code problems to import")
    return problems
