"""The math loop with a scripted model, the real bubblewrap sandbox and the real checker.

Problem 0 (ground truth 1/2 from its reference program): trajectory 0 is right at once,
trajectory 1 is wrong, then corrected in round 2; trajectory 2 is right but states a wrong
step (flagged). Problem 1's reference program crashes; problem 2's is not deterministic.
"""

from __future__ import annotations

import pytest

from synth.engines.base import ChatRequest
from synth.engines.replay import RecordingEngine, ReplayEngine
from synth.engines.scripted import ScriptedEngine
from synth.export import ExportOptions, export_dataset, read_split
from synth.pipelines.math import MathPipeline
from synth.pipelines.scheduler import run_here
from synth.pipelines.settings import RunSettings
from synth.records import Record
from synth.sandbox.base import Limits
from synth.store import RunStore
from synth.taxonomy import parse_taxonomy

pytestmark = pytest.mark.sandbox

TAXONOMY = parse_taxonomy(
    {
        "name": "tiny-math",
        "domain": "math",
        "areas": [
            {
                "id": "fractions",
                "name": "Fractions",
                "children": [
                    {"id": "halves", "name": "Halves", "description": "Halve.", "weight": 1},
                ],
            }
        ],
    }
)

STATEMENTS = [
    "A cake is cut into two equal pieces. What fraction of the cake is one piece?",
    "How many ways can the letters of the word SYNTH be arranged in a row?",
    "Pick a random integer between one and one hundred; what is it?",
]
PROGRAMS = [
    "import sympy\nprint(sympy.latex(sympy.Rational(1, 2)))",
    "raise SystemExit('no answer here')",
    "import random\nprint(random.random())",
]
RIGHT = "One piece out of two equal pieces: $1 \\div 2 = 0.5$.\n\nSo the answer is $\\boxed{\\frac{1}{2}}$."
WRONG = "Two pieces, so $1 + 1 = 3$ and one piece is whole.\n\n$\\boxed{1}$"
RIGHT_BAD_STEP = "We check $2 + 2 = 5$, whatever.\n\nThe answer is $\\boxed{0.5}$."


def problem_text(slot: int) -> str:
    return f"## Problem\n{STATEMENTS[slot]}\n\n## Reference program\n```python\n{PROGRAMS[slot]}\n```\n"


def respond(request: ChatRequest, index: int) -> str:
    first = request.messages[0].content
    if request.tag == "problem":
        slot = respond.problems
        respond.problems += 1
        return problem_text(slot)
    if request.tag == "repair":
        return "I see: one of two equal pieces is $\\frac{1}{2}$.\n\n$\\boxed{1/2}$"
    assert STATEMENTS[0] in first
    return [RIGHT, WRONG, RIGHT_BAD_STEP][index]


def run(tmp_path, sandbox, engine, **overrides) -> list[Record]:
    settings = {
        "problems": 3,
        "samples": 3,
        "max_attempts": 2,
        "seed": 7,
        "batch_size": 3,
        "limits": Limits(timeout_s=20),
        "verify_workers": 1,
    }
    config = RunSettings(**{**settings, **overrides})
    store = RunStore(tmp_path / "run")
    run_here(MathPipeline(TAXONOMY, config), engine, sandbox, store)
    return sorted(store.records(), key=lambda r: r.slot)


@pytest.fixture
def scripted():
    respond.problems = 0
    return ScriptedEngine(respond, name="scripted-math")


def test_reference_answers_checks_and_corrections(tmp_path, sandbox, scripted):
    records = run(tmp_path, sandbox, scripted)

    kept, crashed, random_answer = records
    assert kept.status == "verified"
    assert kept.problem.answer == "\\frac{1}{2}"
    assert kept.problem.answer_source == "reference_program"
    right, corrected, bad_step = kept.trajectories
    assert [a.verdict.reason for a in right.attempts] == ["ok"]
    assert [a.verdict.reason for a in corrected.attempts] == ["wrong_answer", "ok"]
    assert corrected.corrected
    assert bad_step.verified and bad_step.attempts[0].verdict.reason == "wrong_step_kept"
    assert [str(s) for s in bad_step.attempts[0].verdict.wrong_steps] == ["2 + 2 = 5"]
    assert [str(s) for s in corrected.attempts[0].verdict.wrong_steps] == ["1 + 1 = 3"]

    assert (crashed.status, crashed.rejected_at, crashed.rejection) == (
        "rejected",
        "reference",
        "reference_failed",
    )
    assert "no answer here" in crashed.rejection_detail
    assert random_answer.rejection == "reference_nondeterministic"

    repairs = [r for r in scripted.requests if r.tag == "repair"]
    assert len(repairs) == 1
    feedback = repairs[0].messages[-1].content
    assert "\\boxed{1}" in feedback and "1 + 1 = 3" in feedback
    assert "frac{1}{2}" not in feedback and "1/2" not in feedback  # the answer stays hidden


