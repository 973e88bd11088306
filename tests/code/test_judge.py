"""The quality judge: parsing its answers (malformed ones are clear rejections), thresholds,
best-of across system prompts, and both inside a scripted run on the real sandbox."""

from __future__ import annotations

import pytest

from synth.code.judge import JudgeConfig, keep_best, load_judge_config, parse_judgement
from synth.code.solutions import SystemPrompt, load_system_prompts
from synth.engines.base import Completion
from synth.engines.scripted import ScriptedEngine
from synth.errors import SynthError
from synth.pipelines.code import CodePipeline
from synth.pipelines.scheduler import run_here
from synth.pipelines.settings import RunSettings, data_settings
from synth.records import Judgement
from synth.sandbox.base import Limits
from synth.store import RunStore
from tests.pipelines.test_code import FIXED_A, GOOD_A, TAXONOMY, scenario

CONFIG = load_judge_config()


def answer(text: str, finish: str = "stop") -> Completion:
    return Completion(text=text, finish_reason=finish)


def test_the_default_config_has_two_scales_and_thresholds_on_them():
    assert set(CONFIG.scales) == {"correctness", "informativeness"}
    assert CONFIG.thresholds == {"correctness": 4, "informativeness": 3}


@pytest.mark.parametrize(
    "text",
    [
        '{"correctness": 5, "informativeness": 4, "rationale": "right and explained"}',
        'Scores:\n```json\n{"correctness": 4, "informativeness": 3, "rationale": "ok"}\n```',
        '{"draft": 1} then {"correctness": 5.0, "informativeness": 5, "rationale": "x"}',
    ],
)
def test_a_well_formed_answer_above_thresholds_is_kept(text):
    judgement = parse_judgement(CONFIG, answer(text))
    assert (judgement.kept, judgement.reason) == (True, "above_thresholds")
    assert set(judgement.scores) == {"correctness", "informativeness"}


def test_a_score_under_its_threshold_is_not_kept_and_says_which():
    judgement = parse_judgement(CONFIG, answer('{"correctness": 5, "informativeness": 2}'))
    assert (judgement.kept, judgement.reason) == (False, "low_score")
    assert judgement.detail == "informativeness 2 < 3"


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("Looks great to me!", "no JSON object"),
        ('{"correctness": 5}', "'informativeness' is missing"),
        ('{"correctness": 9, "informativeness": 3}', "off its scale 1-5"),
        ('{"correctness": "high", "informativeness": 3}', "'correctness' is missing or not"),
        ('{"correctness": true, "informativeness": 3}', "'correctness' is missing or not"),
        ('{"correctness": 4.5, "informativeness": 3}', "'correctness' is missing or not"),
        ('["correctness", 5]', "no JSON object"),
    ],
)
def test_malformed_judge_output_is_a_clear_rejection(text, why):
    judgement = parse_judgement(CONFIG, answer(text))
    assert (judgement.kept, judgement.reason) == (False, "judge_unparseable")
    assert why in judgement.detail and text[:10] in judgement.detail


def test_an_engine_error_is_its_own_reason():
    judgement = parse_judgement(CONFIG, Completion(text="", finish_reason="error", error="boom"))
    assert (judgement.kept, judgement.reason, judgement.detail) == (False, "judge_error", "boom")


def test_keep_best_keeps_the_highest_sum_and_the_first_on_ties():
    def kept(c: int, i: int) -> Judgement:
        return Judgement(scores={"c": c, "i": i}, kept=True, reason="above_thresholds")

    low = Judgement(kept=False, reason="low_score")
    out = keep_best([kept(4, 4), low, kept(5, 4), kept(4, 5), None])
    assert [j.reason if j else None for j in out] == [
        "not_best",
        "low_score",
        "above_thresholds",
        "not_best",
        None,
    ]


