"""Backtranslation: explanations of verified code, kept when the code can be rebuilt from them.

Execution cannot judge an explanation directly, so (as in the Llama 3 recipe) the model
first explains a verified solution in prose, then, in a fresh conversation that sees only
the signature and the explanation, writes the code again. The explanation is kept when
the rebuilt code passes the source record's tests. With a judge (prompts/judge/explain.yaml)
the explanation's faithfulness to the code is scored as well, and must reach the threshold;
both scores are recorded (the tests in the verdict, the judge's in the judgement).

An explanation that quotes code (a fenced block) is rejected before anything else: the
rebuild would copy it, and the test would prove nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from synth.code.execute import run_tests
from synth.code.extract import extract_code
from synth.code.judge import (
    JUDGE_CONFIGS,
    JudgeConfig,
    judge_request,
    load_judge_config,
    parse_judgement,
)
from synth.code.sources import DerivedStats, Source, store_in_batches
from synth.code.verify import unfinished, verdict_from_run
from synth.engines.base import ChatRequest, Completion, Engine, user
from synth.prompts import render
from synth.records import (
    Attempt,
    Judgement,
    Problem,
    Record,
    Sample,
    SourceCode,
    Trajectory,
    Verdict,
    stable_id,
)
from synth.sandbox.base import Limits, Sandbox
from synth.store import RunStore

EXPLAIN_JUDGE_CONFIG = JUDGE_CONFIGS / "explain.yaml"


@dataclass(frozen=True)
class ExplainConfig:
    samples: int = 1
    temperature: float = 0.7
    max_tokens: int = 1024
    seed: int = 0
    batch_size: int = 16
    verify_workers: int = 2
    limits: Limits = field(default_factory=lambda: Limits(timeout_s=10, memory_mb=512))
    judge: JudgeConfig | None = None

    def settings(self) -> dict:
        return {
            "kind": "explain",
            "samples": self.samples,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "seed": self.seed,
            "judge": self.judge.model_dump() if self.judge else None,
            "limits": self.limits.model_dump(mode="json"),
        }


def explain_prompt(problem: Problem, source: SourceCode) -> str:
    return render("explain/explain.j2", problem=problem, source=source)


def explain_request(source: Source, config: ExplainConfig) -> ChatRequest:
    return ChatRequest(
        messages=(user(explain_prompt(source.problem, source.source_code())),),
        n=config.samples,
        temperature=config.temperature,
        max_tokens=config.max_tokens,
        seed=config.seed,
        tag="explain",
    )


def regenerate_request(source: Source, explanation: str, config: ExplainConfig) -> ChatRequest:
    prompt = render("explain/regenerate.j2", problem=source.problem, explanation=explanation)
    return ChatRequest(
        messages=(user(prompt),),
        n=1,
        temperature=0.0,
        max_tokens=config.max_tokens,
        seed=config.seed,
        tag="regenerate",
    )


def explanation_sample(completion: Completion, source: Source, index: int) -> Sample:
    return Sample(
        id=stable_id("explain", source.record_id, index),
        problem_id=source.problem.id,
        trajectory=index,
        round=1,
        text=completion.text,
        finish_reason=completion.finish_reason,
        prompt_tokens=completion.prompt_tokens,
        completion_tokens=completion.completion_tokens,
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


def explain_run(
    sources: Sequence[Source],
    engine: Engine,
    sandbox: Sandbox,
    store: RunStore,
    config: ExplainConfig,
    on_update: Callable[[DerivedStats], None] = lambda stats: None,
) -> DerivedStats:
    """Explain every source not yet stored; returns the counts."""
    done = store.ids()
    todo = [s for s in sources if explanation_record_id(s.record_id) not in done]
    stats = DerivedStats()
    with ThreadPoolExecutor(
        max_workers=config.verify_workers, thread_name_prefix="explain"
    ) as pool:

        def explain(batch: Sequence[Source]) -> list[Record]:
            return _explain_batch(batch, engine, sandbox, config, pool, stats)

        return store_in_batches(
            todo, config.batch_size, explain, engine.name, store, stats, on_update
        )


def explanation_record_id(source_id: str) -> str:
    return stable_id("explain", source_id)


def _explain_batch(sources, engine, sandbox, config, pool, stats) -> list[Record]:
    answers = engine.chat([explain_request(source, config) for source in sources])
    explained = [
        (source, explanation_sample(completion, source, index))
        for source, completions in zip(sources, answers, strict=True)
        for index, completion in enumerate(completions)
    ]
    stats.samples += len(explained)
    early = {sample.id: unusable_explanation(sample) for _, sample in explained}
    usable = [(source, sample) for source, sample in explained if early[sample.id] is None]
    rebuilt = engine.chat([regenerate_request(s, sample.text, config) for s, sample in usable])

    def check(item) -> Verdict:
        (source, sample), completions = item
        code = extract_code(completions[0].text, source.problem.entry_point).code
        if completions[0].finish_reason != "stop" or code is None:
            return Verdict(
                id=stable_id("verdict", sample.id),
                passed=False,
                stage="extract",
                reason="no_rebuild",
                detail="no code could be rebuilt from the explanation",
            )
        probe = sample.model_copy(update={"code": code})
        run = run_tests(sandbox, code, source.suite, config.limits)
        verdict = verdict_from_run(probe, source.suite, run, None)
        reason = "rebuild_passes" if verdict.passed else "rebuild_fails"
        return verdict.model_copy(update={"reason": reason})

    verdicts = dict(
        zip(
            (sample.id for _, sample in usable),
            pool.map(check, zip(usable, rebuilt, strict=True)),
            strict=True,
        )
    )
    codes = {
        sample.id: extract_code(completions[0].text, source.problem.entry_point).code
        for (source, sample), completions in zip(usable, rebuilt, strict=True)
    }
    judgements: dict[str, Judgement] = {}
    if config.judge is not None:
        judged = [(s, sample) for s, sample in usable if verdicts[sample.id].passed]
        answers = engine.chat(
            [
                judge_request(config.judge, s.problem, sample, seed=config.seed, code=s.code)
                for s, sample in judged
            ]
        )
        for (_, sample), completions in zip(judged, answers, strict=True):
            judgements[sample.id] = parse_judgement(config.judge, completions[0])
    by_source: dict[str, list[Trajectory]] = {}
    for source, sample in explained:
        verdict = early[sample.id] or verdicts[sample.id]
        sample = sample.model_copy(update={"code": codes.get(sample.id)})
        attempt = Attempt(sample=sample, verdict=verdict, judgement=judgements.get(sample.id))
        trajectories = by_source.setdefault(source.record_id, [])
        trajectories.append(Trajectory(index=len(trajectories), attempts=(attempt,)))
    return [_record(source, tuple(by_source[source.record_id]), config) for source in sources]


def _record(source: Source, trajectories: tuple[Trajectory, ...], config: ExplainConfig) -> Record:
    verified = any(t.verified for t in trajectories)
    return Record(
        id=explanation_record_id(source.record_id),
        slot=0,
        status="verified" if verified else "rejected",
        concept_ids=source.problem.concept_ids,
        rejected_at=None if verified else "solution",
        problem=source.problem,
        tests=source.suite,
        trajectories=trajectories,
        seed=config.seed,
        kind="explain",
        source=source.source_code(),
    )


def load_explain_judge(path: Path | None = None) -> JudgeConfig:
    """The faithfulness judge's config: `path`, or the built-in prompts/judge/explain.yaml."""
    return load_judge_config(path or EXPLAIN_JUDGE_CONFIG)
