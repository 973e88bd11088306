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
