"""Translation, backtranslation and the judge on the real engines: a replay of a recorded
run makes the same records, and the tiny vLLM model's nonsense is rejected with reasons."""

from __future__ import annotations

import pytest

from synth.code.explain import load_explain_judge
from synth.code.judge import judge_request, load_judge_config, parse_judgement
from synth.engines.replay import RecordingEngine, ReplayEngine
from synth.engines.scripted import ScriptedEngine
from synth.pipelines.explain import ExplainPipeline
from synth.pipelines.scheduler import run_here
from synth.pipelines.settings import ExplainSettings, TranslateSettings
from synth.records import Sample
from synth.store import RunStore
from tests.code.test_translate import SOURCE, blocks, translate_run
from tests.sandbox.programs import CASES

pytestmark = [pytest.mark.sandbox, pytest.mark.docker]


def test_a_replayed_translation_run_makes_the_same_records(docker_sandbox, tmp_path):
    def respond(request, index):
        if len(request.messages) == 1:
            return blocks("rust", CASES["rust"].broken, CASES["rust"].tests)
        return blocks("rust", CASES["rust"].right, CASES["rust"].tests)

    recording = tmp_path / "recorded.jsonl"
    config = TranslateSettings(languages=("rust",))
    first = RunStore(tmp_path / "first")
    translate_run(
        [SOURCE], RecordingEngine(ScriptedEngine(respond), recording), docker_sandbox, first, config
    )
    again = RunStore(tmp_path / "again")
    translate_run([SOURCE], ReplayEngine(recording), docker_sandbox, again, config)
    (a,), (b,) = list(first.records()), list(again.records())
    assert a.status == b.status == "verified"
    assert (
        [x.verdict.reason for x in a.trajectories[0].attempts]
        == [x.verdict.reason for x in b.trajectories[0].attempts]
        == ["compile_error", "passed"]
    )
    samples = [[x.sample for x in r.trajectories[0].attempts] for r in (a, b)]
    assert samples[0] == samples[1]  # the same texts, code and tests (timings differ)


@pytest.mark.slow
def test_the_tiny_models_translations_explanations_and_judgements_are_rejected(
    docker_sandbox, vllm_engine, tmp_path
):
    translations = RunStore(tmp_path / "translate")
    translate_run(
        [SOURCE],
        vllm_engine,
        docker_sandbox,
        translations,
        TranslateSettings(languages=("cpp", "go"), max_attempts=2, max_tokens=128),
    )
    records = list(translations.records())
    assert {r.problem.language for r in records} == {"cpp", "go"}
    assert all(r.status == "rejected" and r.rejection_keys() for r in records)
    assert all(r.model == vllm_engine.name for r in records)

    explanations = RunStore(tmp_path / "explain")
    settings = ExplainSettings(samples=2, max_tokens=128, judge=load_explain_judge())
    run_here(ExplainPipeline([SOURCE], settings), vllm_engine, docker_sandbox, explanations)
    (record,) = list(explanations.records())
    assert record.status == "rejected" and len(record.rejection_keys()) == 2

    config = load_judge_config()
    sample = Sample(id="s", problem_id="p", trajectory=0, round=1, text=SOURCE.code)
    (completions,) = vllm_engine.chat([judge_request(config, SOURCE.problem, sample, seed=0)])
    judgement = parse_judgement(config, completions[0])
    assert not judgement.kept and judgement.reason in ("judge_unparseable", "low_score")
