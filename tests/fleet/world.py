"""A small deterministic world for fleet tests: a taxonomy of 40 concepts, a scripted model
that writes a distinct `add_<k>` problem per concept combination (some samples buggy, fixed
on repair), recorded once to a replay file that the fleet's workers answer from."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import yaml

from synth.engines.base import ChatRequest
from synth.engines.replay import RecordingEngine
from synth.engines.scripted import ScriptedEngine
from synth.pipelines.code import CodePipeline
from synth.pipelines.scheduler import run_here
from synth.pipelines.settings import RunSettings
from synth.sandbox.base import Limits
from synth.store import RunStore
from synth.taxonomy import load_taxonomy

CONCEPTS = 40


def write_taxonomy(path: Path) -> Path:
    children = [
        {"id": f"c{i}", "name": f"Concept {i}", "description": f"Skill number {i}.", "weight": 1}
        for i in range(CONCEPTS)
    ]
    path.write_text(
        yaml.safe_dump({"name": "fleet", "areas": [{"id": "a", "name": "A", "children": children}]})
    )
    return path


def _key(request: ChatRequest) -> str:
    return hashlib.sha256(request.messages[0].content.encode()).hexdigest()[:8]


def _story(request: ChatRequest) -> str:
    """Twenty words particular to the request and its seed (its slot), so no two problems
    look near-identical, even two on the same concepts."""
    digest = hashlib.sha256(f"{request.seed}:{request.messages[0].content}".encode()).hexdigest()
    return " ".join(f"w{digest[i : i + 3]}" for i in range(0, 60, 3))


def respond(request: ChatRequest, index: int) -> str:
    name = "add_" + _key(request)
    if request.tag == "problem":
        return (
            f"## Problem\nGiven two integers a and b, return their sum a + b. Story: "
            f"{_story(request)}.\n\n"
            f"## Signature\n```python\n"
            f"def {name}(a: int, b: int) -> int:\n```\n"
        )
    func = request.messages[0].content.split("def ", 1)[1].split("(", 1)[0]
    if request.tag == "tests":
        return (
            f"```python\nassert {func}(1, 2) == 3\nassert {func}(0, 5) == 5\n"
            f"assert {func}(-1, 1) == 0\n```"
        )
    if request.tag == "solution":
        body = "a + b" if index == 0 else "a - b"  # the second sample is buggy
        return f"```python\ndef {func}(a, b):\n    return {body}\n```"
    if request.tag == "repair":
        return f"```python\ndef {func}(a, b):\n    return b + a\n```"
    raise AssertionError(request.tag)


def config(problems: int) -> RunSettings:
    return RunSettings(
        problems=problems,
        samples=2,
        max_attempts=2,
        batch_size=4,
        min_tests=2,
        limits=Limits(timeout_s=5, memory_mb=256),
    )


def record_world(
    tmp: Path, problems: int, sandbox, answer=respond
) -> tuple[Path, Path, dict[str, str]]:
    """(taxonomy, replay file, {record id: status}) of a local run of the world."""
    taxonomy = write_taxonomy(tmp / "taxonomy.yaml")
    replay = tmp / "replay.jsonl"
    store = RunStore(tmp / "local")
    run_here(
        CodePipeline(load_taxonomy(taxonomy), config(problems)),
        RecordingEngine(ScriptedEngine(answer), replay),
        sandbox,
        store,
    )
    return taxonomy, replay, {r.id: r.status for r in store.records()}


def job_spec(
    tmp: Path, taxonomy: Path, replay: Path, problems: int, chunk_slots: int, **extra
) -> Path:
    spec = {
        "taxonomy": str(taxonomy),
        "problems": problems,
        "samples": 2,
        "max_attempts": 2,
        "batch_size": 4,
        "min_tests": 2,
        "engine": "replay",
        "replay": str(replay),
        "limits": {"timeout_s": 5, "memory_mb": 256},
        "output": str(tmp / "fleet-run"),
        "chunk_slots": chunk_slots,
        **extra,
    }
    path = tmp / "job.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def scripted_engine(settings, seed):
    """The world's model as an engine plug-in (`engine: python`): a pure function of each
    request and its seed, so a chunk delivered again gets the very same answers."""
    return ScriptedEngine(respond, name="world")


def crashing_engine(settings, seed):
    """An engine plug-in (`engine: python`) that kills its worker process whenever a batch
    asks for a problem on the concept named in $SYNTH_TEST_POISON (a poison task), and
    answers like the world elsewhere."""
    poison = os.environ["SYNTH_TEST_POISON"]

    class Crashing(ScriptedEngine):
        def chat(self, requests):
            if any(r.tag == "problem" and poison in r.messages[0].content for r in requests):
                os._exit(3)
            return super().chat(requests)

    return Crashing(respond, name="crashing")
