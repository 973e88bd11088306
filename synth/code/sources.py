"""Verified Python records as the source of derived data (translations, explanations)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from synth.errors import SynthError
from synth.records import Problem, Record, SourceCode, TestSuite
from synth.store import RunStore


@dataclass(frozen=True)
class Source:
    """A verified Python record to translate: its problem, code and tests."""

    record_id: str
    problem: Problem
    code: str
    tests: str  # the kept tests as one Python text (setup, then the cases)
    suite: TestSuite

    def source_code(self) -> SourceCode:
        return SourceCode(
            record_id=self.record_id, language="python", code=self.code, tests=self.tests
        )


def load_sources(run_dir: str | Path) -> list[Source]:
    """The verified Python records of a run: the first verified solution and the kept tests."""
    store = RunStore(run_dir)
    if not store.exists():
        raise SynthError(str(run_dir), "not a run directory")
    sources = []
    for record in store.records():
        if record.status != "verified" or record.kind != "solve":
            continue
        if not isinstance(record.problem, Problem) or record.problem.language != "python":
            continue
        verified = [t for t in record.trajectories if t.verified]
        if not verified or record.tests is None:
            continue
        suite = record.tests
        tests = "\n\n".join(
            part for part in (suite.setup, *(c.source for c in suite.cases)) if part
        )
        code = verified[0].attempts[-1].sample.code or ""
        sources.append(Source(record.id, record.problem, code, tests, suite))
    if not sources:
        raise SynthError(str(run_dir), "holds no verified Python records")
    return sources


Item = TypeVar("Item")


@dataclass
class DerivedStats:
    """The counts of a translate or explain pass (`samples` is counted by the pass itself)."""

    records: int = 0
    verified: int = 0
    samples: int = 0
    by_language: dict[str, int] = field(default_factory=dict)  # verified records
    rejected: dict[str, int] = field(default_factory=dict)

    def count(self, record: Record) -> None:
        self.records += 1
        if record.status == "verified":
            self.verified += 1
            language = record.problem.language if record.problem else "?"
            self.by_language[language] = self.by_language.get(language, 0) + 1
        for key in record.rejection_keys():
            self.rejected[key] = self.rejected.get(key, 0) + 1


def store_in_batches(
    items: Sequence[Item],
    batch_size: int,
    make_records: Callable[[Sequence[Item]], list[Record]],
    model: str,
    store: RunStore,
    stats: DerivedStats,
    on_update: Callable[[DerivedStats], None],
) -> DerivedStats:
    """Turn `items` into records a batch at a time, storing and counting each batch."""
    for start in range(0, len(items), batch_size):
        records = make_records(items[start : start + batch_size])
        records = [record.model_copy(update={"model": model}) for record in records]
        store.write(records)
        for record in records:
            stats.count(record)
        on_update(stats)
    return stats
