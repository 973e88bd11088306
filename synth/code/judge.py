"""The quality judge: an engine scores verified samples on small fixed scales.

The template, the scales and the thresholds live in a config file (prompts/judge/code.yaml
by default). The judge answers with one JSON object; a sample is kept when every score
reaches its threshold. An answer that is not such an object (no JSON, a missing scale, a
score off the scale) is a clear rejection of the sample (`judge_unparseable`, with the
judge's text), never a crash and never a silent pass.

With several system prompts in a run (rejection sampling), `keep_best` keeps only the
best-judged kept sample of each problem.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from synth.engines.base import ChatRequest, Completion, user
from synth.inputs import read_yaml, validated
from synth.prompts import render
from synth.records import Judgement, Problem, Sample

JUDGE_CONFIGS = Path(__file__).resolve().parents[1] / "prompts" / "judge"
DEFAULT_CONFIG = JUDGE_CONFIGS / "code.yaml"
MAX_DETAIL_CHARS = 500


class Scale(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min: int
    max: int
    meaning: str

    @model_validator(mode="after")
    def _ordered(self) -> Scale:
        if self.min >= self.max:
            raise ValueError(f"min ({self.min}) must be below max ({self.max})")
        return self


class JudgeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    template: str = "judge/code.j2"
    temperature: float = Field(0.0, ge=0)
    max_tokens: int = Field(512, ge=16)
    scales: dict[str, Scale]
    thresholds: dict[str, int]

    @model_validator(mode="after")
    def _thresholds_on_scales(self) -> JudgeConfig:
        for name, value in self.thresholds.items():
            if name not in self.scales:
                raise ValueError(f"threshold {name!r} names no scale ({', '.join(self.scales)})")
            scale = self.scales[name]
            if not scale.min <= value <= scale.max:
                raise ValueError(
                    f"threshold {name}={value} is off its scale {scale.min}-{scale.max}"
                )
        return self


def load_judge_config(path: Path | None = None) -> JudgeConfig:
    path = path or DEFAULT_CONFIG
    return validated(JudgeConfig, read_yaml(path), str(path), "a judge config mapping")


def judge_request(
    config: JudgeConfig, problem: Problem, sample: Sample, *, seed: int, **context: object
) -> ChatRequest:
    """Ask the judge about `sample` (its text is the template's `solution`); `context` holds
    whatever else the config's template shows (the explanation judge: the `code`)."""
    prompt = render(
        config.template,
        problem=problem,
        solution=sample.text,
        scales={name: scale.model_dump() for name, scale in config.scales.items()},
        **context,
    )
    return ChatRequest(
        messages=(user(prompt),),
        n=1,
        temperature=config.temperature,
        max_tokens=config.max_tokens,
        seed=seed,
        tag="judge",
    )


_OBJECT = re.compile(r"\{.*\}", re.DOTALL)


def parse_judgement(config: JudgeConfig, completion: Completion) -> Judgement:
    """The judge's scores and the keep decision; malformed output is a rejection."""
    if completion.finish_reason == "error":
        return Judgement(
            kept=False, reason="judge_error", detail=completion.error[:MAX_DETAIL_CHARS]
        )
    data = _last_json_object(completion.text)
    if data is None:
        return _unparseable("no JSON object in the judge's answer", completion.text)
    scores = {}
    for name, scale in config.scales.items():
        value = data.get(name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
            return _unparseable(f"score {name!r} is missing or not an integer", completion.text)
        if not scale.min <= int(value) <= scale.max:
            return _unparseable(
                f"score {name}={value} is off its scale {scale.min}-{scale.max}", completion.text
            )
        scores[name] = int(value)
    rationale = str(data.get("rationale", ""))[:MAX_DETAIL_CHARS]
    low = [f"{n} {scores[n]} < {t}" for n, t in config.thresholds.items() if scores[n] < t]
    if low:
        return Judgement(
            scores=scores,
            rationale=rationale,
            kept=False,
            reason="low_score",
            detail=", ".join(low),
        )
    return Judgement(scores=scores, rationale=rationale, kept=True, reason="above_thresholds")


def keep_best(judgements: Sequence[Judgement | None]) -> list[Judgement | None]:
    """Of one problem's judged samples, keep only the best kept one (highest score sum; the
    first on ties); the other kept ones become `not_best`."""
    kept = [i for i, j in enumerate(judgements) if j is not None and j.kept]
    if len(kept) <= 1:
        return list(judgements)
    best = max(kept, key=lambda i: (sum(judgements[i].scores.values()), -i))
    out = list(judgements)
    for index in kept:
        if index != best:
            out[index] = judgements[index].model_copy(
                update={
                    "kept": False,
                    "reason": "not_best",
                    "detail": f"sample {best} of this problem was judged better",
                }
            )
    return out


def _last_json_object(text: str) -> dict | None:
    """The last top-level `{...}` of the text that parses as a JSON object (models wrap it
    in prose or a fenced block)."""
    decoder = json.JSONDecoder()
    found, index = None, text.find("{")
    while index != -1:
        try:
            value, end = decoder.raw_decode(text, index)
        except json.JSONDecodeError:
            index = text.find("{", index + 1)
            continue
        if isinstance(value, dict):
            found = value
        index = text.find("{", end)
    return found


def _unparseable(why: str, text: str) -> Judgement:
    return Judgement(
        kept=False, reason="judge_unparseable", detail=f"{why}: {text.strip()[:MAX_DETAIL_CHARS]!r}"
    )
