"""The checks of math runs: reference programs, code a solution runs between its steps,
majority answers, and answers (with their steps) against the ground truth. Comparisons run
in the bounded answer checker's processes (`CheckTools.answer_checker`)."""

from __future__ import annotations

from typing import ClassVar, Literal

from synth.checks.base import Check, CheckTools, Samples, concatenated, merged
from synth.math.reference import checkable, reference_answer, run_reference
from synth.math.verify import math_verdict
from synth.records import MathProblem, Rejection, Verdict
from synth.sandbox import run_source
from synth.sandbox.base import Limits

PART_WIDTH = 8  # answers per shipped part


class ReferenceCheck(Check):
    """Each reference program runs twice; the last line both runs print is the ground
    truth, when the checker can read it as mathematics (it equals itself)."""

    kind: Literal["reference"] = "reference"
    problems: dict[int, MathProblem]
    limits: Limits
    answer_timeout_s: float
    Result: ClassVar = dict[int, str | Rejection]

    def run(self, tools: CheckTools) -> dict[int, str | Rejection]:
        answers: dict[int, str | Rejection] = {
            slot: reference_answer(run_reference(problem, tools.sandbox, self.limits))
            for slot, problem in self.problems.items()
        }
        found = [slot for slot, answer in answers.items() if isinstance(answer, str)]
        checker = tools.answer_checker(self.answer_timeout_s)
        for slot, ok in zip(found, checkable([answers[s] for s in found], checker), strict=True):
            if not ok:
                answers[slot] = Rejection(
                    reason="reference_uncheckable",
                    detail=f"printed {answers[slot][:200]!r}, not an answer sympy can compare",
                )
        return answers

    def split(self) -> list[Check]:
        return [
            self.model_copy(update={"problems": {slot: problem}})
            for slot, problem in self.problems.items()
        ]

    def join(self, results: list[dict]) -> dict[int, str | Rejection]:
        return merged(results)


class CodeRunCheck(Check):
    """Code a solution wrote between its steps, run in the sandbox; what the model sees of
    each run, in order: its stdout, or its output, the error and the status."""

    kind: Literal["code_runs"] = "code_runs"
    codes: list[str]
    limits: Limits
    Result: ClassVar = list[str]

    def run(self, tools: CheckTools) -> list[str]:
        return [self._output(tools, code) for code in self.codes]

    def _output(self, tools: CheckTools, code: str) -> str:
        result = run_source(tools.sandbox, "python", code, self.limits)
        if result.status == "ok":
            return result.stdout
        return f"{result.stdout}{result.stderr[-1000:]}\n[{result.status}, exit code {result.exit_code}]"

    def split(self) -> list[Check]:
        return self.cut(("codes",), 1)

    def join(self, results: list[list[str]]) -> list[str]:
        return concatenated(results)


class MajorityCheck(Check):
    """For each slot, the answer of the largest group of equivalent sample answers, when
    at least `share` of the samples are in it; else None."""

    kind: Literal["majority"] = "majority"
    answers: dict[int, list[str | None]]
    share: float
    answer_timeout_s: float
    Result: ClassVar = dict[int, str | None]

    def run(self, tools: CheckTools) -> dict[int, str | None]:
        checker = tools.answer_checker(self.answer_timeout_s)
        return {slot: self._vote(checker, answers) for slot, answers in self.answers.items()}

    def _vote(self, checker, answers: list[str | None]) -> str | None:
        groups: list[list[str]] = []
        for answer in answers:
            if not answer:
                continue
            for group in groups:
                if checker.equal(group[0], answer).equivalent:
                    group.append(answer)
                    break
            else:
                groups.append([answer])
        if not groups:
            return None
        best = max(groups, key=len)
        return best[0] if len(best) >= self.share * len(answers) else None


class AnswerCheck(Check):
    """Each sample's boxed answer against its ground truth, and every equality it states,
    with sympy: a verdict per sample, in order (synth.math.verify.math_verdict)."""

    kind: Literal["answers"] = "answers"
    samples: Samples
    golds: list[str]  # per sample: the ground truth
    drop_wrong_steps: bool
    answer_timeout_s: float
    Result: ClassVar = list[Verdict]

    def run(self, tools: CheckTools) -> list[Verdict]:
        checker = tools.answer_checker(self.answer_timeout_s)
        with_answer = [i for i, sample in enumerate(self.samples) if sample.answer]
        answers = dict(
            zip(
                with_answer,
                checker.equal_many([(self.golds[i], self.samples[i].answer) for i in with_answer]),
                strict=True,
            )
        )
        steps = checker.steps_many([sample.text for sample in self.samples])
        return [
            math_verdict(sample, answers.get(i), found, self.drop_wrong_steps)
            for i, (sample, found) in enumerate(zip(self.samples, steps, strict=True))
        ]

    def split(self) -> list[Check]:
        return self.cut(("samples", "golds"), PART_WIDTH)

    def join(self, results: list[list[Verdict]]) -> list[Verdict]:
        return concatenated(results)
