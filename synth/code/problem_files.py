"""Code problems from a user's JSONL file (`synth generate --problems-from FILE.jsonl`).

One problem per line, in either of two shapes:

- synth's own: `{"statement", "signature"}`, the signature being the function's `def` line;
- HumanEval's: `{"prompt", "entry_point"}`, the prompt being code that defines the function
  (its docstring says what it does), as benchmark files and most code datasets have it.

`entry_point` may be given with a signature (it must name the signature's function) and is
read from it otherwise. Tests are optional: `tests` (asserts, `def test_*` functions or a
unittest class, as synth reads generated tests) or HumanEval's `test` (a `check(candidate)`
definition, called on the entry point). A problem with tests is solved against them as
given; one without has its tests written by the model, with every guard generated tests get.
Errors name the file, the line and the field.
"""

from __future__ import annotations

import ast
from pathlib import Path

from synth.code.problems import def_header
from synth.code.tests import suite_from_source
from synth.errors import SynthError
from synth.inputs import read_jsonl
from synth.python_ast import parse_python
from synth.records import Problem, TestSuite

SHAPES = '{"statement", "signature", "tests"?} or {"prompt", "entry_point", "test"?}'


def load_problem_file(path: str | Path) -> list[tuple[Problem, TestSuite | None]]:
    """(problem, its tests or None) per line; ids and slots are the run's to give."""
    path = Path(path)
    problems = []
    for index, (where, item) in enumerate(read_jsonl(path, "problems file")):
        if not isinstance(item, dict):
            raise SynthError(where, "not a JSON object", SHAPES)
        problem = _problem(item, where, index)
        problems.append((problem, _tests(item, problem, where)))
    if not problems:
        raise SynthError(str(path), "holds no problems")
    return problems


def _problem(item: dict, where: str, index: int) -> Problem:
    statement = _text(item, "statement", where) or _text(item, "prompt", where)
    if statement is None:
        raise SynthError(where, "needs a non-empty string 'statement' or 'prompt'", SHAPES)
    entry_point = _text(item, "entry_point", where)
    signature_text = _text(item, "signature", where)
    if signature_text is not None:
        found = _first_def(signature_text + "\n    ...", None)
        if found is None:
            raise SynthError(f"{where}: signature", "is no Python def line", repr(signature_text))
    elif "prompt" in item:
        if entry_point is None:
            raise SynthError(where, "a 'prompt' needs its 'entry_point'", SHAPES)
        found = _first_def(statement, entry_point)
        if found is None:
            raise SynthError(f"{where}: prompt", f"defines no function {entry_point!r}")
    else:
        raise SynthError(where, "a 'statement' needs its 'signature' (the def line)", SHAPES)
    signature, name = found
    if entry_point is not None and name != entry_point:
        raise SynthError(
            f"{where}: entry_point", f"{entry_point!r} is not the signature's {name!r}"
        )
    return Problem(
        id=f"file-{index}",
        slot=index,
        concept_ids=(),
        statement=statement,
        signature=signature,
        entry_point=name,
    )


def _tests(item: dict, problem: Problem, where: str) -> TestSuite | None:
    if "tests" in item and "test" in item:
        raise SynthError(where, "gives both 'tests' and 'test'; one of them")
    source = _text(item, "tests", where)
    field = "tests"
    if source is None and (source := _text(item, "test", where)) is not None:
        field = "test"
        source += f"\n\ncheck({problem.entry_point})\n"  # HumanEval defines check, never calls it
    if source is None:
        return None
    suite = suite_from_source(source, problem.id)
    if suite is None:
        raise SynthError(f"{where}: {field}", "does not parse as Python")
    return suite


def _text(item: dict, field: str, where: str) -> str | None:
    """The field's text, None when absent; present but empty or not a string is an error."""
    if field not in item or item[field] is None:
        return None
    value = item[field]
    if not isinstance(value, str) or not value.strip():
        raise SynthError(f"{where}: {field}", "must be a non-empty string")
    return value.strip("\n")


def _first_def(code: str, name: str | None) -> tuple[str, str] | None:
    """The def line(s) of function `name` (or of the first function) in `code`, body elided."""
    try:
        tree = parse_python(code)
    except (SyntaxError, ValueError):
        return None
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and name in (None, node.name):
            return def_header(node), node.name
    return None
