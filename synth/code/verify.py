"""Checks of a batch of samples: extraction, parse, lint (one ruff run), tests in the sandbox.

`verify_samples` is the stage the pipeline calls; `verdict_from_run` re-judges a sample
from an earlier test run when the test suite changed (the agreement rule).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from synth.code.execute import TestRun, run_tests
from synth.code.static import LintConfig, StaticReport, check_batch
from synth.records import Sample, TestSuite, Verdict, stable_id
from synth.sandbox.base import Limits, Sandbox


def verify_samples(
    samples: Sequence[Sample],
    suites: dict[str, TestSuite],
    sandbox: Sandbox,
    limits: Limits,
    lint: LintConfig = LintConfig(),
    workers: int = 2,
) -> list[tuple[Verdict, TestRun | None]]:
    """One verdict per sample, in order, with the test run behind it when the tests ran."""
    codes = [s.code for s in samples if s.code is not None]
    reports = iter(check_batch(codes, lint))
    static: list[StaticReport | None] = [
        next(reports) if s.code is not None else None for s in samples
    ]

    def check(index: int) -> tuple[Verdict, TestRun | None]:
        sample, report = samples[index], static[index]
        early = verdict_before_tests(sample, report)
        if early is not None:
            return early, None
        suite = suites[sample.problem_id]
        run = run_tests(sandbox, sample.code or "", suite, limits)
        return verdict_from_run(sample, suite, run, report), run

    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="verify") as pool:
        return list(pool.map(check, range(len(samples))))


def unfinished(sample: Sample) -> Verdict | None:
    """The verdict on a completion that was cut off or never came, else None."""
    vid = stable_id("verdict", sample.id)
    if sample.finish_reason == "length":
        return Verdict(
            id=vid,
            passed=False,
            stage="extract",
            reason="truncated",
            detail="the completion was cut off at max_tokens",
        )
    if sample.finish_reason == "error":
        return Verdict(
            id=vid, passed=False, stage="extract", reason="engine_error", detail=sample.text[-500:]
        )
    return None


def verdict_before_tests(sample: Sample, report: StaticReport | None) -> Verdict | None:
    vid = stable_id("verdict", sample.id)
    early = unfinished(sample)
    if early is not None:
        return early
    if sample.code is None or report is None:
        return Verdict(
            id=vid,
            passed=False,
            stage="extract",
            reason="no_code",
            detail="no Python code block in the answer",
        )
    if report.syntax_error:
        return Verdict(
            id=vid, passed=False, stage="parse", reason="syntax", detail=report.syntax_error
        )
    if report.tampering:
        return tampering_verdict(vid, report.tampering)
    if report.errors:
        return Verdict(
            id=vid,
            passed=False,
            stage="lint",
            reason="lint",
            detail=f"{len(report.errors)} lint error(s)",
            lint=report.errors + report.warnings,
        )
    return None


def tampering_verdict(vid: str, findings) -> Verdict:
    """The rejection of a solution that reaches for the checker instead of the problem."""
    return Verdict(
        id=vid,
        passed=False,
        stage="lint",
        reason=TAMPERING,
        detail="the solution uses what no solution of these problems needs: "
        + "; ".join(str(f) for f in findings[:5]),
    )


TAMPERING = "static/tampering"


def verdict_from_run(
    sample: Sample, suite: TestSuite, run: TestRun, report: StaticReport | None
) -> Verdict:
    """Judge a sample from a test run, counting only the cases still in `suite`."""
    kept = {c.name for c in suite.cases}
    outcomes = tuple(o for o in run.outcomes if o.name in kept)
    failed = [o for o in outcomes if not o.passed]
    warnings = report.warnings if report else ()
    evidence = {
        "id": stable_id("verdict", sample.id, sorted(kept)),
        "lint": warnings,
        "tests": outcomes,
        "execution": run.execution,
    }
    if not run.reported:
        reason = run.execution.status if run.execution.status != "ok" else "exited_early"
        return Verdict(
            passed=False,
            stage="tests",
            reason=reason,
            detail=outcomes[0].error if outcomes else run.execution.status,
            **evidence,
        )
    if not outcomes:
        return Verdict(
            passed=False,
            stage="tests",
            reason="no_tests",
            detail="no tests left to run",
            **evidence,
        )
    for status, reason in (("t", "tampering"), ("r", "wrong_return_type")):
        caught = [o for o in outcomes if run.status_of(o.name) == status]
        if caught:
            return Verdict(
                passed=False, stage="tests", reason=reason, detail=caught[0].error[:500], **evidence
            )
    if failed:
        return Verdict(
            passed=False,
            stage="tests",
            reason="tests_failed",
            detail=f"{len(failed)} of {len(outcomes)} tests failed",
            **evidence,
        )
    return Verdict(
        passed=True, stage="ok", reason="passed", detail=f"{len(outcomes)} tests passed", **evidence
    )
