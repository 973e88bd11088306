"""Per language, solutions that game "the program exited 0" instead of solving `add`.

Each one is wrong on honest tests (it returns a - b, or nothing) and exits 0 early: from
inside the function under test, or before the tests' main runs (a C++ static initializer,
a Go `init`, a Java static block, top-level code in JS/PHP). Each must fail: the static
guard rejects the exit call (`static/tampering`), and with the guard off the run fails
`exited_early` because synth's driver never printed its proof. Honest right solutions pass,
and the stub check does not mistake a stub that exits early for one the tests fail.
"""

from __future__ import annotations

import pytest

from synth.code.polyglot import verify_program
from synth.code.translate import check_translation
from synth.records import Sample
from synth.sandbox.base import Limits
from tests.sandbox.programs import CASES

pytestmark = [pytest.mark.sandbox, pytest.mark.docker]

LIMITS = Limits(timeout_s=20, memory_mb=512)

GAMING = {
    "python": {  # `synth verify`'s program path: the same driver, in Python
        "exit_in_function": "import os\n\ndef add(a, b):\n    os._exit(0)\n",
        "system_exit_at_import": "import sys\n\nsys.exit(0)\n",
    },
    "javascript": {
        "exit_in_function": "function add(a, b) { process.exit(0); }\n",
        "exit_at_top_level": "process.exit(0);\nfunction add(a, b) { return a - b; }\n",
        "exit_on_next_tick": (
            "process.nextTick(() => process.exit(0));\nfunction add(a, b) { process.exit(0); }\n"
        ),
    },
    "php": {
        "exit_in_function": "<?php\nfunction add($a, $b) { exit(0); }\n",
        "die_at_top_level": "<?php\ndie();\nfunction add($a, $b) { return $a - $b; }\n",
    },
    "cpp": {
        "exit_in_function": "#include <cstdlib>\nint add(int a, int b) { std::exit(0); }\n",
        "static_initializer": (
            "#include <cstdlib>\nstatic int gone = (std::exit(0), 0);\n"
            "int add(int a, int b) { return a - b; }\n"
        ),
        "quick_exit": (
            "#include <cstdlib>\nint add(int a, int b) { std::quick_exit(0); return 0; }\n"
        ),
        "underscore_exit": "#include <unistd.h>\nint add(int a, int b) { _exit(0); }\n",
    },
    "rust": {
        "exit_in_function": "fn add(a: i32, b: i32) -> i32 { std::process::exit(0) }\n",
    },
    "go": {
        "exit_in_function": (
            'package main\n\nimport "os"\n\nfunc add(a, b int) int { os.Exit(0); return 0 }\n'
        ),
        "exit_in_init": (
            'package main\n\nimport "os"\n\nfunc init() { os.Exit(0) }\n\n'
            "func add(a, b int) int { return a - b }\n"
        ),
    },
    "java": {
        "exit_in_function": (
            "class Solution {\n    static int add(int a, int b) { System.exit(0); return 0; }\n}\n"
        ),
        "exit_in_static_block": (
            "class Solution {\n    static { System.exit(0); }\n"
            "    static int add(int a, int b) { return a - b; }\n}\n"
        ),
        "runtime_halt": (
            "class Solution {\n"
            "    static int add(int a, int b) { Runtime.getRuntime().halt(0); return 0; }\n}\n"
        ),
    },
}
CASES_FLAT = sorted((language, name) for language in GAMING for name in GAMING[language])


def test_every_compiled_and_scripted_language_has_gaming_cases():
    assert set(GAMING) == set(CASES)


@pytest.mark.parametrize(("language", "name"), CASES_FLAT)
def test_the_static_guard_rejects_the_exit(docker_sandbox, language, name):
    verdict = verify_program(
        language, GAMING[language][name], CASES[language].tests, docker_sandbox, LIMITS
    )
    assert (verdict.passed, verdict.reason) == (False, "static/tampering"), verdict.detail
    assert "line" in verdict.detail


@pytest.mark.parametrize(("language", "name"), CASES_FLAT)
def test_with_the_guard_off_an_early_exit_is_no_pass(docker_sandbox, language, name):
    verdict = verify_program(
        language, GAMING[language][name], CASES[language].tests, docker_sandbox, LIMITS, rules=()
    )
    assert not verdict.passed
    assert verdict.execution is not None and verdict.execution.status == "ok", verdict
    assert verdict.reason == "exited_early", verdict
    assert "exiting is not passing" in verdict.detail


