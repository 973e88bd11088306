"""The generate -> verify -> correct loop over batches of problem slots.

Each batch is a generator that walks one batch of slots through every step: problems,
tests, the stub check, solutions, verification, the agreement rule, and correction
rounds. It yields `Generate` (chat requests for the engine) and `Check` (verification
work) steps and is resumed with their results. The scheduler in `Pipeline.run` keeps three
batches in flight: while the engine generates for one batch in this thread, the others'
checks run in worker threads (sandbox runs and ruff are subprocesses, at a lower CPU
priority, so they use the cycles the engine leaves idle), and a batch is nearly always
ready for the engine. Batches are not merged into one engine call: merged batches would
move in lockstep and leave the engine idle during their checks; `batch_size` sets how
wide each engine call is. The engine is only ever called from this thread.

Resume: a slot whose record id is already in the store is skipped, and the problems of
stored records seed the near-duplicate index, so a resumed run behaves as if it had never
stopped.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from synth.code.execute import TestRun
from synth.code.feedback import feedback_text
from synth.code.judge import JudgeConfig, judge_request, keep_best, parse_judgement
from synth.code.problems import parse_problem, problem_request
from synth.code.solutions import SystemPrompt, repair_request, solution_request, to_sample
from synth.code.static import LintConfig
from synth.code.tests import apply_agreement_rule, drop_vacuous, parse_tests, tests_request
from synth.code.verify import verdict_from_run, verify_samples
from synth.engines.base import ChatRequest, Completion, Engine
from synth.problems import NearDuplicateIndex, problem_id
from synth.records import (
    Attempt,
    Problem,
    Record,
    Rejection,
    Sample,
    SkillCombo,
    TestSuite,
    Trajectory,
    Verdict,
    record_id,
    stable_id,
)
from synth.sandbox.base import Limits, Sandbox
from synth.store import RunStore
from synth.taxonomy import SamplerConfig, Taxonomy, sample_combo

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunConfig:
    """The settings of one run; everything that changes the data is here (and in run.json)."""

    problems: int = 8
    samples: int = 4
    max_rounds: int = 3
    seed: int = 0
    batch_size: int = 16
    temperature: float = 0.8
    max_tokens: int = 1024
    min_tests: int = 3
    near_duplicate_threshold: float = 0.7
    rare_boost: float = 0.0
    limits: Limits = field(default_factory=Limits)
    lint: LintConfig = field(default_factory=LintConfig)
    verify_workers: int = 2
    batches_in_flight: int = 3
    # math runs
    solution_style: str = "text"  # text: chain of thought; code: reasoning with executed code
    max_tool_calls: int = 4
    drop_wrong_steps: bool = False
    majority_share: float = 0.5
    answer_timeout_s: float = 5.0
    # code runs: the quality judge, and rejection sampling across system prompts
    judge: JudgeConfig | None = None
    system_prompts: tuple[SystemPrompt, ...] = ()

    def settings(self) -> dict[str, Any]:
        """What a resumed run must agree with (the knobs that change which data is made)."""
        return {
            "problems": self.problems,
            "samples": self.samples,
            "max_rounds": self.max_rounds,
            "seed": self.seed,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "min_tests": self.min_tests,
            "rare_boost": self.rare_boost,
            "solution_style": self.solution_style,
            "max_tool_calls": self.max_tool_calls,
            "drop_wrong_steps": self.drop_wrong_steps,
            "majority_share": self.majority_share,
            "judge": self.judge.model_dump() if self.judge else None,
            "system_prompts": [p.model_dump() for p in self.system_prompts] or None,
        }


@dataclass
class Stats:
    """Live counts of one invocation over a run (the progress display, and summary.json's
    `this_invocation`); the whole run's counts are in synth.counts."""

    slots: int = 0
    slots_done: int = 0
    slots_skipped: int = 0
    problems_accepted: int = 0
    samples: int = 0
    trajectories_verified: int = 0
    trajectories_corrected: int = 0
    records_verified: int = 0
    rejected: Counter = field(default_factory=Counter)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    engine_seconds: float = 0.0
    started: float = field(default_factory=time.monotonic)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def tokens_per_second(self) -> float:
        return self.completion_tokens / self.elapsed if self.elapsed > 0 else 0.0

    def count_record(self, record: Record) -> None:
        self.slots_done += 1
        if record.rejected_at not in ("problem", "reference"):
            self.problems_accepted += 1
        self.rejected.update(record.rejection_keys())
        for trajectory in record.trajectories:
            if trajectory.verified:
                self.trajectories_verified += 1
                self.trajectories_corrected += trajectory.corrected
        self.records_verified += record.status == "verified"


