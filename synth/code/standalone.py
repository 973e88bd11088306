"""Verify a solution file against a test file, outside any run (`synth verify python`).

The tests are split the same way as generated tests (asserts and `def test_*` functions
are cases, the rest is setup). A test file with no such cases, such as HumanEval's
`def check(candidate)` followed by `check(f)`, runs whole as a single case.
"""

from __future__ import annotations

from pathlib import Path

from synth.code.execute import run_tests
from synth.code.static import LintConfig, check_batch
from synth.code.tests import suite_from_source
from synth.code.verify import verdict_before_tests, verdict_from_run
from synth.errors import SynthError
from synth.records import Sample, stable_id
from synth.sandbox.base import Limits, Sandbox


def read_source(path: Path, flag: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SynthError(f"{flag} {path}", "no such file") from None
    except UnicodeDecodeError:
        raise SynthError(f"{flag} {path}", "not UTF-8 text") from None


def verify_files(
    solution: Path, tests: Path, sandbox: Sandbox, limits: Limits, lint: LintConfig = LintConfig()
):
    code = read_source(solution, "--solution")
    test_code = read_source(tests, "--tests")
    sample = Sample(
        id=stable_id("file", code), problem_id="file", trajectory=0, round=1, text=code, code=code
    )
    report = check_batch([code], lint)[0]
    early = verdict_before_tests(sample, report)
    if early is not None:
        return early
    suite = suite_from_source(test_code, "file")
    if suite is None:
        raise SynthError(f"--tests {tests}", "does not parse as Python")
    return verdict_from_run(sample, suite, run_tests(sandbox, code, suite, limits), report)
