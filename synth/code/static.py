"""Step 4: static analysis. `ast` parse, then ruff over a whole batch in one process.

Ruff runs once per batch (each sample written to its own file in a temporary directory),
not once per sample: starting a linter costs more than linting a small function.
Messages keep the rule code, line, column and text. Rules in `blocking` fail a sample;
the others selected are recorded as warnings. The tampering guard (tampering.py) runs on
the syntax tree too: a solution that reaches for the checker's machinery fails here.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ruff.__main__ import find_ruff_bin

from synth.code.tampering import RULES, Finding, python_findings
from synth.python_ast import parse_python
from synth.records import LintMessage

# pyflakes (F), syntax errors (E9), pylint errors (PLE) and bug-prone bugbear rules.
SELECTED = ("F", "E9", "PLE", "B")
BLOCKING = (
    "E9",  # syntax errors
    "F63",  # comparisons that are always wrong (`is` with a literal, ...)
    "F7",  # break/continue/return/yield outside their statements
    "F82",  # undefined names
    "F811",  # redefinition of an unused name
    "PLE",  # pylint errors
    "B006",  # mutable default argument
    "B008",  # function call in a default argument
    "B015",  # pointless comparison (a forgotten assert)
    "B018",  # useless expression
    "B023",  # loop variable captured by a closure
)


@dataclass(frozen=True)
class LintConfig:
    selected: tuple[str, ...] = SELECTED
    blocking: tuple[str, ...] = BLOCKING
    timeout_s: float = 60.0
    # tampering rules (tampering.RULES) that reject a solution; () turns the guard off
    tampering: tuple[str, ...] = RULES


@dataclass(frozen=True)
class StaticReport:
    syntax_error: str | None = None
    errors: tuple[LintMessage, ...] = ()
    warnings: tuple[LintMessage, ...] = field(default=())
    tampering: tuple[Finding, ...] = ()

    @property
    def passed(self) -> bool:
        return self.syntax_error is None and not self.errors and not self.tampering


def syntax_error(code: str) -> str | None:
    """The parser's message for code that does not parse, else None."""
    try:
        parse_python(code)
    except SyntaxError as exc:
        return f"SyntaxError: {exc.msg} (line {exc.lineno}, column {exc.offset})"
    except ValueError as exc:  # null bytes
        return f"ValueError: {exc}"
    return None


def check_batch(codes: Sequence[str], config: LintConfig = LintConfig()) -> list[StaticReport]:
    """Parse every code string, lint those that parse with one ruff run; one report per code."""
    syntax = [syntax_error(code) for code in codes]
    to_lint = [i for i, error in enumerate(syntax) if error is None]
    # selected=() lints nothing: the parse and the tampering guard only, no ruff process
    messages = _ruff(dict((i, codes[i]) for i in to_lint), config) if config.selected else {}
    reports = []
    for index, code_syntax in enumerate(syntax):
        found = messages.get(index, [])
        errors = tuple(m for m in found if m.code.startswith(config.blocking))
        warnings = tuple(m for m in found if not m.code.startswith(config.blocking))
        found_tampering = (
            tuple(python_findings(codes[index], config.tampering)) if code_syntax is None else ()
        )
        reports.append(
            StaticReport(
                syntax_error=code_syntax,
                errors=errors,
                warnings=warnings,
                tampering=found_tampering,
            )
        )
    return reports


def _ruff(codes: dict[int, str], config: LintConfig) -> dict[int, list[LintMessage]]:
    if not codes:
        return {}
    with tempfile.TemporaryDirectory(prefix="synth-lint-") as tmp:
        root = Path(tmp)
        for index, code in codes.items():
            (root / f"s{index}.py").write_text(code, encoding="utf-8")
        # A lower CPU priority: on a machine shared with the engine, generation comes first.
        nice = [shutil.which("nice") or "nice", "-n", "10"] if shutil.which("nice") else []
        command = [
            *nice,
            find_ruff_bin(),
            "check",
            "--isolated",  # ignore any pyproject.toml/ruff.toml around the temp dir
            "--no-cache",
            "--output-format=json",
            "--exit-zero",
            f"--select={','.join(config.selected)}",
            str(root),
        ]
        completed = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=config.timeout_s,
            check=False,
        )
        if completed.returncode != 0:
            raise RuntimeError(f"ruff failed ({completed.returncode}): {completed.stderr[-2000:]}")
        found: dict[int, list[LintMessage]] = {}
        for item in json.loads(completed.stdout or "[]"):
            index = int(Path(item["filename"]).stem[1:])
            location = item.get("location") or {}
            found.setdefault(index, []).append(
                LintMessage(
                    code=item.get("code") or "syntax",
                    line=location.get("row", 0),
                    column=location.get("column", 0),
                    message=item["message"],
                )
            )
        return found
