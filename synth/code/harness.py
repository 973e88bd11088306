"""The test runner that executes inside the sandbox (standard library only, Python >= 3.8).

The solution and the tests run in ONE module namespace, solution first, as if the two
files were concatenated (HumanEval style), but each test is executed on its own so the
verdict knows which tests pass, which fail and why, and a test that hangs is stopped by
its own alarm while the others still report.

Input files: solution.py and tests.json ({"setup": str, "cases": [{"name", "source",
"call"}], "per_test_timeout_s": float, "hypothesis": {"max_examples": int} or absent}). The report is one JSON line on the original
stdout, prefixed with a nonce read from stdin before any model code runs, so output the
solution prints cannot pass for a report. This guards against accidents, not against code
written to inspect the harness itself.
"""

import json
import os
import signal
import sys
import traceback

MAX_ERROR_CHARS = 2000


class TestTimeout(BaseException):
    """Raised by the alarm; a BaseException so `except Exception` in model code can't swallow it."""


def _on_alarm(signum, frame):
    raise TestTimeout()


def _describe(exc, source_name):
    """The failure as a person would read it: assert message, or the traceback tail."""
    if isinstance(exc, TestTimeout):
        return "timed out"
    # Keep the frames of the solution and the test, not the harness's own.
    frames = [
        f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.endswith("harness.py")
    ]
    text = "".join(traceback.format_list(frames)) + "".join(
        traceback.format_exception_only(type(exc), exc)
    )
    if frames:
        text = "Traceback (most recent call last):\n" + text
    text = text.strip()
    if isinstance(exc, AssertionError) and not str(exc):
        text = "AssertionError (" + source_name + ")\n" + text
    return text[-MAX_ERROR_CHARS:]


def _settle_hypothesis(options):
    """Fixed seed, bounded examples, no database: a property fails the same way every run,
    and its falsifying example is attached to the failure (printed by _describe)."""
    try:
        from hypothesis import HealthCheck, settings
    except ImportError:
        return
    settings.register_profile(
        "synth",
        max_examples=int(options.get("max_examples", 100)),
        derandomize=True,
        deadline=None,
        database=None,
        print_blob=False,
        suppress_health_check=list(HealthCheck),
    )
    settings.load_profile("synth")


def main():
    nonce = sys.stdin.readline().strip()
    report = os.fdopen(os.dup(1), "w")  # a private copy of stdout, kept from the solution
    with open("tests.json") as handle:
        spec = json.load(handle)
    timeout = float(spec.get("per_test_timeout_s", 5))
    signal.signal(signal.SIGALRM, _on_alarm)
    if spec.get("hypothesis"):
        _settle_hypothesis(spec["hypothesis"])
    namespace = {"__name__": "solution"}
    results = []
    error_before_tests = ""

    def run(code, filename, call=None):
        signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            exec(compile(code, filename, "exec"), namespace)
            if call:
                namespace[call]()
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)

    try:
        with open("solution.py") as handle:
            run(handle.read(), "solution.py")
        if spec.get("setup", "").strip():
            run(spec["setup"], "tests_setup.py")
    except BaseException as exc:  # noqa: BLE001 - anything the solution does is reported
        error_before_tests = _describe(exc, "setup")

    for case in spec["cases"]:
        if error_before_tests:
            results.append({"name": case["name"], "passed": False, "error": error_before_tests})
            continue
        try:
            run(case["source"], case["name"], case.get("call"))
            results.append({"name": case["name"], "passed": True, "error": ""})
        except BaseException as exc:  # noqa: BLE001
            results.append(
                {"name": case["name"], "passed": False, "error": _describe(exc, case["name"])}
            )

    for stream in (sys.stdout, sys.stderr):  # what the solution printed is evidence
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - the solution may have closed or replaced it
            pass
    report.write(nonce + json.dumps({"results": results, "load_error": error_before_tests}) + "\n")
    report.flush()
    os._exit(0)  # skip atexit handlers and threads the solution may have left


if __name__ == "__main__":
    main()
