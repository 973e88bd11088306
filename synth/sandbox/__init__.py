"""Isolated execution of untrusted code: backends behind the `Sandbox` protocol.

Backends are a plain dict of lazily imported classes; `get_sandbox("bubblewrap")` returns
one. Languages say which file a program goes in and how it runs.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

from synth.errors import SynthError
from synth.records import ExecResult
from synth.sandbox.base import Limits, Sandbox

BACKENDS = {"bubblewrap": "synth.sandbox.bubblewrap:BubblewrapSandbox"}


@dataclass(frozen=True)
class Language:
    name: str
    filename: str
    command: tuple[str, ...]


LANGUAGES = {"python": Language(name="python", filename="main.py", command=("python3", "main.py"))}


def get_sandbox(kind: str = "bubblewrap", **options: object) -> Sandbox:
    if kind not in BACKENDS:
        raise SynthError(
            "--sandbox", f"unknown backend {kind!r}", f"choose one of: {', '.join(BACKENDS)}"
        )
    module, _, cls = BACKENDS[kind].partition(":")
    return getattr(importlib.import_module(module), cls)(**options)


def run_source(sandbox: Sandbox, language: str, source: str, limits: Limits) -> ExecResult:
    """Run a program's source as the language's main program."""
    if language not in LANGUAGES:
        raise SynthError(
            "--language", f"unknown language {language!r}", f"choose one of: {', '.join(LANGUAGES)}"
        )
    spec = LANGUAGES[language]
    return sandbox.run({spec.filename: source}, list(spec.command), limits)


def run_file(sandbox: Sandbox, language: str, path: Path, limits: Limits) -> ExecResult:
    """Run one source file as the language's main program."""
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SynthError(str(path), f"cannot read the program: {exc}") from None
    return run_source(sandbox, language, source, limits)


def bubblewrap_works() -> tuple[bool, str]:
    """Whether a trivial program runs in bubblewrap here, and what went wrong if not."""
    try:
        result = get_sandbox("bubblewrap").run(
            {"main.py": "print(42)"}, ["python3", "main.py"], Limits(timeout_s=10)
        )
    except SynthError as exc:
        return False, str(exc)
    return result.status == "ok" and result.stdout == "42\n", result.stderr
