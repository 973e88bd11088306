"""The whole loop with a scripted model and the real bubblewrap sandbox.

Scenario: problem A has one correct sample and one buggy sample that the feedback fixes in
round 2; problem B's tests are all vacuous (a stub passes them) and it is rejected.
"""

from __future__ import annotations

from collections import Counter

import pytest

from synth.engines.base import ChatRequest, Completion
from synth.engines.scripted import ScriptedEngine
from synth.errors import SynthError
from synth.export import ExportOptions, export_dataset, read_split
from synth.pipelines.code import CodePipeline
from synth.pipelines.scheduler import run_here
from synth.pipelines.settings import RunSettings
from synth.records import Record
from synth.sandbox.base import Limits
from synth.store import RunStore
from synth.taxonomy import parse_taxonomy

pytestmark = pytest.mark.sandbox

TAXONOMY = parse_taxonomy(
    {
        "name": "tiny",
        "areas": [
            {
                "id": "basics",
                "name": "Basics",
                "children": [
                    {
                        "id": "clamping",
                        "name": "Clamping",
                        "description": "Bound a value.",
                        "weight": 1,
                    },
                    {"id": "parity", "name": "Parity", "description": "Even and odd.", "weight": 1},
                ],
            }
        ],
    }
)

PROBLEM_A = """## Problem
Write a function that clamps an integer x into the closed range [lo, hi], returning lo when x is
below the range and hi when it is above.

## Signature
```python
def clamp(x: int, lo: int, hi: int) -> int:
```

## Examples
```python
clamp(5, 0, 10)  # -> 5
```
"""

TESTS_A = """Here are the tests:
```python
assert clamp(5, 0, 10) == 5
assert clamp(-3, 0, 10) == 0
assert clamp(11, 0, 10) == 10
assert clamp(7, 7, 7) == 7
assert callable(clamp)
assert True
```
"""

PROBLEM_B = """## Problem
Write a function that tells whether an integer is even, returning True for even numbers and False
for odd ones, including negative numbers.

## Signature
```python
def is_even(n: int) -> bool:
```
"""

TESTS_B = """```python
assert is_even(2) or True
assert is_even(3) is None or not is_even(3)
assert callable(is_even)
```
"""

GOOD_A = """We compare against both bounds.
```python
def clamp(x: int, lo: int, hi: int) -> int:
    # below the range -> lo, above -> hi
    return max(lo, min(x, hi))
```
"""

BUGGY_A = """```python
def clamp(x: int, lo: int, hi: int) -> int:
    # only the lower bound (bug: forgets hi)
    return max(lo, x)
```
"""

FIXED_A = """The upper bound was missing.
```python
def clamp(x: int, lo: int, hi: int) -> int:
    return min(max(lo, x), hi)
```
"""


def scenario(request: ChatRequest, index: int) -> str:
    prompt = request.messages[0].content
    is_a = "clamp" in prompt or "Clamping" in prompt
    if request.tag == "problem":
        return PROBLEM_A if is_a else PROBLEM_B
    if request.tag == "tests":
        return TESTS_A if is_a else TESTS_B
    if request.tag == "solution":
        return GOOD_A if index == 0 else BUGGY_A
    if request.tag == "repair":
        return FIXED_A
    raise AssertionError(f"unexpected request {request.tag}")


@pytest.fixture
def run_config() -> RunSettings:
    return RunSettings(
        problems=2,
        samples=2,
        max_attempts=3,
        seed=0,
        batch_size=2,
        min_tests=2,
        limits=Limits(timeout_s=5),
    )


def run_scenario(
    tmp_path, sandbox, config, respond=scenario
) -> tuple[ScriptedEngine, RunStore, dict[str, Record]]:
    engine = ScriptedEngine(respond)
    store = RunStore(tmp_path / "run")
    run_here(CodePipeline(TAXONOMY, config), engine, sandbox, store)
    records = {r.problem.entry_point if r.problem else r.id: r for r in store.records()}
    return engine, store, records


