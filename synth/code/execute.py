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

from synth.code.returns import return_types
from synth.python_ast import parse_python
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
    # per case: p passed, f failed, x exited early (not a test result), t tampering,
    # r a result not of the annotated return type
    statuses: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return self.reported and bool(self.outcomes) and all(o.passed for o in self.outcomes)

    @property
    def exited_early(self) -> bool:
        """The program ended 0 without the harness's report: it left before the tests did."""
        return not self.reported and self.execution.status == "ok"

    def status_of(self, name: str) -> str:
        # statuses may be absent (a run read back from an older record): then by `passed`
        for outcome, status in zip(self.outcomes, self.statuses, strict=False):
            if outcome.name == name:
                return status
        return "p" if any(o.name == name and o.passed for o in self.outcomes) else "f"


def test_payload(code: str, suite: TestSuite, per_test_timeout_s: float) -> dict:
    """What the harness reads on stdin after the nonce: the solution, the tests and what to
    check their results against. Nothing of it is written to the sandbox's disk."""
    cases = []
    for case in suite.cases:
        call = _test_function_name(case.source)
        cases.append(
            {
                "name": case.name,
                "source": case.source,
                "call": call,
                "hypothesis": "hypothesis" in case.source or "hypothesis" in suite.setup,
            }
        )
    spec: dict = {
        "solution": code,
        "setup": suite.setup,
        "cases": cases,
        "per_test_timeout_s": per_test_timeout_s,
        "returns": return_types(code),
        "modules": sorted(_imported(suite.setup, *(c.source for c in suite.cases))),
    }
    if "hypothesis" in suite.setup or any("hypothesis" in c.source for c in suite.cases):
        spec["hypothesis"] = {"max_examples": HYPOTHESIS_MAX_EXAMPLES}
    return spec


def test_files(code: str, suite: TestSuite, per_test_timeout_s: float) -> dict[str, str]:
    """The files of a test run: the harness alone (the rest travels on stdin)."""
    return {"harness.py": harness_source()}


def run_tests(
    sandbox: Sandbox,
    code: str,
    suite: TestSuite,
    limits: Limits,
    per_test_timeout_s: float | None = None,
) -> TestRun:
    """Execute `code` with `suite` in one sandbox run and read the per-test report.

    Each test is stopped by its own alarm after `per_test_timeout_s` (default: half the
    run's limit, at most 5 s, so one hanging test leaves time for the others)."""
    nonce = secrets.token_hex(16)
    per_test = per_test_timeout_s or max(0.5, min(5.0, limits.timeout_s / 2))
    payload = json.dumps(test_payload(code, suite, per_test))
    execution = sandbox.run(
        test_files(code, suite, per_test),
        ["python3", "harness.py"],
        limits,
        stdin=nonce + "\n" + payload + "\n",
    )
    report = _find_report(execution.stdout, nonce)
    stdout = _strip_report(execution.stdout, nonce)
    execution = execution.model_copy(
        update={
            "stdout": stdout[-MAX_EVIDENCE_CHARS:],
            "stderr": execution.stderr[-MAX_EVIDENCE_CHARS:],
        }
    )
    if report is None or len(report) != len(suite.cases):
        if execution.status == "ok":
            reason = EXITED_EARLY
        else:
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
    outcomes = tuple(
        TestOutcome(
            name=c.name,
            source=c.source,
            passed=status == "p",
            error=error[-MAX_EVIDENCE_CHARS:],
        )
        for c, (status, error) in zip(suite.cases, report, strict=True)
    )
    statuses = tuple(status for status, _ in report)
    return TestRun(execution=execution, outcomes=outcomes, reported=True, statuses=statuses)


EXITED_EARLY = (
    "the program exited with code 0 before the tests finished: synth's driver never saw "
    "the last test return, and exiting is not passing"
)


def _test_function_name(source: str) -> str | None:
    """The `test*` function a case defines (decorated or not), which the harness then calls."""
    try:
        body = parse_python(source).body
    except (SyntaxError, ValueError):
        return None
    if len(body) == 1 and isinstance(body[0], ast.FunctionDef) and body[0].name.startswith("test"):
        return body[0].name
    return None


def _imported(*sources: str) -> set[str]:
    """The top-level modules the tests import: the harness watches their functions."""
    names: set[str] = set()
    for source in sources:
        try:
            tree = parse_python(source)
        except (SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module.split(".")[0])
    return names


def _find_report(stdout: str, nonce: str) -> list[tuple[str, str]] | None:
    """The harness's entries, (status, error) per case, from its last report line."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(nonce + ":"):
            body = line[len(nonce) + 1 :]
            try:
                return [
                    (item[0], bytes.fromhex(item[1:]).decode("utf-8", "replace"))
                    for item in body.split(";")
                    if item and item[0] in "pfxtr"
                ]
            except ValueError:
                return None
    return None


def _strip_report(stdout: str, nonce: str) -> str:
    return "\n".join(line for line in stdout.splitlines() if not line.startswith(nonce))
