"""The languages the sandboxes run: how a solution and its tests become one program.

Each language says which files the program is made of (the language's usual way: one file
with the solution first and the tests after, or two files of one package for Go and
Java), how it compiles (once per solution, into a binary the tests run as) and how it runs.
The same table serves both backends; a backend that lacks a toolchain says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from synth.errors import SynthError


@dataclass(frozen=True)
class Language:
    name: str
    extension: str
    run: tuple[str, ...]
    files: tuple[str, ...] = ()  # (solution file, tests file) when the program is two files
    main: str = ""  # the one file of a one-file program
    compile: tuple[str, ...] | None = None
    # Per-process address-space limits break runtimes that reserve large virtual ranges
    # up front (the JVM, V8, Go); those are held by the container's memory limit instead.
    address_space_limit: bool = True
    # The container needs at least this much memory whatever the run's limit (compilers).
    min_memory_mb: int = 256
    env: dict[str, str] = field(default_factory=dict)
    preload: tuple[str, ...] = ()  # modules the Python fork server imports once

    def command(self, memory_mb: int) -> list[str]:
        """The run command, with the runtime's own heap limit where it has one."""
        return [part.replace("{memory_mb}", str(memory_mb)) for part in self.run]

    @property
    def image(self) -> str:
        return f"synth-sandbox-{self.name}"

    def program(self, solution: str, tests: str) -> dict[str, str]:
        """The files of the program that runs `tests` against `solution`; a program that is
        one file alone is `program("", source)`."""
        if self.files:
            first, second = self.files
            if not solution.strip() and self.name == "go":
                solution = "package main\n"  # an empty file is not a Go source file
            return {first: solution, second: tests}
        if not solution.strip():
            return {self.main: tests}
        if self.name == "php":
            tests = _PHP_OPEN_TAG.sub("", tests, count=1)
        return {self.main: solution.rstrip("\n") + "\n\n" + tests}


_PHP_OPEN_TAG = re.compile(r"\A\s*<\?php\b")

LANGUAGES: dict[str, Language] = {
    language.name: language
    for language in (
        Language(
            name="python",
            extension="py",
            main="main.py",
            run=("python3", "main.py"),
            preload=("json", "signal", "traceback", "hypothesis", "numpy", "sympy"),
        ),
        Language(
            name="javascript",
            extension="js",
            main="main.js",
            compile=("node", "--check", "main.js"),  # a syntax error is a compile error
            # V8 grows its heap far past a container's limit unless told
            run=("node", "--max-old-space-size={memory_mb}", "main.js"),
            address_space_limit=False,
        ),
        Language(
            name="cpp",
            extension="cpp",
            main="main.cpp",
            compile=("g++", "-std=c++17", "-O2", "-pipe", "-o", "main", "main.cpp"),
            run=("./main",),
            min_memory_mb=512,
        ),
        Language(
            name="rust",
            extension="rs",
            main="main.rs",
            compile=("rustc", "--edition", "2021", "-O", "-o", "main", "main.rs"),
            run=("./main",),
            min_memory_mb=768,
        ),
        Language(
            name="go",
            extension="go",
            files=("solution.go", "main.go"),
            compile=("go", "build", "-o", "main", "solution.go", "main.go"),
            run=("./main",),
            address_space_limit=False,
            min_memory_mb=768,
            env={
                "GOCACHE": "{workdir}/.gocache",
                "GOPATH": "{workdir}/.gopath",
                "GO111MODULE": "off",
                "GOTOOLCHAIN": "local",
            },
        ),
        Language(
            name="java",
            extension="java",
            files=("Solution.java", "Main.java"),
            compile=("javac", "-encoding", "UTF-8", "-d", ".", "Solution.java", "Main.java"),
            # -ea: Java ignores `assert` unless asked. The serial GC and the quick (C1) JIT
            # keep the JVM's own threads, memory and start-up small in a limited container.
            run=(
                "java",
                "-ea",
                "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1",
                "-Xss16m",
                "-Xmx{memory_mb}m",
                "-cp",
                ".",
                "Main",
            ),
            address_space_limit=False,
            min_memory_mb=768,
        ),
        Language(
            name="php",
            extension="php",
            main="main.php",
            compile=("php", "-l", "main.php"),  # a syntax error is a compile error
            # Debian's php.ini compiles `assert` out (zend.assertions=-1); tests need it.
            run=(
                "php",
                "-d",
                "zend.assertions=1",
                "-d",
                "assert.exception=1",
                "-d",
                "display_errors=stderr",
                "main.php",
            ),
        ),
    )
}


def get_language(name: str, flag: str = "--language") -> Language:
    if name not in LANGUAGES:
        raise SynthError(
            flag, f"unknown language {name!r}", f"choose one of: {', '.join(LANGUAGES)}"
        )
    return LANGUAGES[name]
