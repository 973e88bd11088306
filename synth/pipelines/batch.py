"""What the pipeline kinds share: the records of a batch decided so far, the attempts of
each trajectory, per-request seeds, and step 1 of the kinds that write problems from
sampled skills (the sampler and the run's near-duplicate index)."""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

from synth.engines.base import ChatRequest, Completion
from synth.near_duplicates import NearDuplicateIndex
from synth.pipelines.scheduler import Generate
from synth.pipelines.settings import SlotSettings
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
from synth.store import StoredProblems
from synth.taxonomy import SamplerConfig, Taxonomy, sample_combo

Histories = dict[tuple[int, int], list[Attempt]]  # (slot, trajectory) -> attempts so far


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
                seed=self.seed,
            )
        return [self.records[slot] for slot in self.slots]


class SkillProblems:
    """Step 1 of the kinds that write their own problems: each slot's skills drawn from
    the taxonomy, and the run's near-duplicate index, which a resume seeds from the stored
    records (`remember`) so a resumed run rejects the copies it would have rejected."""

    def __init__(self, taxonomy: Taxonomy, settings: SlotSettings) -> None:
        self.taxonomy = taxonomy
        self.seed = settings.seed
        self.sampler = SamplerConfig(seed=settings.seed, rare_boost=settings.rare_boost)
        self.near_copies = NearDuplicateIndex(threshold=settings.near_duplicate_threshold)
        self._known: set[str] = set()  # problem ids remembered from the store

    def combo(self, slot: int) -> SkillCombo:
        return sample_combo(self.taxonomy, slot, self.sampler)

    def remember(self, problems: StoredProblems) -> None:
        """Stored records' problems join the index by their signatures (not the copies
        rejected as such, nor problems it holds already: a fleet worker shows it the
        store's problems again at every chunk)."""
        keep = [
            row
            for row, (problem_id, duplicate) in enumerate(
                zip(problems.ids, problems.duplicate.tolist(), strict=True)
            )
            if not duplicate and problem_id not in self._known
        ]
        keys = [problems.ids[row] for row in keep]
        self.near_copies.add_signed(keys, problems.signatures[keep])
        self._known.update(keys)

    def write(
        self,
        batch: BatchState,
        request_for: Callable[..., ChatRequest],
        parse: Callable[[Completion, SkillCombo, str], Any],
    ) -> Generator[Generate, Any, dict[int, Any]]:
        """One problem per slot from its skills, with the kind's request and parser;
        unparseable ones and near copies of earlier ones rejected."""
        answers = yield Generate(
            [
                request_for(batch.combos[s], seed=request_seed(self.seed, s, "problem"))
                for s in batch.slots
            ]
        )
        problems: dict[int, Any] = {}
        for slot, completions in zip(batch.slots, answers, strict=True):
            parsed = parse(completions[0], batch.combos[slot], problem_id(self.seed, slot))
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
