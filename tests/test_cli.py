"""The `synth` command as a user runs it (a subprocess for the error path, CliRunner elsewhere)."""

from __future__ import annotations

import json
import subprocess
import sys

import fsspec
import pytest
from typer.testing import CliRunner

from synth.cli import app
from synth.engines.replay import RecordingEngine
from synth.engines.scripted import ScriptedEngine
from synth.pipelines.code import CodePipeline
from synth.pipelines.scheduler import run_here
from synth.pipelines.settings import RunSettings
from synth.sandbox.base import Limits
from synth.store import RunStore
from tests.pipelines.test_code import TAXONOMY, scenario

runner = CliRunner()


def synth(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "synth.cli", *args], capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["generate"],
        ["export"],
        ["verify"],
        ["sandbox", "exec"],
        ["taxonomy", "stats"],
        ["taxonomy", "sample"],
        ["model", "tiny"],
        ["math", "equal"],
        ["train"],
        ["rounds"],
        ["sandbox", "build"],
        ["translate"],
        ["explain"],
        ["eval"],
        ["status"],
    ],
)
def test_every_command_has_help(command):
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0 and "Usage" in result.output


@pytest.mark.sandbox
def test_verify_passing_and_failing_solutions(tmp_path):
    solution, tests = tmp_path / "sol.py", tmp_path / "tests.py"
    tests.write_text("assert add(1, 2) == 3\nassert add(0, 0) == 0\n")
    solution.write_text("def add(a, b):\n    return a + b\n")
    ok = runner.invoke(
        app, ["verify", "python", "--solution", str(solution), "--tests", str(tests)]
    )
    assert ok.exit_code == 0
    verdict = json.loads(ok.stdout)
    assert verdict["passed"] is True and verdict["stage"] == "ok"

    solution.write_text("def add(a, b):\n    return a - b\n")
    bad = runner.invoke(
        app, ["verify", "python", "--solution", str(solution), "--tests", str(tests)]
    )
    verdict = json.loads(bad.stdout)
    assert bad.exit_code == 1 and verdict["passed"] is False and verdict["stage"] == "tests"
    assert [t["passed"] for t in verdict["tests"]] == [False, True]
    assert verdict["tests"][0]["source"] == "assert add(1, 2) == 3"

    solution.write_text("def add(a, b):\n    return a + c\n")
    lint = json.loads(
        runner.invoke(
            app, ["verify", "python", "--solution", str(solution), "--tests", str(tests)]
        ).stdout
    )
    assert lint["stage"] == "lint" and lint["lint"][0]["code"] == "F821"

    solution.write_text("def add(a, b)\n")
    assert (
        json.loads(
            runner.invoke(
                app, ["verify", "python", "--solution", str(solution), "--tests", str(tests)]
            ).stdout
        )["stage"]
        == "parse"
    )


@pytest.mark.sandbox
def test_verify_runs_humaneval_style_check_functions(tmp_path):
    solution, tests = tmp_path / "sol.py", tmp_path / "tests.py"
    solution.write_text("def add(a, b):\n    return a + b\n")
    tests.write_text("def check(candidate):\n    assert candidate(2, 2) == 5\n\ncheck(add)\n")
    verdict = json.loads(
        runner.invoke(
            app, ["verify", "python", "--solution", str(solution), "--tests", str(tests)]
        ).stdout
    )
    assert verdict["stage"] == "tests" and "AssertionError" in verdict["tests"][0]["error"]


@pytest.mark.sandbox
@pytest.mark.docker
@pytest.mark.parametrize("backend", ["bubblewrap", "docker"])
def test_sandbox_exec_prints_one_json_result(tmp_path, backend):
    program = tmp_path / "p.py"
    program.write_text("import sys\nprint('out')\nprint('err', file=sys.stderr)\nsys.exit(4)\n")
    result = runner.invoke(
        app,
        [
            "sandbox",
            "exec",
            "--language",
            "python",
            "--sandbox",
            backend,
            "--timeout-s",
            "5",
            str(program),
        ],
    )
    data = json.loads(result.stdout)
    assert set(data) == {"status", "exit_code", "stdout", "stderr", "duration_s", "compile_s"}
    assert (data["status"], data["exit_code"], data["stdout"], data["stderr"]) == (
        "failed",
        4,
        "out\n",
        "err\n",
    )


def test_user_errors_are_one_line_exit_2_and_no_traceback(tmp_path):
    missing = synth(
        "verify",
        "python",
        "--solution",
        str(tmp_path / "nope.py"),
        "--tests",
        str(tmp_path / "t.py"),
    )
    assert (
        missing.returncode == 2
        and "--solution" in missing.stderr
        and "no such file" in missing.stderr
    )
    assert "Traceback" not in missing.stderr
    replay = synth("generate", "--engine", "replay", "--out", str(tmp_path / "r"))
    assert (
        replay.returncode == 2 and "--replay" in replay.stderr and "Traceback" not in replay.stderr
    )
    taxonomy = synth(
        "generate", "--taxonomy", str(tmp_path / "none.yaml"), "--out", str(tmp_path / "r")
    )
    assert taxonomy.returncode == 2 and "taxonomy file not found" in taxonomy.stderr
    export = synth("export", str(tmp_path / "no-run"), "--out", str(tmp_path / "x"))
    assert export.returncode == 2 and "not a run directory" in export.stderr


@pytest.fixture(params=["local", "s3"])
def run_location(request, tmp_path) -> str:
    """A run directory: a local path, or a URL on an S3 object store."""
    if request.param == "local":
        return str(tmp_path / "run")
    return request.getfixturevalue("object_store").bucket() + "/runs/r1"