def test_a_bad_judge_config_names_the_file_and_field(tmp_path):
    path = tmp_path / "judge.yaml"
    path.write_text(
        "scales:\n  correctness: {min: 1, max: 5, meaning: m}\nthresholds:\n  correctness: 7\n"
    )
    with pytest.raises(SynthError, match=r"judge.yaml.*off its scale 1-5"):
        load_judge_config(path)


def test_system_prompts_file_is_validated(tmp_path):
    path = tmp_path / "prompts.yaml"
    path.write_text("prompts:\n  - {name: a, text: x}\n  - {name: a, text: y}\n")
    with pytest.raises(SynthError, match="duplicate names: a"):
        load_system_prompts(path)
    path.write_text("prompts:\n  - {name: a}\n")
    with pytest.raises(SynthError, match=r"prompts.yaml: prompts.0.text"):
        load_system_prompts(path)


PROMPTS = (
    SystemPrompt(name="explained", text="Explain your approach before the code."),
    SystemPrompt(name="terse", text="Write terse code without prose."),
)


def judged_run(tmp_path, sandbox, judge_answers, *, prompts=PROMPTS, separate_judge=False):
    def respond(request, index):
        if request.tag == "judge":
            return judge_answers(request.messages[0].content)
        if request.tag == "solution" and request.messages[0].role == "system":
            return GOOD_A if "Explain" in request.messages[0].content else FIXED_A
        return scenario(request, index)

    engine = ScriptedEngine(respond)
    config = RunSettings(
        problems=1,
        samples=2,
        max_attempts=2,
        batch_size=1,
        min_tests=2,
        limits=Limits(timeout_s=5, memory_mb=256),
        judge=CONFIG,
        system_prompts=prompts,
    )
    store = RunStore(tmp_path / "run")
    run_here(
        CodePipeline(
            TAXONOMY, config, judge_engine=ScriptedEngine(respond) if separate_judge else None
        ),
        engine,
        sandbox,
        store,
    )
    records = {r.problem.entry_point: r for r in store.records() if r.problem is not None}
    return records["clamp"], engine


@pytest.mark.sandbox
def test_rejection_sampling_keeps_the_best_judged_sample_per_problem(tmp_path, sandbox):
    def judge(prompt: str) -> str:
        if "compare against both bounds" in prompt:
            return '{"correctness": 5, "informativeness": 5, "rationale": "explained"}'
        return '{"correctness": 5, "informativeness": 4, "rationale": "terse"}'

    record, engine = judged_run(tmp_path, sandbox, judge)
    assert record.status == "verified"
    by_prompt = {t.attempts[0].sample.system_prompt: t for t in record.trajectories}
    assert set(by_prompt) == {"explained", "terse"}
    best, other = by_prompt["explained"], by_prompt["terse"]
    assert best.verified and best.attempts[-1].judgement.scores == {
        "correctness": 5,
        "informativeness": 5,
    }
    assert not other.verified and other.attempts[-1].judgement.reason == "not_best"
    assert record.rejection_keys() == ["judge/not_best"]
    systems = [r.messages[0].content for r in engine.requests if r.tag == "solution"]
    assert sorted(systems) == sorted(p.text for p in PROMPTS)


@pytest.mark.sandbox
def test_unparseable_judge_output_rejects_the_samples_with_the_text(tmp_path, sandbox):
    record, engine = judged_run(
        tmp_path, sandbox, lambda prompt: "10/10 would merge", separate_judge=True
    )
    assert record.status == "rejected"
    assert record.rejection_keys() == ["judge/judge_unparseable"] * 2
    detail = record.trajectories[0].attempts[-1].judgement.detail
    assert "no JSON object" in detail and "10/10 would merge" in detail
    assert not [r for r in engine.requests if r.tag == "judge"]  # its own engine judged


def test_judge_config_type_is_the_pipeline_knob():
    settings = data_settings(RunSettings(judge=CONFIG))
    assert settings["judge"]["thresholds"]["correctness"] == 4
    assert isinstance(CONFIG, JudgeConfig)
