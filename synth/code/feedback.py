"""Turn a verdict into the feedback text the model sees when asked to correct itself.

The text is exact (rule codes, the failing assert, the error, stdout/stderr tails, the exit
code) and bounded, so a long traceback cannot crowd the problem out of the context.
"""

from __future__ import annotations

from synth.records import Verdict

MAX_FAILURES_SHOWN = 3
MAX_STREAM_CHARS = 600


def feedback_text(verdict: Verdict) -> str:
    if verdict.reason == "truncated":
        return "Your answer was cut off before it ended. Write a shorter, complete solution."
    if verdict.reason == "no_code":
        return "Your answer contains no Python code block. Put the complete function in a ```python block."
    if verdict.reason == "engine_error":
        return "Your previous answer could not be obtained. Answer again."
    if verdict.stage == "parse":
        return f"The code does not parse.\n{verdict.detail}"
    if verdict.reason == "static/tampering":
        return (
            "The solution was rejected before running: it reaches for the test machinery "
            f"instead of solving the problem ({verdict.detail}). Solve the problem with plain "
            "code: no exiting, no introspection, no rebinding builtins or modules, no files, "
            "no input."
        )
    if verdict.stage == "lint":
        lines = "\n".join(str(m) for m in verdict.lint)
        return f"The static checks (ruff) report errors:\n{lines}"
    return _tests_feedback(verdict)


def _tests_feedback(verdict: Verdict) -> str:
    failed = [o for o in verdict.tests if not o.passed]
    parts = [f"{len(failed)} of {len(verdict.tests)} tests fail."]
    if verdict.reason == "exited_early":
        parts.append(
            "The program exited (with code 0) before the tests finished: exiting is not "
            "passing. Let every test run to its end; do not exit the process."
        )
    elif verdict.reason in ("tampering", "wrong_return_type"):
        parts.append(verdict.detail)
    execution = verdict.execution
    if execution is not None and execution.status in ("timeout", "memory", "output_limit"):
        limit = {
            "timeout": "the time limit",
            "memory": "the memory limit",
            "output_limit": "the output limit",
        }[execution.status]
        parts.append(f"The program was stopped: it reached {limit}.")
    for outcome in failed[:MAX_FAILURES_SHOWN]:
        parts.append(f"Test:\n{outcome.source}\nError:\n{outcome.error}")
    if len(failed) > MAX_FAILURES_SHOWN:
        parts.append(f"... and {len(failed) - MAX_FAILURES_SHOWN} more failing tests.")
    if execution is not None:
        if execution.stdout.strip():
            parts.append(f"stdout:\n{execution.stdout[-MAX_STREAM_CHARS:]}")
        if execution.stderr.strip():
            parts.append(f"stderr:\n{execution.stderr[-MAX_STREAM_CHARS:]}")
        parts.append(f"exit code: {execution.exit_code}")
    return "\n\n".join(parts)
