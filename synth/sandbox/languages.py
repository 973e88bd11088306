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


# --- the test driver: proof that the tests ran to their end ------------------------------
#
# A test program's verdict cannot be "it exited 0": a solution can exit 0 from inside the
# function under test, or before the tests' main runs (a C++ static initializer, a Go
# `init`, a Java static block, top-level code in JS/PHP). So the tests' entry point is
# wrapped by synth's own driver, which reads a per-run secret from stdin before any model
# code runs (stdin is then empty: nothing else can read it; solutions and tests reading
# input are refused statically, code/tampering.py), calls the tests' entry point, and
# prints the secret only after it returns. The host passes a run only with the secret in
# its output (code/polyglot.py), so no exit path of the model's code can produce one.


@dataclass(frozen=True)
class TestProgram:
    """A program that runs `tests` against `solution` under synth's driver."""

    __test__ = False

    files: dict[str, str]
    compile: tuple[str, ...] | None
    command: tuple[str, ...]
    driven: bool  # False when the tests' entry point could not be found (no proof possible)


_PYTHON_DRIVER = """# synth's driver: the secret is read before the program runs, printed after it returns.
def _synth_drive():
    import os
    import runpy
    import sys

    write, secret = os.write, sys.stdin.readline().strip()
    runpy.run_path("program.py", run_name="__main__")
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    write(1, ("\\n" + secret + "\\n").encode())


_synth_drive()
"""
_JS_DRIVER = """'use strict';
// synth's driver: the secret is read before the program loads, printed after it returns.
const synthFs = require('fs');
const synthWrite = synthFs.writeSync;
const synthSecret = synthFs.readFileSync(0, 'utf8').trim();
require('./program.js');
synthWrite(1, '\\n' + synthSecret + '\\n');
"""
_PHP_DRIVER = """<?php
// synth's driver: the secret is read before the program loads, printed after it returns.
$__synth_proof = (function () {
    $secret = trim((string) fgets(STDIN));
    return function () use ($secret) { fwrite(STDOUT, "\\n" . $secret . "\\n"); };
})();
require __DIR__ . '/program.php';
$__synth_proof();
"""
_CPP_DRIVER = """
// synth's driver: the tests' main, renamed, runs between reading the secret and printing it.
// The secret is read by a static initializer of the highest user priority: before any
// initializer of the solution's (which would find stdin empty), with C stdio (iostreams
// are not initialized yet at that priority).
#include <cstdio>
#include <iostream>
#include <string>
namespace {
std::string& synth_secret() { static std::string secret; return secret; }
struct SynthReader {
    SynthReader() {
        char buffer[256];
        std::size_t got;
        while ((got = std::fread(buffer, 1, sizeof buffer, stdin)) > 0)
            synth_secret().append(buffer, got);
        while (!synth_secret().empty() && (synth_secret().back() == '\\n'))
            synth_secret().pop_back();
    }
};
SynthReader synth_reader __attribute__((init_priority(101)));
int synth_argc;
char** synth_argv;
int synth_invoke(int (*tests)()) { return tests(); }
int synth_invoke(int (*tests)(int, char**)) { return tests(synth_argc, synth_argv); }
}  // namespace
int main(int argc, char** argv) {
    synth_argc = argc;
    synth_argv = argv;
    int code = synth_invoke(synth_tests_main);
    if (code != 0) return code;
    std::cout.flush();
    std::fflush(stdout);
    std::printf("\\n%s\\n", synth_secret().c_str());
    std::fflush(stdout);
    return 0;
}
"""
_RUST_DRIVER = """
// synth's driver: the tests' main, renamed, runs between reading the secret and printing it.
trait SynthOutcome { fn synth_ok(self) -> bool; }
impl SynthOutcome for () { fn synth_ok(self) -> bool { true } }
impl<E: std::fmt::Debug> SynthOutcome for Result<(), E> {
    fn synth_ok(self) -> bool {
        match self { Ok(()) => true, Err(e) => { eprintln!("Error: {:?}", e); false } }
    }
}
fn main() {
    let mut synth_secret = String::new();
    let _ = std::io::Read::read_to_string(&mut std::io::stdin(), &mut synth_secret);
    if !synth_tests_main().synth_ok() { std::process::exit(1); }
    use std::io::Write;
    let mut out = std::io::stdout();
    let _ = out.flush();
    let _ = write!(out, "\\n{}\\n", synth_secret.trim());
    let _ = out.flush();
}
"""
_GO_DRIVER = """package main

// synth's driver: the tests' main, renamed, runs between reading the secret and printing it.
// The secret is a package variable of the first file: initialized before the solution's
// variables and init functions run (they would find stdin empty).

import (
\t"io"
\t"os"
\t"strings"
)

var synthSecret = synthReadSecret()

func synthReadSecret() string {
\tdata, _ := io.ReadAll(os.Stdin)
\treturn strings.TrimSpace(string(data))
}

func main() {
\tsynthTestsMain()
\tos.Stdout.WriteString("\\n" + synthSecret + "\\n")
}
"""
_JAVA_DRIVER = """// synth's driver: the tests' main runs between reading the secret and printing it.
public class SynthDriver {
    public static void main(String[] args) throws Throwable {
        String secret = new String(System.in.readAllBytes(), "UTF-8").trim();
        Main.main(args);
        System.out.flush();
        System.out.print("\\n" + secret + "\\n");
        System.out.flush();
    }
}
"""
_CPP_MAIN = re.compile(r"\bint\s+main\s*\(")
_RUST_MAIN = re.compile(r"\bfn\s+main\s*\(")
_GO_MAIN = re.compile(r"\bfunc\s+main\s*\(")


