"""The scheduler every pipeline kind runs on; it knows nothing of domains.

A pipeline kind (synth.pipelines.code, .math, .translate, .explain) turns one batch of
slots into records as a generator: it yields `Generate` (chat requests for the engine) and
checks (`synth.checks.Check` records: verification work) and is resumed with their results.
The scheduler keeps `batches_in_flight` batches going: while the engine generates for one
batch in this thread, the others' checks run in worker threads through `run_check` (in this
process's sandbox, `CheckTools.run`, or on a fleet's verify workers; sandbox runs and ruff
are subprocesses at a lower CPU priority, so they use the cycles the engine leaves idle),
and a batch is nearly always ready for the engine. Batches are not merged into one engine
call: merged batches would move in lockstep and leave the engine idle during their checks;
`batch_size` sets how wide each engine call is. The engine is only ever called from this
thread.

Resume: before any batch, the stored records' problems are shown to a kind that
remembers them (`remember`: the near-duplicate index is seeded with their signatures), read
from the run index beside the shards, never from the records; and a slot whose record id
(`kind.record_id`) is already in the store is skipped, so a resumed run behaves as if it
had never stopped.
Stored records carry the engine's name (`model`), stamped here.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Protocol

from synth.checks import Check, CheckTools
from synth.engines.base import ChatRequest, Completion, Engine
from synth.pipelines.settings import PacingSettings
from synth.records import Record
from synth.sandbox.base import Sandbox
from synth.store import RunStore, StoredProblems


@dataclass(frozen=True)
class Generate:
    """A step that needs the engine: its completions, one list per request, come back."""

    requests: list[ChatRequest]
    engine: Engine | None = None  # None: the run's engine (the judge may have its own)


Step = Generate | Check
Steps = Generator[Step, Any, Any]  # a part of a batch: yields steps, returns its result
BatchSteps = Generator[Step, Any, list[Record]]


class PipelineKind(Protocol):
    """What the scheduler drives: a pipeline kind's slots and batches."""

    settings: PacingSettings

    def slots(self) -> Sequence[int]:
        """Every slot of the run, in order."""

    def record_id(self, slot: int) -> str:
        """The id of the record a slot gives (deterministic: resume compares it)."""

    # The problems of records stored by earlier invocations (resume), shown before any
    # batch; None for a kind whose slots do not depend on one another.
    remember: Callable[[StoredProblems], None] | None

    def batch(self, slots: list[int]) -> BatchSteps:
        """One batch of slots through the kind's steps; returns a record per slot."""


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
            self.samples += len(trajectory.attempts)
            if trajectory.verified:
                self.trajectories_verified += 1
                self.trajectories_corrected += trajectory.corrected
        self.records_verified += record.status == "verified"


class Scheduler:
    def __init__(
        self,
        engine: Engine,
        store: RunStore,
        run_check: Callable[[Check], Any],
        pacing: PacingSettings,
        *,
        on_update: Callable[[Stats], None] | None = None,
        on_stored: Callable[[list[Record]], None] | None = None,
    ) -> None:
        """`run_check`: runs one check and returns its result (`CheckTools.run` here, or
        a fleet's shipping to its verify workers). `on_update`: called with the stats after
        every step that changes them. `on_stored`: called with each batch's records once
        they are stored (summary.json's whole-run counts are kept up to date with it)."""
        self.engine = engine
        self.store = store
        self.run_check = run_check
        self.batch_size = pacing.batch_size
        self.batches_in_flight = pacing.batches_in_flight
        self.on_update = on_update or (lambda stats: None)
        self.on_stored = on_stored or (lambda records: None)
        self.stats = Stats()

    def run(self, kind: PipelineKind, slots: Sequence[int] | None = None) -> Stats:
        """Every one of `slots` (default: all the kind's) not stored yet, batch by batch,
        through `kind`'s steps."""
        if kind.remember is not None:
            kind.remember(self.store.stored_problems())
        done = self.store.ids()  # known from the read above, if any: no second read
        wanted = list(kind.slots() if slots is None else slots)
        pending = [s for s in wanted if kind.record_id(s) not in done]
        self.stats.slots = len(wanted)
        self.stats.slots_skipped = len(wanted) - len(pending)
        self.stats.slots_done = self.stats.slots_skipped
        batches = iter(
            [pending[i : i + self.batch_size] for i in range(0, len(pending), self.batch_size)]
        )
        self.on_update(self.stats)
        with ThreadPoolExecutor(
            max_workers=self.batches_in_flight, thread_name_prefix="check"
        ) as checks:
            self._schedule(kind, batches, checks)
        return self.stats

    def _schedule(
        self, kind: PipelineKind, batches: Iterator[list[int]], checks: ThreadPoolExecutor
    ) -> None:
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
            else:
                waiting_checks[checks.submit(self.run_check, step)] = batch

        def start_batches() -> None:
            while len(waiting_engine) + len(waiting_checks) < self.batches_in_flight:
                slots = next(batches, None)
                if slots is None:
                    return
                advance(kind.batch(slots), None)

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
        model = self.engine.name
        records = [
            r if r.model == model else r.model_copy(update={"model": model}) for r in records
        ]
        self.store.write(records)
        for record in records:
            self.stats.count_record(record)
        self.on_stored(records)
        self.on_update(self.stats)


def run_here(
    kind: PipelineKind,
    engine: Engine,
    sandbox: Sandbox,
    store: RunStore,
    *,
    slots: Sequence[int] | None = None,
    on_update: Callable[[Stats], None] | None = None,
    on_stored: Callable[[list[Record]], None] | None = None,
) -> Stats:
    """Run a kind in this process: its checks in `sandbox` (and, for math, in answer
    checker processes that end with the run)."""
    with CheckTools(sandbox, workers=kind.settings.verify_workers) as tools:
        scheduler = Scheduler(
            engine, store, tools.run, kind.settings, on_update=on_update, on_stored=on_stored
        )
        return scheduler.run(kind, slots)
