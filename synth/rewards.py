"""synth's verifiers as rewards for RL: code answers run against tests, math answers compared.

Reward functions with the signature TRL's `GRPOTrainer` calls: `completions`, `prompts` and
the dataset's other columns as keyword arguments in, one float per completion out (None
where a row is not for this reward, so code and math rewards can share one mixed
dataset). They are methods of `Rewards`, which owns the sandbox, the math checker and the
threads the checks run in:

    from trl import GRPOConfig, GRPOTrainer
    from synth.rewards import Rewards

    with Rewards(sandbox="auto", timeout_s=5.0) as rewards:
        trainer = GRPOTrainer(
            model="Qwen/Qwen2.5-Coder-0.5B-Instruct",
            reward_funcs=[rewards.code_reward, rewards.math_reward],
            train_dataset=dataset,
            args=GRPOConfig(output_dir="grpo"),
        )
        trainer.train()

Dataset columns:
- code: `tests`, a Python test source (top-level asserts, `def test_*` functions, unittest
  or pytest classes, or HumanEval's `def check(candidate)`, which is called on the entry
  point when the source does not call it) or a list of such sources (MBPP's `test_list`),
  read into cases as synth reads generated tests; `entry_point`, optional, the function the
  answer must define: its block is preferred, the answer is reduced to it and what it needs
  (as `synth eval` sanitizes). The tests are the ground truth: a row is refused (reason
  bad_tests, every completion 0.0) when reading them would drop a check (a case that never
  calls the entry point, a statement that calls it outside an assert; only duplicates and
  the tests' own copy of the function are dropped), and when a case passes an empty program
  (`assert True`, tests that define the function themselves), found by one sandbox run per
  distinct suite, remembered.
- math: `answer`, the reference final answer (LaTeX or plain).
A row whose column is None is not scored (None); a missing column is a ValueError.

Completions are plain strings or conversational (a list of {"role", "content"} messages,
the contents of those with `"role": "assistant"` joined; content blocks' text too).
Judging is `synth eval`'s: the code block found by synth.code.extract, the syntax check and
the tampering guard (every rule: unlike the eval, `eval`/`exec` are refused, since a policy
learns whatever the reward lets through), then the tests in the sandbox under synth's
harness, which must report that they ran to their end; the final `\\boxed{}` answer
compared by synth's grader in the time- and memory-bounded checker processes. A completion
cut at max_completion_length is judged on what it holds: code cut mid-statement fails the
parse, a box never closed is no answer. The checker's processes come from a fork server,
so a script that uses `math_reward` needs the `if __name__ == "__main__":` guard (as vLLM
does).

Guarantees:
- What runs code is time-bounded: each test by its alarm (`timeout_s`), a code answer's
  whole run (and a suite's run against the empty program) by the sandbox's wall clock
  (`timeout_s` + 5 s), a math comparison by its checker process (`math_timeout_s`), ruff
  (when `lint` selects rules) by its own timeout. `check` also takes a deadline for the
  whole batch (`timeout_s` or an absolute `deadline`), at which unfinished items are
  timeouts.
- Not bounded by a clock: the work in the caller's thread before the sandbox, i.e.
  reading the completion, extracting and sanitizing its code, reading the tests into cases,
  the parse and the tampering walk. It is Python on the completion's and the tests' text,
  with no clock on it (a batch's deadline counts it, but cannot stop it); what it raises,
  the parser's own limits included (RecursionError, MemoryError), is the item's verdict.
- A completion that cannot be checked (no code, garbage, a sandbox error, a timeout) scores
  0.0, never an exception, and never costs the other items of its batch their verdicts
  (what one item's preparation raises is its own verdict: syntax for the answer, bad_tests
  for the tests): its reason goes to the log (a summary per call at INFO, sandbox and data
  errors at WARNING) and, under TRL, to the completions table (`log_extra`).
- Safe to call from several threads at once and from async code (`code_reward_async`,
  `math_reward_async`, or `asyncio.to_thread`): all callers share one pool of `workers`
  threads, which bounds the sandbox runs at once.
- `partial_credit=True` scores a code answer by the share of its tests passed (0 when the
  run never reported, or the harness caught tampering); otherwise 1.0 or 0.0.
Not guaranteed: a hung sandbox backend beyond its own limits (a Docker engine that stops
answering) holds a worker thread until the backend returns.
"""

