"""Verify a solution in any sandbox language against tests written in that language.

Solution and tests become one program the language's usual way (languages.py): compiled
once when the language compiles, then run; the tests' `main` or top-level asserts decide.
The verdict has the same shape as the Python one:

- stage "compile", reason "compile_error": the compiler's (or syntax checker's) messages;
- stage "tests": "tests_failed" quoting the failed assert, panic or exception, or the limit
  that stopped the run ("timeout", "memory", "output_limit"), or "error";
- stage "ok": the program ran to a zero exit.

Python keeps its richer path (standalone.py: ruff, one outcome per test).
"""

from __future__ import annotations

import re

from synth.records import ExecResult, Sample, TestOutcome, Verdict, stable_id
from synth.sandbox.base import Limits, Sandbox
from synth.sandbox.languages import get_language

MAX_EVIDENCE_CHARS = 2000
QUOTED_LINES = 4
MAX_QUOTE_CHARS = 800
# The line that says why a test program failed, per language family: assert macros and
# exceptions (C++, Java, JS, PHP), panics (Rust, Go).
_FAILURE_LINE = re.compile(
    r"(Assertion .* failed|AssertionError|assert|panicked at|^panic: |Exception|Error\b|error\b)",
    re.IGNORECASE,
)


def verify_program(
    language: str, solution: str, tests: str, sandbox: Sandbox, limits: Limits
) -> Verdict:
    spec = get_language(language)
    execution = sandbox.run(
        spec.program(solution, tests),
        spec.command(limits.memory_mb),
        limits,
        compile=spec.compile,
        language=language,
    )
    sample = Sample(
        id=stable_id("file", language, solution),
        problem_id="file",
        trajectory=0,
        round=1,
        text=solution,
        code=solution,
    )
    return verdict_from_execution(sample, tests, execution)


def verdict_from_execution(sample: Sample, tests: str, execution: ExecResult) -> Verdict:
    execution = execution.model_copy(
        update={
            "stdout": execution.stdout[-MAX_EVIDENCE_CHARS:],
            "stderr": execution.stderr[-MAX_EVIDENCE_CHARS:],
        }
    )
    vid = stable_id("verdict", sample.id)
    if execution.status == "compile_error":
        return Verdict(
            id=vid,
            passed=False,
            stage="compile",
            reason="compile_error",
            detail=(execution.stderr or execution.stdout).strip()[-MAX_EVIDENCE_CHARS:],
            execution=execution,
        )
    passed = execution.status == "ok"
    why = "" if passed else failure_line(execution)
    outcome = TestOutcome(name="tests", source=tests, passed=passed, error=why)
    if passed:
        reason, detail = "passed", "the tests ran to a zero exit"
    elif execution.status == "failed":
        reason, detail = "tests_failed", why
    else:
        reason, detail = execution.status, why
    return Verdict(
        id=vid,
        passed=passed,
        stage="ok" if passed else "tests",
        reason=reason,
        detail=detail,
        tests=(outcome,),
        execution=execution,
    )


def failure_line(execution: ExecResult) -> str:
    """The failed assert, panic or exception as the program reported it, else the limit."""
    if execution.status in ("timeout", "memory", "output_limit"):
        return {
            "timeout": "the run was stopped at the time limit",
            "memory": "the run was stopped at the memory limit",
            "output_limit": "the run printed more than the output limit",
        }[execution.status]
    lines = [line.rstrip() for line in execution.stderr.splitlines() if line.strip()]
    for index, line in enumerate(lines):
        if _FAILURE_LINE.search(line):
            # the line and the few after it: left/right values, the exception's message
            return "\n".join(lines[index : index + QUOTED_LINES])[:MAX_QUOTE_CHARS]
    if lines:
        return "\n".join(lines[-QUOTED_LINES:])[:MAX_QUOTE_CHARS]
    return f"the program exited with code {execution.exit_code}"
