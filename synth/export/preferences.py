"""Preference pairs from a run: for one prompt, an answer that passed every check (chosen)
and an answer to the same prompt that failed one (rejected), with the failure's evidence.

Rows are in TRL's conversational preference format, what `DPOTrainer` reads:
`prompt` (the user turn the model saw), `chosen` and `rejected` (the assistant's answer
each: one message, or for math in code style the answer's turns with its code's outputs
as user turns, the way the model saw them; TRL then counts those outputs in the pair's
log-probabilities too), plus metadata columns like the SFT rows': record, problem and both
sample ids, kind, domain, language, skills, the problem's statement and answer, the chosen
one's verdict, and the rejected one's `rejected_stage`, `rejected_reason` (the Verdict's
`stage` and `reason`: tests/tests_failed, lint/lint, extract/no_code, answer/wrong_answer,
...) and `rejected_detail`.

What is paired, per problem (code, math, translations and explanations alike):
- First attempts only, on both sides. The first attempts of a problem answered one prompt;
  a correction answered a different one (its faulty attempt and the feedback), so a
  corrected answer is never paired with the problem's prompt. A trajectory that failed
  first and was corrected later still gives its failed first attempt as a rejected one.
  A problem whose verified answers all came from corrections gives no pairs.
- Chosen: a first attempt that passed every check and that the judge, when one ran, kept.
  A first attempt that passed but the judge dropped is on neither side: it is correct.
- Rejected: a first attempt that failed at one of `rejected_stages`, most preferred first
  (by default the tests and the answer check before lint and parse, before no code at all,
  since a failure the tests caught is the closest to a right answer and teaches the most).
  Failures of the machinery rather than of the answer (engine_error, a sandbox error, a
  sympy check that ran out of time) are never rejected answers.
- With system prompts (rejection sampling), only answers sampled with the same system prompt
  are paired: the model saw a different prompt otherwise. The `prompt` column holds the
  user turn alone, as the SFT rows do; `system_prompt` names the one used.
- Answers with the same text are one answer, so the pairs of a problem are all different.
- At most `max_pairs` pairs per problem: all pairs of the most preferred stage first, each
  rejected answer paired once before any is paired twice, the chosen ones taken in turn,
  then the next stage. Ties are broken by a draw seeded with the split seed and the
  problem's id, so the same run and seed always give the same pairs.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from typing import Literal, get_args

from synth.code.explain import explain_prompt
from synth.code.solutions import solution_prompt
from synth.code.translate import translation_prompt
from synth.errors import SynthError
from synth.export.dialogs import sent_messages, verdict_words
from synth.math.solutions import attempt_turns, conversation
from synth.records import Attempt, MathProblem, Problem, Record, VerdictStage

ExportKind = Literal["sft", "dpo"]

REJECTED_STAGES: tuple[VerdictStage, ...] = (
    "tests",
    "compile",
    "answer",
    "steps",
    "lint",
    "parse",
    "extract",
)
# failures of the machinery, not of the answer: no engine output, a sandbox that could not
# run the code, a sympy check that ran out of time
NOT_THE_ANSWERS_FAULT = frozenset({"engine_error", "error", "answer_timeout"})


def check_rejected_stages(stages: Sequence[str]) -> None:
    """Refuse an ordering that is empty, repeats a stage or names one no verdict has."""
    known = [stage for stage in get_args(VerdictStage) if stage != "ok"]
    unknown = [stage for stage in stages if stage not in known]
    if unknown or not stages or len(set(stages)) < len(stages):
        raise SynthError(
            "--rejected-stages",
            f"{','.join(stages) or '(none)'} is not a list of distinct verdict stages",
            f"choose from {','.join(known)}, most preferred first",
        )


def preference_pairs(
    record: Record, *, max_pairs: int, rejected_stages: Sequence[str], seed: int = 0
) -> list[dict]:
    """Up to `max_pairs` (chosen, rejected) rows for the record's problem (every row has
    one schema); none for a rejected record, or one without both kinds of answer."""
    if record.status != "verified" or record.problem is None:
        return []
    rank = {stage: i for i, stage in enumerate(rejected_stages)}
    math_style = _math_style(record)
    # per system prompt: the distinct chosen answers, and the rejected ones by stage rank
    groups: dict[str, tuple[dict[str, Attempt], list[dict[str, Attempt]]]] = {}
    for trajectory in record.trajectories:
        if not trajectory.attempts:
            continue
        first = trajectory.attempts[0]
        chosen, rejected = groups.setdefault(
            first.sample.system_prompt, ({}, [{} for _ in rejected_stages])
        )
        text = json.dumps(_answer(record, first, math_style))
        if trajectory.verified and len(trajectory.attempts) == 1:
            chosen.setdefault(text, first)
        elif (
            not first.verdict.passed
            and first.verdict.stage in rank
            and first.verdict.reason not in NOT_THE_ANSWERS_FAULT
        ):
            rejected[rank[first.verdict.stage]].setdefault(text, first)

    draw = random.Random(f"{seed}:{record.problem.id}")
    ordered: list[tuple[int, int, Attempt, Attempt]] = []  # (stage rank, turn, chosen, rejected)
    for name in sorted(groups):
        chosen_by_text, tiers = groups[name]
        chosen = list(chosen_by_text.values())
        draw.shuffle(chosen)
        for stage_rank, tier in enumerate(tiers):
            bad = [a for text, a in tier.items() if text not in chosen_by_text]
            draw.shuffle(bad)
            for turn in range(len(bad) * len(chosen)):
                # each rejected once per lap; the chosen one shifts by one every lap
                good = chosen[(turn % len(bad) + turn // len(bad)) % len(chosen)]
                ordered.append((stage_rank, turn, good, bad[turn % len(bad)]))
    ordered.sort(key=lambda pair: pair[:2])  # stable: system prompts interleave within a stage
    prompt = _prompt(record, math_style)
    return [_row(record, prompt, good, bad, math_style) for *_, good, bad in ordered[:max_pairs]]


def pair_reason(row: dict) -> str:
    """The "stage/reason" of a pair's rejected answer (what the card counts)."""
    return f"{row['rejected_stage']}/{row['rejected_reason']}"


