"""The one error type for mistakes a user can cause and fix.

Its message names where the problem is (a file, a field, a flag), what is wrong and, when
we know it, the fix. The CLI prints it without a traceback and exits with status 2;
tracebacks are kept for bugs.
"""

from __future__ import annotations


class SynthError(Exception):
    def __init__(self, where: str, problem: str, fix: str = "") -> None:
        self.where = where
        self.problem = problem
        self.fix = fix
        message = f"{where}: {problem}"
        if fix:
            message += f" ({fix})"
        super().__init__(message)

    def __reduce__(self):  # raised in a worker process, re-raised whole in its parent
        return type(self), (self.where, self.problem, self.fix)
