"""Backtranslation: explanations of verified code, kept when the code can be rebuilt from them.

Execution cannot judge an explanation directly, so (as in the Llama 3 recipe) the model
first explains a verified solution in prose, then, in a fresh conversation that sees only
the signature and the explanation, writes the code again. The explanation is kept when
the rebuilt code passes the source record's tests. With a judge (prompts/judge/explain.yaml)
the explanation's faithfulness to the code is scored as well, and must reach the threshold;
both scores are recorded (the tests in the verdict, the judge's in the judgement). The loop
is synth.pipelines.explain; this module holds its prompts and rules.

An explanation that quotes code (a fenced block) is rejected before anything else: the
rebuild would copy it, and the test would prove nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from synth.code.judge import (
    JUDGE_CONFIGS,
    JudgeConfig,
    load_judge_config,
)
from synth.code.sources import Source
from synth.code.verify import unfinished
from synth.engines.base import ChatRequest, Completion, Message, user
from synth.prompts import render
from synth.records import (
    Problem,
    Sample,
    SourceCode,
    Verdict,
    stable_id,
)

if TYPE_CHECKING:
    from synth.pipelines.settings import ExplainSettings

EXPLAIN_JUDGE_CONFIG = JUDGE_CONFIGS / "explain.yaml"


def explain_prompt(problem: Problem, source: SourceCode) -> str:
    return render("explain/explain.j2", problem=problem, source=source)


def explain_request(source: Source, settings: ExplainSettings, *, seed: int) -> ChatRequest:
    return ChatRequest(
        messages=(user(explain_prompt(source.problem, source.source_code())),),
        n=settings.samples,
        temperature=settings.temperature,
        max_tokens=settings.max_tokens,
        seed=seed,
        tag="explain",
    )


def regenerate_request(
    source: Source, explanation: str, settings: ExplainSettings, *, seed: int
) -> ChatRequest:
    """The rebuild: a fresh conversation with the signature and the explanation alone."""
    prompt = render("explain/regenerate.j2", problem=source.problem, explanation=explanation)
    return ChatRequest(
        messages=(user(prompt),),
        n=1,
        temperature=0.0,
        max_tokens=settings.max_tokens,
        seed=seed,
        tag="regenerate",
    )


def explanation_sample(
    completion: Completion, source: Source, index: int, prompt: tuple[Message, ...] = ()
) -> Sample:
    return Sample(
        id=stable_id("explain", source.record_id, index),
        problem_id=source.problem.id,
        trajectory=index,
        round=1,
        text=completion.text,
        finish_reason=completion.finish_reason,
        prompt_tokens=completion.prompt_tokens,
        completion_tokens=completion.completion_tokens,
        prompt=prompt,
    )


def unusable_explanation(sample: Sample) -> Verdict | None:
    """A verdict for an explanation that cannot go on to the rebuild, else None."""
    vid = stable_id("verdict", sample.id)
    early = unfinished(sample)
    if early is not None:
        return early
    if "```" in sample.text:
        return Verdict(
            id=vid,
            passed=False,
            stage="extract",
            reason="explanation_has_code",
            detail="the explanation quotes code, so a rebuild from it proves nothing",
        )
    if not sample.text.strip():
        return Verdict(id=vid, passed=False, stage="extract", reason="empty")
    return None


def explanation_record_id(source_id: str) -> str:
    return stable_id("explain", source_id)


def load_explain_judge(path: Path | None = None) -> JudgeConfig:
    """The faithfulness judge's config: `path`, or the built-in prompts/judge/explain.yaml."""
    return load_judge_config(path or EXPLAIN_JUDGE_CONFIG)