def test_buggy_sample_is_corrected_in_round_two_and_exported(
    tmp_path, sandbox, run_config, monkeypatch
):
    # Make slot 0 draw "clamping" and slot 1 "parity", whatever the sampler picks.
    monkeypatch.setattr("synth.pipelines.batch.sample_combo", _fixed_combos)
    engine, store, records = run_scenario(tmp_path, sandbox, run_config)

    clamp = records["clamp"]
    assert clamp.status == "verified"
    first, second = clamp.trajectories
    assert first.verified and not first.corrected and len(first.attempts) == 1
    assert second.corrected and [a.sample.round for a in second.attempts] == [1, 2]
    failed = second.attempts[0].verdict
    assert failed.stage == "tests" and failed.reason == "tests_failed"
    assert [o.name for o in failed.tests if not o.passed] == ["t3"]  # clamp(11, 0, 10) == 10
    # the vacuous and entry-point-free asserts were dropped with their reasons
    assert {(d.test.source, d.reason) for d in clamp.tests.dropped} == {
        ("assert callable(clamp)", "vacuous"),
        ("assert True", "no_entry_point"),
    }
    assert "at least one" in clamp.tests.rule and "4 kept, 0 dropped" in clamp.tests.rule

    # The repair request carried the problem, the faulty answer and the exact failing assert.
    repair = [r for r in engine.requests if r.tag == "repair"]
    assert len(repair) == 1
    roles = [m.role for m in repair[0].messages]
    assert roles == ["user", "assistant", "user"]
    assert repair[0].messages[1].content == BUGGY_A
    assert "assert clamp(11, 0, 10) == 10" in repair[0].messages[2].content
    assert "AssertionError" in repair[0].messages[2].content

    is_even = records["is_even"]
    assert is_even.status == "rejected" and is_even.rejection == "tests_vacuous"
    assert is_even.rejected_at == "tests" and not is_even.trajectories

    out = tmp_path / "data"
    counts = export_dataset(tmp_path / "run", out, ExportOptions(validation_share=0))
    assert (counts["records"], counts["verified_records"], counts["train_examples"]) == (2, 1, 2)
    lines = read_split(out, "train")
    assert [line["rounds"] for line in lines] == [1, 2]
    assert lines[1]["corrected"] is True
    assert "min(max(lo, x), hi)" in lines[1]["messages"][1]["content"]
    assert (
        lines[0]["messages"][0]["role"] == "user"
        and "clamps an integer" in lines[0]["messages"][0]["content"]
    )

    dialogs = tmp_path / "dialogs"
    export_dataset(
        tmp_path / "run", dialogs, ExportOptions(dialog="trajectory", validation_share=0)
    )
    corrected = read_split(dialogs, "train")[1]
    assert [m["role"] for m in corrected["messages"]] == ["user", "assistant", "user", "assistant"]
    assert "assert clamp(11, 0, 10) == 10" in corrected["messages"][2]["content"]


