"""Step 5: run a solution against its tests in the sandbox, one outcome per test.

The harness (harness.py) runs inside the sandbox; this module sends it the files, reads
its report and turns a run that produced no report (a crash, a timeout, an output flood)
into failed outcomes that carry the sandbox's evidence.
"""

from __future__ import annotations

import ast
import json
import secrets
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from synth.records import ExecResult, TestOutcome, TestSuite
from synth.sandbox.base import Limits, Sandbox

MAX_EVIDENCE_CHARS = 2000
HYPOTHESIS_MAX_EXAMPLES = 100  # per property; with a fixed seed (see harness.py)


@cache
def harness_source() -> str:
    return (Path(__file__).with_name("harness.py")).read_text(encoding="utf-8")


@dataclass(frozen=True)
class TestRun:
    __test__ = False

    execution: ExecResult
    outcomes: tuple[TestOutcome, ...]
    reported: bool  # False when the harness never reported (crash, timeout, output flood)

    @property
    def passed(self) -> bool:
        return self.reported and bool(self.outcomes) and all(o.passed for o in self.outcomes)


def test_files(code: str, suite: TestSuite, per_test_timeout_s: float) -> dict[str, str]:
    cases = []
    for case in suite.cases:
        call = _test_function_name(case.source)
        cases.append({"name": case.name, "source": case.source, "call": call})
    spec = {"setup": suite.setup, "cases": cases, "per_test_timeout_s": per_test_timeout_s}
    if "hypothesis" in suite.setup or any("hypothesis" in c.source for c in suite.cases):
        spec["hypothesis"] = {"max_examples": HYPOTHESIS_MAX_EXAMPLES}
    return {"harness.py": harness_source(), "solution.py": code, "tests.json": json.dumps(spec)}


def run_tests(sandbox: Sandbox, code: str, suite: TestSuite, limits: Limits) -> TestRun:
    """Execute `code` with `suite` in one sandbox run and read the per-test report."""
    nonce = secrets.token_hex(16)
    per_test = max(0.5, min(5.0, limits.timeout_s / 2))
    files = test_files(code, suite, per_test)
    execution = sandbox.run(files, ["python3", "harness.py"], limits, stdin=nonce + "\n")
    report = _find_report(execution.stdout, nonce)
    stdout = _strip_report(execution.stdout, nonce)
    execution = execution.model_copy(
        update={
            "stdout": stdout[-MAX_EVIDENCE_CHARS:],
            "stderr": execution.stderr[-MAX_EVIDENCE_CHARS:],
        }
    )
    if report is None:
        reason = {
            "timeout": "the run was stopped at the time limit",
            "memory": "the run was stopped at the memory limit",
            "output_limit": "the run printed more than the output limit",
        }.get(
            execution.status,
            f"the program exited with code {execution.exit_code} before the tests reported",
        )
        outcomes = tuple(
            TestOutcome(name=c.name, source=c.source, passed=False, error=reason)
            for c in suite.cases
        )
        return TestRun(execution=execution, outcomes=outcomes, reported=False)
    by_name = {item["name"]: item for item in report.get("results", [])}
    outcomes = tuple(
        TestOutcome(
            name=c.name,
            source=c.source,
            passed=bool(by_name.get(c.name, {}).get("passed", False)),
            error=str(by_name.get(c.name, {}).get("error", "no result reported"))[
                -MAX_EVIDENCE_CHARS:
            ],
        )
        for c in suite.cases
    )
    return TestRun(execution=execution, outcomes=outcomes, reported=True)


def _test_function_name(source: str) -> str | None:
    """The `test*` function a case defines (decorated or not), which the harness then calls."""
    try:
        body = ast.parse(source).body
    except (SyntaxError, ValueError):
        return None
    if len(body) == 1 and isinstance(body[0], ast.FunctionDef) and body[0].name.startswith("test"):
        return body[0].name
    return None


def _find_report(stdout: str, nonce: str) -> dict | None:
    for line in reversed(stdout.splitlines()):
        if line.startswith(nonce):
            try:
                return json.loads(line[len(nonce) :])
            except json.JSONDecodeError:
                return None
    return None


def _strip_report(stdout: str, nonce: str) -> str:
    return "\n".join(line for line in stdout.splitlines() if not line.startswith(nonce))
