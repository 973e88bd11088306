"""Python source parsed to an AST, safely from any thread.

CPython 3.11 keeps the AST constructor's recursion depth per interpreter, not per thread:
two threads turning source into `ast` nodes at once can interleave (the constructor may
switch threads while it allocates), and one of them fails with "SystemError: AST
constructor recursion depth mismatch" although its source is fine (python/cpython#106905
and its reports). synth parses completions, tests and harness code in check threads, so a
parse that fails that way would mark a sound sample as failed; every parse in synth goes
through `parse_python`, one at a time.
"""

from __future__ import annotations

import ast
import threading

_ONE_AT_A_TIME = threading.Lock()


def parse_python(source: str, mode: str = "exec") -> ast.AST:
    """`ast.parse(source, mode=mode)`, never concurrently with another parse here."""
    with _ONE_AT_A_TIME:
        return ast.parse(source, mode=mode)
