"""The math pipeline: problem + reference program -> samples -> sympy checks -> corrections.

Steps of one batch, top to bottom in `MathPipeline.batch` (the scheduler in
synth.pipelines.scheduler drives it):

1. problems: written by the model from sampled skills, or imported from a file;
2. ground truth: the reference program runs twice in the sandbox (`reference`); an
   imported problem keeps its given answer, or gets the majority answer of its first
   samples when at least `majority_share` of them agree;
3. samples: `samples` per problem, in `text` or `code` style (code runs in the sandbox and
   its output is fed back, up to `max_tool_calls` times);
4. checks: the boxed answer against the ground truth, each stated equality with sympy;
5. corrections: a failed trajectory gets its feedback (never the answer), up to
   `max_rounds` attempts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Generator, Sequence
from typing import Any

from synth.engines.base import Completion, Engine
from synth.math.checker import AnswerChecker
from synth.math.problems import parse_problem, problem_request
from synth.math.reference import checkable, reference_answer, run_reference
from synth.math.solutions import conversation, request, to_sample, wants_code_run
from synth.math.verify import math_feedback, math_verdict
from synth.near_duplicates import NearDuplicateIndex
from synth.pipelines.batch import (
    BatchState,
    Histories,
    remember_problem,
    request_seed,
    run_scheduler,
    written_problems,
)
from synth.pipelines.config import RunConfig
from synth.pipelines.scheduler import Check, CheckTask, Generate, Stats
from synth.records import (
    Attempt,
    MathProblem,
    Record,
    Rejection,
    SkillCombo,
    ToolTurn,
    Verdict,
    problem_id,
)
from synth.sandbox import run_source
from synth.sandbox.base import Sandbox
from synth.store import RunStore
from synth.taxonomy import SamplerConfig, Taxonomy, sample_combo

Steps = Generator["Generate | Check", Any, Any]


class MathPipeline:
    def __init__(
        self,
        taxonomy: Taxonomy,
        engine: Engine,
        sandbox: Sandbox,
        store: RunStore,
        config: RunConfig,
        on_update: Callable[[Stats], None] | None = None,
        imported: list[tuple[str, str]] | None = None,
        remote_checks: Callable[[CheckTask], Any] | None = None,
        on_stored: Callable[[list[Record]], None] | None = None,
    ) -> None:
        """`imported`: (statement, answer or '') per slot, instead of generated problems.
        `on_update`, `on_stored`, `remote_checks`: see `Scheduler`."""
        self.taxonomy = taxonomy
        self.engine = engine
        self.sandbox = sandbox
        self.config = config
        self.imported = imported
        self.sampler = SamplerConfig(seed=config.seed, rare_boost=config.rare_boost)
        self.near_copies = NearDuplicateIndex(threshold=config.near_duplicate_threshold)
        self.checker = AnswerChecker(
            workers=config.verify_workers, timeout_s=config.answer_timeout_s
        )
        self.scheduler = run_scheduler(engine, store, config, on_update, on_stored, remote_checks)
        self.stats = self.scheduler.stats

    def run(self, slots: Sequence[int] | None = None) -> Stats:
        """Every slot of the run not stored yet, or those of `slots` (a fleet's chunk); the
        checker's processes end with it."""
        try:
            return self.scheduler.run(self, range(self.config.problems) if slots is None else slots)
        finally:
            self.checker.close()

    def remember(self, record: Record) -> None:
        remember_problem(self.near_copies, record)

    def _seed(self, *parts: object) -> int:
        return request_seed(self.config.seed, *parts)

    def _combo(self, slot: int) -> SkillCombo:
        if self.imported is not None:  # an imported statement comes without skills
            return SkillCombo(slot=slot, concepts=())
        return sample_combo(self.taxonomy, slot, self.sampler)

    # --- one batch -------------------------------------------------------------------

    def batch(self, slots: list[int]) -> Steps:
        batch = BatchState(
            slots=slots,
            combos={slot: self._combo(slot) for slot in slots},
            seed=self.config.seed,
            model=self.engine.name,
        )
        problems = yield from self._math_problems(batch)
        problems = yield from self._references(batch, problems)
        keys = [(slot, t) for slot in problems for t in range(self.config.samples)]
        samples = yield from self._attempts(problems, {k: [] for k in keys}, round_number=1)
        problems = yield from self._majority(batch, problems, samples)
        histories: Histories = {}
        yield from self._check_answers(problems, samples, histories)
        for round_number in range(2, self.config.max_rounds + 1):
            failing = {
                key: attempts
                for key, attempts in histories.items()
                if not attempts[-1].verdict.passed
            }
            if not failing:
                break
            repaired = yield from self._attempts(problems, failing, round_number)
            yield from self._check_answers(problems, repaired, histories)
        return batch.finish(problems, histories, self.config.samples)

    def _math_problems(self, batch: BatchState) -> Steps:
        if self.imported is not None:
            return {
                slot: MathProblem(
                    id=problem_id(self.config.seed, slot),
                    slot=slot,
                    concept_ids=(),
                    statement=self.imported[slot][0],
                    answer=self.imported[slot][1],
                    answer_source="given" if self.imported[slot][1] else None,
                )
                for slot in batch.slots
            }
        problems = yield from written_problems(
            batch, self.near_copies, problem_request, parse_problem
        )
        return problems

    def _references(self, batch: BatchState, problems: dict[int, MathProblem]) -> Steps:
        """Run each reference program (twice); its last printed line is the ground truth."""
        to_run = {s: p for s, p in problems.items() if p.reference_program and not p.answer}
        if not to_run:
            return problems

        def run_all() -> dict[int, str | Rejection]:
            answers = {
                slot: reference_answer(run_reference(p, self.sandbox, self.config.limits))
                for slot, p in to_run.items()
            }
            found = [s for s, a in answers.items() if isinstance(a, str)]
            for slot, ok in zip(
                found, checkable([answers[s] for s in found], self.checker), strict=True
            ):
                if not ok:
                    answers[slot] = Rejection(
                        reason="reference_uncheckable",
                        detail=f"printed {answers[slot][:200]!r}, not an answer sympy can compare",
                    )
            return answers

        answers = yield Check(run_all)
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
        self,
        problems: dict[int, MathProblem],
        earlier: Histories,
        round_number: int,
    ) -> Steps:
        """One attempt per (slot, trajectory) key, after its earlier attempts and their
        feedback; in the code style, its code blocks run and their output goes back."""
        config = self.config
        style = config.solution_style
        turns: dict[tuple[int, int], list[ToolTurn]] = {key: [] for key in earlier}
        tokens: Counter = Counter()

        if round_number == 1:  # n samples per problem in one request
            slots = sorted({slot for slot, _ in earlier})
            answers = yield Generate(
                [
                    request(
                        conversation(problems[s], style, [], []),
                        n=config.samples,
                        temperature=config.temperature,
                        max_tokens=config.max_tokens,
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
            last = yield from self._continue(problems, earlier, turns, round_number)

        finished: dict[tuple[int, int], Completion] = {}
        for call in range(config.max_tool_calls + 1):
            runs = {}
            for key, completion in last.items():
                tokens[key, "prompt"] += completion.prompt_tokens
                tokens[key, "completion"] += completion.completion_tokens
                code = wants_code_run(completion) if style == "code" else None
                if code is None or call == config.max_tool_calls:
                    turns[key].append(ToolTurn(text=completion.text))
                    finished[key] = completion
                else:
                    runs[key] = (completion.text, code)
            if not runs:
                break
            outputs = yield Check(
                lambda runs=runs: {k: self._run_code(c) for k, (_, c) in runs.items()}
            )
            for key, (text, code) in runs.items():
                turns[key].append(ToolTurn(text=text, code=code, output=outputs[key]))
            last = yield from self._continue(
                problems, {k: earlier[k] for k in runs}, turns, round_number, call
            )
        samples = {
            key: to_sample(
                problems[key[0]],
                turns[key],
                finished[key],
                trajectory=key[1],
                round=round_number,
                prompt_tokens=tokens[key, "prompt"],
                completion_tokens=tokens[key, "completion"],
                # the dialog the attempt began from (its own turns are in the sample)
                prompt=conversation(
                    problems[key[0]],
                    style,
                    [a.sample for a in earlier[key]],
                    [math_feedback(a.verdict) for a in earlier[key]],
                ),
            )
            for key in earlier
        }
        self.stats.samples += len(samples)
        return samples

    def _continue(
        self,
        problems: dict[int, MathProblem],
        earlier: Histories,
        turns: dict[tuple[int, int], list[ToolTurn]],
        round_number: int,
        call: int = 0,
    ) -> Steps:
        """One completion per key: the next turn after its dialog so far."""
        config = self.config
        keys = list(earlier)
        answers = yield Generate(
            [
                request(
                    conversation(
                        problems[slot],
                        config.solution_style,
                        [a.sample for a in earlier[(slot, t)]],
                        [math_feedback(a.verdict) for a in earlier[(slot, t)]],
                        turns[(slot, t)],
                    ),
                    n=1,
                    temperature=config.temperature,
                    max_tokens=config.max_tokens,
                    seed=self._seed(slot, "attempt", t, round_number, call),
                    style=config.solution_style,
                    tag="repair" if round_number > 1 else "solution",
                )
                for slot, t in keys
            ]
        )
        return {key: completions[0] for key, completions in zip(keys, answers, strict=True)}

    def _run_code(self, code: str) -> str:
        """What the model sees of its code's run: stdout, or the error and the status."""
        result = run_source(self.sandbox, "python", code, self.config.limits)
        if result.status == "ok":
            return result.stdout
        return f"{result.stdout}{result.stderr[-1000:]}\n[{result.status}, exit code {result.exit_code}]"

    def _majority(self, batch: BatchState, problems, samples: dict) -> Steps:
        """Problems without an answer take the majority answer, if enough samples agree."""
        open_slots = [s for s, p in problems.items() if not p.answer]
        if not open_slots:
            return problems
        kept = dict(problems)
        decided = yield Check(
            lambda: {
                s: self._vote([samples[k].answer for k in samples if k[0] == s]) for s in open_slots
            }
        )
        for slot, answer in decided.items():
            if answer is None:
                why = Rejection(
                    reason="no_majority",
                    detail=f"fewer than {self.config.majority_share:.0%} of the samples agree",
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

    def _vote(self, answers: list[str | None]) -> str | None:
        """The answer of the largest group of equivalent answers, when it is big enough."""
        groups: list[list[str]] = []
        for answer in answers:
            if not answer:
                continue
            for group in groups:
                if self.checker.equal(group[0], answer).equivalent:
                    group.append(answer)
                    break
            else:
                groups.append([answer])
        if not groups:
            return None
        best = max(groups, key=len)
        return best[0] if len(best) >= self.config.majority_share * len(answers) else None

    def _check_answers(self, problems, samples: dict, histories: Histories) -> Steps:
        """Check each sample's answer and steps; append the attempts to their histories."""
        keys = list(samples)

        def check() -> list[Verdict]:
            with_answer = [k for k in keys if samples[k].answer]
            answers = dict(
                zip(
                    with_answer,
                    self.checker.equal_many(
                        [(problems[k[0]].answer, samples[k].answer) for k in with_answer]
                    ),
                    strict=True,
                )
            )
            steps = self.checker.steps_many([samples[k].text for k in keys])
            return [
                math_verdict(samples[k], answers.get(k), s, self.config.drop_wrong_steps)
                for k, s in zip(keys, steps, strict=True)
            ]

        verdicts = yield Check(check)
        for key, verdict in zip(keys, verdicts, strict=True):
            histories.setdefault(key, []).append(Attempt(sample=samples[key], verdict=verdict))
