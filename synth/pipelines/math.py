"""The math pipeline: problem + reference program -> samples -> sympy checks -> corrections.

Steps of one batch, top to bottom in `MathPipeline.batch` (the scheduler in
synth.pipelines.scheduler drives it; the checks are synth.checks.math's records):

1. problems: written by the model from sampled skills, or imported from a file;
2. ground truth: the reference program runs twice in the sandbox (`reference`); an
   imported problem keeps its given answer, or gets the majority answer of its first
   samples when at least `majority_share` of them agree;
3. samples: `samples` per problem, in `text` or `code` style (code runs in the sandbox and
   its output is fed back, up to `max_tool_calls` times);
4. checks: the boxed answer against the ground truth, each stated equality with sympy;
5. corrections: a failed trajectory gets its feedback (never the answer), up to
   `max_attempts` attempts.
"""

from __future__ import annotations

from collections import Counter

from synth.checks.math import AnswerCheck, CodeRunCheck, MajorityCheck, ReferenceCheck
from synth.engines.base import Completion, Message
from synth.math.problems import parse_problem, problem_request
from synth.math.solutions import conversation, request, to_sample, turn_messages, wants_code_run
from synth.math.verify import math_feedback
from synth.pipelines.batch import BatchState, Histories, SkillProblems, request_seed
from synth.pipelines.scheduler import BatchSteps, Generate, Steps
from synth.pipelines.settings import RunSettings
from synth.records import (
    Attempt,
    MathProblem,
    Rejection,
    Sample,
    SkillCombo,
    ToolTurn,
    problem_id,
    record_id,
)
from synth.store import StoredProblems
from synth.taxonomy import Taxonomy

Key = tuple[int, int]  # (slot, trajectory)


