"""What every pipeline kind's batch is made of: the records decided so far, the attempts of
each trajectory, per-request seeds, and step 1 (problems written from sampled skills)."""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

from synth.engines.base import ChatRequest, Completion, Engine
from synth.near_duplicates import NearDuplicateIndex
from synth.pipelines.config import RunConfig
from synth.pipelines.scheduler import CheckTask, Generate, Scheduler, Stats
from synth.records import (
    Attempt,
    Record,
    Rejection,
    SkillCombo,
    TestSuite,
    Trajectory,
    problem_id,
    record_id,
    stable_id,
)
from synth.store import RunStore

Histories = dict[tuple[int, int], list[Attempt]]  # (slot, trajectory) -> attempts so far


def run_scheduler(
    engine: Engine,
    store: RunStore,
    config: RunConfig,
    on_update: Callable[[Stats], None] | None,
    on_stored: Callable[[list[Record]], None] | None,
    remote_checks: Callable[[CheckTask], Any] | None,
) -> Scheduler:
    """The scheduler of a generation run, paced by the run's settings."""
    return Scheduler(
        engine,
        store,
        seed=config.seed,
        batch_size=config.batch_size,
        batches_in_flight=config.batches_in_flight,
        on_update=on_update,
        on_stored=on_stored,
        remote_checks=remote_checks,
    )


def request_seed(run_seed: int, *parts: object) -> int:
    """The seed of one engine request: the same run, slot and step ask the same thing."""
    return int(stable_id("seed", run_seed, *parts, length=8), 16)


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


def written_problems(
    batch: BatchState,
    near_copies: NearDuplicateIndex,
    request_for: Callable[..., ChatRequest],
    parse: Callable[[Completion, SkillCombo, str], Any],
) -> Generator[Generate, Any, dict[int, Any]]:
    """Step 1 of a kind that writes its own problems: one per slot from its skills, with the
    kind's request and parser; unparseable ones and near copies of earlier ones rejected."""
    answers = yield Generate(
        [
            request_for(batch.combos[s], seed=request_seed(batch.seed, s, "problem"))
            for s in batch.slots
        ]
    )
    problems: dict[int, Any] = {}
    for slot, completions in zip(batch.slots, answers, strict=True):
        parsed = parse(completions[0], batch.combos[slot], problem_id(batch.seed, slot))
        if isinstance(parsed, Rejection):
            batch.reject(slot, "problem", parsed)
            continue
        near = near_copies.near_copy_of(parsed.statement)
        if near is not None:
            copy = Rejection(reason="duplicate", detail=f"near copy of problem {near}")
            batch.reject(slot, "problem", copy, problem=parsed)
            continue
        near_copies.add(parsed.id, parsed.statement)
        problems[slot] = parsed
    return problems


def remember_problem(near_copies: NearDuplicateIndex, record: Record) -> None:
    """Resume: a stored record's problem joins the near-duplicate index (not a rejected copy)."""
    if record.problem is not None and record.rejection != "duplicate":
        near_copies.add(record.problem.id, record.problem.statement)