def test_program(language: Language, solution: str, tests: str, memory_mb: int) -> TestProgram:
    """`tests` against `solution` in `language`, wrapped by synth's driver."""
    from synth.code.stubs import function_span  # the brace matcher the stubs use

    name, command = language.name, tuple(language.command(memory_mb))
    plain = language.program(solution, tests)
    if name == "python":
        files = {"program.py": plain[language.main], language.main: _PYTHON_DRIVER}
        return TestProgram(files, language.compile, command, driven=True)
    if name in ("javascript", "php"):
        program = f"program.{language.extension}"
        body = plain[language.main]
        driver = _JS_DRIVER if name == "javascript" else _PHP_DRIVER
        check = tuple(program if part == language.main else part for part in language.compile)
        return TestProgram({program: body, language.main: driver}, check, command, driven=True)
    if name == "java":
        files = dict(plain, **{"SynthDriver.java": _JAVA_DRIVER})
        compile = (*(language.compile or ()), "SynthDriver.java")
        command = tuple("SynthDriver" if part == "Main" else part for part in command)
        return TestProgram(files, compile, command, driven=True)
    pattern = {"cpp": _CPP_MAIN, "rust": _RUST_MAIN, "go": _GO_MAIN}[name]
    renamed = {"cpp": "int synth_tests_main(", "rust": "fn synth_tests_main(",
               "go": "func synthTestsMain("}[name]  # fmt: skip
    found = function_span(name, tests, pattern)
    if found is None:
        return TestProgram(plain, language.compile, command, driven=False)
    header_start, header_end, close = found.match.start(), found.match.end(), found.close_brace
    ending = "\nreturn 0;\n" if name == "cpp" else ""  # main's implicit return 0 is main's alone
    driven_tests = tests[:header_start] + renamed + tests[header_end:close] + ending + tests[close:]
    if name == "go":
        files = dict(language.program(solution, driven_tests), **{"driver.go": _GO_DRIVER})
        compile = (*language.compile[:4], "driver.go", *language.compile[4:])
        return TestProgram(files, compile, command, driven=True)
    files = language.program(
        solution, driven_tests + "\n" + (_CPP_DRIVER if name == "cpp" else _RUST_DRIVER)
    )
    return TestProgram(files, language.compile, command, driven=True)


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
