"""Decontamination: drop examples that share a long n-gram with a benchmark.

Benchmarks are the ones `synth eval` knows (HumanEval, built in and on by default, so a
round never trains on the benchmark it is judged by) and JSONL files a user supplies (MBPP,
MATH, GSM8K prompts and solutions...); every string field of every line counts. Text is lower-cased and split into
words; an example is contaminated when its problem or any assistant turn shares an n-gram
(13 words by default, the usual choice since GPT-3) with a benchmark; a preference pair is
contaminated when its problem, its chosen or its rejected answer does (a rejected answer
teaches about the benchmark too). The report says which benchmark and which n-gram, per
dropped example.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from synth.errors import SynthError
from synth.export.dedup import solution_text
from synth.inputs import read_jsonl

_WORD = re.compile(r"\w+")
SAMPLE_ID_COLUMNS = ("sample_id", "chosen_sample_id", "rejected_sample_id")  # dialogs, pairs


def ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    words = _WORD.findall(text.lower())
    return set(zip(*(words[i:] for i in range(n)), strict=False))


@dataclass
class BenchmarkIndex:
    n: int = 13
    owners: dict[tuple[str, ...], str] = field(default_factory=dict)  # n-gram -> benchmark name

    def add_file(self, path: str | Path) -> int:
        """Index every string field of a JSONL file; returns how many lines it held."""
        path = Path(path)
        count = self.add_items(path.stem, (item for _, item in read_jsonl(path, "benchmark file")))
        if count == 0:
            raise SynthError(str(path), "holds no benchmark lines")
        return count

    def add_builtin(self, name: str) -> int:
        """Index a benchmark `synth eval` knows (synth.evals.benchmarks.BENCHMARKS) by name:
        every task's prompt and tests; returns how many tasks it held."""
        from synth.evals.benchmarks import BENCHMARKS

        if name not in BENCHMARKS:
            raise SynthError(
                f"built-in benchmark {name!r}", "unknown", f"known: {', '.join(BENCHMARKS)}"
            )
        tasks = BENCHMARKS[name]().tasks
        return self.add_items(name, (task.model_dump() for task in tasks))

    def add_items(self, name: str, items: Iterable[object]) -> int:
        """Index every string in `items` as benchmark `name`; returns how many items."""
        count = 0
        for item in items:
            for text in _strings(item):
                for gram in ngrams(text, self.n):
                    self.owners.setdefault(gram, name)
            count += 1
        return count

    def contamination(self, row: dict) -> tuple[str, str] | None:
        """(benchmark, the shared n-gram) for a contaminated example, else None."""
        return self.shared(row["problem"]) or self.shared(solution_text(row))

    def contaminations(self, rows: list[dict]) -> list[tuple[str, str] | None]:
        """`contamination` of each row (a statement shared by rows is read once)."""
        problems: dict[str, tuple[str, str] | None] = {}
        found = []
        for row in rows:
            if row["problem"] not in problems:
                problems[row["problem"]] = self.shared(row["problem"])
            found.append(problems[row["problem"]] or self.shared(solution_text(row)))
        return found

    def shared(self, text: str) -> tuple[str, str] | None:
        """(benchmark, the first n-gram of `text` that benchmark has, in reading order), or
        None. The first, not any: a set's order changes with the process's hash seed, and
        the report must not."""
        if self.owners.keys().isdisjoint(ngrams(text, self.n)):  # the common case, at C speed
            return None
        words = _WORD.findall(text.lower())
        for gram in zip(*(words[i:] for i in range(self.n)), strict=False):
            if gram in self.owners:
                return self.owners[gram], " ".join(gram)
        return None


def _strings(item: object) -> Iterable[str]:
    if isinstance(item, str):
        yield item
    elif isinstance(item, dict):
        for value in item.values():
            yield from _strings(value)
    elif isinstance(item, list):
        for value in item:
            yield from _strings(value)


def decontaminate(rows: list[dict], index: BenchmarkIndex) -> tuple[list[dict], list[dict]]:
    """(kept rows, one report entry per dropped row: sample, benchmark, n-gram)."""
    kept, dropped = [], []
    for row, found in zip(rows, index.contaminations(rows), strict=True):
        if found is None:
            kept.append(row)
        else:
            dropped.append(dropped_entry(row, found))
    return kept, dropped


def dropped_entry(row: dict, found: tuple[str, str]) -> dict:
    """The report's entry for a contaminated row: its sample ids, the benchmark, the n-gram."""
    ids = {key: row[key] for key in SAMPLE_ID_COLUMNS if key in row}
    return {**ids, "benchmark": found[0], "ngram": found[1]}
