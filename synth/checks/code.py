"""The checks of code kinds: tests against a stub, samples against their tests,
translations in their language, code rebuilt from an explanation."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import ClassVar, Literal

from synth.checks.base import Check, CheckTools, Samples, concatenated, merged
from synth.code.execute import TestRun, run_tests
from synth.code.static import LintConfig
from synth.code.tests import drop_vacuous
from synth.code.verify import verdict_from_run, verify_samples
from synth.records import Problem, Rejection, TestSuite, Verdict
from synth.sandbox.base import Limits


class StubCheck(Check):
    """Each suite's cases that a stub passes are dropped; a suite left with fewer than
    `min_tests` cases is rejected (synth.code.tests.drop_vacuous). One part per slot."""

    kind: Literal["stub"] = "stub"
    problems: dict[int, Problem]
    suites: dict[int, TestSuite]
    limits: Limits
    min_tests: int
    Result: ClassVar = dict[int, TestSuite | Rejection]

    def run(self, tools: CheckTools) -> dict[int, TestSuite | Rejection]:
        return {
            slot: drop_vacuous(
                suite, self.problems[slot], tools.sandbox, self.limits, self.min_tests
            )
            for slot, suite in self.suites.items()
        }

    def split(self) -> list[Check]:
        return [
            self.model_copy(
                update={"suites": {slot: suite}, "problems": {slot: self.problems[slot]}}
            )
            for slot, suite in self.suites.items()
        ]

    def join(self, results: list[dict]) -> dict[int, TestSuite | Rejection]:
        return merged(results)


class SampleTestsCheck(Check):
    """Samples through extraction, parse, ruff and their problem's tests in the sandbox
    (synth.code.verify.verify_samples), `workers` at a time; a verdict per sample, in order,
    with the test run behind it. Parts as wide as `workers`."""

    kind: Literal["sample_tests"] = "sample_tests"
    samples: Samples
    suites: dict[str, TestSuite]  # by problem id
    limits: Limits
    lint: LintConfig
    workers: int
    Result: ClassVar = list[tuple[Verdict, TestRun | None]]

    def run(self, tools: CheckTools) -> list[tuple[Verdict, TestRun | None]]:
        return verify_samples(
            self.samples, self.suites, tools.sandbox, self.limits, self.lint, self.workers
        )

    def split(self) -> list[Check]:
        return [
            part.model_copy(
                update={"suites": {s.problem_id: self.suites[s.problem_id] for s in part.samples}}
            )
            for part in self.cut(("samples",), self.workers)
        ]

    def join(self, results: list[list]) -> list[tuple[Verdict, TestRun | None]]:
        return concatenated(results)


class TranslationCheck(Check):
    """Translations compiled and tested in their language's sandbox, and their tests run
    against a default-value stub (synth.code.translate.check_translation): a verdict per
    sample, in order. Parts as wide as `workers`."""

    kind: Literal["translation"] = "translation"
    samples: Samples
    languages: list[str]  # per sample
    entry_points: list[str]  # per sample
    limits: Limits
    workers: int
    Result: ClassVar = list[Verdict]

    def run(self, tools: CheckTools) -> list[Verdict]:
        from synth.code.translate import check_translation

        items = list(zip(self.samples, self.languages, self.entry_points, strict=True))
        with ThreadPoolExecutor(max_workers=max(1, self.workers)) as pool:
            return list(
                pool.map(lambda item: check_translation(*item, tools.sandbox, self.limits), items)
            )

    def split(self) -> list[Check]:
        return self.cut(("samples", "languages", "entry_points"), self.workers)

    def join(self, results: list[list]) -> list[Verdict]:
        return concatenated(results)


class RebuildCheck(Check):
    """Code rebuilt from explanations, run against the source record's tests: each probe
    is an explanation sample whose `code` is the rebuilt code. A verdict per probe, in
    order, reason `rebuild_passes` or `rebuild_fails`. Parts as wide as `workers`."""

    kind: Literal["rebuild"] = "rebuild"
    probes: Samples
    suites: list[TestSuite]  # per probe
    limits: Limits
    workers: int
    Result: ClassVar = list[Verdict]

    def run(self, tools: CheckTools) -> list[Verdict]:
        def check(index: int) -> Verdict:
            probe, suite = self.probes[index], self.suites[index]
            run = run_tests(tools.sandbox, probe.code or "", suite, self.limits)
            verdict = verdict_from_run(probe, suite, run, None)
            reason = "rebuild_passes" if verdict.passed else "rebuild_fails"
            return verdict.model_copy(update={"reason": reason})

        with ThreadPoolExecutor(max_workers=max(1, self.workers)) as pool:
            return list(pool.map(check, range(len(self.probes))))

    def split(self) -> list[Check]:
        return self.cut(("probes", "suites"), self.workers)

    def join(self, results: list[list]) -> list[Verdict]:
        return concatenated(results)
