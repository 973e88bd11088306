"""Checks as records: every kind of verification work, run here or on a verify worker.

- base.py: `Check` (a frozen record with `run`, `split`, `join` and its result's JSON),
  `CheckTools` (the sandbox and answer checkers checks run with);
- code.py: tests against a stub, samples against tests, translations, rebuilt code;
- math.py: reference programs, code runs between steps, majority answers, answer checks.

`CHECKS` names every kind, so a verify worker rebuilds a shipped check from its JSON with
`check_from_json`.
"""

from __future__ import annotations

from typing import Any

from synth.checks.base import Check, CheckTools
from synth.checks.code import RebuildCheck, SampleTestsCheck, StubCheck, TranslationCheck
from synth.checks.math import AnswerCheck, CodeRunCheck, MajorityCheck, ReferenceCheck

CHECKS: dict[str, type[Check]] = {
    cls.model_fields["kind"].default: cls
    for cls in (
        StubCheck,
        SampleTestsCheck,
        TranslationCheck,
        RebuildCheck,
        ReferenceCheck,
        CodeRunCheck,
        MajorityCheck,
        AnswerCheck,
    )
}

__all__ = ["CHECKS", "Check", "CheckTools", "check_from_json"]


def check_from_json(message: dict[str, Any]) -> Check:
    """The check a `check.model_dump(mode="json")` message describes."""
    kind = message.get("kind")
    if kind not in CHECKS:
        raise ValueError(f"unknown check kind {kind!r} (known: {', '.join(CHECKS)})")
    return CHECKS[kind].model_validate(message)
