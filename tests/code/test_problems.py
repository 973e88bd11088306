"""Parsing problems out of model answers, and the near-copy guard."""

import json

from synth.code.problems import PROBLEM_SCHEMA, parse_problem, problem_request
from synth.engines.base import Completion
from synth.near_duplicates import NearDuplicateIndex
from synth.records import Concept, Problem, Rejection, SkillCombo

COMBO = SkillCombo(
    slot=3, concepts=(Concept(id="c", name="C", description="d", weight=1, path=("a", "c")),)
)
ANSWER = """Sure! Here is a problem.

## Problem
Given a list of intervals [start, end], merge all overlapping intervals and return them sorted
by start. Touching intervals such as [1, 2] and [2, 3] overlap.

### Signature
```python
from typing import List
def merge_intervals(intervals: list[list[int]]) -> list[list[int]]:
    pass
```

## Examples
```python
merge_intervals([[1, 3], [2, 6]])  # -> [[1, 6]]
```
"""


def parse(text: str, finish_reason: str = "stop"):
    return parse_problem(Completion(text=text, finish_reason=finish_reason), COMBO, "p1")


def test_sections_signature_and_entry_point_are_read():
    problem = parse(ANSWER)
    assert isinstance(problem, Problem)
    assert problem.entry_point == "merge_intervals"
    assert (
        problem.signature == "def merge_intervals(intervals: list[list[int]]) -> list[list[int]]:"
    )
    assert problem.statement.startswith("Given a list of intervals")
    assert "[[1, 6]]" in problem.examples
    assert problem.concept_ids == ("c",) and problem.slot == 3


def test_signature_without_body_and_bold_headings():
    text = ANSWER.replace("## Problem", "**Problem:**").replace("    pass\n", "")
    assert parse(text).entry_point == "merge_intervals"


def test_rejections_carry_reasons():
    assert parse(ANSWER, "length") == Rejection(
        reason="truncated", detail="the problem was cut off at max_tokens"
    )
    assert parse("lorem ipsum dolor").reason == "unparseable"
    assert parse("## Problem\nAdd.\n## Signature\n```python\ndef f(): ...\n```").reason == "empty"
    no_signature = ANSWER.split("### Signature")[0]
    assert parse(no_signature).reason == "unparseable"
    broken = ANSWER.replace("def merge_intervals(intervals", "def merge_intervals((")
    assert parse(broken).reason == "unparseable"


def test_near_copies_are_found_and_different_problems_are_not():
    index = NearDuplicateIndex(threshold=0.7)
    statement = parse(ANSWER).statement
    index.add("p1", statement)
    assert index.near_copy_of(statement.replace("sorted by start", "sorted by their start")) == "p1"
    assert index.near_copy_of(statement.upper()) == "p1"  # exact after normalising
    other = (
        "Return the number of set bits in the binary representation of a non-negative integer n."
    )
    assert index.near_copy_of(other) is None


JSON_ANSWER = json.dumps(
    {
        "statement": "Given a list of intervals [start, end], merge all overlapping intervals "
        'and return them sorted by start. A "touching" pair such as [1, 2] and [2, 3] overlaps.',
        "signature": "def merge_intervals(intervals: list[list[int]]) -> list[list[int]]:",
        "examples": "merge_intervals([[1, 3], [2, 6]])  # -> [[1, 6]]",
    }
)


def test_a_json_answer_is_read():
    problem = parse(JSON_ANSWER)
    assert isinstance(problem, Problem)
    assert problem.entry_point == "merge_intervals"
    assert (
        problem.signature == "def merge_intervals(intervals: list[list[int]]) -> list[list[int]]:"
    )
    assert 'A "touching" pair' in problem.statement  # escaped quotes decoded
    assert problem.examples == "merge_intervals([[1, 3], [2, 6]])  # -> [[1, 6]]"
    assert problem.concept_ids == ("c",) and problem.slot == 3


def test_json_in_a_fence_or_inside_prose_is_read():
    fenced = f"Here is the problem:\n\n```json\n{JSON_ANSWER}\n```\nGood luck!"
    assert parse(fenced).entry_point == "merge_intervals"
    in_prose = f"Sure, {{as asked}}: {JSON_ANSWER} -- hope it helps"
    assert parse(in_prose).entry_point == "merge_intervals"
    # a raw newline inside a string (some grammar backends let a model write one)
    raw_newline = JSON_ANSWER.replace(
        "# -> [[1, 6]]", "# -> [[1, 6]]\nmerge_intervals([])  # -> []"
    )
    assert parse(raw_newline).examples.endswith("merge_intervals([])  # -> []")


def test_the_json_answer_wins_over_markdown_and_markdown_still_parses_alone():
    both = ANSWER + "\n" + JSON_ANSWER.replace("merge_intervals", "join_spans")
    assert parse(both).entry_point == "join_spans"
    assert parse(ANSWER).entry_point == "merge_intervals"


def test_bad_json_answers_are_rejected_with_the_reason():
    broken = parse(JSON_ANSWER[:-10])
    assert broken.reason == "unparseable" and "invalid JSON" in broken.detail
    fields = json.loads(JSON_ANSWER)
    without = parse(json.dumps({k: v for k, v in fields.items() if k != "signature"}))
    assert without == Rejection(reason="unparseable", detail="JSON answer has no 'signature' field")
    listed = parse(json.dumps({**fields, "examples": ["f(1)"]}))
    assert listed.reason == "unparseable" and "'examples' is a list, not a string" in listed.detail
    no_def = parse(json.dumps({**fields, "signature": "merge the intervals"}))
    assert no_def.reason == "unparseable" and "'signature' is no Python def line" in no_def.detail
    assert parse(json.dumps({**fields, "statement": "Merge."})).reason == "empty"


def test_the_request_keeps_its_markdown_prompt_and_carries_the_json_one():
    request = problem_request(COMBO, seed=1)
    plain, structured = request.messages[0].content, request.conversation(True)[0].content
    assert "## Signature" in plain and "JSON" not in plain
    assert '"signature"' in structured and "## Signature" not in structured
    # the key of this prompt rendered by the template before structured output existed
    assert request.key() == "aea8f4e65571a7f28e3f438ce9972ebd"
    schema = request.schema()
    assert schema == PROBLEM_SCHEMA and schema["required"] == ["statement", "signature", "examples"]
    assert all(p["type"] == "string" and p["maxLength"] > 0 for p in schema["properties"].values())