class MathPipeline:
    def __init__(
        self,
        taxonomy: Taxonomy,
        settings: RunSettings,
        imported: list[tuple[str, str]] | None = None,
    ) -> None:
        """`imported`: (statement, answer or '') per slot, instead of generated problems."""
        self.settings = settings
        self.imported = imported
        self.written = SkillProblems(taxonomy, settings)

    def slots(self) -> range:
        return range(self.settings.problems)

    def record_id(self, slot: int) -> str:
        return record_id(self.settings.seed, slot)

    def remember(self, problems: StoredProblems) -> None:
        self.written.remember(problems)

    def _seed(self, *parts: object) -> int:
        return request_seed(self.settings.seed, *parts)

    def _combo(self, slot: int) -> SkillCombo:
        if self.imported is not None:  # an imported statement comes without skills
            return SkillCombo(slot=slot, concepts=())
        return self.written.combo(slot)

    # --- one batch -------------------------------------------------------------------

    def batch(self, slots: list[int]) -> BatchSteps:
        settings = self.settings
        batch = BatchState(
            slots=slots, combos={slot: self._combo(slot) for slot in slots}, seed=settings.seed
        )
        problems = yield from self._math_problems(batch)
        problems = yield from self._references(batch, problems)
        keys = [(slot, t) for slot in problems for t in range(settings.samples)]
        samples = yield from self._attempts(problems, {k: [] for k in keys}, attempt=1)
        problems = yield from self._majority(batch, problems, samples)
        histories: Histories = {}
        yield from self._check_answers(problems, samples, histories)
        for attempt in range(2, settings.max_attempts + 1):
            failing = {
                key: attempts
                for key, attempts in histories.items()
                if not attempts[-1].verdict.passed
            }
            if not failing:
                break
            repaired = yield from self._attempts(problems, failing, attempt)
            yield from self._check_answers(problems, repaired, histories)
        return batch.finish(problems, histories, settings.samples)

    def _math_problems(self, batch: BatchState) -> Steps:
        if self.imported is not None:
            return {
                slot: MathProblem(
                    id=problem_id(self.settings.seed, slot),
                    slot=slot,
                    concept_ids=(),
                    statement=self.imported[slot][0],
                    answer=self.imported[slot][1],
                    answer_source="given" if self.imported[slot][1] else None,
                )
                for slot in batch.slots
            }
        problems = yield from self.written.write(batch, problem_request, parse_problem)
        return problems

    def _references(self, batch: BatchState, problems: dict[int, MathProblem]) -> Steps:
        """Run each reference program (twice); its last printed line is the ground truth."""
        to_run = {s: p for s, p in problems.items() if p.reference_program and not p.answer}
        if not to_run:
            return problems
        answers = yield ReferenceCheck(
            problems=to_run,
            limits=self.settings.limits,
            answer_timeout_s=self.settings.answer_timeout_s,
        )
        kept = dict(problems)
        for slot, answer in answers.items():
            if isinstance(answer, Rejection):
                batch.reject(slot, "reference", answer, problem=problems[slot])
                del kept[slot]
            else:
                kept[slot] = problems[slot].model_copy(
                    update={"answer": answer, "answer_source": "reference_program"}
                )
        return kept

    def _attempts(
        self, problems: dict[int, MathProblem], earlier: Histories, attempt: int
    ) -> Steps:
        """One attempt per (slot, trajectory) key, after its earlier attempts and their
        feedback; in the code style, its code blocks run and their output goes back."""
        settings = self.settings
        style = settings.solution_style
        # the dialog each attempt begins from (its own turns come after), rendered once
        openings = {
            key: conversation(
                problems[key[0]],
                style,
                [a.sample for a in earlier[key]],
                [math_feedback(a.verdict) for a in earlier[key]],
            )
            for key in earlier
        }
        turns: dict[Key, list[ToolTurn]] = {key: [] for key in earlier}
        tokens: Counter = Counter()

        if attempt == 1:  # n samples per problem in one request
            slots = sorted({slot for slot, _ in earlier})
            answers = yield Generate(
                [
                    request(
                        openings[(s, 0)],
                        n=settings.samples,
                        temperature=settings.temperature,
                        max_tokens=settings.max_tokens,
                        seed=self._seed(s, "solution"),
                        style=style,
                        tag="solution",
                    )
                    for s in slots
                ]
            )
            last = {
                (s, t): c for s, cs in zip(slots, answers, strict=True) for t, c in enumerate(cs)
            }
        else:
            last = yield from self._continue(list(earlier), openings, turns, attempt)

        finished: dict[Key, Completion] = {}
        for call in range(settings.max_tool_calls + 1):
            runs: dict[Key, tuple[str, str]] = {}
            for key, completion in last.items():
                tokens[key, "prompt"] += completion.prompt_tokens
                tokens[key, "completion"] += completion.completion_tokens
                code = wants_code_run(completion) if style == "code" else None
                if code is None or call == settings.max_tool_calls:
                    turns[key].append(ToolTurn(text=completion.text))
                    finished[key] = completion
                else:
                    runs[key] = (completion.text, code)
            if not runs:
                break
            outputs = yield CodeRunCheck(
                codes=[code for _, code in runs.values()], limits=settings.limits
            )
            for (key, (text, code)), output in zip(runs.items(), outputs, strict=True):
                turns[key].append(ToolTurn(text=text, code=code, output=output))
            last = yield from self._continue(list(runs), openings, turns, attempt, call)
        return {
            key: to_sample(
                problems[key[0]],
                turns[key],
                finished[key],
                trajectory=key[1],
                round=attempt,
                prompt_tokens=tokens[key, "prompt"],
                completion_tokens=tokens[key, "completion"],
                prompt=openings[key],  # its own turns are in the sample
            )
            for key in earlier
        }

    def _continue(
        self,
        keys: list[Key],
        openings: dict[Key, tuple[Message, ...]],
        turns: dict[Key, list[ToolTurn]],
        attempt: int,
        call: int = 0,
    ) -> Steps:
        """One completion per key: the next turn after its dialog so far."""
        settings = self.settings
        answers = yield Generate(
            [
                request(
                    (*openings[(slot, t)], *turn_messages(turns[(slot, t)])),
                    n=1,
                    temperature=settings.temperature,
                    max_tokens=settings.max_tokens,
                    seed=self._seed(slot, "attempt", t, attempt, call),
                    style=settings.solution_style,
                    tag="repair" if attempt > 1 else "solution",
                )
                for slot, t in keys
            ]
        )
        return {key: completions[0] for key, completions in zip(keys, answers, strict=True)}

    def _majority(
        self, batch: BatchState, problems: dict[int, MathProblem], samples: dict[Key, Sample]
    ) -> Steps:
        """Problems without an answer take the majority answer, if enough samples agree."""
        open_slots = [s for s, p in problems.items() if not p.answer]
        if not open_slots:
            return problems
        kept = dict(problems)
        decided = yield MajorityCheck(
            answers={s: [samples[k].answer for k in samples if k[0] == s] for s in open_slots},
            share=self.settings.majority_share,
            answer_timeout_s=self.settings.answer_timeout_s,
        )
        for slot, answer in decided.items():
            if answer is None:
                why = Rejection(
                    reason="no_majority",
                    detail=f"fewer than {self.settings.majority_share:.0%} of the samples agree",
                )
                batch.reject(slot, "reference", why, problem=problems[slot])
                del kept[slot]
                for key in [k for k in samples if k[0] == slot]:
                    del samples[key]
            else:
                kept[slot] = problems[slot].model_copy(
                    update={"answer": answer, "answer_source": "majority"}
                )
        return kept

    def _check_answers(
        self, problems: dict[int, MathProblem], samples: dict[Key, Sample], histories: Histories
    ) -> Steps:
        """Check each sample's answer and steps; append the attempts to their histories."""
        keys = list(samples)
        verdicts = yield AnswerCheck(
            samples=[samples[k] for k in keys],
            golds=[problems[k[0]].answer for k in keys],
            drop_wrong_steps=self.settings.drop_wrong_steps,
            answer_timeout_s=self.settings.answer_timeout_s,
        )
        for key, verdict in zip(keys, verdicts, strict=True):
            histories.setdefault(key, []).append(Attempt(sample=samples[key], verdict=verdict))
