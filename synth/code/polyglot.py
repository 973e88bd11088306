"""Verify a solution in any sandbox language against tests written in that language.

Solution and tests become one program the language's usual way (languages.py), wrapped
by synth's driver, which prints a per-run secret (passed on stdin, read before any model
code runs) only after the tests' entry point returns: compiled once when the language
compiles, then run. The verdict has the same shape as the Python one:

- stage "lint", reason "static/tampering": the solution exits, reads input, or reaches
  for the machinery (code/tampering.py), or the tests read input;
- stage "compile", reason "compile_error": the compiler's (or syntax checker's) messages;
- stage "tests": "tests_failed" quoting the failed assert, panic or exception, or the limit
  that stopped the run ("timeout", "memory", "output_limit"), "exited_early" (a zero exit
  without the driver's proof: the program left before the tests ended), or "error";
- stage "ok": the program ran to a zero exit AND the driver printed the secret.

Python keeps its richer path (standalone.py: ruff, one outcome per test).
"""

from __future__ import annotations

import re
import secrets

from synth.code.tampering import RULES, python_findings, source_findings
from synth.code.verify import TAMPERING, tampering_verdict
from synth.records import ExecResult, Sample, TestOutcome, Verdict, stable_id
from synth.sandbox.base import Limits, Sandbox
from synth.sandbox.languages import get_language, test_program

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
    language: str,
    solution: str,
    tests: str,
    sandbox: Sandbox,
    limits: Limits,
    rules: tuple[str, ...] = RULES,
) -> Verdict:
    spec = get_language(language)
    sample = Sample(
        id=stable_id("file", language, solution),
        problem_id="file",
        trajectory=0,
        round=1,
        text=solution,
        code=solution,
    )
    guard = python_findings if language == "python" else source_findings
    findings = (
        guard(solution, rules) if language == "python" else guard(language, solution, rules)
    ) + [f for f in source_findings(language, tests, ("input",)) if "input" in rules]
    if findings:
        return tampering_verdict(stable_id("verdict", sample.id), findings)
    secret = secrets.token_hex(16)
    program = test_program(spec, solution, tests, limits.memory_mb)
    if not program.driven:  # no entry point to wrap: a run could prove nothing
        return Verdict(
            id=stable_id("verdict", sample.id),
            passed=False,
            stage="tests",
            reason="no_test_main",
            detail="synth's test driver found no entry point of the tests to wrap "
            f"({spec.name}: the tests' main function)",
        )
    execution = sandbox.run(
        program.files,
        list(program.command),
        limits,
        stdin=secret + "\n",
        compile=program.compile,
        language=language,
    )
    proved = secret in execution.stdout
    execution = execution.model_copy(
        update={"stdout": execution.stdout.replace("\n" + secret + "\n", "").replace(secret, "")}
    )
    return verdict_from_execution(sample, tests, execution, proved=proved)


def verdict_from_execution(
    sample: Sample, tests: str, execution: ExecResult, *, proved: bool = False
) -> Verdict:
    """The verdict on one run of a test program; `proved`: the driver's secret was printed."""
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
    passed = execution.status == "ok" and proved
    if execution.status == "ok" and not proved:
        why = EXITED_EARLY
    else:
        why = "" if passed else failure_line(execution)
    outcome = TestOutcome(name="tests", source=tests, passed=passed, error=why)
    if passed:
        reason, detail = "passed", "the tests ran to their end and the program exited 0"
    elif execution.status == "ok":
        reason, detail = "exited_early", why
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


EXITED_EARLY = (
    "the program exited with code 0 before the tests finished (synth's driver never saw the "
    "tests' entry point return): exiting is not passing"
)
__all__ = ["TAMPERING", "verdict_from_execution", "verify_program"]


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
