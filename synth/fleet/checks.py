"""Checks as JSON: what a generate worker ships to a verify worker and what comes back.

The pipeline describes its shippable checks as `CheckTask(kind, payload)` (pipeline.py);
this module turns a payload into JSON and back, and runs one on a verify worker's sandbox.
Kinds: "stub_checks" (step 2's stub guard for a batch's test suites) and "verify" (a batch
of samples against their tests). `split` cuts a batch's check into smaller tasks and `join`
puts their results back together, so one batch's checks spread over every verify worker
instead of queueing behind one.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from synth.code.execute import TestRun
from synth.code.static import LintConfig
from synth.code.verify import verify_samples
from synth.pipelines.code import stub_checks
from synth.pipelines.scheduler import CheckTask
from synth.records import ExecResult, Problem, Rejection, Sample, TestOutcome, TestSuite, Verdict
from synth.sandbox.base import Limits, Sandbox

KINDS = ("stub_checks", "verify")


def split(task: CheckTask) -> list[CheckTask]:
    """The task as smaller tasks whose results, joined in order, are the whole task's: one
    per slot for stub checks; for samples, runs of consecutive samples as wide as a verify
    worker's threads (`workers`), so each message still keeps its worker's threads busy."""
    payload = task.payload
    if task.kind == "stub_checks":
        return [
            CheckTask(
                task.kind,
                {**payload, "suites": {slot: suite}, "problems": {slot: payload["problems"][slot]}},
            )
            for slot, suite in payload["suites"].items()
        ]
    if task.kind == "verify":
        samples, width = payload["samples"], max(1, payload["workers"])
        parts = [samples[i : i + width] for i in range(0, len(samples), width)]
        return [
            CheckTask(
                task.kind,
                {
                    **payload,
                    "samples": part,
                    "suites": {
                        key: suite
                        for key, suite in payload["suites"].items()
                        if any(sample.problem_id == key for sample in part)
                    },
                },
            )
            for part in parts
        ]
    raise ValueError(f"unknown check kind {task.kind!r}")


def join(kind: str, results: list[Any]) -> Any:
    """The whole task's result from its parts' (decoded) results, in `split`'s order."""
    if kind == "stub_checks":
        return {slot: value for part in results for slot, value in part.items()}
    if kind == "verify":
        return [item for part in results for item in part]
    raise ValueError(f"unknown check kind {kind!r}")


def encode(task: CheckTask) -> dict:
    payload = task.payload
    if task.kind == "stub_checks":
        data = {
            "suites": {str(k): v.model_dump(mode="json") for k, v in payload["suites"].items()},
            "problems": {str(k): v.model_dump(mode="json") for k, v in payload["problems"].items()},
            "limits": payload["limits"].model_dump(mode="json"),
            "min_tests": payload["min_tests"],
        }
    elif task.kind == "verify":
        data = {
            # the prompt a sample answered is export's, not the checker's: not shipped
            "samples": [s.model_dump(mode="json", exclude={"prompt"}) for s in payload["samples"]],
            "suites": {k: v.model_dump(mode="json") for k, v in payload["suites"].items()},
            "limits": payload["limits"].model_dump(mode="json"),
            "lint": asdict(payload["lint"]),
            "workers": payload["workers"],
        }
    else:
        raise ValueError(f"unknown check kind {task.kind!r}")
    return {"kind": task.kind, "payload": data}


def run_encoded(message: dict, sandbox: Sandbox) -> Any:
    """Run an encoded check here; the result is JSON-able (see `decode_result`)."""
    kind, data = message["kind"], message["payload"]
    limits = Limits.model_validate(data["limits"])
    if kind == "stub_checks":
        suites = {int(k): TestSuite.model_validate(v) for k, v in data["suites"].items()}
        problems = {int(k): Problem.model_validate(v) for k, v in data["problems"].items()}
        checked = stub_checks(suites, problems, sandbox, limits, data["min_tests"])
        return {
            str(slot): {
                "rejection" if isinstance(value, Rejection) else "suite": value.model_dump(
                    mode="json"
                )
            }
            for slot, value in checked.items()
        }
    if kind == "verify":
        lint = data["lint"]
        results = verify_samples(
            [Sample.model_validate(s) for s in data["samples"]],
            {k: TestSuite.model_validate(v) for k, v in data["suites"].items()},
            sandbox,
            limits,
            LintConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in lint.items()}),
            data["workers"],
        )
        return [
            {"verdict": verdict.model_dump(mode="json"), "run": _run_json(run)}
            for verdict, run in results
        ]
    raise ValueError(f"unknown check kind {kind!r}")


def decode_result(kind: str, result: Any) -> Any:
    """The check's result as the pipeline's own step would have returned it."""
    if kind == "stub_checks":
        return {
            int(slot): Rejection.model_validate(value["rejection"])
            if "rejection" in value
            else TestSuite.model_validate(value["suite"])
            for slot, value in result.items()
        }
    if kind == "verify":
        return [
            (Verdict.model_validate(item["verdict"]), _run_from_json(item["run"]))
            for item in result
        ]
    raise ValueError(f"unknown check kind {kind!r}")


def _run_json(run: TestRun | None) -> dict | None:
    if run is None:
        return None
    return {
        "execution": run.execution.model_dump(mode="json"),
        "outcomes": [o.model_dump(mode="json") for o in run.outcomes],
        "reported": run.reported,
        "statuses": list(run.statuses),  # exited early / tampering / wrong type, per case
    }


def _run_from_json(data: dict | None) -> TestRun | None:
    if data is None:
        return None
    return TestRun(
        execution=ExecResult.model_validate(data["execution"]),
        outcomes=tuple(TestOutcome.model_validate(o) for o in data["outcomes"]),
        reported=data["reported"],
        statuses=tuple(data.get("statuses", ())),
    )
