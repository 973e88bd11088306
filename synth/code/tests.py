"""Step 2: unit tests, written by the model in a separate call, and the guards against bad tests.

Guards, in order:
1. The tests must parse. The test cases are read from every shape models write them in
   (top-level asserts, `def test_*` functions, unittest and pytest classes, asserts in a
   helper called at top level; see `synth.code.test_shapes`); other top-level statements (imports, helpers)
   are the setup. The model's own solution, duplicate cases and test runners are dropped.
   Tests cut at max_tokens keep their finished statements.
2. Each case must reference the entry point (else it tests nothing of the solution).
3. Each case must FAIL on a trivial stub whose body returns None: a case that passes it is
   vacuous and dropped. The stub run happens in the sandbox, like any other run.
4. Agreement with the solutions (`apply_agreement_rule`): once the first round of samples
   has run, a case that no sample passes is dropped as unconfirmed.
A problem left with fewer than `min_tests` cases is rejected with the reason.
"""

from __future__ import annotations

from collections.abc import Sequence

from synth.code.execute import TestRun, run_tests
from synth.code.extract import (
    complete_statements,
    extract_tests,
    without_partial_line,
)
from synth.code.static import syntax_error
from synth.code.test_shapes import TestReader
from synth.engines.base import ChatRequest, Completion, user
from synth.prompts import render
from synth.python_ast import parse_python
from synth.records import DroppedTest, Problem, Rejection, TestCase, TestSuite
from synth.sandbox.base import Limits, Sandbox

AGREEMENT_RULE = "keep a test when at least one of the first-round samples passes it"


def tests_request(
    problem: Problem, *, seed: int, min_tests: int = 5, max_tests: int = 10
) -> ChatRequest:
    prompt = render("code/tests.j2", problem=problem, min_tests=min_tests, max_tests=max_tests)
    # 1024 tokens hold ten asserts several times over; what a looping model writes past
    # them is cut, and the finished statements before the cut are kept (read_tests)
    return ChatRequest(
        messages=(user(prompt),), n=1, temperature=0.2, max_tokens=1024, seed=seed, tag="tests"
    )


def parse_tests(completion: Completion, problem: Problem) -> TestSuite | Rejection:
    """Split the model's tests into setup and cases; drop cases that don't call the entry point."""
    if completion.finish_reason == "error":
        return Rejection(reason="engine_error", detail=completion.error)
    return read_tests(completion.text, completion.finish_reason, problem.entry_point, problem.id)


def read_tests(
    text: str, finish_reason: str = "stop", entry_point: str | None = None, problem_id: str = ""
) -> TestSuite | Rejection:
    """`parse_tests` on a bare (text, finish_reason, entry_point): what a recorded completion holds.

    A completion cut at max_tokens (finish_reason "length") keeps the statements it finished
    before the cut, and its suite says `truncated`; it is rejected (`tests_truncated`) only
    when no test case was finished.
    """
    truncated = finish_reason == "length"
    if truncated:
        text = without_partial_line(text)
    extracted = extract_tests(text)
    code = extracted.code
    if code is not None and truncated and extracted.open_end:
        code = complete_statements(code)
    if code is None:
        if truncated:
            return Rejection(reason="tests_truncated", detail=TRUNCATED_DETAIL)
        return Rejection(reason="tests_unparseable", detail="no Python block with asserts")
    split = split_tests(code, entry_point)
    if split is None:
        return Rejection(reason="tests_unparseable", detail=syntax_error(code) or "does not parse")
    setup, cases, dropped = split
    if not cases and not any(d.reason == "no_entry_point" for d in dropped):
        if truncated:
            return Rejection(reason="tests_truncated", detail=TRUNCATED_DETAIL)
        return Rejection(
            reason="tests_unparseable", detail="no assert statements or test functions"
        )
    return TestSuite(
        problem_id=problem_id,
        setup=setup,
        cases=tuple(cases),
        dropped=tuple(dropped),
        truncated=truncated,
    )


TRUNCATED_DETAIL = "the tests were cut off at max_tokens before one complete test case"


def split_tests(
    code: str, entry_point: str | None
) -> tuple[str, list[TestCase], list[DroppedTest]] | None:
    """Setup source, test cases, and what was dropped: cases that don't call `entry_point`
    (None: keep all), duplicates, and the model's own solution found in the tests.

    Returns None when the code does not parse. See `TestReader` for the shapes understood.
    """
    try:
        tree = parse_python(code)
    except (SyntaxError, ValueError):
        return None
    reader = TestReader(code, tree, entry_point)
    return reader.setup_source(), reader.cases, reader.dropped


def suite_from_source(code: str, problem_id: str) -> TestSuite | None:
    """Tests a user wrote, as a suite: their cases as synth reads generated tests, or, when it
    finds none (HumanEval's `check(candidate)` then `check(f)`), the whole file as one case.
    None when the code does not parse."""
    split = split_tests(code, entry_point=None)
    if split is None:
        return None
    setup, cases, _ = split
    if not cases:
        setup, cases = "", [TestCase(name="t1", source=code)]
    return TestSuite(problem_id=problem_id, setup=setup, cases=tuple(cases))


def stub_solution(problem: Problem) -> str:
    """A trivial implementation: the right name, any arguments, returns None."""
    return f"def {problem.entry_point}(*args, **kwargs):\n    return None\n"


def drop_vacuous(
    suite: TestSuite, problem: Problem, sandbox: Sandbox, limits: Limits, min_tests: int
) -> TestSuite | Rejection:
    """Run the cases against the stub; drop those it passes (or leaves by exiting, which is
    not a failure of the stub); reject when too few remain, or when the run gave no report:
    a stub run that exited early ran no tests, so no test showed it wrong."""
    if len(suite.cases) < min_tests:
        return _too_few(suite, min_tests)
    run = run_tests(sandbox, stub_solution(problem), suite, limits)
    if not run.reported:
        return Rejection(
            reason="tests_broken",
            detail=(
                "the run against a stub exited early, before the tests reported: no test "
                "judged the stub"
                if run.exited_early
                else f"the tests did not run against a stub: {run.execution.status}; "
                f"{run.execution.stderr[-500:]}"
            ),
        )
    # A test fails the stub only by judging it: one that passes it, or "fails" it by exiting
    # early (SystemExit and the like, status x) or tampering (t), shows nothing.
    vacuous = {o.name for o in run.outcomes if o.passed or run.status_of(o.name) in ("x", "t")}
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
