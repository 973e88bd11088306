"""Step 2: unit tests, written by the model in a separate call, and the guards against bad tests.

Guards, in order:
1. The tests must parse. Top-level `assert` statements and `def test_*` functions are the
   test cases; other top-level statements (imports, helpers) are the setup.
2. Each case must reference the entry point (else it tests nothing of the solution).
3. Each case must FAIL on a trivial stub whose body returns None: a case that passes it is
   vacuous and dropped. The stub run happens in the sandbox, like any other run.
4. Agreement with the solutions (`apply_agreement_rule`): once the first round of samples
   has run, a case that no sample passes is dropped as unconfirmed.
A problem left with fewer than `min_tests` cases is rejected with the reason.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence

from synth.code.execute import TestRun, run_tests
from synth.code.extract import extract_tests
from synth.code.static import syntax_error
from synth.engines.base import ChatRequest, Completion, user
from synth.prompts import render
from synth.records import DroppedTest, Problem, Rejection, TestCase, TestSuite
from synth.sandbox.base import Limits, Sandbox

AGREEMENT_RULE = "keep a test when at least one of the first-round samples passes it"


def tests_request(
    problem: Problem, *, seed: int, min_tests: int = 5, max_tests: int = 10
) -> ChatRequest:
    prompt = render("code/tests.j2", problem=problem, min_tests=min_tests, max_tests=max_tests)
    return ChatRequest(
        messages=(user(prompt),), n=1, temperature=0.2, max_tokens=1536, seed=seed, tag="tests"
    )


def parse_tests(completion: Completion, problem: Problem) -> TestSuite | Rejection:
    """Split the model's tests into setup and cases; drop cases that don't call the entry point."""
    if completion.finish_reason == "error":
        return Rejection(reason="engine_error", detail=completion.error)
    if completion.finish_reason == "length":
        return Rejection(reason="tests_truncated", detail="the tests were cut off at max_tokens")
    extracted = extract_tests(completion.text)
    if extracted.code is None:
        return Rejection(reason="tests_unparseable", detail="no Python block with asserts")
    split = split_tests(extracted.code, problem.entry_point)
    if split is None:
        return Rejection(
            reason="tests_unparseable", detail=syntax_error(extracted.code) or "does not parse"
        )
    setup, cases, dropped = split
    if not cases and not dropped:
        return Rejection(
            reason="tests_unparseable", detail="no assert statements or test functions"
        )
    return TestSuite(problem_id=problem.id, setup=setup, cases=tuple(cases), dropped=tuple(dropped))


def split_tests(
    code: str, entry_point: str | None
) -> tuple[str, list[TestCase], list[DroppedTest]] | None:
    """Setup source, test cases and cases dropped for not calling `entry_point` (None: keep all).

    Returns None when the code does not parse.
    """
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return None
    setup: list[str] = []
    cases: list[TestCase] = []
    dropped: list[DroppedTest] = []
    for node in tree.body:
        source = _segment(code, node)
        if _is_case(node):
            case = TestCase(name=f"t{len(cases) + len(dropped) + 1}", source=source)
            if entry_point is None or _references(node, entry_point):
                cases.append(case)
            else:
                dropped.append(DroppedTest(test=case, reason="no_entry_point"))
        elif entry_point is None or not _defines(
            node, entry_point
        ):  # tests never redefine the solution
            setup.append(source)
    return "\n".join(setup), cases, dropped


def _segment(code: str, node: ast.stmt) -> str:
    """The node's source, decorators included (a `@given` property is part of its test)."""
    decorators = getattr(node, "decorator_list", [])
    if not decorators:
        return ast.get_source_segment(code, node) or ast.unparse(node)
    lines = code.splitlines()[decorators[0].lineno - 1 : node.end_lineno]
    return "\n".join(lines)


def stub_solution(problem: Problem) -> str:
    """A trivial implementation: the right name, any arguments, returns None."""
    return f"def {problem.entry_point}(*args, **kwargs):\n    return None\n"


def drop_vacuous(
    suite: TestSuite, problem: Problem, sandbox: Sandbox, limits: Limits, min_tests: int
) -> TestSuite | Rejection:
    """Run the cases against the stub; drop those it passes; reject when too few remain."""
    if len(suite.cases) < min_tests:
        return _too_few(suite, min_tests)
    run = run_tests(sandbox, stub_solution(problem), suite, limits)
    if not run.reported:
        return Rejection(
            reason="tests_broken",
            detail=f"the tests did not run against a stub: {run.execution.status}; {run.execution.stderr[-500:]}",
        )
    vacuous = {o.name for o in run.outcomes if o.passed}
    kept = tuple(c for c in suite.cases if c.name not in vacuous)
    dropped = suite.dropped + tuple(
        DroppedTest(test=c, reason="vacuous") for c in suite.cases if c.name in vacuous
    )
    suite = suite.model_copy(update={"cases": kept, "dropped": dropped})
    if len(kept) < min_tests:
        return _too_few(suite, min_tests)
    return suite


def _too_few(suite: TestSuite, min_tests: int) -> Rejection:
    reasons = sorted({d.reason for d in suite.dropped})
    reason = "tests_vacuous" if "vacuous" in reasons else "too_few_tests"
    return Rejection(
        reason=reason,
        detail=f"{len(suite.cases)} usable test(s), {min_tests} needed; dropped: "
        + ", ".join(f"{d.test.name} ({d.reason})" for d in suite.dropped),
    )


def apply_agreement_rule(
    suite: TestSuite, runs: Sequence[TestRun], min_tests: int
) -> TestSuite | Rejection:
    """Drop the cases no first-round sample passes, when enough samples reached the tests.

    Applied only when at least two samples ran the tests to a report; otherwise one wrong
    sample could discard correct tests. The outcome is written into `suite.rule`.
    """
    reported = [run for run in runs if run.reported]
    if len(reported) < 2:
        return suite.model_copy(
            update={
                "rule": f"{AGREEMENT_RULE}: not applied, {len(reported)} sample(s) reached the tests"
            }
        )
    confirmed = {o.name for run in reported for o in run.outcomes if o.passed}
    if not confirmed:  # every sample failed everything: the solutions are suspect, not the tests
        return suite.model_copy(
            update={"rule": f"{AGREEMENT_RULE}: not applied, no sample passed any test"}
        )
    kept = tuple(c for c in suite.cases if c.name in confirmed)
    unconfirmed = tuple(
        DroppedTest(test=c, reason="unconfirmed") for c in suite.cases if c.name not in confirmed
    )
    rule = f"{AGREEMENT_RULE}: {len(kept)} kept, {len(unconfirmed)} dropped over {len(reported)} samples"
    updated = suite.model_copy(
        update={"cases": kept, "dropped": suite.dropped + unconfirmed, "rule": rule}
    )
    if len(kept) < min_tests:
        return Rejection(reason="tests_unconfirmed", detail=rule)
    return updated


def _is_case(node: ast.stmt) -> bool:
    if isinstance(node, ast.Assert):
        return True
    return isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith(
        "test"
    )


def _references(node: ast.AST, name: str) -> bool:
    return any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(node))


def _defines(node: ast.stmt, name: str) -> bool:
    return (
        isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        and node.name == name
    )
