"""The pipeline on a real vLLM engine (the tiny random model) and the real sandbox.

The model writes nonsense, so this proves the plumbing: batched requests with n samples
reach vLLM, token counts add up, and every record is rejected with a reason, never kept.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from synth.cli import app
from synth.pipelines.code import CodePipeline
from synth.pipelines.scheduler import run_here
from synth.pipelines.settings import RunSettings
from synth.sandbox.base import Limits
from synth.store import RunStore
from synth.taxonomy import default_taxonomy_path, load_taxonomy

pytestmark = [pytest.mark.slow, pytest.mark.sandbox]


def test_nonsense_from_a_real_model_is_rejected_with_reasons(tmp_path, vllm_engine, sandbox):
    config = RunSettings(
        problems=6,
        samples=3,
        max_attempts=2,
        batch_size=4,
        max_tokens=128,
        limits=Limits(timeout_s=5),
    )
    store = RunStore(tmp_path / "run")
    stats = run_here(
        CodePipeline(load_taxonomy(default_taxonomy_path()), config), vllm_engine, sandbox, store
    )

    records = list(store.records())
    assert sorted(r.slot for r in records) == list(range(6))
    assert all(r.status == "rejected" and r.rejection and r.rejected_at for r in records)
    assert stats.trajectories_verified == 0 and stats.records_verified == 0
    assert sum(stats.rejected.values()) >= 6
    assert stats.completion_tokens > 0 and stats.prompt_tokens > 0
    assert all(r.model == vllm_engine.name for r in records)


def test_generate_command_records_a_run_that_replays_identically(tmp_path, tiny_model):
    """`synth generate` as a user runs it, recorded; the replay engine reproduces the run."""
    recording = tmp_path / "completions.jsonl"
    common = ["--problems", "3", "--samples", "2", "--max-attempts", "2", "--max-tokens", "64"]
    live = CliRunner().invoke(
        app,
        [
            "generate",
            "--model",
            str(tiny_model),
            "--max-model-len",
            "2048",
            "--out",
            str(tmp_path / "live"),
            "--record",
            str(recording),
            *common,
        ],
    )
    assert live.exit_code == 0, live.output
    summary = json.loads((tmp_path / "live" / "summary.json").read_text())
    assert summary["slots_done"] == 3 and summary["verified"] == 0
    # the model's tokens: every call this invocation made (its problems may all be rejected,
    # leaving no stored sample whose tokens the whole-run count would hold)
    assert summary["this_invocation"]["completion_tokens"] > 0 and summary["rejected"]
    assert "rejected" in live.output

    replayed = CliRunner().invoke(
        app,
        [
            "generate",
            "--engine",
            "replay",
            "--replay",
            str(recording),
            "--out",
            str(tmp_path / "replayed"),
            *common,
        ],
    )
    assert replayed.exit_code == 0, replayed.output

    def contents(run: str) -> list[dict]:
        records = sorted(RunStore(tmp_path / run).records(), key=lambda r: r.slot)
        return [r.model_dump(exclude={"model"}) for r in records]

    assert contents("live") == contents("replayed")
    export = CliRunner().invoke(
        app, ["export", str(tmp_path / "live"), "--out", str(tmp_path / "x")]
    )
    assert export.exit_code != 0 and "none of its 3 records is verified" in str(export.exception)
    assert not (tmp_path / "x.jsonl").exists()
