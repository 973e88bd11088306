"""Time- and memory-bounded answer and step checks, in worker processes.

sympy on model output can take forever or all memory (`10^{10^{10}}`, a huge factorial),
and a thread cannot be stopped, so every check runs in a worker process: a check that
passes `timeout_s` kills its worker (pebble replaces it) and is reported as a timeout;
a worker's address space is capped so a memory bomb fails fast with MemoryError. Workers
come from a fork server (a fresh interpreter, untouched by the engine's threads) with
math-verify and sympy imported once, so a check costs about a millisecond of overhead.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import resource
from collections.abc import Sequence
from concurrent.futures import TimeoutError as FutureTimeout

from pebble import ProcessPool

from synth.math.equivalence import Equivalence, check_equal
from synth.math.steps import StepCheck, check_steps

_PRELOAD = ["synth.math.equivalence", "synth.math.steps"]


def _start_worker(memory_mb: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (memory_mb << 20, memory_mb << 20))
    os.nice(5)  # checks give way to the engine on a shared machine
    logging.disable(logging.WARNING)  # math-verify warns about its own disabled timeouts


class AnswerChecker:
    """Checks answers and steps in `workers` processes; one call at a time per future."""

    def __init__(self, workers: int = 1, timeout_s: float = 5.0, memory_mb: int = 2048) -> None:
        self.timeout_s = timeout_s
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(_PRELOAD)
        self._pool = ProcessPool(
            max_workers=workers, initializer=_start_worker, initargs=(memory_mb,), context=context
        )

    def equal(self, gold: str, pred: str) -> Equivalence:
        return self.equal_many([(gold, pred)])[0]

    def equal_many(self, pairs: Sequence[tuple[str, str]]) -> list[Equivalence]:
        """One decision per (gold, pred) pair, in order; a check that fails says why."""
        futures = [
            self._pool.schedule(check_equal, args=pair, timeout=self.timeout_s) for pair in pairs
        ]
        results = []
        for (gold, pred), future in zip(pairs, futures, strict=True):
            try:
                results.append(future.result())
            except FutureTimeout:
                results.append(_failed(gold, pred, "timeout"))
            except Exception:  # MemoryError, a killed worker, a parser bug: never a crash
                results.append(_failed(gold, pred, "error"))
        return results

    def steps_many(self, texts: Sequence[str]) -> list[tuple[StepCheck, ...] | None]:
        """The checked steps of each solution; None where checking took too long or failed."""
        futures = [
            self._pool.schedule(check_steps, args=(text,), timeout=self.timeout_s) for text in texts
        ]
        results: list[tuple[StepCheck, ...] | None] = []
        for future in futures:
            try:
                results.append(tuple(future.result()))
            except Exception:  # timeout, memory, a worker killed: no step verdict
                results.append(None)
        return results

    def close(self) -> None:
        self._pool.stop()
        self._pool.join()

    def __enter__(self) -> AnswerChecker:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _failed(gold: str, pred: str, reason: str) -> Equivalence:
    return Equivalence(equivalent=False, gold=gold.strip(), pred=pred.strip(), reason=reason)
