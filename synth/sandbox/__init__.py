"""Isolated execution of untrusted code: backends behind the `Sandbox` protocol.

Backends are a plain dict of lazily imported classes; `get_sandbox("docker")` returns one,
`get_sandbox("auto")` the best one that works here. Languages (languages.py) say which
files a program is made of and how it compiles and runs.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from synth.errors import SynthError
from synth.records import ExecResult
from synth.sandbox.base import Limits, Sandbox
from synth.sandbox.languages import LANGUAGES, Language, get_language

__all__ = ["LANGUAGES", "Language", "Limits", "Sandbox", "get_sandbox", "run_file", "run_source"]

BACKENDS = {
    "bubblewrap": "synth.sandbox.bubblewrap:BubblewrapSandbox",
    "docker": "synth.sandbox.docker_pool:DockerSandbox",
}
CHOICES = ("auto", *BACKENDS)


def get_sandbox(kind: str = "bubblewrap", **options: object) -> Sandbox:
    """A backend by name; "auto" is Docker when an engine answers and the Python image is
    built, else bubblewrap (`describe()` says which was taken, `auto_reason` why)."""
    if kind == "auto":
        return _auto(**options)
    if kind not in BACKENDS:
        raise SynthError(
            "--sandbox", f"unknown backend {kind!r}", f"choose one of: {', '.join(CHOICES)}"
        )
    module, _, cls = BACKENDS[kind].partition(":")
    return getattr(importlib.import_module(module), cls)(**options)


def _auto(**options: object) -> Sandbox:
    try:
        sandbox = get_sandbox("docker", **options)
        sandbox.image_ready("python")
    except SynthError as exc:
        fallback = get_sandbox("bubblewrap")
        fallback.auto_reason = f"Docker not used: {exc}"
        return fallback
    sandbox.auto_reason = "a Docker engine answered"
    return sandbox


def run_source(sandbox: Sandbox, language: str, source: str, limits: Limits) -> ExecResult:
    """Run a program's source as the language's main program (compiled first if it must be)."""
    spec = get_language(language)
    return sandbox.run(
        spec.program("", source),
        spec.command(limits.memory_mb),
        limits,
        compile=spec.compile,
        language=language,
    )


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
