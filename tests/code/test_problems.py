"""Parsing problems out of model answers, and the near-copy guard."""

from synth.code.problems import NearDuplicateIndex, parse_problem
from synth.engines.base import Completion
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
