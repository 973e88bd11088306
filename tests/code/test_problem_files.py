"""Code problems from a user's JSONL file: both shapes, given tests used as given, missing
tests written by the model, and bad lines named by file, line and field."""

from __future__ import annotations

import json

import pytest

from synth.code.problem_files import load_problem_file
from synth.engines.base import ChatRequest
from synth.engines.scripted import ScriptedEngine
from synth.errors import SynthError
from synth.pipelines.code import CodePipeline
from synth.pipelines.scheduler import run_here
from synth.pipelines.settings import RunSettings
from synth.sandbox.base import Limits
from synth.store import RunStore
from synth.taxonomy import default_taxonomy_path, load_taxonomy

SYNTH_SHAPE = {
    "statement": "Return the sum of a list of integers.",
    "signature": "def total(values: list[int]) -> int:",
    "tests": "assert total([1, 2]) == 3\nassert total([]) == 0\n",
}
HUMANEVAL_SHAPE = {
    "prompt": 'from typing import List\n\n\ndef double(xs: List[int]) -> List[int]:\n    """Each'
    ' element doubled."""\n',
    "entry_point": "double",
    "test": "def check(candidate):\n    assert candidate([1, 2]) == [2, 4]\n"
    "    assert candidate([]) == []\n",
}
UNTESTED = {"statement": "Return n squared.", "signature": "def square(n: int) -> int:"}


def _write(tmp_path, *rows) -> str:
    path = tmp_path / "problems.jsonl"
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return str(path)


def test_both_shapes_read_with_their_tests(tmp_path):
    (total, total_tests), (double, double_tests), (square, no_tests) = load_problem_file(
        _write(tmp_path, SYNTH_SHAPE, HUMANEVAL_SHAPE, UNTESTED)
    )
    assert total.entry_point == "total" and total.signature == SYNTH_SHAPE["signature"]
    assert [c.source for c in total_tests.cases] == [
        "assert total([1, 2]) == 3",
        "assert total([]) == 0",
    ]
    assert (
        double.entry_point == "double"
        and double.signature == "def double(xs: List[int]) -> List[int]:"
    )
    assert double.statement.startswith(
        "from typing import List"
    )  # the solver sees the whole prompt
    # HumanEval's check(candidate), called on the entry point, read as one case per assert
    assert [c.source for c in double_tests.cases] == [
        "assert double([1, 2]) == [2, 4]",
        "assert double([]) == []",
    ]
    assert square.entry_point == "square" and no_tests is None


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "problems.jsonl:2: not valid JSON"),
        ("[1, 2]", "problems.jsonl:2: not a JSON object"),
        (
            '{"signature": "def f(x):"}',
            "problems.jsonl:2: needs a non-empty string 'statement' or 'prompt'",
        ),
        (
            '{"statement": "Do it.", "signature": ""}',
            "problems.jsonl:2: signature: must be a non-empty string",
        ),
        (
            '{"statement": "Do it.", "signature": "return 3"}',
            "problems.jsonl:2: signature: is no Python def line",
        ),
        ('{"statement": "Do it."}', "problems.jsonl:2: a 'statement' needs its 'signature'"),
        (
            '{"prompt": "def f(x):\\n    pass\\n"}',
            "problems.jsonl:2: a 'prompt' needs its 'entry_point'",
        ),
        (
            '{"prompt": "def f(x):\\n    pass\\n", "entry_point": "g"}',
            "problems.jsonl:2: prompt: defines no function 'g'",
        ),
        (
            '{"statement": "Do it.", "signature": "def f(x):", "entry_point": "g"}',
            "problems.jsonl:2: entry_point: 'g' is not the signature's 'f'",
        ),
        (
            '{"statement": "Do it.", "signature": "def f(x):", "tests": "assert f(("}',
            "problems.jsonl:2: tests: does not parse",
        ),
        (
            '{"statement": "Do it.", "signature": "def f(x):", "tests": 3}',
            "problems.jsonl:2: tests: must be a non-empty string",
        ),
        (
            '{"statement": "Do it.", "signature": "def f(x):", "tests": "assert f(1)", "test": "x"}',
            "problems.jsonl:2: gives both 'tests' and 'test'",
        ),
    ],
)
def test_a_bad_line_names_the_file_the_line_and_the_field(tmp_path, line, message):
    with pytest.raises(SynthError) as error:
        load_problem_file(_write(tmp_path, SYNTH_SHAPE, line))
    assert message in str(error.value)


def test_an_empty_or_missing_file_is_an_error(tmp_path):
    with pytest.raises(SynthError, match="holds no problems"):
        load_problem_file(_write(tmp_path, ""))
    with pytest.raises(SynthError, match="problems file not found"):
        load_problem_file(tmp_path / "none.jsonl")


@pytest.mark.sandbox
def test_given_tests_are_used_as_given_and_missing_ones_are_written(tmp_path, sandbox):
    """Two problems: one with tests (no tests request is made for it), one without (the
    model's tests, through the stub guard). Both solved right: both verified."""
    imported = load_problem_file(_write(tmp_path, SYNTH_SHAPE, UNTESTED))

    def answer(request: ChatRequest, index: int) -> str:
        prompt = request.messages[-1].content
        if request.tag == "tests":
            assert "square" in prompt and "total" not in prompt
            return "```python\nassert square(3) == 9\nassert square(-2) == 4\nassert square(0) == 0\n```"
        assert request.tag == "solution"
        if "square" in prompt:
            return "```python\ndef square(n: int) -> int:\n    return n * n\n```"
        return "```python\ndef total(values: list[int]) -> int:\n    return sum(values)\n```"

    engine = ScriptedEngine(answer)
    store = RunStore(tmp_path / "run")
    config = RunSettings(problems=2, samples=1, max_attempts=1, seed=3, limits=Limits(timeout_s=5))
    taxonomy = load_taxonomy(default_taxonomy_path())
    run_here(CodePipeline(taxonomy, config, imported=imported), engine, sandbox, store)
    records = {r.problem.entry_point: r for r in store.records()}
    assert {name: r.status for name, r in records.items()} == {
        "total": "verified",
        "square": "verified",
    }
    assert records["total"].tests.cases == imported[0][1].cases
    assert [c.source for c in records["square"].tests.cases] == [  # the model's, stub-checked
        "assert square(3) == 9",
        "assert square(-2) == 4",
        "assert square(0) == 0",
    ]
    assert [r.tag for r in engine.requests].count("tests") == 1