def test_drop_wrong_steps_rejects_the_flagged_sample(tmp_path, sandbox, scripted):
    kept = run(tmp_path, sandbox, scripted, drop_wrong_steps=True, max_attempts=1)[0]
    reasons = [t.attempts[-1].verdict.reason for t in kept.trajectories]
    assert reasons == ["ok", "wrong_answer", "wrong_step"]


def test_export_and_replay_reproduce_the_run(tmp_path, sandbox, scripted):
    recording = tmp_path / "recorded.jsonl"
    # one problem: the three problem requests of a full run are the same conversation
    first = run(tmp_path / "a", sandbox, RecordingEngine(scripted, recording), problems=1)
    replayed = run(tmp_path / "b", sandbox, ReplayEngine(recording), problems=1)
    strip = lambda records: [r.model_dump(exclude={"model"}) for r in records]  # noqa: E731
    assert strip(first) == strip(replayed)

    out = tmp_path / "math"
    counts = export_dataset(tmp_path / "b" / "run", out, ExportOptions(validation_share=0))
    lines = read_split(out, "train")
    assert counts["train_examples"] == 3 == len(lines)
    assert {line["answer"] for line in lines} == {"\\frac{1}{2}"}
    corrected = [ex for ex in lines if ex["corrected"]]
    assert len(corrected) == 1
    assert corrected[0]["messages"][-1]["content"].endswith("$\\boxed{1/2}$")
    assert [m["role"] for m in corrected[0]["messages"]] == ["user", "assistant"]
    trajectory = tmp_path / "trajectory"
    options = ExportOptions(dialog="trajectory", validation_share=0)
    export_dataset(tmp_path / "b" / "run", trajectory, options)
    long = [row for row in read_split(trajectory, "train") if row["corrected"]]
    assert [m["role"] for m in long[0]["messages"]] == ["user", "assistant", "user", "assistant"]


def test_code_style_runs_the_code_and_feeds_its_output_back(tmp_path, sandbox):
    def answer(request: ChatRequest, index: int) -> str:
        if request.tag == "problem":
            return problem_text(0)
        if request.messages[-1].role == "user" and "```output" in request.messages[-1].content:
            output = request.messages[-1].content
            assert "0.5" in output  # what the sandbox printed
            return "The program printed 0.5.\n\n$\\boxed{0.5}$"
        assert request.stop == ("```output",)
        return "Let me compute it.\n```python\nprint(1 / 2)\n```"

    config_overrides = {"solution_style": "code", "samples": 1}
    engine = ScriptedEngine(answer)
    records = run(tmp_path, sandbox, engine, **{**config_overrides})
    kept = records[0]
    assert kept.status == "verified"
    sample = kept.trajectories[0].attempts[0].sample
    assert [t.output for t in sample.turns] == ["0.5\n", None]
    assert sample.turns[0].code == "print(1 / 2)\n"
    # the sample keeps the dialog it began from; its own turns (and outputs) are the turns
    first_ask = next(r for r in engine.requests if r.tag == "solution")
    assert sample.prompt == first_ask.messages
    out = tmp_path / "data"
    export_dataset(tmp_path / "run", out, ExportOptions(validation_share=0))
    (row,) = read_split(out, "train")
    assert row["messages"][0] == first_ask.messages[0].model_dump()
    assert [m["role"] for m in row["messages"]] == ["user", "assistant", "user", "assistant"]
    assert "0.5" in row["messages"][2]["content"]


def test_imported_problems_take_the_majority_answer(tmp_path, sandbox):
    def answer(request: ChatRequest, index: int) -> str:
        return ["$\\boxed{4}$", "$\\boxed{4.0}$", "$\\boxed{5}$"][index]

    config = RunSettings(problems=2, samples=3, max_attempts=1, seed=1, verify_workers=1)
    store = RunStore(tmp_path / "run")
    imported = [("What is two plus two, written as a number?", ""), ("What is 2 + 3?", "5")]
    run_here(
        MathPipeline(
            TAXONOMY, config.model_copy(update={"majority_share": 0.6}), imported=imported
        ),
        ScriptedEngine(answer),
        sandbox,
        store,
    )
    voted, given = sorted(store.records(), key=lambda r: r.slot)
    assert (voted.problem.answer, voted.problem.answer_source) == ("4", "majority")
    assert [t.verified for t in voted.trajectories] == [True, True, False]
    assert given.problem.answer_source == "given"
    assert [t.verified for t in given.trajectories] == [False, False, True]
