"""`synth eval` as a user runs it: help, a replayed eval of a small task file, its errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from synth.cli import app
from synth.engines.replay import RecordingEngine
from synth.engines.scripted import ScriptedEngine
from synth.errors import SynthError
from synth.evals.benchmarks import load_benchmark
from synth.evals.run import EvalConfig, run_eval

runner = CliRunner()
TASKS = [
    {
        "task_id": "add",
        "prompt": "def add(a: int, b: int) -> int:\n",
        "entry_point": "add",
        "test": "def check(candidate):\n    assert candidate(1, 2) == 3\n",
    },
    {
        "task_id": "neg",
        "prompt": "def neg(a: int) -> int:\n",
        "entry_point": "neg",
        "test": "def check(candidate):\n    assert candidate(2) == -2\n",
    },
]
ANSWERS = {
    "add": "```python\ndef add(a: int, b: int) -> int:\n    return a + b\n```",
    "neg": "```python\ndef neg(a: int) -> int:\n    return a\n```",  # wrong
}


def test_eval_has_help():
    result = runner.invoke(app, ["eval", "--help"])
    assert result.exit_code == 0
    for option in ("BENCHMARK", "humaneval", "--samples", "--temperature", "--k", "--limit"):
        assert option in result.output


@pytest.fixture
def recorded(tmp_path, sandbox):
    """The task file, and a replay file of answers to it recorded from a scripted model."""
    tasks = tmp_path / "tiny.jsonl"
    tasks.write_text("".join(json.dumps(task) + "\n" for task in TASKS))
    recording = tmp_path / "answers.jsonl"

    def respond(request, index):
        asked = request.messages[-1].content
        return next(answer for name, answer in ANSWERS.items() if f"def {name}(" in asked)

    engine = RecordingEngine(ScriptedEngine(respond), recording)
    run_eval(load_benchmark(str(tasks)).tasks, engine, sandbox, tmp_path / "rec", EvalConfig())
    return tasks, recording


@pytest.mark.sandbox
def test_eval_a_task_file_with_replayed_answers_then_resume(tmp_path, recorded):
    tasks, recording = recorded
    out = tmp_path / "eval"
    args = ["eval", str(tasks), "--engine", "replay", "--replay", str(recording)]
    args += ["--sandbox", "bubblewrap", "--out", str(out)]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["pass_at_k"] == {"pass@1": 0.5} and summary["problems"] == 2
    assert summary["model"] == "replay:answers.jsonl" and summary["benchmark"] == str(tasks)
    printed = json.loads(first.stdout.strip().splitlines()[-1])
    assert printed["pass_at_k"] == {"pass@1": 0.5}

    again = runner.invoke(app, args)
    assert again.exit_code == 0
    assert json.loads((out / "summary.json").read_text())["skipped_already_judged"] == 2

    other = runner.invoke(app, [*args, "--max-tokens", "512"])
    assert isinstance(other.exception, SynthError)
    assert "max_tokens: stored 768, given 512" in str(other.exception)


def synth(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "synth.cli", *args], capture_output=True, text=True, check=False
    )


def test_a_bad_task_file_is_one_line_naming_file_line_and_field(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(TASKS[0]) + "\n" + json.dumps({**TASKS[1], "entry_point": 3}) + "\n")
    done = synth("eval", str(bad), "--engine", "replay", "--out", str(tmp_path / "o"))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"{bad}:2: entry_point: must be a string, not int" in done.stderr
    assert not (tmp_path / "o").exists()


def test_greedy_with_several_samples_is_refused_before_anything_loads(tmp_path):
    result = runner.invoke(app, ["eval", "humaneval", "--samples", "4", "--out", str(tmp_path)])
    assert isinstance(result.exception, SynthError)
    assert "--samples 4 with --temperature 0" in str(result.exception)
    assert not (tmp_path / "config.json").exists()
