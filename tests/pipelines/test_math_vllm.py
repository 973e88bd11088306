"""The math pipeline on a real vLLM engine (the tiny random model) and the real sandbox.

The model writes nonsense: generated problems are rejected with reasons, and solutions to
imported problems (in the code style, so stop sequences and multi-turn requests reach
vLLM) end without a boxed answer, are sent back for correction, and are never kept.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from synth.pipelines.math import MathPipeline
from synth.pipelines.scheduler import run_here
from synth.pipelines.settings import RunSettings
from synth.sandbox.base import Limits
from synth.store import RunStore
from synth.taxonomy import load_taxonomy

pytestmark = [pytest.mark.slow, pytest.mark.sandbox]

MATH_TAXONOMY = load_taxonomy(Path(__file__).parents[2] / "taxonomies/math/skills.yaml")


def test_nonsense_math_is_rejected_with_reasons(tmp_path, vllm_engine, sandbox):
    config = RunSettings(problems=4, samples=2, max_tokens=96, limits=Limits(timeout_s=5))
    store = RunStore(tmp_path / "generated")
    stats = run_here(MathPipeline(MATH_TAXONOMY, config), vllm_engine, sandbox, store)
    records = list(store.records())
    assert sorted(r.slot for r in records) == [0, 1, 2, 3]
    assert all(r.status == "rejected" and r.rejected_at and r.rejection for r in records)
    assert stats.completion_tokens > 0 and stats.records_verified == 0


def test_solutions_from_a_real_model_go_through_every_check(tmp_path, vllm_engine, sandbox):
    imported = [("What is 2 + 2?", "4"), ("What is half of 10?", "5"), ("Compute 3^2.", "9")]
    config = RunSettings(
        problems=3,
        samples=2,
        max_attempts=2,
        max_tokens=64,
        solution_style="code",
        max_tool_calls=1,
        limits=Limits(timeout_s=5),
    )
    store = RunStore(tmp_path / "imported")
    stats = run_here(
        MathPipeline(MATH_TAXONOMY, config, imported=imported), vllm_engine, sandbox, store
    )
    records = sorted(store.records(), key=lambda r: r.slot)
    assert [r.problem.answer for r in records] == ["4", "5", "9"]
    assert all(r.status == "rejected" and r.rejected_at == "solution" for r in records)
    for record in records:
        assert len(record.trajectories) == 2
        for trajectory in record.trajectories:
            assert [a.sample.round for a in trajectory.attempts] == [1, 2]
            for attempt in trajectory.attempts:
                assert not attempt.verdict.passed
                assert attempt.verdict.reason in {"no_answer", "truncated", "wrong_answer"}
                assert attempt.sample.completion_tokens > 0
    assert stats.samples == 12 and stats.prompt_tokens > 0