from __future__ import annotations

import ast
import asyncio
import logging
import os
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import lru_cache

from pydantic import Field

from synth.code.execute import run_tests
from synth.code.static import LintConfig, StaticReport, check_batch, syntax_error
from synth.code.tampering import RULES
from synth.code.tests import split_tests
from synth.code.verify import verdict_before_tests
from synth.engines.base import Completion
from synth.evals.benchmarks import MathTask
from synth.evals.code_judge import (
    SANDBOX_GRACE_S,
    judge_program,
    program_from_text,
    reported_reason,
)
from synth.evals.math_judge import judge_math
from synth.python_ast import parse_python
from synth.records import DroppedTest, Frozen, Sample, TestSuite, Verdict, stable_id
from synth.sandbox.base import Limits, Sandbox

log = logging.getLogger(__name__)

# the parse and every tampering rule, no ruff: lint rules are a bar for training data, not
# for a reward
REWARD_LINT = LintConfig(selected=(), blocking=(), tampering=RULES)
# reasons that say the checker or the data is wrong rather than the completion
TROUBLE = ("sandbox_error", "error", "bad_tests", "bad_answer", "static_error", "closed")
# what reading the tests may drop without weakening them: the same check twice, and the
# tests' own copy of the solution (the answer's is tested in its place)
HARMLESS_DROPS = ("duplicate", "solution_in_tests")
# suites whose run against an empty program is remembered (GRPO repeats each row's tests)
EMPTY_RUNS_KEPT = 4096


@dataclass(frozen=True)
class CodeItem:
    """A code answer and the tests it must pass. `completion`: a string or messages."""

    completion: object
    tests: str | Sequence[str]
    entry_point: str = ""


@dataclass(frozen=True)
class MathItem:
    """A math answer and the reference final answer. `completion`: a string or messages."""

    completion: object
    answer: str | int | float


class Check(Frozen):
    """One completion's verdict. `reason`: passed, tests_failed, timeout, no_code, syntax,
    static/tampering, exited_early, wrong_answer, no_answer, answer_timeout, bad_tests,
    bad_answer, unreadable_completion, sandbox_error, static_error, closed, error, ..."""

    passed: bool
    reward: float
    reason: str
    detail: str = ""
    tests_passed: int = 0
    tests_total: int = 0
    share: float = Field(0.0, description="code: tests passed / tests run; math: 1 or 0")


def completion_text(completion: object) -> str | None:
    """The text of a plain or conversational completion; None when it is neither. Only the
    messages that say `"role": "assistant"` are the answer: others (a tool's, a user's, one
    without a role) are not judged."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        completion = [completion]
    if not isinstance(completion, (list, tuple)):
        return None
    parts = []
    for message in completion:
        if not isinstance(message, dict):
            return None
        if message.get("role") != "assistant":
            continue
        content = message.get("content")
        if content is None:
            continue
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):  # content blocks: [{"type": "text", "text": ...}]
            texts = [b.get("text") for b in content if isinstance(b, dict)]
            parts.extend(t for t in texts if isinstance(t, str))
        else:
            return None
    return "\n\n".join(parts)


def code_suite(tests: object, entry_point: object = "") -> TestSuite:
    """The test cases of a `tests` value (see the module docstring). ValueError, with what
    is wrong, when it holds no usable case, or when reading it would lose a check: a case
    that does not call `entry_point`, a statement that calls it outside an assert. The tests
    are the ground truth, so they are refused rather than run in part; only duplicates and
    the tests' own copy of the solution are dropped."""
    if entry_point is None:
        entry_point = ""
    if not isinstance(entry_point, str):
        raise ValueError(
            f"entry_point must be a function name (a string), not {type(entry_point).__name__}"
        )
    if entry_point and not entry_point.isidentifier():
        raise ValueError(f"entry_point must be a Python name, not {entry_point!r}")
    if isinstance(tests, (list, tuple)) and all(isinstance(t, str) for t in tests):
        source = "\n".join(tests)
    elif isinstance(tests, str):
        source = tests
    else:
        raise ValueError("tests must be a Python test source or a list of them")
    suite = _suite(source, entry_point)
    if isinstance(suite, str):
        raise ValueError(suite)
    return suite


