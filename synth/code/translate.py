"""Translate verified Python records, with their tests, into the other sandbox languages.

For each verified Python record and target language, the model translates the solution
and the tests (prompts/translate/). A translation is kept when

1. it has both blocks (solution, tests) in the target language;
2. it compiles (or passes the syntax check) and its tests pass in that language's sandbox
   (code/polyglot.py);
3. its tests are faithful: they FAIL a deliberately broken translation, the solution with
   the entry function's body replaced by a default value (code/stubs.py).

The loop that asks, checks and corrects is synth.pipelines.translate; this module holds
what it is made of (layouts, prompts, parsing, the check of one translation).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from markdown_it import MarkdownIt

from synth.code.feedback import feedback_text
from synth.code.polyglot import verify_program
from synth.code.stubs import stub_translation
from synth.code.verify import unfinished
from synth.engines.base import ChatRequest, Completion, Message, assistant, user
from synth.prompts import render
from synth.records import (
    Problem,
    Sample,
    SourceCode,
    Verdict,
    stable_id,
)
from synth.sandbox.base import Limits, Sandbox


@dataclass(frozen=True)
class Layout:
    """How a translation into one language is laid out (the prompt states it)."""

    title: str
    tag: str
    aliases: tuple[str, ...]
    solution: str
    tests: str


LAYOUTS = {
    "javascript": Layout(
        "JavaScript (Node.js)",
        "javascript",
        ("javascript", "js", "node", "nodejs"),
        "Define `function NAME(...)` at the top level; no exports, no input reading.",
        "The tests follow the solution in the same file: `const assert = require('assert');` "
        "then one `assert.deepStrictEqual(NAME(...), expected)` per Python assert.",
    ),
    "cpp": Layout(
        "C++17",
        "cpp",
        ("cpp", "c++", "cc", "cxx"),
        "Define the function `NAME` at namespace scope with the #includes it needs; no main.",
        "The tests follow the solution in the same file: `#include <cassert>` and an "
        "`int main()` with one `assert(NAME(...) == expected);` per Python assert.",
    ),
    "rust": Layout(
        "Rust (edition 2021, no crates)",
        "rust",
        ("rust", "rs"),
        "Define `fn NAME(...)` at the top level; no main.",
        "The tests follow the solution in the same file: a `fn main()` with one "
        "`assert_eq!(NAME(...), expected);` per Python assert.",
    ),
    "go": Layout(
        "Go",
        "go",
        ("go", "golang"),
        "The solution file starts with `package main` and defines `func NAME(...)`; no main.",
        "The tests are a second file, also `package main`, whose `func main()` checks each "
        "case with `if got := NAME(...); !reflect.DeepEqual(got, expected) { panic(...) }`.",
    ),
    "java": Layout(
        "Java 17",
        "java",
        ("java",),
        "Put `static` method `NAME` in a non-public `class Solution` (with its imports).",
        "The tests are a second file: `public class Main` whose `main` checks each case with "
        '`if (!(...)) throw new AssertionError("...");` calling `Solution.NAME(...)`.',
    ),
    "php": Layout(
        "PHP 8",
        "php",
        ("php",),
        "Start with `<?php` and define `function NAME(...)`; no output, no input reading.",
        "The tests follow the solution (a second `<?php` tag may open them): one "
        "`assert(NAME(...) === expected);` per Python assert.",
    ),
}


# --- requests and parsing ---------------------------------------------------------------


def translation_prompt(problem: Problem, source: SourceCode, language: str) -> str:
    return render(
        "translate/translate.j2", problem=problem, source=source, layout=LAYOUTS[language]
    )


def translation_request(
    problem: Problem,
    source: SourceCode,
    language: str,
    history: Sequence[Sample],
    feedback: Sequence[str],
    *,
    n: int,
    temperature: float,
    max_tokens: int,
    seed: int,
) -> ChatRequest:
    """The first request, or (with history) the conversation so far and a request to fix."""
    messages = [user(translation_prompt(problem, source, language))]
    for sample, text in zip(history, feedback, strict=True):
        messages.append(assistant(sample.text))
        messages.append(
            user(render("translate/repair.j2", feedback=text, layout=LAYOUTS[language]))
        )
    return ChatRequest(
        messages=tuple(messages),
        n=n,
        temperature=temperature,
        max_tokens=max_tokens,
        seed=seed,
        tag="translate" if not history else "translate_repair",
    )


@cache
def _markdown() -> MarkdownIt:
    return MarkdownIt("commonmark")


def split_translation(text: str, language: str) -> tuple[str, str] | None:
    """(solution, tests): the first two fenced blocks tagged with the language (untagged
    blocks count when no tagged ones are there)."""
    aliases = LAYOUTS[language].aliases
    tagged, untagged = [], []
    for token in _markdown().parse(text):
        if token.type != "fence":
            continue
        tag = token.info.strip().split(maxsplit=1)[0].lower() if token.info.strip() else ""
        (tagged if tag in aliases else untagged if not tag else []).append(token.content)
    blocks = tagged if len(tagged) >= 2 else untagged
    return (blocks[0], blocks[1]) if len(blocks) >= 2 else None


def to_sample(
    completion: Completion,
    problem_id: str,
    language: str,
    *,
    trajectory: int,
    round: int,
    prompt: tuple[Message, ...] = (),
) -> Sample:
    parts = (
        split_translation(completion.text, language) if completion.finish_reason == "stop" else None
    )
    return Sample(
        id=stable_id("sample", problem_id, trajectory, round),
        problem_id=problem_id,
        trajectory=trajectory,
        round=round,
        text=completion.text,
        code=parts[0] if parts else None,
        tests=parts[1] if parts else None,
        finish_reason=completion.finish_reason,
        prompt_tokens=completion.prompt_tokens,
        completion_tokens=completion.completion_tokens,
        prompt=prompt,
    )


# --- checks -----------------------------------------------------------------------------


def check_translation(
    sample: Sample, language: str, entry_point: str, sandbox: Sandbox, limits: Limits
) -> Verdict:
    """Compile and test the translation, then make sure its tests fail the stub."""
    vid = stable_id("verdict", sample.id)
    early = unfinished(sample)
    if early is not None:
        return early
    if sample.code is None or sample.tests is None:
        return Verdict(
            id=vid,
            passed=False,
            stage="extract",
            reason="no_code",
            detail=f"not two {LAYOUTS[language].tag} blocks (solution, tests)",
        )
    verdict = verify_program(language, sample.code, sample.tests, sandbox, limits)
    verdict = verdict.model_copy(update={"id": vid})
    if not verdict.passed:
        return verdict
    stub = stub_translation(language, sample.code, entry_point)
    if stub is None:
        return verdict.model_copy(
            update={
                "passed": False,
                "stage": "tests",
                "reason": "no_entry_point",
                "detail": f"the solution defines no function `{entry_point}` (keep the name)",
            }
        )
    against_stub = verify_program(language, stub, sample.tests, sandbox, limits)
    if against_stub.passed:
        return verdict.model_copy(
            update={
                "passed": False,
                "stage": "tests",
                "reason": "tests_vacuous",
                "detail": f"the tests also pass when `{entry_point}` returns a default value: "
                "they do not check its results",
            }
        )
    if against_stub.reason not in STUB_FAILURES:
        # The stub did not fail a test: it did not compile, or the program left (an early
        # exit, a sandbox error) before any test could judge it. Neither shows faithfulness.
        return verdict.model_copy(
            update={
                "passed": False,
                "stage": "tests",
                "reason": "stub_unusable",
                "detail": "the default-value stub of the solution gave no test failure to "
                f"show the tests' faithfulness ({against_stub.reason}): "
                + against_stub.detail[:300],
            }
        )
    return verdict.model_copy(
        update={"detail": verdict.detail + "; they fail a default-value stub"}
    )


# How a run against the stub may end for the tests to count as failing it: a failed
# assert, panic or exception, or the stub sending the tests past a limit. Not an early exit
# (a zero exit without the driver's proof is no test result), not a compile error.
STUB_FAILURES = ("tests_failed", "timeout", "memory", "output_limit")


def translation_feedback(verdict: Verdict) -> str:
    if verdict.reason == "no_code":
        return f"Your answer does not hold the two code blocks: {verdict.detail}."
    if verdict.stage == "compile":
        return f"The code does not compile:\n{verdict.detail}"
    if verdict.reason in ("tests_vacuous", "no_entry_point"):
        return verdict.detail[0].upper() + verdict.detail[1:] + "."
    return feedback_text(verdict)


def translation_record_id(source_id: str, language: str) -> str:
    return stable_id("translate", source_id, language)
