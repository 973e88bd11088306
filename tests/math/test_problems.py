"""Parsing math problems (statement + reference program) out of model answers: JSON, the
answer of an engine enforcing the schema, or the Markdown sections of any other."""

import json

from synth.engines.base import Completion
from synth.math.problems import PROBLEM_SCHEMA, parse_problem, problem_request
from synth.records import Concept, MathProblem, Rejection, SkillCombo

COMBO = SkillCombo(
    slot=2, concepts=(Concept(id="c", name="C", description="d", weight=1, path=("a", "c")),)
)
STATEMENT = "What is the sum of the first 10 positive odd integers?"
PROGRAM = (
    "import sympy\nanswer = sum(2 * k - 1 for k in range(1, 11))\nprint(sympy.latex(answer))\n"
)
MARKDOWN = f"## Problem\n{STATEMENT}\n\n## Reference program\n```python\n{PROGRAM}```\n"


def parse(text: str):
    return parse_problem(Completion(text=text, finish_reason="stop"), COMBO, "m1")


def test_json_and_markdown_answers_give_the_same_problem():
    as_json = parse(json.dumps({"problem": STATEMENT, "reference_program": PROGRAM}))
    assert isinstance(as_json, MathProblem)
    assert (as_json.statement, as_json.reference_program) == (STATEMENT, PROGRAM)
    assert as_json == parse(MARKDOWN)
    fenced_program = {"problem": STATEMENT, "reference_program": f"```python\n{PROGRAM}```"}
    assert parse(f"```json\n{json.dumps(fenced_program)}\n```").reference_program == PROGRAM


def test_bad_json_answers_are_rejected_with_the_reason():
    missing = parse(json.dumps({"problem": STATEMENT}))
    assert missing == Rejection(
        reason="unparseable", detail="JSON answer has no 'reference_program' field"
    )
    empty = parse(json.dumps({"problem": STATEMENT, "reference_program": "  "}))
    assert empty.reason == "no_reference_program"
    broken = parse('{"problem": "What is 1 + 1?", "reference_program": "print(2)')
    assert broken.reason == "unparseable" and "invalid JSON" in broken.detail


def test_the_request_keeps_its_markdown_prompt_and_carries_the_json_one():
    request = problem_request(COMBO, seed=1)
    assert "## Reference program" in request.messages[0].content
    assert '"reference_program"' in request.conversation(True)[0].content
    # the key of this prompt rendered by the template before structured output existed
    assert request.key() == "d15bcd1eecbe1ec70ed617239517e972"
    assert request.schema() == PROBLEM_SCHEMA
