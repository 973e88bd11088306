"""Run an eval: ask the engine for every problem's samples, judge them, score pass@k.

Problems go to the engine in chunks (`batch_size` problems, each one request with
`n = samples`), so vLLM batches a whole chunk's sequences, and each chunk's results are
saved before the next is asked: a killed eval loses at most one chunk. Code samples are
judged in `workers` threads (sandbox runs), math answers in the checker's processes.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from synth.engines.base import ChatRequest, Engine
from synth.errors import SynthError
from synth.evals.benchmarks import CodeTask, MathTask, Task, tasks_fingerprint
from synth.evals.code_judge import code_messages, judge_code
from synth.evals.math_judge import judge_math, math_messages
from synth.evals.passk import mean_pass_at_k
from synth.evals.results import (
    RESULTS,
    ProblemResult,
    SampleResult,
    append_result,
    check_config,
    read_results,
    write_config,
    write_summary,
)
from synth.records import Frozen
from synth.sandbox.base import Sandbox

log = logging.getLogger(__name__)
STANDARD_KS = (1, 10, 100)


@dataclass(frozen=True)
class EvalConfig:
    """How a model is measured. `settings()` holds what decides the scores (config.json)."""

    benchmark: str = "custom"  # the benchmark's name, or its file's path
    samples: int = 1  # n, per problem
    temperature: float = 0.0  # 0: greedy, one sample
    top_p: float = 0.95
    max_tokens: int = 768
    seed: int = 0
    ks: tuple[int, ...] = ()  # pass@k reported; () = 1, and 10 and 100 where <= samples
    limit: int | None = None  # the first N problems only, for quick checks
    timeout_s: float = 10.0  # the tests of one sample
    batch_size: int = 32  # problems per engine call
    workers: int = 2  # sandbox runs in parallel
    model: str = ""  # the model's name in config.json; "" = the engine's name

    def __post_init__(self) -> None:
        if self.samples < 1:
            raise SynthError("--samples", f"must be at least 1, not {self.samples}")
        if self.temperature < 0:
            raise SynthError("--temperature", f"must be 0 (greedy) or more, not {self.temperature}")
        if self.temperature == 0 and self.samples > 1:
            raise SynthError(
                f"--samples {self.samples} with --temperature 0",
                "greedy decoding gives one answer per problem, so the samples would be copies",
                "use --samples 1 for greedy pass@1, or a temperature above 0 (0.2 and 0.8 "
                "are usual) to sample for pass@k",
            )
        for name, value, low in (
            ("--max-tokens", self.max_tokens, 1),
            ("--limit", self.limit, 1),
            ("--batch-size", self.batch_size, 1),
            ("--workers", self.workers, 1),
        ):
            if value is not None and value < low:
                raise SynthError(name, f"must be at least {low}, not {value}")
        if self.timeout_s <= 0:
            raise SynthError("--timeout", f"must be above 0, not {self.timeout_s}")
        ks = tuple(sorted(set(self.ks))) or tuple(k for k in STANDARD_KS if k <= self.samples)
        for k in ks:
            if not 1 <= k <= self.samples:
                raise SynthError(
                    f"--k {k}",
                    f"pass@{k} needs at least {k} samples per problem, and --samples is "
                    f"{self.samples}",
                    f"raise --samples to {k} or more (with a temperature above 0)",
                )
        object.__setattr__(self, "ks", ks)

    def settings(self, tasks: Sequence[Task], model: str) -> dict:
        """What a resumed eval must agree with: the problems and everything that samples or
        judges them (not `limit`, which may grow, nor `ks`, which only the summary uses)."""
        return {
            "benchmark": self.benchmark,
            "tasks": tasks_fingerprint(list(tasks)),
            "model": model,
            "n": self.samples,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "seed": self.seed,
            "max_tokens": self.max_tokens,
            "timeout_s": self.timeout_s,
        }


class EvalSummary(Frozen):
    """summary.json: the scores over the selected problems, and how they were made."""

    benchmark: str
    model: str
    engine: str
    n: int
    temperature: float
    top_p: float
    seed: int
    max_tokens: int
    problems: int
    pass_at_k: dict[str, float]
    problems_solved: int  # problems with at least one passing sample
    reasons: dict[str, int]  # the samples' verdicts, by reason
    completion_tokens: int
    judged_this_pass: int
    skipped_already_judged: int
    seconds: float  # this pass
    started: str
    finished: str
    complete: bool  # every selected problem judged


Progress = Callable[[int, int], None]  # (problems judged, problems selected)


def run_eval(
    tasks: Sequence[Task],
    engine: Engine,
    sandbox: Sandbox | None,
    out_dir: str | Path,
    config: EvalConfig,
    checker=None,
    on_progress: Progress | None = None,
) -> EvalSummary:
    """Judge `tasks` (the first `config.limit`) with `engine`'s samples into `out_dir`,
    resuming what is there, and return the summary (also written to summary.json).

    `sandbox` runs code tasks' tests (None for math); `checker` is a math
    `AnswerChecker` to use (one is started and stopped here when None)."""
    if not tasks:
        raise ValueError("no tasks to evaluate")
    out_dir = Path(out_dir)
    started, clock = _now(), time.monotonic()
    model = config.model or engine.name
    settings = config.settings(tasks, model)
    check_config(out_dir, settings)
    write_config(out_dir, settings)
    selected = list(tasks[: config.limit] if config.limit else tasks)
    results = read_results(out_dir)
    todo = [t for t in selected if t.task_id not in results]
    skipped = len(selected) - len(todo)
    is_code = isinstance(selected[0], CodeTask)
    if is_code and sandbox is None:
        raise ValueError("code tasks need a sandbox to run their tests")
    owned = None
    if not is_code and checker is None:
        from synth.math.checker import AnswerChecker

        checker = owned = AnswerChecker(workers=1, timeout_s=5.0)
    complete, summary = False, None
    try:
        with (
            (out_dir / RESULTS).open("a", encoding="utf-8") as handle,
            ThreadPoolExecutor(config.workers, thread_name_prefix="eval") as pool,
        ):
            for start in range(0, len(todo), config.batch_size):
                chunk = todo[start : start + config.batch_size]
                answers = engine.chat([_request(task, config) for task in chunk])
                if is_code:
                    judged = pool.map(
                        lambda pair: judge_code(pair[0], pair[1], sandbox, config.timeout_s),
                        zip(chunk, answers, strict=True),
                    )
                else:
                    judged = iter(judge_math(list(zip(chunk, answers, strict=True)), checker))
                for task, samples in zip(chunk, judged, strict=True):
                    result = _problem(task, samples)
                    append_result(handle, result)
                    results[task.task_id] = result
                done = skipped + start + len(chunk)
                log.info("judged %d of %d problems", done, len(selected))
                if on_progress is not None:
                    on_progress(done, len(selected))
        complete = True
    finally:  # an interrupted eval still says what it scored; the next one resumes
        if owned is not None:
            owned.close()
        covered = [results[t.task_id] for t in selected if t.task_id in results]
        if covered:
            complete = complete and len(covered) == len(selected)
            summary = _summary(
                config, model, engine.name, covered, skipped, started, clock, complete
            )
            write_summary(out_dir, summary.model_dump())
    assert summary is not None  # every selected problem was judged, or this raised
    return summary


def _summary(
    config: EvalConfig,
    model: str,
    engine: str,
    covered: list[ProblemResult],
    skipped: int,
    started: str,
    clock: float,
    complete: bool,
) -> EvalSummary:
    samples = [s for r in covered for s in r.samples]
    return EvalSummary(
        benchmark=config.benchmark,
        model=model,
        engine=engine,
        n=config.samples,
        temperature=config.temperature,
        top_p=config.top_p,
        seed=config.seed,
        max_tokens=config.max_tokens,
        problems=len(covered),
        pass_at_k={
            f"pass@{k}": mean_pass_at_k(((r.n, r.passed) for r in covered), k) for k in config.ks
        },
        problems_solved=sum(1 for r in covered if r.passed),
        reasons=dict(Counter(s.reason for s in samples)),
        completion_tokens=sum(s.completion_tokens for s in samples),
        judged_this_pass=len(covered) - skipped,
        skipped_already_judged=skipped,
        seconds=round(time.monotonic() - clock, 3),
        started=started,
        finished=_now(),
        complete=complete,
    )


def _request(task: Task, config: EvalConfig) -> ChatRequest:
    messages = code_messages(task) if isinstance(task, CodeTask) else math_messages(task)
    return ChatRequest(
        messages=messages,
        n=config.samples,
        temperature=config.temperature,
        top_p=config.top_p,
        max_tokens=config.max_tokens,
        seed=config.seed,
        tag="eval",
        # what published scores were measured with: benchmark harnesses build their own
        # sampling parameters, without the model card's repetition penalty (code repeats
        # names and brackets, and a penalty on them costs passes)
        repetition_penalty=1.0,
    )


def _problem(task: CodeTask | MathTask, samples: Sequence[SampleResult]) -> ProblemResult:
    return ProblemResult(
        task_id=task.task_id,
        n=len(samples),
        passed=sum(1 for s in samples if s.passed),
        samples=tuple(samples),
    )


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