def test_export_pairs_each_answer_with_the_prompt_the_model_was_sent(
    tmp_path, sandbox, run_config, monkeypatch
):
    """A template edited between generate and export must not change a dataset's prompts:
    the samples keep the messages they answered. Records from before (no prompts kept)
    still export, with the templates rendered at export time."""
    monkeypatch.setattr("synth.pipelines.batch.sample_combo", _fixed_combos)
    engine, store, records = run_scenario(tmp_path, sandbox, run_config)
    sent = {r.tag: r.messages for r in engine.requests if r.tag in ("solution", "repair")}
    first, second = records["clamp"].trajectories
    assert first.attempts[0].sample.prompt == sent["solution"]
    assert second.attempts[1].sample.prompt == sent["repair"]  # the whole dialog so far

    monkeypatch.setattr("synth.export.dialogs.solution_prompt", lambda problem: "EDITED")
    monkeypatch.setattr("synth.export.dialogs.render", lambda *a, **kw: "EDITED")
    for dialog, expected in [
        ("final", [sent["solution"][0]] * 2),
        ("trajectory", [sent["solution"][0], *sent["repair"]]),
    ]:
        out = tmp_path / dialog
        export_dataset(tmp_path / "run", out, ExportOptions(dialog=dialog, validation_share=0))
        rows = read_split(out, "train")
        users = [m for row in rows for m in row["messages"] if m["role"] != "assistant"]
        told = [m for row in rows for m in row["messages"][:-1]]
        assert "EDITED" not in str(users)
        if dialog == "final":
            assert users == [m.model_dump() for m in expected]
        else:  # the corrected trajectory's dialog is the repair request, then the fix
            assert told[1:] == [m.model_dump() for m in sent["repair"]]

    old = RunStore(tmp_path / "old")  # the same records as an older synth wrote them
    old.write(
        [
            record.model_copy(
                update={
                    "trajectories": tuple(
                        t.model_copy(
                            update={
                                "attempts": tuple(
                                    a.model_copy(
                                        update={
                                            "sample": a.sample.model_copy(update={"prompt": ()})
                                        }
                                    )
                                    for a in t.attempts
                                )
                            }
                        )
                        for t in record.trajectories
                    )
                }
            )
            for record in store.records()
        ]
    )
    export_dataset(tmp_path / "old", tmp_path / "old-data", ExportOptions(validation_share=0))
    assert read_split(tmp_path / "old-data", "train")[0]["messages"][0]["content"] == "EDITED"


def test_resume_skips_stored_slots_and_writes_nothing_twice(
    tmp_path, sandbox, run_config, monkeypatch
):
    monkeypatch.setattr("synth.pipelines.batch.sample_combo", _fixed_combos)
    run_scenario(tmp_path, sandbox, run_config)
    shards = sorted((tmp_path / "run" / "records").iterdir())

    engine, store, records = run_scenario(tmp_path, sandbox, run_config)
    assert engine.requests == []  # nothing left to do
    assert sorted((tmp_path / "run" / "records").iterdir()) == shards
    assert len(list(store.records())) == 2


def test_interrupted_run_resumes_where_it_stopped(tmp_path, sandbox, monkeypatch):
    monkeypatch.setattr("synth.pipelines.batch.sample_combo", _fixed_combos)
    config = RunSettings(
        problems=2,
        samples=2,
        max_attempts=3,
        batch_size=1,
        min_tests=2,
        batches_in_flight=1,
        limits=Limits(timeout_s=5),
    )
    calls = Counter()

    def dies_on_second_problem(request: ChatRequest, index: int) -> str:
        calls[request.tag] += 1
        if request.tag == "problem" and calls["problem"] == 2:
            raise KeyboardInterrupt  # the user pressed Ctrl-C
        return scenario(request, index)

    with pytest.raises(KeyboardInterrupt):
        run_scenario(tmp_path, sandbox, config, respond=dies_on_second_problem)
    assert [r.problem.entry_point for r in RunStore(tmp_path / "run").records()] == ["clamp"]

    engine, _, records = run_scenario(tmp_path, sandbox, config)
    assert sorted(records) == ["clamp", "is_even"]
    assert {r.tag for r in engine.requests} == {"problem", "tests"}  # only slot 1 was generated


def test_garbage_and_truncated_output_is_rejected_with_reasons(tmp_path, sandbox, run_config):
    def garbage(request: ChatRequest, index: int):
        if request.tag == "problem" and "Clamping" in request.messages[0].content:
            return Completion(
                text=PROBLEM_A[:60], finish_reason="length", prompt_tokens=5, completion_tokens=9
            )
        return "\x00 ```python\ndef (((\n``` lorem ipsum \ufffd"

    _, store, records = run_scenario(tmp_path, sandbox, run_config, respond=garbage)
    stored = list(store.records())
    assert len(stored) == 2 and all(r.status == "rejected" for r in stored)
    assert all(r.rejection and r.rejected_at == "problem" for r in stored)
    assert {r.rejection for r in stored} <= {"truncated", "unparseable", "empty"}


