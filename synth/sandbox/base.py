"""The sandbox protocol: files + command + limits in, an `ExecResult` out.

A backend runs one untrusted program per call in a fresh private working directory that
holds `files`, with no network and the limits below (compiled first when a compile command
is given: once, in the same directory, under `compile_timeout_s`), and classifies the
outcome:

- ok            exit code 0
- failed        a non-zero exit code (a failed assert, an exception)
- compile_error the compile step failed (stderr holds the compiler's messages)
- timeout       the wall-clock or CPU-time limit was reached
- memory        the memory limit was reached
- output_limit  stdout + stderr exceeded `max_output_bytes` (the program was stopped)
- error         the sandbox itself could not run the program
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import PurePosixPath
from typing import Protocol

from pydantic import Field

from synth.records import ExecResult, Frozen


class Limits(Frozen):
    timeout_s: float = Field(10.0, gt=0, description="wall-clock limit")
    cpu_s: float | None = Field(None, gt=0, description="CPU-time limit; defaults to timeout_s")
    memory_mb: int = Field(
        1024, ge=16, description="address space of each process; Docker: also the container's"
    )
    max_processes: int = Field(64, ge=1)
    max_output_bytes: int = Field(1 << 20, ge=1024, description="stdout + stderr, bytes")
    max_file_mb: int = Field(64, ge=1, description="largest file a program may write")
    disk_mb: int = Field(256, ge=1, description="size of the writable work dir, and of /tmp")
    compile_timeout_s: float = Field(60.0, gt=0, description="wall-clock limit of a compile")

    def for_compile(self) -> Limits:
        """The limits of a compile step: its own time budget, the run's other limits."""
        return self.model_copy(
            update={"timeout_s": self.compile_timeout_s, "cpu_s": self.compile_timeout_s}
        )


class Sandbox(Protocol):
    name: str
    auto_reason: str  # why `get_sandbox("auto")` chose this backend ("" when named)

    def describe(self) -> str:
        """The backend in words, for logs and summaries."""
        ...

    def run(
        self,
        files: Mapping[str, str],
        command: Sequence[str],
        limits: Limits = Limits(),
        stdin: str = "",
        *,
        compile: Sequence[str] | None = None,
        language: str = "python",
    ) -> ExecResult: ...

    def close(self) -> None: ...


def check_file_names(files: Mapping[str, str]) -> None:
    """Refuse file names that would land outside a run's work directory."""
    for name in files:
        path = PurePosixPath(name)
        if path.is_absolute() or ".." in path.parts or not path.parts:
            raise ValueError(
                f"sandbox file names must be relative paths inside the work dir: {name!r}"
            )
