"""Code tasks: the question asked, the program taken from the answer, the benchmark's tests.

The question is Qwen2.5-Coder's own instruct HumanEval prompt (qwencoder-eval, eval_plus):
that system message, and the task's prompt in a ```python block. Qwen's harness also
starts the assistant's turn with the fence and stops at the closing one; a chat request
cannot start the answer, so here the model writes its own block and the project's
extraction (synth.code.extract) finds it.

The model's block is sanitized as Qwen's harness does it (EvalPlus's `sanitize`, run on every
answer before the published scores were computed): its imports, the entry point and the
definitions the entry point needs are kept; the rest of the module (example calls and their
prints, a `__main__` block), which the tests never asked for, is dropped, so an example
that crashes at import does not fail a right function. It then gets what the benchmark's
prompt provides and the block leaves out: a block that never defines the entry
point is a body or a fragment, so it runs after the prompt (the original HumanEval
harness's prompt + completion); a block that does define it still gets the prompt's
imports (`from typing import List`) and the prompt's helper functions it does not define
(HumanEval/38's `encode_cyclic`, which the tests call).

Judging: the benchmark's test with `check(<entry_point>)` appended runs in synth's sandbox
through synth's harness, with every guard but one: the tampering rule `dynamic` is off,
since the benchmark scores by its tests and its own solutions use eval() (HumanEval/160).
The harness must still prove the tests ran to their end. Lint blocks only syntax errors:
synth's other blocking rules (a mutable default argument, ...) are a bar for training
data, and a benchmark's score counts a program that passes its tests. A completion cut at
max_tokens is judged on the code it holds, as a benchmark harness would.

synth.rewards judges RL completions with the same steps (`program_from_text`,
`judge_program`, `reported_reason`), with its own tests and lint settings.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence

from synth.code.execute import run_tests
from synth.code.extract import defines, extract_code
from synth.code.static import LintConfig, StaticReport, check_batch
from synth.code.tampering import RULES
from synth.code.verify import verdict_before_tests, verdict_from_run
from synth.engines.base import Completion, Message, system, user
from synth.evals.benchmarks import CodeTask
from synth.evals.results import SampleResult
from synth.prompts import render
from synth.python_ast import parse_python
from synth.records import Sample, TestCase, TestSuite, Verdict, stable_id
from synth.sandbox.base import Limits, Sandbox

EVAL_LINT = LintConfig(
    selected=("E9",), blocking=("E9",), tampering=tuple(r for r in RULES if r != "dynamic")
)
# the sandbox's wall clock over the tests' own alarm: the interpreter's start and the harness
SANDBOX_GRACE_S = 5.0
MAX_DETAIL_CHARS = 1000


def code_messages(task: CodeTask) -> tuple[Message, ...]:
    """The conversation asking for `task`'s function."""
    return (
        system(render("eval/code_system.j2").strip()),
        user(render("eval/code_user.j2", prompt=task.prompt)),
    )


def program_from_completion(task: CodeTask, text: str) -> str | None:
    """The program to test: the completion's code with what the prompt provides; None
    when the completion holds no code."""
    return program_from_text(text, task.entry_point, task.prompt)


def program_from_text(
    text: str, entry_point: str, prompt: str = "", keep: tuple[str, ...] = ()
) -> str | None:
    """`program_from_completion` on a bare answer: `entry_point` may be "" (the last block
    that parses, as written) and `prompt` "" (nothing provided); `keep`: more names the
    sanitizing keeps with the entry point (the functions the tests call)."""
    code = extract_code(text, entry_point or None).code
    if code is None:
        return None
    if not entry_point or not defines(code, entry_point):
        return prompt + code
    code = sanitized(code, entry_point, also=_defined_functions(prompt) + tuple(keep))
    missing = _prompt_context(prompt, code)
    return "\n".join(missing) + "\n\n\n" + code if missing else code


def sanitized(code: str, entry_point: str, also: tuple[str, ...] = ()) -> str:
    """`code` reduced to its imports, the top-level function `entry_point` (and the names in
    `also`: the prompt's helpers, which the tests may call) and the top-level definitions
    (functions, classes, assigned names) they need, in their order; unchanged when nothing
    is dropped, when it does not parse, or when it defines `entry_point` only inside another
    statement."""
    try:
        tree = parse_python(code)
    except (SyntaxError, ValueError):
        return code
    defined: dict[str, list[ast.stmt]] = {}
    for node in tree.body:
        for name in _defined_names(node):
            defined.setdefault(name, []).append(node)
    if entry_point not in defined:
        return code
    needed: set[int] = set()
    todo = [entry_point, *also]
    while todo:
        for node in defined.get(todo.pop(), []):
            if id(node) not in needed:
                needed.add(id(node))
                todo += [n.id for n in ast.walk(node) if isinstance(n, ast.Name)]
    kept = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom)) or id(n) in needed]
    if len(kept) == len(tree.body):
        return code
    return "\n\n".join(_source(code, node) for node in kept) + "\n"


