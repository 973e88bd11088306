"""Verified Python records as the source of derived data (translations, explanations)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from synth.errors import SynthError
from synth.records import Problem, SourceCode, TestSuite
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
