"""Preference pairs (`--kind dpo`) from runs made with a scripted model and the real sandbox.

Code run: each of two problems gets six first answers: two right, two that the tests catch,
one that ruff rejects (an undefined name) and one without code; every failed one is then
corrected in round 2. Math run: one problem, two right answers and one wrong final answer.
"""

from __future__ import annotations

import itertools
import json

import pytest
from typer.testing import CliRunner

from synth.cli import app
from synth.engines.base import ChatRequest
from synth.engines.scripted import ScriptedEngine
from synth.errors import SynthError
from synth.export import ExportOptions, export_dataset, preference_pairs, read_split
from synth.pipelines.code import CodePipeline
from synth.pipelines.math import MathPipeline
from synth.pipelines.scheduler import run_here
from synth.pipelines.settings import RunSettings
from synth.records import (
    Attempt,
    Problem,
    Record,
    Sample,
    TestCase,
    TestSuite,
    Trajectory,
    Verdict,
    record_id,
)
from synth.sandbox.base import Limits
from synth.store import RunStore
from synth.taxonomy import parse_taxonomy

pytestmark = pytest.mark.sandbox


def taxonomy(domain: str):
    leaf = {"id": "bounds", "name": "Bounds", "description": "Bound a value.", "weight": 1}
    areas = [{"id": "basics", "name": "Basics", "children": [leaf]}]
    return parse_taxonomy({"name": f"tiny-{domain}", "domain": domain, "areas": areas})


PROBLEMS = {
    "clamp": """## Problem
Write a function that clamps an integer x into the closed range [lo, hi], returning lo when x is
below the range and hi when it is above.

## Signature
```python
def clamp(x: int, lo: int, hi: int) -> int:
```
""",
    "sign": """## Problem
Write a function that returns the sign of an integer: 1 for positive numbers, -1 for negative
numbers and 0 for zero.

## Signature
```python
def sign(x: int) -> int:
```
""",
}
TESTS = {
    "clamp": "```python\nassert clamp(5, 0, 10) == 5\nassert clamp(-3, 0, 10) == 0\n"
    "assert clamp(11, 0, 10) == 10\nassert clamp(7, 7, 7) == 7\n```\n",
    "sign": "```python\nassert sign(5) == 1\nassert sign(-3) == -1\nassert sign(0) == 0\n"
    "assert sign(100) == 1\n```\n",
}
SIGNATURES = {
    "clamp": "def clamp(x: int, lo: int, hi: int) -> int:",
    "sign": "def sign(x: int) -> int:",
}
BODIES = {
    "clamp": (
        "return max(lo, min(x, hi))",  # right
        "return min(max(x, lo), hi)",  # right
        "return max(lo, x)",  # the tests catch it: forgets hi
        "return max(lo, min(x, high))",  # ruff: undefined name
        None,  # no code at all
        "return min(x, hi)",  # the tests catch it: forgets lo
    ),
    "sign": (
        "return (x > 0) - (x < 0)",
        "return 0 if x == 0 else (1 if x > 0 else -1)",
        "return 1",
        "return x if x else undefined_zero",
        None,
        "return x",
    ),
}
RIGHT, TESTS_CAUGHT, LINT, NO_CODE = (0, 1), (2, 5), 3, 4


def answer(name: str, index: int) -> str:
    body = BODIES[name][index]
    if body is None:
        return f"Answer {index}: the {name} function compares the value with its bounds."
    return f"Answer {index}.\n```python\n{SIGNATURES[name]}\n    {body}\n```\n"


def fixed(name: str) -> str:
    return f"Fixed.\n```python\n{SIGNATURES[name]}\n    {BODIES[name][0]}  # fixed\n```\n"


def code_scenario():
    problems = itertools.cycle(PROBLEMS.values())

    def respond(request: ChatRequest, index: int) -> str:
        if request.tag == "problem":
            return next(problems)
        name = "clamp" if "def clamp" in request.messages[0].content else "sign"
        if request.tag == "tests":
            return TESTS[name]
        if request.tag == "solution":
            return answer(name, index)
        assert request.tag == "repair"
        return fixed(name)

    return respond


@pytest.fixture(scope="module")
def code_run(tmp_path_factory, sandbox):
    """(run directory, the engine with its requests, records by entry point)."""
    run_dir = tmp_path_factory.mktemp("code") / "run"
    engine = ScriptedEngine(code_scenario())
    config = RunSettings(
        problems=2, samples=6, max_attempts=2, batch_size=2, min_tests=2, limits=Limits(timeout_s=5)
    )
    store = RunStore(run_dir)
    run_here(CodePipeline(taxonomy("code"), config), engine, sandbox, store)
    records = {r.problem.entry_point: r for r in store.records()}
    assert sorted(records) == ["clamp", "sign"] and all(
        r.status == "verified" for r in records.values()
    )
    return run_dir, engine, records