def _math_style(record: Record) -> str:
    """A math record's solution style: "code" when any answer ran code (the style is the
    run's, so all first attempts saw the same prompt), "text" otherwise."""
    attempts = (a for t in record.trajectories for a in t.attempts)
    return "code" if any(a.sample.turns for a in attempts) else "text"


def _prompt(record: Record, math_style: str) -> list[dict]:
    """The user turn every first attempt of the record answered: as it was sent, or in
    records from before samples kept it, the template rendered now."""
    for trajectory in record.trajectories:
        if trajectory.attempts and trajectory.attempts[0].sample.prompt:
            return sent_messages(trajectory.attempts[0].sample)
    problem = record.problem
    if isinstance(problem, MathProblem):
        return [m.model_dump() for m in conversation(problem, math_style, [], [])]
    assert isinstance(problem, Problem)
    if record.kind == "translate":
        assert record.source is not None
        text = translation_prompt(problem, record.source, problem.language)
    elif record.kind == "explain":
        assert record.source is not None
        text = explain_prompt(problem, record.source)
    else:
        text = solution_prompt(problem)
    return [{"role": "user", "content": text}]


def _answer(record: Record, attempt: Attempt, math_style: str) -> list[dict]:
    """The answer's messages after the prompt (a math answer in code style: its turns, each
    followed by its code's output)."""
    if isinstance(record.problem, MathProblem):
        turns = attempt_turns(attempt.sample)
        return [m.model_dump() for m in conversation(record.problem, math_style, [], [], turns)[1:]]
    return [{"role": "assistant", "content": attempt.sample.text}]


def _row(record: Record, prompt: list[dict], good: Attempt, bad: Attempt, math_style: str) -> dict:
    problem = record.problem
    assert problem is not None
    math = isinstance(problem, MathProblem)
    verdict = bad.verdict
    detail = verdict.detail
    if not detail and verdict.answer is not None:
        detail = f"answered {verdict.answer.pred}, the answer is {verdict.answer.gold}"
    return {
        "prompt": prompt,
        "chosen": _answer(record, good, math_style),
        "rejected": _answer(record, bad, math_style),
        "record_id": record.id,
        "problem_id": problem.id,
        "chosen_sample_id": good.sample.id,
        "rejected_sample_id": bad.sample.id,
        "kind": record.kind,
        "domain": "math" if math else "code",
        "language": ("python" if math_style == "code" else "text") if math else problem.language,
        "skills": list(record.concept_ids),
        "problem": problem.statement,
        "answer": problem.answer if math else "",
        "system_prompt": good.sample.system_prompt,
        "chosen_verdict": verdict_words(record, good.verdict),
        "rejected_stage": verdict.stage,
        "rejected_reason": verdict.reason,
        "rejected_detail": detail,
        "verdict_ids": [good.verdict.id, verdict.id],
        "model": record.model,
        "seed": record.seed,
    }
