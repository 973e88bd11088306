"""Every sandbox language through the Docker pool: right, wrong and broken solutions give
the verdicts `synth verify` promises, and the CLI says the same in JSON."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from synth.code.polyglot import verify_program
from synth.sandbox.base import Limits
from synth.sandbox.languages import LANGUAGES
from tests.sandbox.programs import CASES

pytestmark = [pytest.mark.sandbox, pytest.mark.docker]

LIMITS = Limits(timeout_s=20, memory_mb=512)


def test_every_language_has_a_case():
    assert set(CASES) == set(LANGUAGES)


@pytest.mark.parametrize("language", sorted(CASES))
def test_a_right_solution_passes(docker_sandbox, language):
    case = CASES[language]
    verdict = verify_program(language, case.right, case.tests, docker_sandbox, LIMITS)
    assert (verdict.passed, verdict.stage, verdict.reason) == (True, "ok", "passed"), verdict
    assert verdict.tests[0].passed
    if LANGUAGES[language].compile and language not in ("javascript", "php"):
        assert 0 < verdict.execution.compile_s < verdict.execution.duration_s


@pytest.mark.parametrize("language", sorted(CASES))
def test_a_wrong_solution_fails_its_tests_and_the_verdict_quotes_why(docker_sandbox, language):
    case = CASES[language]
    verdict = verify_program(language, case.wrong, case.tests, docker_sandbox, LIMITS)
    assert (verdict.passed, verdict.stage, verdict.reason) == (False, "tests", "tests_failed")
    assert case.quote in verdict.detail, verdict.execution.stderr
    assert verdict.tests[0].error == verdict.detail


@pytest.mark.parametrize("language", sorted(set(CASES) - {"python"}))
def test_a_solution_that_does_not_compile_stops_at_the_compile_stage(docker_sandbox, language):
    case = CASES[language]
    verdict = verify_program(language, case.broken, case.tests, docker_sandbox, LIMITS)
    assert (verdict.passed, verdict.stage, verdict.reason) == (False, "compile", "compile_error")
    assert verdict.detail and verdict.tests == ()  # the compiler's messages, no test ran


def test_a_compiled_program_is_compiled_once_and_run_against_the_binary(docker_sandbox):
    """The run step executes ./main, which only the compile step made."""
    case = CASES["cpp"]
    probe = case.tests.replace("return 0;", 'return system("test -x ./main") == 0 ? 0 : 7;')
    probe = "#include <cstdlib>\n" + probe
    verdict = verify_program("cpp", case.right, probe, docker_sandbox, LIMITS)
    assert verdict.passed, verdict


def test_a_memory_bomb_without_an_address_space_limit_is_stopped_by_the_container(
    docker_sandbox,
):
    """Go reserves address space freely, so only the container's memory limit holds it."""
    bomb = (
        "package main\n\nfunc main() {\n\tvar kept [][]byte\n\tfor {\n"
        "\t\tblock := make([]byte, 16<<20)\n\t\tfor i := range block {\n\t\t\tblock[i] = 1\n\t\t}\n"
        "\t\tkept = append(kept, block)\n\t}\n}\n"
    )
    verdict = verify_program("go", "package main\n", bomb, docker_sandbox, LIMITS)
    assert verdict.execution.status == "memory", verdict.execution
    again = verify_program("go", CASES["go"].right, CASES["go"].tests, docker_sandbox, LIMITS)
    assert again.passed


@pytest.mark.parametrize("language", sorted(CASES))
def test_synth_verify_prints_the_verdict_and_exits_by_it(tmp_path, language):
    case = CASES[language]
    ext = LANGUAGES[language].extension
    tests = tmp_path / f"tests.{ext}"
    tests.write_text(case.tests)
    for solution_text, code in ((case.right, 0), (case.wrong, 1)):
        solution = tmp_path / f"solution.{ext}"
        solution.write_text(solution_text)
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "synth.cli",
                "verify",
                language,
                "--solution",
                str(solution),
                "--tests",
                str(tests),
                "--sandbox",
                "docker",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == code, done.stderr
        verdict = json.loads(done.stdout)
        assert verdict["passed"] is (code == 0)
        assert verdict["stage"] == ("ok" if code == 0 else "tests")