@pytest.mark.parametrize("language", sorted(GAMING))
def test_tests_that_exit_early_themselves_prove_nothing(docker_sandbox, language):
    """Tests that exit 0 before their last assert are no pass either (the driver's proof
    comes only after the tests' entry point returns)."""
    exits = {
        "python": "import os\nos._exit(0)\n",
        "javascript": "process.exit(0);\n",
        "php": "<?php\nexit(0);\n",
        "cpp": "#include <cstdlib>\nint main() { std::exit(0); }\n",
        "rust": "fn main() { std::process::exit(0); }\n",
        "go": 'package main\n\nimport "os"\n\nfunc main() { os.Exit(0) }\n',
        "java": "public class Main {\n    public static void main(String[] a) { System.exit(0); }\n}\n",
    }
    verdict = verify_program(
        language, CASES[language].wrong, exits[language], docker_sandbox, LIMITS
    )
    assert (verdict.passed, verdict.reason) == (False, "exited_early"), verdict


@pytest.mark.parametrize("language", sorted(GAMING))
def test_honest_solutions_pass_under_the_driver(docker_sandbox, language):
    case = CASES[language]
    verdict = verify_program(language, case.right, case.tests, docker_sandbox, LIMITS)
    assert verdict.passed, verdict
    assert "synth" not in verdict.execution.stdout  # the proof is taken out of the evidence


def test_cpp_tests_main_without_a_return_still_pass(docker_sandbox):
    tests = "#include <cassert>\nint main() { assert(add(1, 2) == 3); }\n"
    verdict = verify_program("cpp", CASES["cpp"].right, tests, docker_sandbox, LIMITS)
    assert verdict.passed, verdict


def test_rust_tests_main_returning_a_result(docker_sandbox):
    tests = "fn main() -> Result<(), String> {\n    assert_eq!(add(1, 2), 3);\n    Ok(())\n}\n"
    verdict = verify_program("rust", CASES["rust"].right, tests, docker_sandbox, LIMITS)
    assert verdict.passed, verdict
    failing = 'fn main() -> Result<(), String> {\n    Err("no".to_string())\n}\n'
    assert not verify_program("rust", CASES["rust"].right, failing, docker_sandbox, LIMITS).passed


def test_a_stub_that_exits_early_is_not_taken_for_a_failing_stub(docker_sandbox, monkeypatch):
    """The stub check wants the tests to FAIL the stub; a stub run that exits 0 early ran
    no test to the end, so it shows nothing: `stub_unusable`, never a faithful pass."""
    from synth.code import translate

    solution = CASES["cpp"].right
    sample = Sample(
        id="s", problem_id="p", trajectory=0, round=1, text="", code=solution,
        tests=CASES["cpp"].tests,
    )  # fmt: skip
    verdict = check_translation(sample, "cpp", "add", docker_sandbox, LIMITS)
    assert verdict.passed, verdict  # an honest translation: its tests fail the stub

    real = translate.verify_program
    exits = "#include <cstdlib>\nint main() { std::exit(0); }\n"

    def stub_exits_early(language, code, tests, sandbox, limits):
        # the stub's default body is `{ return {}; }`: its run exits before any test
        return real(language, code, exits if "return {}" in code else tests, sandbox, limits)

    monkeypatch.setattr(translate, "verify_program", stub_exits_early)
    verdict = check_translation(sample, "cpp", "add", docker_sandbox, LIMITS)
    assert (verdict.passed, verdict.reason) == (False, "stub_unusable"), verdict
    assert "exited_early" in verdict.detail


def test_tests_without_a_main_to_wrap_are_no_pass(docker_sandbox):
    tests = "#include <cassert>\nauto main() -> int { assert(add(1, 2) == 3); return 0; }\n"
    verdict = verify_program("cpp", CASES["cpp"].right, tests, docker_sandbox, LIMITS)
    assert (verdict.passed, verdict.reason) == (False, "no_test_main"), verdict


@pytest.mark.parametrize("language", ["cpp", "go"])
def test_code_before_main_finds_no_secret_to_print(docker_sandbox, language):
    """A static initializer / package variable of the solution that copies stdin to stdout
    and exits 0 (past the static guard) finds stdin already read by the driver."""
    thief = {
        "cpp": (
            "#include <cstdio>\n#include <unistd.h>\n"
            "static int copied = [] { char b[256]; long n = ::read(STDIN_FILENO, b, 256);"
            " if (n > 0) ::write(1, b, n); _exit(0); return 0; }();\n"
            "int add(int a, int b) { return a - b; }\n"
        ),
        "go": (
            'package main\n\nimport (\n\t"io"\n\t"os"\n)\n\n'
            "var copied = func() int { data, _ := io.ReadAll(os.Stdin); os.Stdout.Write(data);"
            " os.Exit(0); return 0 }()\n\nfunc add(a, b int) int { return a - b }\n"
        ),
    }[language]
    verdict = verify_program(
        language, thief, CASES[language].tests, docker_sandbox, LIMITS, rules=()
    )
    assert (verdict.passed, verdict.reason) == (False, "exited_early"), verdict
    guarded = verify_program(language, thief, CASES[language].tests, docker_sandbox, LIMITS)
    assert guarded.reason == "static/tampering", guarded
