"""Step 1: problem descriptions from sampled concepts.

The model is asked for a statement, a typed signature and examples: as a JSON object
(`PROBLEM_SCHEMA`) by an engine that enforces the schema, in Markdown sections otherwise
(both in prompts/code/problem.j2; `synth.problem_requests` says why a request carries both). The
parser reads a JSON answer first (whole, fenced or inside prose), then the Markdown
sections, so either engine's answers parse. A completion is rejected with a reason when it
was truncated, has no statement or no parseable signature; near copies are found with
`synth.near_duplicates.NearDuplicateIndex`.
"""

from __future__ import annotations

import ast
import copy
import re
from pathlib import Path

from synth.code.extract import python_blocks
from synth.engines.base import ChatRequest, Completion
from synth.errors import SynthError
from synth.problem_requests import (
    json_answer,
    skill_problem_request,
    string_field,
    string_fields_schema,
    unusable,
)
from synth.python_ast import parse_python
from synth.records import Problem, Rejection, SkillCombo, TestSuite

__all__ = [
    "PROBLEM_SCHEMA",
    "load_verified_problems",
    "parse_problem",
    "problem_request",
]

HEADING = re.compile(r"^\s*(?:#{1,6}\s*|\*\*)\s*(problem|signature|examples?)\b.*$", re.I | re.M)
MIN_STATEMENT_CHARS = 40
FIELDS = ("statement", "signature", "examples")
# Characters, not tokens: together about 700 tokens of English and code, inside the
# request's 1024 max_tokens, so a model looping inside a string is cut off by the grammar
# and the object still closes.
PROBLEM_SCHEMA = string_fields_schema(
    {"statement": 1500, "signature": 200, "examples": 800},
    # what the parser would reject anyway, made impossible to write: an empty statement, a
    # signature that is not one `def` line ending in a colon (measured on the 0.5B model:
    # "", "void f(...)", a whole body, a missing colon)
    {
        "statement": {"minLength": MIN_STATEMENT_CHARS},
        "signature": {"pattern": r"^def [A-Za-z_][A-Za-z0-9_]*\(.*\)( -> [^:]+)?:$"},
        "examples": {"minLength": 10},
    },
)


def problem_request(combo: SkillCombo, *, seed: int, temperature: float = 1.0) -> ChatRequest:
    return skill_problem_request(
        "code/problem.j2", combo, seed=seed, temperature=temperature, schema=PROBLEM_SCHEMA
    )


def parse_problem(
    completion: Completion, combo: SkillCombo, problem_id: str
) -> Problem | Rejection:
    """Read a Problem out of the model's answer (JSON or Markdown sections), or say why not."""
    if (why := unusable(completion)) is not None:
        return why
    found = json_answer(completion.text, FIELDS)
    if found.fields is not None:
        return _from_json(found.fields, combo, problem_id)
    sections = _sections(completion.text)
    statement = sections.get("problem", "").strip()
    if not statement:
        detail = "no '## Problem' section"
        if found.error:  # it tried to answer in JSON: that is the more useful reason
            detail = f"{found.error} (and no '## Problem' section)"
        return Rejection(reason="unparseable", detail=detail)
    examples = sections.get("examples", sections.get("example", "")).strip()
    signature = sections.get("signature", "") or completion.text
    return _problem(
        statement, signature, examples, combo, problem_id, "no parseable Python function signature"
    )


def _from_json(fields: dict, combo: SkillCombo, problem_id: str) -> Problem | Rejection:
    values = {}
    for name in FIELDS:
        value = string_field(fields, name)
        if isinstance(value, Rejection):
            return value
        values[name] = value
    signature = values["signature"]
    return _problem(
        values["statement"],
        signature,
        values["examples"],
        combo,
        problem_id,
        f"JSON field 'signature' is no Python def line: {signature[:120]!r}",
    )


def _problem(
    statement: str,
    signature_text: str,
    examples: str,
    combo: SkillCombo,
    problem_id: str,
    no_signature: str,
) -> Problem | Rejection:
    """The Problem, from either format's fields, or why not (`no_signature`: the detail)."""
    if len(statement) < MIN_STATEMENT_CHARS:
        return Rejection(reason="empty", detail=f"statement of {len(statement)} characters")
    signature = _signature(signature_text)
    if signature is None:
        return Rejection(reason="unparseable", detail=no_signature)
    header, entry_point = signature
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
                return def_header(node), node.name
    return None


def def_header(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    """A function's `def` line(s) as a signature: its body and decorators left out."""
    bare = copy.copy(node)
    bare.body, bare.decorator_list = [ast.Expr(ast.Constant(...))], []
    return ast.unparse(bare).rsplit("\n", 1)[0]


def _parse_header(block: str) -> ast.Module | None:
    """Parse a block that may hold only `def f(...) -> T:` lines (no body), or, failing
    that, the first `def` line in it as small models write one: without its colon, with a
    one-line body after it, or followed by a body cut short."""
    candidates = [block, block.rstrip() + "\n    ..."]
    for pattern in _DEF_LINES:
        candidates += [f"{m.group(1)}:\n    ..." for m in pattern.finditer(block)][:1]
    for candidate in candidates:
        try:
            return parse_python(candidate)
        except (SyntaxError, ValueError):
            continue
    return None


# `def name(params) -> annotation` on one line; greedy and lazy about the closing paren, for
# parameters with parenthesised defaults and for a body on the same line
_DEF_LINES = (
    *(
        re.compile(
            rf"^[ \t]*(def[ \t]+\w+[ \t]*\({params}\)(?:[ \t]*->[ \t]*[^:\n]+?)?)[ \t]*(?::|$)",
            re.M,
        )
        for params in (".*", ".*?")
    ),
    # last resort: the name and parameters alone, when what follows them is garbage
    re.compile(r"^[ \t]*(def[ \t]+\w+[ \t]*\(.*?\))", re.M),
)


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