def _defined_functions(prompt: str) -> tuple[str, ...]:
    try:
        tree = parse_python(prompt)
    except (SyntaxError, ValueError):
        return ()
    return tuple(n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef)))


def _defined_names(node: ast.stmt) -> list[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, ast.Assign):
        return [n.id for t in node.targets for n in ast.walk(t) if isinstance(n, ast.Name)]
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return [node.target.id]
    return []


def _source(code: str, node: ast.stmt) -> str:
    """A top-level statement's lines as written, from its first decorator."""
    decorators = getattr(node, "decorator_list", None)
    first = decorators[0].lineno if decorators else node.lineno
    return "\n".join(code.splitlines()[first - 1 : node.end_lineno])


def _prompt_context(prompt: str, code: str) -> list[str]:
    """The prompt's top-level imports and helper functions that `code` lacks, in order."""
    try:
        tree = parse_python(prompt)
    except SyntaxError:
        return []
    code_lines = {line.strip() for line in code.splitlines()}
    context = []
    for node in tree.body:
        source = ast.get_source_segment(prompt, node) or ""
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            if source.strip() not in code_lines:
                context.append(source)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            # the stub of the function to write is the model's to define, not the prompt's
            if not defines(code, node.name) and _has_body(node):
                context.append(source)
    return context


def _has_body(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """More than a docstring: a helper the prompt implements, not a stub for the model."""
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    return bool(body)


def check_source(task: CodeTask) -> str:
    """The benchmark's tests, called on the entry point."""
    return task.test + f"\n\ncheck({task.entry_point})\n"


def judge_code(
    task: CodeTask, completions: Sequence[Completion], sandbox: Sandbox, timeout_s: float
) -> list[SampleResult]:
    """One result per completion, in order: its program run against the task's tests."""
    programs = [
        None if c.finish_reason == "error" else program_from_completion(task, c.text)
        for c in completions
    ]
    reports = iter(check_batch([p for p in programs if p is not None], EVAL_LINT))
    suite = TestSuite(
        problem_id=task.task_id, cases=(TestCase(name="check", source=check_source(task)),)
    )
    results = []
    for index, (completion, program) in enumerate(zip(completions, programs, strict=True)):
        if completion.finish_reason == "error":
            results.append(_result(completion, None, "extract", "engine_error", completion.error))
            continue
        report = next(reports) if program is not None else None
        # finish_reason "stop" whatever the engine said: cut completions are judged too
        sample = Sample(
            id=stable_id("eval", task.task_id, index),
            problem_id=task.task_id,
            trajectory=index,
            round=1,
            text=completion.text,
            code=program,
        )
        verdict = judge_program(sample, report, suite, sandbox, timeout_s)
        results.append(_from_verdict(completion, program, verdict))
    return results


def judge_program(
    sample: Sample,
    report: StaticReport | None,
    suite: TestSuite,
    sandbox: Sandbox,
    timeout_s: float,
) -> Verdict:
    """The verdict on `sample.code`: its static report's, else its run against `suite`,
    each test stopped at `timeout_s` and the whole run at `timeout_s + SANDBOX_GRACE_S`."""
    verdict = verdict_before_tests(sample, report)
    if verdict is not None:
        return verdict
    limits = Limits(timeout_s=timeout_s + SANDBOX_GRACE_S)
    run = run_tests(sandbox, sample.code or "", suite, limits, per_test_timeout_s=timeout_s)
    return verdict_from_run(sample, suite, run, report)


def reported_reason(verdict: Verdict) -> tuple[str, str]:
    """The verdict's reason and detail as a score reports them: a failed test's assert or
    traceback, not "1 of 1 tests failed"; a test its alarm stopped is a timeout."""
    reason, detail = verdict.reason, verdict.detail
    failing = [t for t in verdict.tests if not t.passed]
    if verdict.reason == "tests_failed" and failing:
        detail = failing[0].error
        if detail == "timed out":  # the harness's alarm stopped the tests
            reason = "timeout"
    return reason, detail[-MAX_DETAIL_CHARS:]


def _from_verdict(completion: Completion, program: str | None, verdict: Verdict) -> SampleResult:
    reason, detail = reported_reason(verdict)
    return _result(completion, program, verdict.stage, reason, detail, verdict.passed)


def _result(
    completion: Completion,
    program: str | None,
    stage: str,
    reason: str,
    detail: str,
    passed: bool = False,
) -> SampleResult:
    return SampleResult(
        passed=passed,
        stage=stage,
        reason=reason,
        detail=detail[-MAX_DETAIL_CHARS:],
        finish_reason=completion.finish_reason,
        completion_tokens=completion.completion_tokens,
        code=program,
    )
