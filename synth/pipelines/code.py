"""The code pipeline: a batch of slots from skills to verified Python solutions.

Steps of one batch, top to bottom in `CodePipeline.batch` (the scheduler in
synth.pipelines.scheduler drives it; the checks are synth.checks.code's records):

1. problems: written by the model from sampled skills (near copies rejected), or imported
   (a verified run, or a user's file whose problems may lack tests);
2. tests: written in a separate call, parsed, and every case a stub passes dropped;
3. solutions: `samples` per problem (dealt between system prompts, if any), each checked by
   ruff and run against the tests in the sandbox;
4. the agreement rule re-judges them on the cases the samples agree on;
5. corrections: a failed trajectory goes back with its feedback, up to `max_attempts`
   attempts;
6. the judge (optional) scores each verified trajectory, and with several system prompts
   only the best of each problem is kept.
"""

from __future__ import annotations

from synth.checks.code import SampleTestsCheck, StubCheck
from synth.code.execute import TestRun
from synth.code.feedback import feedback_text
from synth.code.judge import judge_request, keep_best, parse_judgement
from synth.code.problems import parse_problem, problem_request
from synth.code.solutions import SystemPrompt, repair_request, solution_request, to_sample
from synth.code.tests import apply_agreement_rule, parse_tests, tests_request
from synth.code.verify import verdict_from_run
from synth.engines.base import Engine
from synth.pipelines.batch import (
    BatchState,
    Histories,
    SkillProblems,
    request_seed,
    trajectories_of,
)
from synth.pipelines.scheduler import BatchSteps, Generate, Steps
from synth.pipelines.settings import RunSettings
from synth.records import (
    Attempt,
    Problem,
    Rejection,
    Sample,
    SkillCombo,
    TestSuite,
    problem_id,
    record_id,
)
from synth.store import StoredProblems
from synth.taxonomy import Taxonomy