@lru_cache(maxsize=4096)  # GRPO repeats each row's tests for every generation
def _suite(source: str, entry_point: str) -> TestSuite | str:
    """The suite, or why there is none (refusals are remembered too)."""
    try:
        return _read_suite(source, entry_point)
    except ValueError as exc:
        return str(exc)
    except (RecursionError, MemoryError) as exc:  # the parser's own limits
        return f"the tests could not be read: {type(exc).__name__} (nested too deeply or too big)"


def _read_suite(source: str, entry_point: str) -> TestSuite:
    if not source.strip():
        raise ValueError("tests are empty")
    if _uncalled_check(source):
        if not entry_point:
            raise ValueError(
                "the tests define check(candidate) and never call it: give entry_point, "
                "the function to pass it"
            )
        source += f"\n\ncheck({entry_point})\n"
    split = split_tests(source, entry_point or None)
    if split is None:
        raise ValueError(f"the tests do not parse: {syntax_error(source)}")
    setup, cases, dropped = split
    lost = [d for d in dropped if d.reason not in HARMLESS_DROPS and not _constant(d.test.source)]
    if not cases and lost and all(d.reason == "no_entry_point" for d in lost):
        raise ValueError(f"no test case calls {entry_point}")
    if lost:
        raise ValueError(_lost_checks(lost, entry_point))
    if not cases:
        raise ValueError("no test case found (asserts, test functions or check(candidate))")
    return TestSuite(problem_id="reward", setup=setup, cases=tuple(cases))


@lru_cache(maxsize=4096)  # per suite, as _suite
def _called(suite: TestSuite) -> tuple[str, ...]:
    """The names the tests call: the answer's functions they use besides the entry point
    (HumanEval/50 checks decode_shift against encode_shift) survive its sanitizing."""
    names: set[str] = set()
    for source in (suite.setup, *(case.source for case in suite.cases)):
        try:
            tree = parse_python(source)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        names.update(
            n.func.id
            for n in ast.walk(tree)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
        )
    return tuple(sorted(names))


