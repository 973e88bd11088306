"""Ground truth from a reference program: run it twice in the sandbox, keep its last line.

A problem is rejected, with the evidence, when its program fails, runs out of time or
memory, prints nothing, prints different answers on two runs (randomness, set order,
time), or prints something the answer checker cannot read as mathematics.
"""

from __future__ import annotations

from synth.math.checker import AnswerChecker
from synth.records import ExecResult, MathProblem, Rejection
from synth.sandbox import run_source
from synth.sandbox.base import Limits, Sandbox

MAX_DETAIL_CHARS = 600


def run_reference(
    problem: MathProblem, sandbox: Sandbox, limits: Limits
) -> tuple[ExecResult, ExecResult]:
    program = problem.reference_program
    return (
        run_source(sandbox, "python", program, limits),
        run_source(sandbox, "python", program, limits),
    )


def reference_answer(runs: tuple[ExecResult, ExecResult]) -> str | Rejection:
    """The answer both runs printed last, or why there is none."""
    first, second = runs
    for run in runs:
        if run.status == "timeout":
            return Rejection(reason="reference_timeout", detail=f"ran past {run.duration_s:.1f}s")
        if run.status != "ok":
            return Rejection(
                reason=f"reference_{run.status}",
                detail=f"exit code {run.exit_code}: {run.stderr[-MAX_DETAIL_CHARS:]}",
            )
    answer, again = _last_line(first.stdout), _last_line(second.stdout)
    if not answer:
        return Rejection(reason="reference_no_answer", detail="the program printed nothing")
    if answer != again:
        return Rejection(
            reason="reference_nondeterministic",
            detail=f"two runs printed {answer[:200]!r} and {again[:200]!r}",
        )
    return answer


def checkable(answers: list[str], checker: AnswerChecker) -> list[bool]:
    """Whether each answer reads as mathematics the checker can compare (it equals itself)."""
    return [result.equivalent for result in checker.equal_many([(a, a) for a in answers])]


def _last_line(stdout: str) -> str:
    lines = [line.strip() for line in stdout.splitlines() if line.strip()]
    return lines[-1] if lines else ""
