"""Verdicts on math samples, and the feedback a failed one sends back to the model.

The feedback never reveals the reference answer: it says the final answer is wrong,
and quotes the steps that sympy found wrong, so the model must find its own mistake.
"""

from __future__ import annotations

from synth.records import Equivalence, Sample, StepCheck, Verdict, stable_id

MAX_STEPS_SHOWN = 3


def math_verdict(
    sample: Sample,
    answer: Equivalence | None,
    steps: tuple[StepCheck, ...] | None,
    drop_wrong_steps: bool,
) -> Verdict:
    """Right answer passes; a wrong step is kept in the verdict, and fails it only when asked."""
    verdict_id = stable_id("math-verdict", sample.id)
    steps = steps or ()
    if sample.finish_reason == "error":
        return Verdict(id=verdict_id, passed=False, stage="extract", reason="engine_error")
    if sample.finish_reason == "length":
        return Verdict(
            id=verdict_id, passed=False, stage="extract", reason="truncated", steps=steps
        )
    if sample.answer is None or answer is None:
        return Verdict(
            id=verdict_id, passed=False, stage="extract", reason="no_answer", steps=steps
        )
    wrong = [s for s in steps if s.status == "wrong"]
    if not answer.equivalent:
        reason = "answer_timeout" if answer.reason == "timeout" else "wrong_answer"
        return Verdict(
            id=verdict_id, passed=False, stage="answer", reason=reason, answer=answer, steps=steps
        )
    if wrong and drop_wrong_steps:
        return Verdict(
            id=verdict_id,
            passed=False,
            stage="steps",
            reason="wrong_step",
            answer=answer,
            steps=steps,
        )
    return Verdict(
        id=verdict_id,
        passed=True,
        stage="ok",
        reason="wrong_step_kept" if wrong else "ok",
        answer=answer,
        steps=steps,
    )


def math_feedback(verdict: Verdict) -> str:
    if verdict.reason == "truncated":
        return "Your solution was cut off before it ended. Write a shorter, complete solution."
    if verdict.reason == "engine_error":
        return "Your previous answer could not be obtained. Answer again."
    if verdict.reason == "no_answer":
        return "Your solution does not end with a final answer in \\boxed{}."
    lines = []
    if verdict.stage == "answer" and verdict.answer is not None:
        lines.append(f"Your final answer \\boxed{{{verdict.answer.pred}}} is wrong.")
    wrong = verdict.wrong_steps[:MAX_STEPS_SHOWN]
    if wrong:
        lines.append("These steps are wrong (the two sides are not equal):")
        lines += [f"- ${step}$" for step in wrong]
    return "\n".join(lines) or "Your solution is not correct."
