"""Benchmarks load as typed tasks; a bad task file is refused by file:line, field and why."""

from __future__ import annotations

import json

import pytest

from synth.errors import SynthError
from synth.evals.benchmarks import (
    BENCHMARKS,
    CodeTask,
    MathTask,
    load_benchmark,
    load_task_file,
    tasks_fingerprint,
)

CODE = {
    "prompt": "def add(a, b):\n",
    "entry_point": "add",
    "test": "def check(candidate):\n    assert candidate(1, 2) == 3\n",
}
MATH = {"problem": "What is 2 + 2?", "answer": "4"}


def write(tmp_path, *lines: object) -> str:
    path = tmp_path / "tasks.jsonl"
    path.write_text(
        "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    )
    return str(path)


def test_humaneval_is_built_in_with_its_164_problems():
    assert list(BENCHMARKS) == ["humaneval"]
    humaneval = load_benchmark("humaneval")
    assert humaneval.kind == "code" and len(humaneval.tasks) == 164
    first = humaneval.tasks[0]
    assert first.task_id == "HumanEval/0" and first.entry_point == "has_close_elements"
    assert "def check(candidate)" in first.test


@pytest.mark.parametrize("name", ["mbpp", "gsm8k", "MATH"])
def test_benchmarks_no_package_ships_are_named_with_the_reason(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SynthError, match="not built in: no package ships it"):
        load_benchmark(name)


def test_an_unknown_name_lists_the_built_in_benchmarks(tmp_path):
    with pytest.raises(SynthError, match="built in: humaneval"):
        load_benchmark(str(tmp_path / "nope.jsonl"))


def test_a_code_file_with_extra_fields_and_ids_given_or_not(tmp_path):
    path = write(tmp_path, {**CODE, "task_id": 7, "canonical_solution": "    return a + b\n"}, CODE)
    loaded = load_benchmark(path)
    assert loaded.kind == "code" and loaded.name == path
    assert [t.task_id for t in loaded.tasks] == ["7", "tasks/1"]
    assert isinstance(loaded.tasks[0], CodeTask)


def test_a_math_file_takes_numeric_answers_as_text(tmp_path):
    loaded = load_benchmark(write(tmp_path, MATH, {"problem": "Half of 1?", "answer": 0.5}))
    assert loaded.kind == "math" and isinstance(loaded.tasks[1], MathTask)
    assert [t.answer for t in loaded.tasks] == ["4", "0.5"]


@pytest.mark.parametrize(
    ("lines", "where", "says"),
    [
        ([CODE, "{not json"], ":2", "not valid JSON"),
        ([["a list"]], ":1", "must be a JSON object"),
        ([{"answer": "4"}], ":1", "neither 'prompt' (a code task) nor 'problem'"),
        ([{**CODE, "test": "x = 1"}], ":1: test", "defines no check(candidate)"),
        ([{k: v for k, v in CODE.items() if k != "test"}], ":1: test", "is missing"),
        ([{**CODE, "entry_point": 5}], ":1: entry_point", "must be a string, not int"),
        ([{**CODE, "entry_point": "add two"}], ":1: entry_point", "not a Python function name"),
        ([{**CODE, "test": "def check(:"}], ":1: test", "does not parse as Python"),
        ([MATH, {**MATH, "problem": "   "}], ":2: problem", "is empty"),
        ([{**MATH, "answer": [4]}], ":1: answer", "must be a string, not list"),
        ([{**MATH, "answer": True}], ":1: answer", "must be a string, not bool"),
        ([{**MATH, "task_id": "a"}, {**MATH, "task_id": "a"}], ":2: task_id", "used twice"),
        ([CODE, MATH], ":2", "a math task in a file of code tasks"),
        ([MATH, CODE], ":2", "a code task in a file of math tasks"),
    ],
)
def test_a_bad_line_is_refused_by_file_line_field_and_why(tmp_path, lines, where, says):
    path = write(tmp_path, *lines)
    with pytest.raises(SynthError) as caught:
        load_task_file(tmp_path / "tasks.jsonl")
    message = str(caught.value)
    assert message.startswith(path + where + ":"), message
    assert says in message


def test_a_duplicate_id_names_its_first_line(tmp_path):
    path = write(tmp_path, {**MATH, "task_id": "a"}, MATH, {**MATH, "task_id": "a"})
    with pytest.raises(SynthError, match=f"first at {path}:1"):
        load_task_file(tmp_path / "tasks.jsonl")


def test_an_empty_file_holds_no_tasks(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("\n  \n")
    with pytest.raises(SynthError, match=f"^{path}: holds no tasks"):
        load_task_file(path)


def test_the_fingerprint_changes_with_any_task():
    a = CodeTask(task_id="a", **CODE)
    b = CodeTask(task_id="a", **{**CODE, "prompt": "def add(a, b, c=0):\n"})
    assert tasks_fingerprint([a]) == tasks_fingerprint([a])
    assert tasks_fingerprint([a]) != tasks_fingerprint([b])
