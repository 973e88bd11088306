"""Backtranslation with a scripted model and the real sandbox: an explanation is kept when
the code rebuilt from it alone passes the source's tests (and the judge agrees)."""

from __future__ import annotations

import pytest

from synth.code.explain import load_explain_judge
from synth.code.sources import Source
from synth.engines.scripted import ScriptedEngine
from synth.export import ExportOptions, export_dataset, read_split
from synth.pipelines.explain import ExplainPipeline
from synth.pipelines.scheduler import run_here
from synth.pipelines.settings import ExplainSettings
from synth.records import Problem, TestCase, TestSuite
from synth.sandbox.base import Limits
from synth.store import RunStore

pytestmark = pytest.mark.sandbox

SOURCE = Source(
    record_id="rec-clamp",
    problem=Problem(
        id="p-clamp",
        slot=0,
        concept_ids=("clamping",),
        statement="Clamp x into [lo, hi].",
        signature="def clamp(x: int, lo: int, hi: int) -> int:",
        entry_point="clamp",
    ),
    code="def clamp(x, lo, hi):\n    return max(lo, min(x, hi))\n",
    tests="assert clamp(5, 0, 10) == 5\nassert clamp(-3, 0, 10) == 0\nassert clamp(11, 0, 10) == 10",
    suite=TestSuite(
        problem_id="p-clamp",
        cases=(
            TestCase(name="t1", source="assert clamp(5, 0, 10) == 5"),
            TestCase(name="t2", source="assert clamp(-3, 0, 10) == 0"),
            TestCase(name="t3", source="assert clamp(11, 0, 10) == 10"),
        ),
    ),
)
GOOD = "It returns lo when x is below lo, hi when x is above hi, and x otherwise."
VAGUE = "It returns lo or x, whichever is larger."
QUOTING = "It does this:\n```python\nreturn max(lo, min(x, hi))\n```"
RIGHT = "```python\ndef clamp(x, lo, hi):\n    return max(lo, min(x, hi))\n```"
WRONG = "```python\ndef clamp(x, lo, hi):\n    return max(lo, x)\n```"


def respond_with(explanations, judge=lambda prompt: '{"faithfulness": 5, "rationale": "ok"}'):
    def respond(request, index):
        if request.tag == "explain":
            return explanations[index]
        if request.tag == "regenerate":
            return WRONG if VAGUE in request.messages[0].content else RIGHT
        if request.tag == "judge":
            return judge(request.messages[0].content)
        raise AssertionError(request.tag)

    return respond


def run(tmp_path, sandbox, engine, **config):
    store = RunStore(tmp_path / "run")
    settings = ExplainSettings(limits=Limits(timeout_s=5, memory_mb=256), **config)
    stats = run_here(ExplainPipeline([SOURCE], settings), engine, sandbox, store)
    (record,) = list(store.records())
    return record, stats, store


def test_an_explanation_is_kept_only_when_the_rebuilt_code_passes(tmp_path, sandbox):
    engine = ScriptedEngine(respond_with([GOOD, VAGUE, QUOTING]))
    record, stats, _ = run(tmp_path, sandbox, engine, samples=3)
    good, vague, quoting = record.trajectories
    assert record.status == "verified" and record.kind == "explain"
    assert good.verified and good.attempts[0].verdict.reason == "rebuild_passes"
    assert [o.passed for o in good.attempts[0].verdict.tests] == [True, True, True]
    assert not vague.verified and vague.attempts[0].verdict.reason == "rebuild_fails"
    assert "max(lo, x)" in vague.attempts[0].sample.code  # what was rebuilt is kept
    assert quoting.attempts[0].verdict.reason == "explanation_has_code"
    regenerations = [r for r in engine.requests if r.tag == "regenerate"]
    assert len(regenerations) == 2  # the quoting explanation never reached the rebuild
    assert all(SOURCE.code not in r.messages[0].content for r in regenerations)
    assert record.rejection_keys() == ["solution/rebuild_fails", "solution/explanation_has_code"]
    assert stats.records_verified == 1 and stats.trajectories_verified == 1


def test_the_judge_scores_faithfulness_and_both_scores_are_kept(tmp_path, sandbox):
    def judge(prompt: str) -> str:
        return '{"faithfulness": 2, "rationale": "misses edges"}'

    engine = ScriptedEngine(respond_with([GOOD], judge))
    record, _, _ = run(tmp_path, sandbox, engine, judge=load_explain_judge())
    attempt = record.trajectories[0].attempts[0]
    assert attempt.verdict.passed and attempt.verdict.reason == "rebuild_passes"
    assert attempt.judgement.scores == {"faithfulness": 2}
    assert record.status == "rejected" and record.rejection_keys() == ["judge/low_score"]
    judge_prompt = next(r for r in engine.requests if r.tag == "judge").messages[0].content
    assert SOURCE.code.strip() in judge_prompt and GOOD in judge_prompt


def test_malformed_judge_output_is_a_rejection_not_a_crash(tmp_path, sandbox):
    engine = ScriptedEngine(respond_with([GOOD], lambda prompt: "faithful!"))
    record, _, _ = run(tmp_path, sandbox, engine, judge=load_explain_judge())
    assert record.rejection_keys() == ["judge/judge_unparseable"]


def test_kept_explanations_export_as_code_in_explanation_out(tmp_path, sandbox, monkeypatch):
    engine = ScriptedEngine(respond_with([GOOD]))
    run(tmp_path, sandbox, engine)
    # a template edited after generation cannot change the prompt the explanation answered
    monkeypatch.setattr("synth.export.dialogs.explain_prompt", lambda *args: "edited")
    export_dataset(tmp_path / "run", tmp_path / "data", ExportOptions(validation_share=0))
    (row,) = read_split(tmp_path / "data", "train")
    assert row["kind"] == "explain"
    assert row["messages"][0]["content"] == engine.requests[0].messages[0].content
    assert SOURCE.code.strip() in row["messages"][0]["content"]
    assert row["messages"][1]["content"] == GOOD