def read_summary(location: str) -> dict:
    fs, root = fsspec.core.url_to_fs(location)
    return json.loads(fs.cat_file(f"{root}/summary.json"))


@pytest.mark.sandbox
def test_generate_with_replay_resumes_and_refuses_other_settings(
    tmp_path, sandbox, run_location, monkeypatch
):
    recording = tmp_path / "rec.jsonl"
    config = RunSettings(
        problems=2, samples=2, max_attempts=3, batch_size=2, min_tests=2, limits=Limits(timeout_s=5)
    )
    run_here(
        CodePipeline(TAXONOMY, config),
        RecordingEngine(ScriptedEngine(scenario), recording),
        sandbox,
        RunStore(tmp_path / "scratch"),
    )
    taxonomy = tmp_path / "tax.yaml"
    import yaml

    taxonomy.write_text(
        yaml.safe_dump(
            {
                "name": "tiny",
                "areas": [
                    {
                        "id": "basics",
                        "name": "Basics",
                        "children": [
                            {
                                "id": c.id,
                                "name": c.name,
                                "description": c.description,
                                "weight": c.weight,
                            }
                            for c in TAXONOMY.concepts
                        ],
                    }
                ],
            }
        )
    )
    args = [
        "generate",
        "--engine",
        "replay",
        "--replay",
        str(recording),
        "--taxonomy",
        str(taxonomy),
        "--problems",
        "2",
        "--samples",
        "2",
        "--max-attempts",
        "3",
        "--batch-size",
        "2",
        "--min-tests",
        "2",
        "--out",
        run_location,
    ]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    summary = read_summary(run_location)
    assert summary["slots_done"] == 2 and summary["settings"]["engine"] == "replay"
    assert summary["state"] == "finished" and summary["this_invocation"]["slots_done"] == 2

    # Nothing left to do: the summary still describes the whole run, not this invocation.
    again = runner.invoke(app, args)
    assert again.exit_code == 0
    resumed = read_summary(run_location)
    assert resumed["this_invocation"]["slots_skipped_already_stored"] == 2
    assert resumed["this_invocation"]["slots_done"] == 0
    assert whole_run(resumed) == whole_run(summary)
    assert "slots done" in again.output and "2 of 2" in again.output

    other = synth(*args, "--seed", "5")
    assert other.returncode == 2
    assert "seed: stored 0, given 5" in other.stderr and "--out" in other.stderr

    # The same taxonomy by a relative path resumes; the same path edited is refused.
    monkeypatch.chdir(tmp_path)
    relative = [arg if arg != str(taxonomy) else "tax.yaml" for arg in args]
    assert runner.invoke(app, relative).exit_code == 0
    taxonomy.write_text(taxonomy.read_text().replace("Bound a value.", "Bound it."))
    edited = synth(*relative)
    assert edited.returncode == 2 and "Traceback" not in edited.stderr
    assert f"taxonomy {taxonomy}" in edited.stderr
    assert "changed since the run started" in edited.stderr
    assert whole_run(read_summary(run_location)) == whole_run(summary)  # refused: untouched


def whole_run(summary: dict) -> dict:
    """summary.json without what only the invocation that wrote it did."""
    return {key: value for key, value in summary.items() if key != "this_invocation"}


def test_math_equal_prints_the_parsed_forms():
    result = synth("math", "equal", "\\dfrac{1}{2}", "0.5")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "equivalent": True,
        "gold": "1/2",
        "pred": "1/2",
        "reason": "equal",
    }
    assert synth("math", "equal", "(1,2)", "(2,1)").returncode == 1


def test_generate_names_the_bad_line_of_a_problems_file(tmp_path):
    problems = tmp_path / "problems.jsonl"
    problems.write_text('{"problem": "What is 1 + 1?", "answer": "2"}\n{"answer": "3"}\n')
    result = synth(
        "generate",
        "--taxonomy",
        "taxonomies/math/skills.yaml",
        "--engine",
        "replay",
        "--replay",
        str(problems),
        "--problems-from",
        str(problems),
        "--out",
        str(tmp_path / "r"),
    )
    assert result.returncode == 2
    assert f"{problems}:2" in result.stderr and "'problem'" in result.stderr
    assert not (tmp_path / "r").exists()


def test_train_refuses_a_missing_base_model(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.jsonl").write_text(
        json.dumps(
            {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
        )
        + "\n"
    )
    result = synth(
        "train",
        "--data",
        str(data),
        "--model",
        str(tmp_path / "nope"),
        "--out",
        str(tmp_path / "o"),
    )
    assert result.returncode == 2 and "does not exist" in result.stderr
    assert not (tmp_path / "o").exists()


def test_translate_names_a_language_it_cannot_translate_into(tmp_path):
    done = synth("translate", str(tmp_path), "--to", "cpp,cobol", "--out", str(tmp_path / "t"))
    assert done.returncode == 2
    assert "--to" in done.stderr and "cobol" in done.stderr


def test_translate_and_explain_need_a_run_with_verified_python_records(tmp_path):
    empty = tmp_path / "empty"
    (empty / "records").mkdir(parents=True)
    for command in (["translate", str(empty), "--to", "go"], ["explain", str(empty)]):
        done = synth(*command, "--out", str(tmp_path / "o"), "--engine", "replay")
        assert done.returncode == 2 and "no verified Python records" in done.stderr


def test_judge_options_without_judge_are_refused(tmp_path):
    config = tmp_path / "judge.yaml"
    config.write_text("{}")
    done = synth("generate", "--judge-config", str(config), "--out", str(tmp_path / "r"))
    assert done.returncode == 2 and "add --judge" in done.stderr