@dataclass(frozen=True)
class Generate:
    requests: list[ChatRequest]
    engine: Engine | None = None  # None: the run's engine (the judge may have its own)


@dataclass(frozen=True)
class CheckTask:
    """A check as data (a kind and JSON-able arguments), so a fleet can run it on a verify
    worker; synth.fleet.checks knows the kinds."""

    kind: str
    payload: dict


@dataclass(frozen=True)
class Check:
    work: Callable[[], Any]
    task: CheckTask | None = None  # the same work as data, where the step can be shipped


BatchSteps = Generator["Generate | Check", Any, list[Record]]


class Pipeline:
    def __init__(
        self,
        taxonomy: Taxonomy,
        engine: Engine,
        sandbox: Sandbox,
        store: RunStore,
        config: RunConfig,
        on_update: Callable[[Stats], None] | None = None,
        imported: list | None = None,
        judge_engine: Engine | None = None,
        remote_checks: Callable[[CheckTask], Any] | None = None,
        on_stored: Callable[[list[Record]], None] | None = None,
    ) -> None:
        """`imported`: per slot, a problem to solve instead of a generated one (code: a
        (Problem, TestSuite) pair from a verified run, or from a user's file where the suite
        may be None and the model writes the tests; math: (statement, answer)).
        `judge_engine`: the engine that judges, when not the run's own.
        `remote_checks`: runs a check shipped as data elsewhere (a fleet's verify workers);
        checks without a task form still run here.
        `on_stored`: called with each batch's records once they are stored (summary.json's
        whole-run counts are kept up to date with it)."""
        self.on_stored = on_stored or (lambda records: None)
        self.imported = imported
        self.remote_checks = remote_checks
        self.judge_engine = judge_engine
        self.taxonomy = taxonomy
        self.engine = engine
        self.sandbox = sandbox
        self.store = store
        self.config = config
        self.on_update = on_update or (lambda stats: None)
        self.sampler = SamplerConfig(seed=config.seed, rare_boost=config.rare_boost)
        self.near_copies = NearDuplicateIndex(threshold=config.near_duplicate_threshold)
        self.stats = Stats(slots=config.problems)

    # --- scheduling ------------------------------------------------------------------

    def run(self, slots: Sequence[int] | None = None) -> Stats:
        """Every slot of the run not stored yet, or those of `slots` (a fleet's chunk)."""
        for record in self.store.records():
            if record.problem is not None and record.rejection != "duplicate":
                self.near_copies.add(record.problem.id, record.problem.statement)
        done = self.store.ids()  # known from the read above: no second read
        wanted = list(range(self.config.problems)) if slots is None else list(slots)
        pending = [s for s in wanted if record_id(self.config.seed, s) not in done]
        self.stats.slots = len(wanted)
        self.stats.slots_skipped = len(wanted) - len(pending)
        self.stats.slots_done = self.stats.slots_skipped
        batches = iter(
            [
                pending[i : i + self.config.batch_size]
                for i in range(0, len(pending), self.config.batch_size)
            ]
        )
        self.on_update(self.stats)
        with ThreadPoolExecutor(
            max_workers=self.config.batches_in_flight, thread_name_prefix="check"
        ) as checks:
            self._schedule(batches, checks)
        return self.stats

    def _schedule(self, batches: Iterator[list[int]], checks: ThreadPoolExecutor) -> None:
        waiting_engine: list[tuple[BatchSteps, Generate]] = []
        waiting_checks: dict[Future, BatchSteps] = {}

        def advance(batch: BatchSteps, value: Any) -> None:
            try:
                step = batch.send(value)
            except StopIteration as stop:
                self._finish(stop.value)
                return
            if isinstance(step, Generate):
                waiting_engine.append((batch, step))
            elif step.task is not None and self.remote_checks is not None:
                waiting_checks[checks.submit(self.remote_checks, step.task)] = batch
            else:
                waiting_checks[checks.submit(step.work)] = batch

        def start_batches() -> None:
            while len(waiting_engine) + len(waiting_checks) < self.config.batches_in_flight:
                slots = next(batches, None)
                if slots is None:
                    return
                advance(self._batch(slots), None)

        start_batches()
        while waiting_engine or waiting_checks:
            finished = [f for f in waiting_checks if f.done()]
            for future in finished:
                advance(waiting_checks.pop(future), future.result())
            if waiting_engine:
                batch, step = waiting_engine.pop(0)
                advance(batch, self._generate(step.requests, step.engine))
            elif waiting_checks and not finished:
                wait(list(waiting_checks), return_when=FIRST_COMPLETED)
            start_batches()

    def _generate(
        self, requests: list[ChatRequest], engine: Engine | None = None
    ) -> list[list[Completion]]:
        if not requests:
            return []
        started = time.monotonic()
        results = (engine or self.engine).chat(requests)
        self.stats.engine_seconds += time.monotonic() - started
        for completions in results:
            for completion in completions:
                self.stats.prompt_tokens += completion.prompt_tokens
                self.stats.completion_tokens += completion.completion_tokens
        self.on_update(self.stats)
        return results

    def _finish(self, records: list[Record]) -> None:
        self.store.write(records)
        for record in records:
            self.stats.count_record(record)
        self.on_stored(records)
        self.on_update(self.stats)

    def _seed(self, *parts: object) -> int:
        return int(stable_id("seed", self.config.seed, *parts, length=8), 16)

    # --- one batch through every step ------------------------------------------------

    def _batch(self, slots: list[int]) -> BatchSteps:
        batch = BatchState(
            slots=slots,
            combos={slot: self._combo(slot) for slot in slots},
            seed=self.config.seed,
            model=self.engine.name,
        )
        if self.imported is None:
            problems = yield from self._problems(batch)
            suites = yield from self._tests(batch, problems)
        else:
            problems, suites = self._imported(slots)
            untested = {slot: p for slot, p in problems.items() if slot not in suites}
            if untested:  # a user's problem without tests gets the model's, with every guard
                suites |= yield from self._tests(batch, untested)
        histories = yield from self._solutions(batch, problems, suites)
        yield from self._corrections(problems, suites, histories)
        yield from self._judge(problems, histories)
        return batch.finish(problems, histories, self.config.samples, suites)

    def _combo(self, slot: int) -> SkillCombo:
        if self.imported is not None:  # an imported problem keeps its own concepts
            first = self.imported[slot]
            if isinstance(first, tuple) and isinstance(first[0], Problem):
                by_id = self.taxonomy.by_id()
                concepts = tuple(by_id[c] for c in first[0].concept_ids if c in by_id)
                return SkillCombo(slot=slot, concepts=concepts)
            return SkillCombo(slot=slot, concepts=())
        return sample_combo(self.taxonomy, slot, self.sampler)

    def _imported(self, slots: list[int]) -> tuple[dict[int, Problem], dict[int, TestSuite]]:
        """Imported code problems and the tests they came with (None: the model writes them),
        renumbered into this run's slots."""
        problems, suites = {}, {}
        for slot in slots:
            problem, suite = self.imported[slot]
            new_id = problem_id(self.config.seed, slot)
            problems[slot] = problem.model_copy(update={"id": new_id, "slot": slot})
            if suite is not None:
                suites[slot] = suite.model_copy(update={"problem_id": new_id, "dropped": ()})
        return problems, suites

    def _problems(
        self, batch: BatchState, request_for=problem_request, parse=parse_problem
    ) -> Generator[Generate, Any, dict[int, Any]]:
        """Step 1: one problem per slot; unparseable ones and near copies are rejected.

        `request_for` and `parse` are the domain's (code by default, math passes its own)."""
        answers = yield Generate(
            [request_for(batch.combos[s], seed=self._seed(s, "problem")) for s in batch.slots]
        )
        problems: dict[int, Any] = {}
        for slot, completions in zip(batch.slots, answers, strict=True):
            parsed = parse(completions[0], batch.combos[slot], problem_id(self.config.seed, slot))
            if isinstance(parsed, Rejection):
                batch.reject(slot, "problem", parsed)
                continue
            near = self.near_copies.near_copy_of(parsed.statement)
            if near is not None:
                copy = Rejection(reason="duplicate", detail=f"near copy of problem {near}")
                batch.reject(slot, "problem", copy, problem=parsed)
                continue
            self.near_copies.add(parsed.id, parsed.statement)
            problems[slot] = parsed
        return problems

    def _tests(
        self, batch: BatchState, problems: dict[int, Problem]
    ) -> Generator[Generate | Check, Any, dict[int, TestSuite]]:
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
        limits, min_tests = self.config.limits, self.config.min_tests
        checked = yield Check(
            lambda: stub_checks(parsed, problems, self.sandbox, limits, min_tests),
            CheckTask(
                "stub_checks",
                {"suites": parsed, "problems": problems, "limits": limits, "min_tests": min_tests},
            ),
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
    ) -> Generator[Generate | Check, Any, Histories]:
        """Step 3-5: n samples per problem, checked; then the agreement rule re-judges them."""
        config = self.config
        order = list(suites)
        # (slot, system prompt, samples): one request per problem, or one per system prompt
        # with the samples dealt out between them (rejection sampling).
        asks = [
            (slot, prompt, count)
            for slot in order
            for prompt, count in _deal(config.samples, config.system_prompts)
        ]
        answers = yield Generate(
            [
                solution_request(
                    problems[slot],
                    n=count,
                    temperature=config.temperature,
                    max_tokens=config.max_tokens,
                    seed=self._seed(slot, "solution", prompt.name if prompt else ""),
                    system_text=prompt.text if prompt else "",
                )
                for slot, prompt, count in asks
            ]
        )
        first_round = []
        next_index: dict[int, int] = {}
        for (slot, prompt, _), completions in zip(asks, answers, strict=True):
            for completion in completions:
                index = next_index.get(slot, 0)
                next_index[slot] = index + 1
                sample = to_sample(
                    completion,
                    problems[slot],
                    trajectory=index,
                    round=1,
                    system_prompt=prompt.name if prompt else "",
                )
                first_round.append((slot, sample))
        self.stats.samples += len(first_round)
        first = [s for _, s in first_round]
        results = yield Check(lambda: self._verify(first, suites), self._verify_task(first, suites))

        runs_by_slot: dict[int, list[TestRun]] = {}
        for (slot, _), (_, run) in zip(first_round, results, strict=True):
            if run is not None:
                runs_by_slot.setdefault(slot, []).append(run)
        unconfirmed: dict[int, Rejection] = {}
        for slot in order:
            outcome = apply_agreement_rule(
                suites[slot], runs_by_slot.get(slot, []), config.min_tests
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
            trajectories = trajectories_of(slot, histories, config.samples)
            batch.reject(
                slot,
                "tests",
                why,
                problem=problems[slot],
                tests=suites[slot],
                trajectories=trajectories,
            )
            for index in range(config.samples):
                histories.pop((slot, index), None)
        return histories

    def _corrections(
        self, problems: dict[int, Problem], suites: dict[int, TestSuite], histories: Histories
    ) -> Generator[Generate | Check, Any, None]:
        """Step 6: failed trajectories go back with their feedback, up to max_rounds attempts."""
        config = self.config
        for round_number in range(2, config.max_rounds + 1):
            failing = [
                key for key, attempts in histories.items() if not attempts[-1].verdict.passed
            ]
            if not failing:
                return
            answers = yield Generate(
                [
                    repair_request(
                        problems[slot],
                        [a.sample for a in histories[(slot, t)]],
                        [feedback_text(a.verdict) for a in histories[(slot, t)]],
                        temperature=config.temperature,
                        max_tokens=config.max_tokens,
                        seed=self._seed(slot, "repair", t, round_number),
                        system_text=self._system_text(histories[(slot, t)][0].sample),
                    )
                    for slot, t in failing
                ]
            )
            repaired = [
                to_sample(
                    completions[0],
                    problems[slot],
                    trajectory=t,
                    round=round_number,
                    system_prompt=histories[(slot, t)][0].sample.system_prompt,
                )
                for (slot, t), completions in zip(failing, answers, strict=True)
            ]
            self.stats.samples += len(repaired)
            results = yield Check(
                lambda repaired=repaired: self._verify(repaired, suites),
                self._verify_task(repaired, suites),
            )
            for key, sample, (verdict, _) in zip(failing, repaired, results, strict=True):
                histories[key].append(Attempt(sample=sample, verdict=verdict))

    def _judge(
        self, problems: dict[int, Problem], histories: Histories
    ) -> Generator[Generate | Check, Any, None]:
        """Step 7 (optional): the judge scores each verified trajectory's last sample; those
        under a threshold are not kept, and with several system prompts only the best of
        each problem is."""
        judge = self.config.judge
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
        if self.config.system_prompts:
            for slot in {slot for slot, _ in keys}:
                mine = [key for key in keys if key[0] == slot]
                judged.update(zip(mine, keep_best([judged[key] for key in mine]), strict=True))
        for key, judgement in judged.items():
            histories[key][-1] = histories[key][-1].model_copy(update={"judgement": judgement})

    def _system_text(self, sample: Sample) -> str:
        by_name = {prompt.name: prompt.text for prompt in self.config.system_prompts}
        return by_name.get(sample.system_prompt, "")

    def _verify_task(self, samples: list[Sample], suites: dict[int, TestSuite]) -> CheckTask:
        return CheckTask(
            "verify",
            {
                "samples": samples,
                "suites": {suite.problem_id: suite for suite in suites.values()},
                "limits": self.config.limits,
                "lint": self.config.lint,
                "workers": self.config.verify_workers,
            },
        )

    def _verify(
        self, samples: list[Sample], suites: dict[int, TestSuite]
    ) -> list[tuple[Verdict, TestRun | None]]:
        by_problem = {suite.problem_id: suite for suite in suites.values()}
        return verify_samples(
            samples,
            by_problem,
            self.sandbox,
            self.config.limits,
            self.config.lint,
            self.config.verify_workers,
        )


Histories = dict[tuple[int, int], list[Attempt]]  # (slot, trajectory) -> attempts so far


def stub_checks(
    suites: dict[int, TestSuite],
    problems: dict[int, Problem],
    sandbox: Sandbox,
    limits: Limits,
    min_tests: int,
) -> dict[int, TestSuite | Rejection]:
    """Step 2's last guard for every slot: the cases a stub passes are dropped."""
    return {
        slot: drop_vacuous(suite, problems[slot], sandbox, limits, min_tests)
        for slot, suite in suites.items()
    }


def _deal(samples: int, prompts: tuple[SystemPrompt, ...]) -> list[tuple[SystemPrompt | None, int]]:
    """Split a problem's samples between the system prompts (the first ones get the rest)."""
    if not prompts:
        return [(None, samples)]
    share, rest = divmod(samples, len(prompts))
    counts = [share + (i < rest) for i in range(len(prompts))]
    return [(prompt, count) for prompt, count in zip(prompts, counts, strict=True) if count]


def trajectories_of(slot: int, histories: Histories, samples: int) -> tuple[Trajectory, ...]:
    return tuple(
        Trajectory(index=t, attempts=tuple(histories[(slot, t)]))
        for t in range(samples)
        if (slot, t) in histories
    )


@dataclass
class BatchState:
    """The slots of one batch and the records decided so far (rejections come early)."""

    slots: list[int]
    combos: dict[int, SkillCombo]
    seed: int
    model: str
    records: dict[int, Record] = field(default_factory=dict)

    def reject(self, slot: int, stage: str, why: Rejection, **evidence: Any) -> None:
        self.records[slot] = Record(
            id=record_id(self.seed, slot),
            slot=slot,
            status="rejected",
            rejected_at=stage,
            concept_ids=tuple(self.combos[slot].concept_ids),
            rejection=why.reason,
            rejection_detail=why.detail,
            model=self.model,
            seed=self.seed,
            **evidence,
        )

    def finish(
        self,
        problems: dict[int, Any],
        histories: Histories,
        samples: int,
        suites: dict[int, TestSuite] | None = None,
    ) -> list[Record]:
        """A record for every slot: the rejections, then verified-or-not for the rest (the
        problems still standing; code problems with their tests)."""
        for slot in problems:
            if slot in self.records:
                continue
            trajectories = trajectories_of(slot, histories, samples)
            verified = any(t.verified for t in trajectories)
            self.records[slot] = Record(
                id=record_id(self.seed, slot),
                slot=slot,
                status="verified" if verified else "rejected",
                concept_ids=tuple(self.combos[slot].concept_ids),
                rejected_at=None if verified else "solution",
                rejection=None if verified else "no_verified_solution",
                problem=problems[slot],
                tests=suites[slot] if suites is not None else None,
                trajectories=trajectories,
                model=self.model,
                seed=self.seed,
            )
        return [self.records[slot] for slot in self.slots]