class CodePipeline:
    def __init__(
        self,
        taxonomy: Taxonomy,
        settings: RunSettings,
        imported: list[tuple[Problem, TestSuite | None]] | None = None,
        judge_engine: Engine | None = None,
    ) -> None:
        """`imported`: per slot, a (Problem, TestSuite) to solve instead of a generated one
        (from a verified run, or from a user's file where the suite may be None and the
        model writes the tests). `judge_engine`: the engine that judges, when not the run's
        own."""
        self.settings = settings
        self.imported = imported
        self.judge_engine = judge_engine
        self.written = SkillProblems(taxonomy, settings)

    def slots(self) -> range:
        return range(self.settings.problems)

    def record_id(self, slot: int) -> str:
        return record_id(self.settings.seed, slot)

    def remember(self, problems: StoredProblems) -> None:
        self.written.remember(problems)

    def _seed(self, *parts: object) -> int:
        return request_seed(self.settings.seed, *parts)

    # --- one batch through every step ------------------------------------------------

    def batch(self, slots: list[int]) -> BatchSteps:
        batch = BatchState(
            slots=slots, combos={slot: self._combo(slot) for slot in slots}, seed=self.settings.seed
        )
        if self.imported is None:
            problems = yield from self.written.write(batch, problem_request, parse_problem)
            suites = yield from self._tests(batch, problems)
        else:
            problems, suites = self._imported(slots)
            untested = {slot: p for slot, p in problems.items() if slot not in suites}
            if untested:  # a user's problem without tests gets the model's, with every guard
                suites |= yield from self._tests(batch, untested)
        histories = yield from self._solutions(batch, problems, suites)
        yield from self._corrections(problems, suites, histories)
        yield from self._judge(problems, histories)
        return batch.finish(problems, histories, self.settings.samples, suites)

    def _combo(self, slot: int) -> SkillCombo:
        if self.imported is not None:  # an imported problem keeps its own concepts
            by_id = self.written.taxonomy.by_id()
            problem = self.imported[slot][0]
            concepts = tuple(by_id[c] for c in problem.concept_ids if c in by_id)
            return SkillCombo(slot=slot, concepts=concepts)
        return self.written.combo(slot)

    def _imported(self, slots: list[int]) -> tuple[dict[int, Problem], dict[int, TestSuite]]:
        """Imported code problems and the tests they came with (None: the model writes them),
        renumbered into this run's slots."""
        problems, suites = {}, {}
        for slot in slots:
            problem, suite = self.imported[slot]
            new_id = problem_id(self.settings.seed, slot)
            problems[slot] = problem.model_copy(update={"id": new_id, "slot": slot})
            if suite is not None:
                suites[slot] = suite.model_copy(update={"problem_id": new_id, "dropped": ()})
        return problems, suites

    def _tests(self, batch: BatchState, problems: dict[int, Problem]) -> Steps:
        """Step 2: tests in a separate call, then the guards (parse, entry point, stub)."""
        order = list(problems)
        answers = yield Generate(
            [tests_request(problems[s], seed=self._seed(s, "tests")) for s in order]
        )
        parsed: dict[int, TestSuite] = {}
        for slot, completions in zip(order, answers, strict=True):
            suite = parse_tests(completions[0], problems[slot])
            if isinstance(suite, Rejection):
                batch.reject(slot, "tests", suite, problem=problems[slot])
            else:
                parsed[slot] = suite
        checked = yield StubCheck(
            problems={slot: problems[slot] for slot in parsed},
            suites=parsed,
            limits=self.settings.limits,
            min_tests=self.settings.min_tests,
        )
        suites: dict[int, TestSuite] = {}
        for slot, suite in checked.items():
            if isinstance(suite, Rejection):
                batch.reject(slot, "tests", suite, problem=problems[slot], tests=parsed[slot])
            else:
                suites[slot] = suite
        return suites

    def _solutions(
        self, batch: BatchState, problems: dict[int, Problem], suites: dict[int, TestSuite]
    ) -> Steps:
        """Steps 3-4: n samples per problem, checked; then the agreement rule re-judges them."""
        settings = self.settings
        order = list(suites)
        # (slot, system prompt, samples): one request per problem, or one per system prompt
        # with the samples dealt out between them (rejection sampling).
        asks = [
            (slot, prompt, count)
            for slot in order
            for prompt, count in _deal(settings.samples, settings.system_prompts)
        ]
        requests = [
            solution_request(
                problems[slot],
                n=count,
                temperature=settings.temperature,
                max_tokens=settings.max_tokens,
                seed=self._seed(slot, "solution", prompt.name if prompt else ""),
                system_text=prompt.text if prompt else "",
            )
            for slot, prompt, count in asks
        ]
        answers = yield Generate(requests)
        first_round = []
        next_index: dict[int, int] = {}
        for (slot, prompt, _), request, completions in zip(asks, requests, answers, strict=True):
            for completion in completions:
                index = next_index.get(slot, 0)
                next_index[slot] = index + 1
                sample = to_sample(
                    completion,
                    problems[slot],
                    trajectory=index,
                    round=1,
                    system_prompt=prompt.name if prompt else "",
                    prompt=request.messages,
                )
                first_round.append((slot, sample))
        results = yield self._check([s for _, s in first_round], suites)

        runs_by_slot: dict[int, list[TestRun]] = {}
        for (slot, _), (_, run) in zip(first_round, results, strict=True):
            if run is not None:
                runs_by_slot.setdefault(slot, []).append(run)
        unconfirmed: dict[int, Rejection] = {}
        for slot in order:
            outcome = apply_agreement_rule(
                suites[slot], runs_by_slot.get(slot, []), settings.min_tests
            )
            if isinstance(outcome, Rejection):
                unconfirmed[slot] = outcome
            else:
                suites[slot] = outcome

        histories: Histories = {}
        for (slot, sample), (verdict, run) in zip(first_round, results, strict=True):
            if run is not None and slot not in unconfirmed:  # judged again on the kept tests
                rejudged = verdict_from_run(sample, suites[slot], run, None)
                verdict = rejudged.model_copy(update={"lint": verdict.lint})
            histories[(slot, sample.trajectory)] = [Attempt(sample=sample, verdict=verdict)]
        for slot, why in unconfirmed.items():
            trajectories = trajectories_of(slot, histories, settings.samples)
            batch.reject(
                slot,
                "tests",
                why,
                problem=problems[slot],
                tests=suites[slot],
                trajectories=trajectories,
            )
            for index in range(settings.samples):
                histories.pop((slot, index), None)
        return histories

    def _corrections(
        self, problems: dict[int, Problem], suites: dict[int, TestSuite], histories: Histories
    ) -> Steps:
        """Step 5: failed trajectories go back with their feedback, up to max_attempts."""
        settings = self.settings
        for attempt in range(2, settings.max_attempts + 1):
            failing = [
                key for key, attempts in histories.items() if not attempts[-1].verdict.passed
            ]
            if not failing:
                return
            requests = [
                repair_request(
                    problems[slot],
                    [a.sample for a in histories[(slot, t)]],
                    [feedback_text(a.verdict) for a in histories[(slot, t)]],
                    temperature=settings.temperature,
                    max_tokens=settings.max_tokens,
                    seed=self._seed(slot, "repair", t, attempt),
                    system_text=self._system_text(histories[(slot, t)][0].sample),
                )
                for slot, t in failing
            ]
            answers = yield Generate(requests)
            repaired = [
                to_sample(
                    completions[0],
                    problems[slot],
                    trajectory=t,
                    round=attempt,
                    system_prompt=histories[(slot, t)][0].sample.system_prompt,
                    prompt=request.messages,
                )
                for (slot, t), request, completions in zip(failing, requests, answers, strict=True)
            ]
            results = yield self._check(repaired, suites)
            for key, sample, (verdict, _) in zip(failing, repaired, results, strict=True):
                histories[key].append(Attempt(sample=sample, verdict=verdict))

    def _judge(self, problems: dict[int, Problem], histories: Histories) -> Steps:
        """Step 6 (optional): the judge scores each verified trajectory's last sample; those
        under a threshold are not kept, and with several system prompts only the best of
        each problem is."""
        judge = self.settings.judge
        if judge is None:
            return
        keys = [key for key, attempts in histories.items() if attempts[-1].verdict.passed]
        answers = yield Generate(
            [
                judge_request(
                    judge,
                    problems[slot],
                    histories[(slot, t)][-1].sample,
                    seed=self._seed(slot, "judge", t),
                )
                for slot, t in keys
            ],
            engine=self.judge_engine,
        )
        judged = {
            key: parse_judgement(judge, completions[0])
            for key, completions in zip(keys, answers, strict=True)
        }
        if self.settings.system_prompts:
            for slot in {slot for slot, _ in keys}:
                mine = [key for key in keys if key[0] == slot]
                judged.update(zip(mine, keep_best([judged[key] for key in mine]), strict=True))
        for key, judgement in judged.items():
            histories[key][-1] = histories[key][-1].model_copy(update={"judgement": judgement})

    def _system_text(self, sample: Sample) -> str:
        by_name = {prompt.name: prompt.text for prompt in self.settings.system_prompts}
        return by_name.get(sample.system_prompt, "")

    def _check(self, samples: list[Sample], suites: dict[int, TestSuite]) -> SampleTestsCheck:
        """The samples against their problems' tests (a verdict and test run each)."""
        wanted = {sample.problem_id for sample in samples}
        return SampleTestsCheck(
            samples=samples,
            suites={s.problem_id: s for s in suites.values() if s.problem_id in wanted},
            limits=self.settings.limits,
            lint=self.settings.lint,
            workers=self.settings.verify_workers,
        )


def _deal(samples: int, prompts: tuple[SystemPrompt, ...]) -> list[tuple[SystemPrompt | None, int]]:
    """Split a problem's samples between the system prompts (the first ones get the rest)."""
    if not prompts:
        return [(None, samples)]
    share, rest = divmod(samples, len(prompts))
    counts = [share + (i < rest) for i in range(len(prompts))]
    return [(prompt, count) for prompt, count in zip(prompts, counts, strict=True) if count]