def test_near_copy_of_an_earlier_problem_is_rejected(tmp_path, sandbox, run_config):
    def same_problem(request: ChatRequest, index: int) -> str:
        if request.tag == "problem":
            return PROBLEM_A
        return scenario(request, index)

    _, store, _ = run_scenario(tmp_path, sandbox, run_config, respond=same_problem)
    stored = sorted(store.records(), key=lambda r: r.slot)
    assert stored[0].status == "verified"
    assert stored[1].rejection == "duplicate" and stored[0].problem.id in stored[1].rejection_detail


def test_a_resumed_run_rejects_a_near_copy_of_a_stored_problem(tmp_path, sandbox, run_config):
    """The near-duplicate index of a resumed run is seeded from the run index's stored
    signatures: slot 1, written after the resume, copies slot 0's problem."""

    def same_problem(request: ChatRequest, index: int) -> str:
        if request.tag == "problem":
            return PROBLEM_A
        return scenario(request, index)

    first = run_config.model_copy(update={"problems": 1})
    run_scenario(tmp_path, sandbox, first, respond=same_problem)
    _, store, _ = run_scenario(tmp_path, sandbox, run_config, respond=same_problem)
    stored = sorted(store.records(), key=lambda r: r.slot)
    assert stored[0].status == "verified"
    assert stored[1].rejection == "duplicate" and stored[0].problem.id in stored[1].rejection_detail


def test_tests_that_no_sample_passes_are_dropped_by_the_agreement_rule(
    tmp_path, sandbox, run_config, monkeypatch
):
    monkeypatch.setattr("synth.pipelines.batch.sample_combo", _fixed_combos)
    wrong_test = TESTS_A.replace("assert clamp(7, 7, 7) == 7", "assert clamp(7, 7, 7) == 8")

    def respond(request: ChatRequest, index: int) -> str:
        if request.tag == "tests" and "clamp" in request.messages[0].content:
            return wrong_test
        return scenario(request, index)

    _, _, records = run_scenario(tmp_path, sandbox, run_config, respond=respond)
    clamp = records["clamp"]
    assert ("assert clamp(7, 7, 7) == 8", "unconfirmed") in {
        (d.test.source, d.reason) for d in clamp.tests.dropped
    }
    assert "3 kept, 1 dropped over 2 samples" in clamp.tests.rule
    assert clamp.trajectories[0].verified


def _fixed_combos(taxonomy, slot, config):
    from synth.records import SkillCombo

    concept = taxonomy.concepts[slot % len(taxonomy.concepts)]
    return SkillCombo(slot=slot, concepts=(concept,))


def test_verified_problems_are_solved_again_from_a_run_directory(
    tmp_path, sandbox, run_config, monkeypatch
):
    """A held-out set: the verified problems of one run, with their tests, for a new model."""
    from synth.code.problems import load_verified_problems

    monkeypatch.setattr("synth.pipelines.batch.sample_combo", _fixed_combos)
    run_scenario(tmp_path / "first", sandbox, run_config)
    imported = load_verified_problems(tmp_path / "first" / "run")
    assert [p.entry_point for p, _ in imported] == ["clamp"]
    with pytest.raises(SynthError, match="not a run directory"):
        load_verified_problems(tmp_path / "nowhere")

    def answer(request: ChatRequest, index: int) -> str:
        assert request.tag == "solution" and "clamps an integer" in request.messages[0].content
        return GOOD_A if index == 0 else BUGGY_A

    config = RunSettings(problems=1, samples=2, max_attempts=1, seed=5, limits=Limits(timeout_s=5))
    store = RunStore(tmp_path / "again")
    engine = ScriptedEngine(answer)
    run_here(CodePipeline(TAXONOMY, config, imported=imported), engine, sandbox, store)
    (record,) = store.records()
    assert record.status == "verified" and record.concept_ids == ("clamping",)
    assert [t.verified for t in record.trajectories] == [True, False]
    assert record.tests.cases == imported[0][1].cases  # the imported tests, not new ones
    assert {r.tag for r in engine.requests} == {"solution"}
