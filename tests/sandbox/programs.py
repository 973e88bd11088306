"""One small problem (`add`) in every sandbox language: a right solution, a wrong one, one
that does not compile, and tests written the language's usual way."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Case:
    right: str
    wrong: str  # returns a - b
    broken: str  # a syntax error
    tests: str
    quote: str  # a fragment of the failure the wrong solution must be quoted with


CASES = {
    "python": Case(
        right="def add(a, b):\n    return a + b\n",
        wrong="def add(a, b):\n    return a - b\n",
        broken="def add(a, b)\n    return a + b\n",
        tests="assert add(1, 2) == 3\nassert add(-1, 1) == 0\n",
        quote="assert add(1, 2) == 3",
    ),
    "javascript": Case(
        right="function add(a, b) { return a + b; }\n",
        wrong="function add(a, b) { return a - b; }\n",
        broken="function add(a, b) { return a + ; }\n",
        tests="const assert = require('assert');\nassert.strictEqual(add(1, 2), 3);\n",
        quote="AssertionError",
    ),
    "cpp": Case(
        right="int add(int a, int b) { return a + b; }\n",
        wrong="int add(int a, int b) { return a - b; }\n",
        broken="int add(int a, int b) { return a + b }\n",
        tests="#include <cassert>\nint main() { assert(add(1, 2) == 3); return 0; }\n",
        quote="Assertion `add(1, 2) == 3' failed",
    ),
    "rust": Case(
        right="fn add(a: i32, b: i32) -> i32 { a + b }\n",
        wrong="fn add(a: i32, b: i32) -> i32 { a - b }\n",
        broken="fn add(a: i32, b: i32) -> i32 { a + }\n",
        tests="fn main() { assert_eq!(add(1, 2), 3); }\n",
        quote="panicked at",
    ),
    "go": Case(
        right="package main\n\nfunc add(a, b int) int { return a + b }\n",
        wrong="package main\n\nfunc add(a, b int) int { return a - b }\n",
        broken="package main\n\nfunc add(a, b int) int { return a + }\n",
        tests='package main\n\nfunc main() {\n\tif add(1, 2) != 3 {\n\t\tpanic("add(1, 2) != 3")\n\t}\n}\n',
        quote="panic: add(1, 2) != 3",
    ),
    "java": Case(
        right="class Solution {\n    static int add(int a, int b) { return a + b; }\n}\n",
        wrong="class Solution {\n    static int add(int a, int b) { return a - b; }\n}\n",
        broken="class Solution {\n    static int add(int a, int b) { return a + b }\n}\n",
        tests=(
            "public class Main {\n    public static void main(String[] args) {\n"
            '        assert Solution.add(1, 2) == 3 : "add(1, 2) should be 3";\n    }\n}\n'
        ),
        quote="AssertionError: add(1, 2) should be 3",
    ),
    "php": Case(
        right="<?php\nfunction add($a, $b) { return $a + $b; }\n",
        wrong="<?php\nfunction add($a, $b) { return $a - $b; }\n",
        broken="<?php\nfunction add($a, $b) { return $a + ; }\n",
        tests="<?php\nassert(add(1, 2) === 3);\n",
        quote="assert(add(1, 2) === 3)",
    ),
}
