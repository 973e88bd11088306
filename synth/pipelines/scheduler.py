"""The scheduler every pipeline kind runs on; it knows nothing of domains.

A pipeline kind (synth.pipelines.code, synth.pipelines.math) turns one batch of problem
slots into records as a generator: it yields `Generate` (chat requests for the engine) and
`Check` (verification work) steps and is resumed with their results. The scheduler keeps
`batches_in_flight` batches going: while the engine generates for one batch in this
thread, the others' checks run in worker threads (sandbox runs and ruff are subprocesses
at a lower CPU priority, so they use the cycles the engine leaves idle), and a batch is
nearly always ready for the engine. Batches are not merged into one engine call: merged
batches would move in lockstep and leave the engine idle during their checks;
`batch_size` sets how wide each engine call is. The engine is only ever called from this
thread.

Resume: before any batch, each stored record is shown to the kind (`remember`: the
near-duplicate index is seeded from them), and a slot whose record id is already in the
store is skipped, so a resumed run behaves as if it had never stopped.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Protocol

from synth.engines.base import ChatRequest, Completion, Engine
from synth.records import Record, record_id
from synth.store import RunStore


@dataclass(frozen=True)
class Generate:
    """A step that needs the engine: its completions, one list per request, come back."""

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
    """A step of verification work: `work()`'s result comes back."""

    work: Callable[[], Any]
    task: CheckTask | None = None  # the same work as data, where the step can be shipped


BatchSteps = Generator["Generate | Check", Any, list[Record]]


class BatchKind(Protocol):
    """What the scheduler drives: a pipeline kind's batches."""

    def remember(self, record: Record) -> None:
        """A record stored by an earlier invocation (resume), shown before any batch."""

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
            if trajectory.verified:
                self.trajectories_verified += 1
                self.trajectories_corrected += trajectory.corrected
        self.records_verified += record.status == "verified"


class Scheduler:
    def __init__(
        self,
        engine: Engine,
        store: RunStore,
        *,
        seed: int,
        batch_size: int,
        batches_in_flight: int,
        on_update: Callable[[Stats], None] | None = None,
        on_stored: Callable[[list[Record]], None] | None = None,
        remote_checks: Callable[[CheckTask], Any] | None = None,
    ) -> None:
        """`on_update`: called with the stats after every step that changes them.
        `on_stored`: called with each batch's records once they are stored (summary.json's
        whole-run counts are kept up to date with it).
        `remote_checks`: runs a check shipped as data elsewhere (a fleet's verify workers);
        checks without a task form still run here."""
        self.engine = engine
        self.store = store
        self.seed = seed
        self.batch_size = batch_size
        self.batches_in_flight = batches_in_flight
        self.on_update = on_update or (lambda stats: None)
        self.on_stored = on_stored or (lambda records: None)
        self.remote_checks = remote_checks
        self.stats = Stats()

    def run(self, kind: BatchKind, slots: Sequence[int]) -> Stats:
        """Every one of `slots` not stored yet, batch by batch, through `kind`'s steps."""
        for record in self.store.records():
            kind.remember(record)
        done = self.store.ids()  # known from the read above: no second read
        wanted = list(slots)
        pending = [s for s in wanted if record_id(self.seed, s) not in done]
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
        self, kind: BatchKind, batches: Iterator[list[int]], checks: ThreadPoolExecutor
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
            elif step.task is not None and self.remote_checks is not None:
                waiting_checks[checks.submit(self.remote_checks, step.task)] = batch
            else:
                waiting_checks[checks.submit(step.work)] = batch

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
        self.store.write(records)
        for record in records:
            self.stats.count_record(record)
        self.on_stored(records)
        self.on_update(self.stats)