def _constant(source: str) -> bool:
    """`assert True` (with or without a message), as many HumanEval checks hold: it checks
    nothing, so leaving it out loses no test."""
    try:
        tree = parse_python(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return len(tree.body) == 1 and (
        isinstance(tree.body[0], ast.Assert)
        and isinstance(tree.body[0].test, ast.Constant)
        and bool(tree.body[0].test.value)
    )


def _lost_checks(lost: list[DroppedTest], entry_point: str) -> str:
    why = {
        "no_entry_point": f"does not call {entry_point} (a case must call it itself, not "
        "read a value the setup got from it)",
        "not_an_assert": f"calls {entry_point or 'the solution'} outside an assert, and is "
        "not read as a case",
    }
    first = lost[0]
    source = " ".join(first.test.source.split())
    source = source if len(source) <= 80 else source[:77] + "..."
    more = f" (and {len(lost) - 1} more)" if len(lost) > 1 else ""
    return (
        f"the tests would run in part: `{source}` {why.get(first.reason, first.reason)}"
        f"{more}; every check must be an assert, a test function or check(candidate) that "
        "calls the entry point"
    )


def _uncalled_check(source: str) -> bool:
    try:
        tree = parse_python(source)
    except (SyntaxError, ValueError):
        return False
    defined = any(isinstance(n, ast.FunctionDef) and n.name == "check" for n in tree.body)
    called = any(
        isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "check"
        for statement in tree.body
        if not isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        for n in ast.walk(statement)
    )
    return defined and not called


def reference_answer(answer: object) -> str:
    """A math row's reference answer as text. ValueError when it is blank or not text."""
    if isinstance(answer, (int, float)) and not isinstance(answer, bool):
        answer = str(answer)
    if not isinstance(answer, str) or not answer.strip():
        raise ValueError("answer must be the reference final answer, a non-empty string")
    return answer.strip()


class Rewards:
    """The sandbox, the math checker and the threads behind the reward functions.

    `sandbox`: an open Sandbox (left open by `close`) or a backend's name for `get_sandbox`
    (opened on the first code check, closed by `close`); the math checker likewise starts on
    the first math check. `workers` checks run at once, shared by every caller.
    """

    def __init__(
        self,
        sandbox: Sandbox | str = "auto",
        *,
        timeout_s: float = 5.0,
        workers: int = min(8, os.cpu_count() or 2),
        partial_credit: bool = False,
        lint: LintConfig = REWARD_LINT,
        math_workers: int = 1,
        math_timeout_s: float = 5.0,
    ) -> None:
        if timeout_s <= 0 or math_timeout_s <= 0:
            raise ValueError("timeouts must be above 0")
        if workers < 1 or math_workers < 1:
            raise ValueError("workers must be at least 1")
        self.timeout_s = timeout_s
        self.partial_credit = partial_credit
        self.lint = lint
        self.math_workers, self.math_timeout_s = math_workers, math_timeout_s
        self._sandbox_spec = sandbox
        self._sandbox: Sandbox | None = None if isinstance(sandbox, str) else sandbox
        self._checker = None
        self._lock = threading.Lock()
        # suite -> its run against an empty program: why it is refused, or None
        self._empty_runs: OrderedDict[tuple, Future[str | None]] = OrderedDict()
        self._empty_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="reward")
        self.workers = workers
        self._closed = False

    # --- the reward functions -----------------------------------------------------------

    def code_reward(self, completions: Sequence[object], **columns: object) -> list[float | None]:
        """TRL reward: 1.0 (or the share of tests passed) when the code passes its `tests`."""
        tests = _column(columns, "tests", len(completions), "code_reward")
        entry_points = columns.get("entry_point") or [""] * len(completions)
        items = [
            None if t is None else CodeItem(c, t, e or "")
            for c, t, e in zip(completions, tests, entry_points, strict=True)
        ]
        return self._score("code", items, columns)

    def math_reward(self, completions: Sequence[object], **columns: object) -> list[float | None]:
        """TRL reward: 1.0 when the final boxed answer equals the row's `answer`."""
        answers = _column(columns, "answer", len(completions), "math_reward")
        items = [
            None if a is None else MathItem(c, a) for c, a in zip(completions, answers, strict=True)
        ]
        return self._score("math", items, columns)

    async def code_reward_async(self, completions, **columns) -> list[float | None]:
        """`code_reward` for async callers (TRL runs async reward functions concurrently)."""
        return await asyncio.to_thread(self.code_reward, completions, **columns)

    async def math_reward_async(self, completions, **columns) -> list[float | None]:
        """`math_reward` for async callers."""
        return await asyncio.to_thread(self.math_reward, completions, **columns)

    # --- the core, shared with `synth serve` ----------------------------------------------

    def check(
        self,
        items: Sequence[CodeItem | MathItem],
        timeout_s: float | None = None,
        *,
        deadline: float | None = None,
    ) -> list[Check]:
        """One verdict per item, in order. Items not checked within `timeout_s` of the call,
        or by `deadline` (a `time.monotonic()` time; the earlier of the two counts; None: no
        deadline beyond each check's own limits) are verdicts with reason timeout; those not
        started are cancelled. Items `close` cancelled are verdicts with reason closed."""
        started = time.monotonic()
        by_timeout = None if timeout_s is None else started + timeout_s
        ends = [t for t in (deadline, by_timeout) if t is not None]
        end = min(ends) if ends else None
        if by_timeout is not None and end == by_timeout:
            late = f"not checked within the deadline of {timeout_s} s"
        else:
            late = "not checked by the deadline"
        if end is not None and time.monotonic() >= end:  # nothing left to check them in
            return [self._failed("timeout", late) for _ in items]
        futures = self.submit(items)
        _wait(futures, None if end is None else max(0.0, end - time.monotonic()))
        results = []
        for future in futures:
            if future.cancelled():
                results.append(self._failed("closed", CLOSED))
            elif future.done():
                results.append(future.result())
            else:
                future.cancel()  # a check already running ends within its own limits
                results.append(self._failed("timeout", late))
        return results

    def submit(self, items: Sequence[CodeItem | MathItem]) -> list[Future[Check]]:
        """A future per item; a future never raises, it holds a verdict. Extraction and the
        static checks run here (one ruff run for the batch, if `lint` selects rules), the rest
        in the workers."""
        futures: list[Future[Check] | None] = [None] * len(items)
        if self._closed:
            return [_done(self._failed("closed", CLOSED)) for _ in items]
        try:
            code = [i for i, item in enumerate(items) if isinstance(item, CodeItem)]
            for index, future in zip(
                code, self._submit_code([items[i] for i in code]), strict=True
            ):
                futures[index] = future
            for index, item in enumerate(items):
                if isinstance(item, MathItem):
                    futures[index] = self._pool.submit(self._guarded, self._check_math, item)
                elif not isinstance(item, CodeItem):
                    futures[index] = _done(self._failed("error", f"not an item: {type(item)}"))
        except Exception as exc:  # a bug or a closed pool: every item fails, nothing raises
            if self._closed:
                failed = self._failed("closed", CLOSED)
            else:
                log.exception("rewards: the batch could not be checked")
                failed = self._failed("error", f"{type(exc).__name__}: {exc}")
            futures = [f if f is not None else _done(failed) for f in futures]
        return futures  # type: ignore[return-value]

    def describe(self) -> str:
        sandbox = self._sandbox.describe() if self._sandbox is not None else self._sandbox_spec
        credit = "share of tests passed" if self.partial_credit else "all or nothing"
        return f"sandbox {sandbox}, {self.workers} workers, tests {self.timeout_s} s, {credit}"

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self._checker is not None:
            self._checker.close()
        if isinstance(self._sandbox_spec, str) and self._sandbox is not None:
            self._sandbox.close()

    def __enter__(self) -> Rewards:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- internals ------------------------------------------------------------------------

    def _score(self, kind: str, items: list, columns: dict) -> list[float | None]:
        rows = [i for i, item in enumerate(items) if item is not None]
        checks = self.check([items[i] for i in rows])
        by_row: list[Check | None] = [None] * len(items)
        for row, check in zip(rows, checks, strict=True):
            by_row[row] = check
        _log_batch(f"{kind}_reward", checks)
        log_extra = columns.get("log_extra")
        if callable(log_extra):  # TRL: a column of the completions table
            try:
                log_extra(f"{kind}_reason", [c.reason if c else None for c in by_row])
            except Exception:
                log.debug("log_extra refused the reasons", exc_info=True)
        return [None if c is None else c.reward for c in by_row]

    def _submit_code(self, items: Sequence[CodeItem]) -> list[Future[Check]]:
        # each item on its own: what one item raises is its verdict, not the batch's
        prepared = [self._prepare(index, item) for index, item in enumerate(items)]
        reports = self._static([p[0].code if isinstance(p, tuple) else None for p in prepared])
        futures = []
        for entry, report in zip(prepared, reports, strict=True):
            if isinstance(entry, Check):
                futures.append(_done(entry))
            elif isinstance(report, Check):
                futures.append(_done(report))
            else:
                sample, suite = entry
                early = verdict_before_tests(sample, report)
                if early is not None:
                    futures.append(_done(self._from_verdict(early, suite)))
                else:
                    futures.append(
                        self._pool.submit(self._guarded, self._run, sample, report, suite)
                    )
        return futures

    def _prepare(self, index: int, item: CodeItem) -> tuple[Sample, TestSuite] | Check:
        """The item's answer and tests, or its verdict when either cannot be read."""
        try:
            text = completion_text(item.completion)
        except Exception as exc:  # whatever the completion holds
            text, shape = None, f"{type(exc).__name__}: {exc}"[-500:]
        else:
            shape = _shape(item.completion)
        if text is None:
            return self._failed("unreadable_completion", shape)
        try:
            suite = code_suite(item.tests, item.entry_point)
        except ValueError as exc:
            return self._failed("bad_tests", str(exc))
        except Exception as exc:
            log.warning("rewards: the tests could not be read", exc_info=True)
            return self._failed("bad_tests", f"the tests could not be read: {_said(exc)}")
        try:
            program = program_from_text(text, item.entry_point, keep=_called(suite))
        except Exception as exc:  # RecursionError, MemoryError: the parser's own limits
            return self._failed("syntax", f"the answer could not be parsed: {_said(exc)}")
        sample = Sample(
            id=stable_id("reward", index, text), problem_id="reward", trajectory=index,
            round=1, text=text, code=program,
        )  # fmt: skip
        return sample, suite

    def _static(self, programs: list[str | None]) -> list[StaticReport | Check | None]:
        """A report per program (None where there is none): the parse and the tampering walk
        per program, so that one that breaks them (nested too deeply) is only its own
        verdict; then one ruff run for the rest of the batch, when `lint` selects rules."""
        python_only = replace(self.lint, selected=())
        reports: list[StaticReport | Check | None] = []
        for program in programs:
            if program is None:
                reports.append(None)
                continue
            try:
                reports.append(check_batch([program], python_only)[0])
            except (RecursionError, MemoryError) as exc:
                reports.append(
                    self._failed("syntax", f"the code could not be parsed: {_said(exc)}")
                )
            except Exception as exc:
                log.warning("rewards: static checks failed", exc_info=True)
                reports.append(self._failed("static_error", _said(exc)))
        if not self.lint.selected:
            return reports
        linted = [
            i for i, r in enumerate(reports) if isinstance(r, StaticReport) and not r.syntax_error
        ]
        try:
            for index, report in zip(
                linted, check_batch([programs[i] for i in linted], self.lint), strict=True
            ):
                reports[index] = report
        except Exception as exc:  # ruff timed out or failed: no static verdict for any
            log.warning("rewards: static checks failed: %s", exc)
            failed = self._failed("static_error", _said(exc))
            for index in linted:
                reports[index] = failed
        return reports

    def _run(self, sample: Sample, report: StaticReport | None, suite: TestSuite) -> Check:
        try:
            sandbox = self._open_sandbox()
            refused = self._without_solution(suite, sandbox)
            if refused is not None:
                return self._failed("bad_tests", refused)
            verdict = judge_program(sample, report, suite, sandbox, self.timeout_s)
        except _SandboxFailed as exc:
            log.warning("rewards: sandbox error: %s", str(exc)[-300:])
            return self._failed("sandbox_error", str(exc)[-500:])
        except Exception as exc:  # the backend could not run it: not the completion's fault
            log.warning("rewards: sandbox error: %s: %s", type(exc).__name__, exc)
            return self._failed("sandbox_error", f"{type(exc).__name__}: {exc}"[-500:])
        if verdict.execution is not None and verdict.execution.status == "error":
            log.warning("rewards: sandbox error: %s", verdict.execution.stderr[-300:])
            return self._failed("sandbox_error", verdict.execution.stderr[-500:])
        return self._from_verdict(verdict, suite)

    def _without_solution(self, suite: TestSuite, sandbox: Sandbox) -> str | None:
        """Why the tests are refused when a case passes an empty program (`assert True`, or
        tests that define the function themselves), else None. One run per suite, shared by
        every caller that needs it at once and remembered; a run the sandbox could not do
        raises `_SandboxFailed` and is tried again by the next caller."""
        key = (suite.setup, tuple(c.source for c in suite.cases))
        with self._empty_lock:
            future = self._empty_runs.get(key)
            owner = future is None
            if owner:
                future = self._empty_runs[key] = Future()
                while len(self._empty_runs) > EMPTY_RUNS_KEPT:
                    self._empty_runs.popitem(last=False)
            else:
                self._empty_runs.move_to_end(key)
        if not owner:
            return future.result()  # the owner's run ends within the sandbox's limits
        try:
            refused = self._empty_run(suite, sandbox)
        except BaseException as exc:
            with self._empty_lock:
                if self._empty_runs.get(key) is future:
                    del self._empty_runs[key]
            future.set_exception(exc)
            raise
        future.set_result(refused)
        return refused

    def _empty_run(self, suite: TestSuite, sandbox: Sandbox) -> str | None:
        limits = Limits(timeout_s=self.timeout_s + SANDBOX_GRACE_S)
        run = run_tests(sandbox, "", suite, limits, per_test_timeout_s=self.timeout_s)
        if run.execution.status == "error":
            raise _SandboxFailed(run.execution.stderr[-500:])
        passing = [o for o in run.outcomes if o.passed] if run.reported else []
        if not passing:
            return None
        source = " ".join(passing[0].source.split())
        source = source if len(source) <= 80 else source[:77] + "..."
        return (
            f"the tests pass without a solution: {len(passing)} of {len(run.outcomes)} "
            f"case(s) pass an empty program, first `{source}`"
        )

    def _from_verdict(self, verdict: Verdict, suite: TestSuite) -> Check:
        reason, detail = reported_reason(verdict)
        total = len(verdict.tests)
        passed = sum(1 for t in verdict.tests if t.passed)
        # a run that never reported, or tampering the harness caught, earns nothing
        credited = verdict.passed or (verdict.stage == "tests" and verdict.reason == "tests_failed")
        share = passed / total if total and credited else 0.0
        reward = share if self.partial_credit else float(verdict.passed)
        return Check(
            passed=verdict.passed, reward=reward, reason=reason, detail=detail,
            tests_passed=passed if credited else 0, tests_total=total or len(suite.cases),
            share=share,
        )  # fmt: skip

    def _check_math(self, item: MathItem) -> Check:
        text = completion_text(item.completion)
        if text is None:
            return self._failed("unreadable_completion", _shape(item.completion))
        try:
            answer = reference_answer(item.answer)
        except ValueError as exc:
            return self._failed("bad_answer", str(exc))
        task = MathTask(task_id="reward", problem="(the row's prompt)", answer=answer)
        ((result,),) = judge_math(
            [(task, [Completion(text=text, finish_reason="stop")])], self._open_checker()
        )
        return Check(
            passed=result.passed, reward=float(result.passed), reason=result.reason,
            detail=result.detail, share=float(result.passed),
        )  # fmt: skip

    def _guarded(self, function, *args) -> Check:
        try:
            return function(*args)
        except Exception as exc:
            log.exception("rewards: a check failed")
            return self._failed("error", f"{type(exc).__name__}: {exc}"[-500:])

    def _failed(self, reason: str, detail: str) -> Check:
        return Check(passed=False, reward=0.0, reason=reason, detail=detail)

    def _open_sandbox(self) -> Sandbox:
        with self._lock:
            if self._sandbox is None:
                from synth.sandbox import get_sandbox

                self._sandbox = get_sandbox(str(self._sandbox_spec))
                log.info(
                    "rewards: sandbox %s %s", self._sandbox.describe(), self._sandbox.auto_reason
                )
            return self._sandbox

    def _open_checker(self):
        with self._lock:
            if self._checker is None:
                from synth.math.checker import AnswerChecker

                self._checker = AnswerChecker(self.math_workers, self.math_timeout_s)
            return self._checker


