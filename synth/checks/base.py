"""A check: verification work as a frozen record that runs here or on a verify worker.

A pipeline kind yields a check (a `Check` subclass: its inputs as fields) and gets its
result back. The scheduler runs it with the `CheckTools` of this process, or ships it to
a fleet's verify worker: the record goes as `check.model_dump(mode="json")`, the worker
rebuilds it (`synth.checks.check_from_json`), runs the same `run` and sends the result back
as `check.result_json(result)`, which `check.result_from_json` reads into the very value
a local run returns. So a check is one class, whichever machine runs it.

A check may cut itself into parts (`split`) whose results `join` puts back together, so
one batch's work spreads over several verify workers. Checks are pure (the same record
gives the same result), so running one twice (a redelivery) costs time, never data.
"""

from __future__ import annotations

import threading
from functools import cache
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, TypeAdapter

from synth.records import Frozen, Sample
from synth.sandbox.base import Sandbox


def without_prompts(samples: list[Sample]) -> list[Sample]:
    """The samples less the messages they answered: those are export's, not a checker's,
    and are never shipped."""
    return [s.model_copy(update={"prompt": ()}) if s.prompt else s for s in samples]


# A check's samples: checked on what they say, never on what they were asked.
Samples = Annotated[list[Sample], AfterValidator(without_prompts)]


class CheckTools:
    """What checks run with in one process: a sandbox, and math's answer checkers
    (worker processes that bound sympy's time and memory), started on first use, one per
    time limit. `close` stops the checkers; the sandbox belongs to whoever opened it."""

    def __init__(self, sandbox: Sandbox, workers: int = 2) -> None:
        self.sandbox = sandbox
        self.workers = workers
        self._checkers: dict[float, Any] = {}
        self._lock = threading.Lock()

    def answer_checker(self, timeout_s: float):
        from synth.math.checker import AnswerChecker

        with self._lock:
            if timeout_s not in self._checkers:
                self._checkers[timeout_s] = AnswerChecker(workers=self.workers, timeout_s=timeout_s)
            return self._checkers[timeout_s]

    def run(self, check: Check) -> Any:
        return check.run(self)

    def close(self) -> None:
        with self._lock:
            for checker in self._checkers.values():
                checker.close()
            self._checkers.clear()

    def __enter__(self) -> CheckTools:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class Check(Frozen):
    """One kind of check. Subclasses set `kind` (a Literal, the JSON discriminator), the
    type of their result (`Result`), and `run`; `split`/`join` when they can be cut."""

    kind: str
    Result: ClassVar[Any] = Any

    def run(self, tools: CheckTools) -> Any:
        raise NotImplementedError

    def split(self) -> list[Check]:
        """Parts whose results, joined in order, are this check's result."""
        return [self]

    def join(self, results: list[Any]) -> Any:
        """This check's result from the results of `split()`'s parts, in their order."""
        (result,) = results
        return result

    def cut(self, fields: tuple[str, ...], width: int) -> list[Check]:
        """Parts of this check whose list `fields` (aligned item by item) hold runs of
        `width` consecutive items."""
        count = len(getattr(self, fields[0]))
        return [
            self.model_copy(update={f: getattr(self, f)[start : start + width] for f in fields})
            for start in range(0, count, max(1, width))
        ]

    def result_json(self, result: Any) -> Any:
        return _adapter(type(self)).dump_python(result, mode="json")

    def result_from_json(self, data: Any) -> Any:
        return _adapter(type(self)).validate_python(data)


@cache
def _adapter(kind: type[Check]) -> TypeAdapter:
    return TypeAdapter(kind.Result)


def concatenated(results: list[list]) -> list:
    """The results of parts cut by `Check.cut`, in order: one list."""
    return [item for part in results for item in part]


def merged(results: list[dict]) -> dict:
    """The results of parts cut by key (one part per slot): one mapping."""
    return {key: value for part in results for key, value in part.items()}