def attempts_by_sample(record: Record) -> dict[str, tuple[Trajectory, Attempt]]:
    return {a.sample.id: (t, a) for t in record.trajectories for a in t.attempts}


def test_a_pair_is_a_passing_and_a_failing_first_answer_to_the_prompt_the_model_saw(
    code_run, tmp_path
):
    run_dir, engine, records = code_run
    out = tmp_path / "pairs"
    counts = export_dataset(run_dir, out, ExportOptions(kind="dpo", validation_share=0))
    rows = read_split(out, "train")
    assert counts["train_pairs"] == len(rows) == 8 and counts["validation_pairs"] == 0
    asked = {r.messages[0].content for r in engine.requests if r.tag == "solution"}
    by_id = {r.problem.id: r for r in records.values()}
    for row in rows:
        record = by_id[row["problem_id"]]
        found = attempts_by_sample(record)
        _, good = found[row["chosen_sample_id"]]
        trajectory, bad = found[row["rejected_sample_id"]]
        assert good.verdict.passed and good.sample.round == 1
        assert not bad.verdict.passed and bad.sample.round == 1
        assert trajectory.corrected  # a corrected trajectory still gives its failed first answer
        assert row["chosen"] == [{"role": "assistant", "content": good.sample.text}]
        assert row["rejected"] == [{"role": "assistant", "content": bad.sample.text}]
        assert [m["role"] for m in row["prompt"]] == ["user"]
        assert (
            row["prompt"][0]["content"] in asked
            and record.problem.signature in (row["prompt"][0]["content"])
        )
        assert (row["rejected_stage"], row["rejected_reason"]) == (
            bad.verdict.stage,
            bad.verdict.reason,
        )
        assert row["rejected_detail"] == bad.verdict.detail and "tests failed" in bad.verdict.detail
        assert row["verdict_ids"] == [good.verdict.id, bad.verdict.id]
        assert row["record_id"] == record.id and row["skills"] == ["bounds"]
        assert (row["kind"], row["domain"], row["language"]) == ("solve", "code", "python")
        tests = len(good.verdict.tests)
        assert row["chosen_verdict"] == f"passed {tests}/{tests} tests, ruff clean"
        assert "Fixed." not in row["chosen"][0]["content"]  # corrections answered feedback
    assert len({(r["chosen_sample_id"], r["rejected_sample_id"]) for r in rows}) == 8


def _pairs(record: Record, k: int, stages=("tests", "lint", "extract"), seed: int = 0):
    rows = preference_pairs(record, max_pairs=k, rejected_stages=stages, seed=seed)
    return [(r["chosen_sample_id"], r["rejected_sample_id"], r["rejected_stage"]) for r in rows]


def trajectory_of(record: Record, sample_id: str) -> int:
    return attempts_by_sample(record)[sample_id][0].index


def test_at_most_k_pairs_per_problem_failures_the_tests_caught_first(code_run):
    _, _, records = code_run
    for record in records.values():
        pairs = _pairs(record, k=3)
        assert [stage for *_, stage in pairs] == ["tests"] * 3
        rejected = [trajectory_of(record, bad) for _, bad, _ in pairs]
        assert set(rejected) == set(TESTS_CAUGHT)  # each failure once before one is reused
        assert {trajectory_of(record, good) for good, _, _ in pairs} == set(RIGHT)

        seven = _pairs(record, k=7)
        assert [stage for *_, stage in seven] == ["tests"] * 4 + ["lint"] * 2 + ["extract"]
        every = _pairs(record, k=100)
        assert len(every) == 8 == len(set(every))  # 2 right x 4 wrong, none twice
        assert {trajectory_of(record, bad) for _, bad, _ in every} == {*TESTS_CAUGHT, LINT, NO_CODE}

        lint_first = _pairs(record, k=100, stages=("lint", "tests"))
        assert [stage for *_, stage in lint_first] == ["lint"] * 2 + ["tests"] * 4
        only = _pairs(record, k=100, stages=("extract",))
        assert set(only) == {p for p in every if p[2] == "extract"} and len(only) == 2


def test_the_pairs_are_drawn_by_the_split_seed_and_the_same_seed_gives_the_same(code_run):
    _, _, records = code_run
    record = records["clamp"]
    assert _pairs(record, k=3, seed=5) == _pairs(record, k=3, seed=5)
    drawn = {tuple(_pairs(record, k=3, seed=seed)) for seed in range(12)}
    assert len(drawn) > 1


