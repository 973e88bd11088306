"""Bad input to `synth submit`: one clear message each, exit non-zero, nothing queued."""

from __future__ import annotations

import subprocess
import sys

import pytest
import redis
import yaml

from tests.fleet.kinds import write_math_taxonomy
from tests.fleet.world import write_taxonomy
from tests.services import free_port


def submit(job, *extra):
    return subprocess.run(
        [sys.executable, "-m", "synth.cli", "submit", str(job), *extra],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture
def good(tmp_path):
    replay = tmp_path / "replay.jsonl"
    replay.write_text("")
    return {
        "taxonomy": str(write_taxonomy(tmp_path / "tax.yaml")),
        "problems": 4,
        "engine": "replay",
        "replay": str(replay),
        "output": str(tmp_path / "run"),
    }


def write(tmp_path, spec) -> object:
    path = tmp_path / "job.yaml"
    path.write_text(spec if isinstance(spec, str) else yaml.safe_dump(spec))
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"problems": 0}, "job.yaml: problems"),
        ({"samples": "many"}, "job.yaml: samples"),
        ({"colour": "blue"}, "job.yaml: colour"),
        ({"taxonomy": "/nowhere/tax.yaml"}, "job.yaml: taxonomy"),
        ({"replay": "/nowhere/replay.jsonl"}, "job.yaml: replay"),
        ({"engine": "openai", "base_url": "http://127.0.0.1:9/v1"}, "job.yaml: base_url"),
        ({"engine": "python", "engine_factory": "nowhere:thing"}, "job.yaml: engine_factory"),
        ({"output": "nope://bucket/run"}, "job.yaml: output: nope://bucket/run: cannot open"),
        ({"output": "/proc/run"}, "job.yaml: output: /proc/run: cannot be written"),
    ],
)
def test_a_bad_spec_is_refused_before_anything_is_queued(tmp_path, good, change, message):
    done = submit(write(tmp_path, {**good, **change}), "--redis", "redis://127.0.0.1:9/0")
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr


def test_every_kind_s_inputs_are_checked_before_anything_is_queued(tmp_path, good):
    """Translate and explain jobs name a source run with verified Python records and a
    language synth translates into; a math job takes no judge; a kind must be known."""
    empty_run = tmp_path / "empty-run"
    empty_run.mkdir()
    (empty_run / "run.json").write_text("{}")
    math = write_math_taxonomy(tmp_path / "math.yaml")
    derived = {k: v for k, v in good.items() if k not in ("taxonomy", "problems")}
    cases = [
        ({**good, "kind": "summarise"}, "job.yaml: kind: unknown kind 'summarise'"),
        ({**derived, "kind": "translate", "source": str(empty_run)}, "job.yaml: languages"),
        (
            {**derived, "kind": "translate", "source": str(empty_run), "languages": ["cobol"]},
            "job.yaml: languages: cannot translate into 'cobol'",
        ),
        (
            {**derived, "kind": "translate", "source": str(empty_run), "languages": ["go"]},
            "job.yaml: source: ",
        ),
        ({**derived, "kind": "explain", "source": str(tmp_path / "none")}, "job.yaml: source"),
        ({**derived, "kind": "explain"}, "job.yaml: source"),
        ({**good, "taxonomy": str(math), "judge": True}, "job.yaml: judge"),
        ({**good, "system_prompts": str(tmp_path / "none.yaml")}, "job.yaml: system_prompts"),
    ]
    for spec, message in cases:
        done = submit(write(tmp_path, spec), "--redis", "redis://127.0.0.1:9/0")
        assert done.returncode == 2, (spec, done.stderr)
        assert message in done.stderr and "Traceback" not in done.stderr, (spec, done.stderr)


def test_an_object_store_output_must_exist_to_be_queued(tmp_path, good, object_store):
    missing = {**good, "output": "s3://no-such-bucket/runs/r1"}
    done = submit(write(tmp_path, missing), "--redis", "redis://127.0.0.1:9/0")
    assert done.returncode == 2, done.stderr
    assert "job.yaml: output: s3://no-such-bucket/runs/r1" in done.stderr
    assert "bucket does not exist" in done.stderr and "Traceback" not in done.stderr


def test_malformed_yaml_names_the_file(tmp_path):
    done = submit(write(tmp_path, "problems: [1,\n"))
    assert done.returncode == 2 and "job.yaml" in done.stderr and "YAML" in done.stderr


def test_an_unreachable_redis_is_one_clear_message(tmp_path, good):
    done = submit(write(tmp_path, good), "--redis", f"redis://127.0.0.1:{free_port()}/0")
    assert done.returncode == 2
    assert "Redis does not answer" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.fleet
def test_status_of_an_unknown_job_and_a_queued_job(tmp_path, good, redis_server):
    done = subprocess.run(
        [sys.executable, "-m", "synth.cli", "status", "nope", "--redis", redis_server.url],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2 and "no job 'nope'" in done.stderr
    job = submit(write(tmp_path, good), "--redis", redis_server.url)
    assert job.returncode == 0, job.stderr
    job_id = job.stdout.strip()
    assert redis.Redis.from_url(redis_server.url).llen("generate") == 1  # 4 slots, one chunk
    status = subprocess.run(
        [
            sys.executable,
            "-m",
            "synth.cli",
            "status",
            job_id,
            "--json",
            "--redis",
            redis_server.url,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    data = yaml.safe_load(status.stdout)
    assert (data["status"], data["records"], data["chunks"], data["problems"]) == (
        "queued",
        0,
        1,
        4,
    )


def test_a_channel_whose_connection_is_gone_raises_a_connection_error():
    """The guard in synth/fleet/app.py: kombu's reconnect path closes a channel whose
    connection already dropped its client; that must be the connection error kombu
    recovers from, not the AttributeError that made workers exit."""
    from types import SimpleNamespace

    from kombu.transport import redis as kombu_redis

    import synth.fleet.app  # noqa: F401 - installs the guard

    channel = object.__new__(kombu_redis.Channel)
    channel.connection = SimpleNamespace(client=None)
    with pytest.raises(redis.exceptions.ConnectionError, match="connection closed"):
        channel._connparams()