def _column(columns: dict, name: str, rows: int, reward: str) -> list:
    values = columns.get(name)
    if values is None:
        raise ValueError(
            f"{reward} needs a `{name}` column in the dataset (None in a row skips that row)"
        )
    values = list(values)
    if len(values) != rows:
        raise ValueError(f"{reward}: {len(values)} `{name}` values for {rows} completions")
    return values


CLOSED = "the verifier was closed before this item was checked"


class _SandboxFailed(Exception):
    """The sandbox could not run the tests (its message is the backend's)."""


def _wait(futures: Sequence[Future], timeout: float | None) -> None:
    """Until every future is done or cancelled, or `timeout` passes. (`concurrent.futures.
    wait` is not woken by a cancel, which is how `close` ends what it never started.)"""
    pending = [len(futures)]
    lock, finished = threading.Lock(), threading.Event()

    def one_done(_: Future) -> None:
        with lock:
            pending[0] -= 1
            if pending[0] == 0:
                finished.set()

    if not futures:
        return
    for future in futures:
        future.add_done_callback(one_done)
    finished.wait(timeout)


def _said(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[-500:]


def _done(check: Check) -> Future[Check]:
    future: Future[Check] = Future()
    future.set_result(check)
    return future


def _shape(completion: object) -> str:
    return f"a completion is a string or a list of messages, not {type(completion).__name__}"


def _log_batch(name: str, checks: Sequence[Check]) -> None:
    reasons = Counter(c.reason for c in checks)
    log.info(
        "%s: %d completions, %d passed (%s)",
        name,
        len(checks),
        sum(c.passed for c in checks),
        ", ".join(f"{r} {n}" for r, n in reasons.most_common()),
    )
    trouble = [c for c in checks if c.reason in TROUBLE]
    if trouble:
        log.warning(
            "%s: %d not checked: %s: %s", name, len(trouble), trouble[0].reason, trouble[0].detail
        )
