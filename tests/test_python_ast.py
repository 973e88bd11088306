"""Parsing Python in threads: CPython 3.11's AST constructor counts its recursion depth per
interpreter, so parses in two threads at once can fail with a SystemError on sound source
(a check thread would then fail a sound sample). synth parses one at a time."""

from __future__ import annotations

import gc
import re
import sys
import threading
import time
from pathlib import Path

import synth
from synth.python_ast import parse_python

SOURCE = "\n".join(
    f"def f{i}(x):\n    return [[x + {i} for _ in range(3)] for _ in range(2)]" for i in range(300)
)


class Garbage:
    """A cycle whose finalizer runs Python code: collected in the middle of a parse, it
    lets another thread run there (what sets the race off)."""

    def __init__(self) -> None:
        self.me = self

    def __del__(self) -> None:
        time.sleep(0)


def test_parses_in_many_threads_at_once_all_succeed():
    interval, thresholds = sys.getswitchinterval(), gc.get_threshold()
    sys.setswitchinterval(1e-6)
    gc.set_threshold(50, 1, 1)
    failures: list[str] = []

    def parse_often() -> None:
        for _ in range(100):
            garbage = [Garbage() for _ in range(20)]
            del garbage
            try:
                parse_python(SOURCE)
            except SystemError as exc:  # the race, had the parses overlapped
                failures.append(str(exc))
                return

    try:
        threads = [threading.Thread(target=parse_often) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
        gc.set_threshold(*thresholds)
    assert failures == []


def test_synth_parses_python_only_through_parse_python():
    package = Path(synth.__file__).parent
    direct = [
        f"{path.relative_to(package)}:{number}"
        for path in package.rglob("*.py")
        if path.name != "python_ast.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if re.search(r"\bast\.parse\(", line)
    ]
    assert direct == []
