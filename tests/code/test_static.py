"""Static analysis: one ruff run per batch, messages with code, line and text."""

from synth.code.static import check_batch

OK = "def f(x):\n    return x + 1\n"
UNDEFINED = "def f(x):\n    return y + 1\n"
UNUSED_IMPORT = "import os\n\ndef f(x):\n    return x\n"
SYNTAX = "def f(x)\n    return x\n"
MUTABLE_DEFAULT = "def f(x=[]):\n    return x\n"


def test_each_code_gets_its_own_report_in_order():
    reports = check_batch([OK, UNDEFINED, UNUSED_IMPORT, SYNTAX, MUTABLE_DEFAULT])
    ok, undefined, unused, syntax, mutable = reports
    assert ok.passed and not ok.warnings
    assert not undefined.passed
    assert [(m.code, m.line) for m in undefined.errors] == [("F821", 2)]
    assert "y" in undefined.errors[0].message
    assert unused.passed and [m.code for m in unused.warnings] == [
        "F401"
    ]  # a warning, not a failure
    assert syntax.syntax_error and "line 1" in syntax.syntax_error and not syntax.passed
    assert [m.code for m in mutable.errors] == ["B006"]


def test_empty_batch():
    assert check_batch([]) == []


# --- the tampering guard ----------------------------------------------------------------

from synth.code.static import LintConfig  # noqa: E402
from synth.code.tampering import python_findings, source_findings  # noqa: E402


def test_the_guard_names_the_construct_and_its_line():
    code = "import os as o\n\ndef f(x):\n    o._exit(0)\n"
    report = check_batch([code])[0]
    assert not report.passed
    assert [(f.rule, f.line) for f in report.tampering] == [("exit", 4)]
    assert "os._exit" in str(report.tampering[0])


def test_words_in_strings_and_comments_are_not_findings():
    code = "def f(x):\n    # never exit() or open() here\n    return 'sys._getframe exit'\n"
    assert python_findings(code) == []
    cpp = 'int f() { /* std::exit(0) */ return 0; } // exit(1)\nconst char* s = "exit(0)";\n'
    assert source_findings("cpp", cpp) == []
    php = "<?php\n$exit = 1; // die\nfunction f($die) { return $exit + $die; }\n"
    assert source_findings("php", php) == []


def test_ordinary_algorithm_code_is_not_flagged():
    honest = {
        "python": "from functools import lru_cache\nimport heapq\n\n@lru_cache(None)\n"
        "def f(n):\n    used = [False] * n\n    return heapq.nsmallest(1, [n])[0]\n",
        "cpp": "#include <sstream>\n#include <string>\nint f(std::string s) { int open = 0; "
        "std::istringstream in(s); std::string t; while (std::getline(in, t, ',')) open++; "
        "return open; }\n",
        "rust": "fn f(n: usize) -> usize { let mut used = vec![false; n]; used[0] = true; n }\n",
        "go": 'package main\n\nimport "sort"\n\nfunc f(x []int) int { sort.Ints(x); return x[0] }\n',
        "java": "class Solution {\n    static int f(int n) { return Math.max(n, 0); }\n}\n",
        "javascript": "function f(xs) { return xs.map((x) => x * 2); }\n",
        "php": "<?php\nfunction f($xs) { return array_map(fn($x) => $x * 2, $xs); }\n",
    }
    assert python_findings(honest.pop("python")) == []
    for language, code in honest.items():
        assert source_findings(language, code) == [], language


def test_rules_can_be_switched_off():
    code = "def f(path):\n    with open(path) as handle:\n        return handle.read()\n"
    assert [f.rule for f in check_batch([code])[0].tampering] == ["files"]
    rules = tuple(r for r in LintConfig().tampering if r != "files")
    assert check_batch([code], LintConfig(tampering=rules))[0].passed