def test_the_split_keeps_all_pairs_of_a_problem_on_one_side(code_run, tmp_path):
    run_dir, _, _ = code_run
    out = tmp_path / "split"
    options = ExportOptions(kind="dpo", validation_share=0.5, split_seed=3, builtin_benchmarks=())
    counts = export_dataset(run_dir, out, options)
    train, validation = read_split(out, "train"), read_split(out, "validation")
    train_problems = {r["problem_id"] for r in train}
    validation_problems = {r["problem_id"] for r in validation}
    assert len(train_problems) == len(validation_problems) == 1
    assert not train_problems & validation_problems
    assert len(train) == len(validation) == 4
    assert (counts["train_problems"], counts["validation_problems"]) == (1, 1)


@pytest.fixture(scope="module")
def jsonl_pairs(code_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("reference") / "jsonl"
    options = ExportOptions(kind="dpo", validation_share=0.5, max_pairs_per_problem=100)
    export_dataset(code_run[0], out, options)
    return out


@pytest.mark.parametrize("fmt", ["jsonl", "parquet", "hf"])
def test_every_format_holds_the_same_pairs(code_run, jsonl_pairs, tmp_path, fmt):
    out = tmp_path / fmt
    options = ExportOptions(format=fmt, kind="dpo", validation_share=0.5, max_pairs_per_problem=100)
    export_dataset(code_run[0], out, options)
    for split in ("train", "validation"):
        assert read_split(out, split) == read_split(jsonl_pairs, split)
    assert len(read_split(out, "train")) == len(read_split(out, "validation")) == 8


def test_the_card_and_export_json_count_pairs_by_rejected_reason(jsonl_pairs):
    report = json.loads((jsonl_pairs / "export.json").read_text())
    assert report["kind"] == "dpo" and report["pairs_found"] == 16
    assert report["pairs_by_reason"] == {
        "tests/tests_failed": 8,
        "lint/lint": 4,
        "extract/no_code": 4,
    }
    assert report["options"]["max_pairs_per_problem"] == 100
    card = (jsonl_pairs / "README.md").read_text()
    assert "| train pairs | 8 |" in card and "| validation pairs | 8 |" in card
    assert "## Pairs by rejected reason" in card
    assert "| tests/tests_failed | 8 |" in card and "| extract/no_code | 4 |" in card
    assert "| solve | python | 16 |" in card
    assert (jsonl_pairs / "plots" / "lengths.png").read_bytes().startswith(b"\x89PNG")


def test_the_command_exports_pairs_and_documents_its_options(code_run, tmp_path):
    runner = CliRunner()
    help_text = runner.invoke(app, ["export", "--help"], env={"COLUMNS": "250"}).output
    for option in ("--kind", "--max-pairs-per-problem", "--rejected-stages"):
        assert option in help_text
    assert "tests,compile,answer,steps,lint,parse,extract" in " ".join(help_text.split())

    out = tmp_path / "cli"
    args = ["export", str(code_run[0]), "--out", str(out), "--kind", "dpo", "--format", "parquet"]
    result = runner.invoke(
        app, [*args, "--max-pairs-per-problem", "1", "--rejected-stages", "lint"]
    )
    assert result.exit_code == 0, result.output
    rows = read_split(out, "train") + read_split(out, "validation")
    assert [r["rejected_reason"] for r in rows] == ["lint", "lint"]

    bad = runner.invoke(app, [*args, "--rejected-stages", "tests,typing"])
    assert isinstance(bad.exception, SynthError) and "--rejected-stages" in str(bad.exception)
    dialogs = runner.invoke(app, [*args, "--dialog", "trajectory"])
    assert isinstance(dialogs.exception, SynthError) and "--kind sft" in str(dialogs.exception)


# --- math ---------------------------------------------------------------------------------

STATEMENT = "A cake is cut into two equal pieces. What fraction of the cake is one piece?"
MATH_PROBLEM = (
    f"## Problem\n{STATEMENT}\n\n## Reference program\n```python\n"
    "import sympy\nprint(sympy.latex(sympy.Rational(1, 2)))\n```\n"
)
MATH_ANSWERS = (
    "One piece of two equal pieces: $1 \\div 2 = 0.5$.\n\nSo the answer is $\\boxed{\\frac{1}{2}}$.",
    "Two pieces, so one piece is whole.\n\n$\\boxed{1}$",
    "Half of the cake.\n\n$\\boxed{0.5}$",
)


def test_math_pairs_reject_a_wrong_final_answer(tmp_path, sandbox):
    def respond(request: ChatRequest, index: int) -> str:
        return MATH_PROBLEM if request.tag == "problem" else MATH_ANSWERS[index]

    engine = ScriptedEngine(respond)
    config = RunSettings(
        problems=1, samples=3, max_attempts=1, limits=Limits(timeout_s=20), verify_workers=1
    )
    store = RunStore(tmp_path / "run")
    run_here(MathPipeline(taxonomy("math"), config), engine, sandbox, store)
    (record,) = store.records()
    assert record.status == "verified"
    wrong = record.trajectories[1].attempts[0].verdict

    out = tmp_path / "pairs"
    export_dataset(store.location, out, ExportOptions(kind="dpo", validation_share=0))
    rows = read_split(out, "train")
    (asked,) = [r.messages[0].content for r in engine.requests if r.tag == "solution"]
    assert len(rows) == 2
    assert {r["chosen"][0]["content"] for r in rows} == {MATH_ANSWERS[0], MATH_ANSWERS[2]}
    for row in rows:
        assert row["prompt"] == [{"role": "user", "content": asked}]
        assert row["rejected"] == [{"role": "assistant", "content": MATH_ANSWERS[1]}]
        assert (row["rejected_stage"], row["rejected_reason"]) == ("answer", "wrong_answer")
        assert row["rejected_detail"] == (
            f"answered {wrong.answer.pred}, the answer is {wrong.answer.gold}"
        )
        assert row["rejected_detail"].startswith("answered 1, ")
        assert (row["domain"], row["language"], row["answer"]) == ("math", "text", "\\frac{1}{2}")
        assert row["chosen_verdict"].startswith("answer equal (reference_program)")


# --- runs without pairs -----------------------------------------------------------------


def hand_made(slot: int, answers: list[tuple[str, bool]]) -> Record:
    """A verified record whose trajectory i is one first answer (system prompt, passed)."""
    problem = Problem(
        id=f"p{slot}",
        slot=slot,
        concept_ids=("bounds",),
        statement=f"Return the number {slot} plus x, for any integer x at all, number {slot}.",
        signature="def f(x):",
        entry_point="f",
    )
    trajectories = []
    for i, (system_prompt, passed) in enumerate(answers):
        sample = Sample(
            id=f"s{slot}-{i}",
            problem_id=problem.id,
            trajectory=i,
            round=1,
            text=f"```python\ndef f(x):\n    return x {f'+ {slot}' if passed else f'- {i}'}\n```",
            system_prompt=system_prompt,
        )
        stage, reason = ("ok", "passed") if passed else ("tests", "tests_failed")
        verdict = Verdict(id=f"v{slot}-{i}", passed=passed, stage=stage, reason=reason)
        trajectories.append(
            Trajectory(index=i, attempts=(Attempt(sample=sample, verdict=verdict),))
        )
    return Record(
        id=record_id(0, slot),
        slot=slot,
        status="verified",
        concept_ids=problem.concept_ids,
        problem=problem,
        tests=TestSuite(problem_id=problem.id, cases=(TestCase(name="t1", source="assert f(1)"),)),
        trajectories=tuple(trajectories),
    )


def test_answers_are_paired_only_within_one_system_prompt():
    record = hand_made(
        1, [("terse", True), ("terse", False), ("verbose", True), ("verbose", False)]
    )
    rows = preference_pairs(record, max_pairs=10, rejected_stages=("tests",))
    assert sorted((r["chosen_sample_id"], r["rejected_sample_id"]) for r in rows) == [
        ("s1-0", "s1-1"),
        ("s1-2", "s1-3"),
    ]
    assert {r["system_prompt"] for r in rows} == {"terse", "verbose"}


def test_a_run_without_a_problem_with_both_answers_is_refused_with_the_reason(tmp_path):
    store = RunStore(tmp_path / "run")
    store.write(
        [
            hand_made(1, [("", True), ("", True)]),  # every first answer passed
            hand_made(2, [("terse", True), ("verbose", False)]),  # different prompts
        ]
    )
    out = tmp_path / "out"
    with pytest.raises(SynthError, match="no preference pairs") as caught:
        export_dataset(store.location, out, ExportOptions(kind="dpo"))
    message = str(caught.value)
    assert str(store.location) in message and "2 verified problems" in message
    assert "--samples" in message and "--kind sft" in message
    assert not out.exists()
    sft = export_dataset(store.location, out, ExportOptions(validation_share=0, dedup=None))
    assert sft["train_examples"] == 3
