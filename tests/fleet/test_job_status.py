"""A fleet job's status counts its run directory the way a local run's status does (one
function, synth.counts.run_counts), and `synth status JOB` shows it in the shared view. A real
Redis holds the job's state; no workers are needed to read it."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from synth.cli import app
from synth.counts import count_records, run_counts
from synth.fleet.state import JobState, connect
from synth.fleet.submit import job_status
from synth.store import RunStore
from tests.pipelines.test_code import _fixed_combos, run_scenario
from tests.test_summary import CODE

pytestmark = [pytest.mark.sandbox, pytest.mark.fleet]


def test_a_job_status_counts_its_records_like_a_local_run(
    tmp_path, sandbox, redis_server, monkeypatch
):
    monkeypatch.setattr("synth.pipelines.batch.sample_combo", _fixed_combos)
    run_scenario(tmp_path, sandbox, CODE)
    output = str(tmp_path / "run")
    JobState(connect(redis_server.url), "job-1").create(
        {"problems": 2, "output": output, "chunk_slots": 2}, slots=2, chunks=1
    )

    status = job_status("job-1", redis_server.url)
    counts = run_counts(RunStore(output))
    assert (status.records, status.verified) == (2, 1)
    assert status.verified == counts.problems_with_verified_solution
    assert status.rejected == dict(counts.rejected) == {"tests/tests_vacuous": 1}

    shown = CliRunner().invoke(
        app, ["status", "job-1", "--redis", redis_server.url], env={"COLUMNS": "300"}
    )
    assert shown.exit_code == 0, shown.output
    assert "job job-1: queued" in shown.output and "rejected tests/tests_vacuous: 1" in shown.output
    as_json = CliRunner().invoke(app, ["status", "job-1", "--redis", redis_server.url, "--json"])
    assert json.loads(as_json.stdout)["records"] == 2


def test_a_running_job_s_counts_come_from_redis_and_a_finished_one_is_recounted(
    tmp_path, sandbox, redis_server, monkeypatch
):
    """While a job runs its status reads the counts its workers add (no shard is read, so
    it costs the same for any size of job); a chunk run twice at once counts its records
    twice there, and the finished job is recounted once from the run directory."""
    monkeypatch.setattr("synth.pipelines.batch.sample_combo", _fixed_combos)
    run_scenario(tmp_path, sandbox, CODE)
    output = str(tmp_path / "run")
    state = JobState(connect(redis_server.url), "job-2")
    state.create({"problems": 2, "output": output, "chunk_slots": 2}, slots=2, chunks=1)
    records = list(RunStore(output).records())
    state.add_counts(count_records(records))
    state.add_counts(count_records(records))  # a second delivery of the chunk, at once

    def no_reading(store):
        raise AssertionError("a running job's status read its run directory")

    monkeypatch.setattr("synth.fleet.submit.run_counts", no_reading)
    running = job_status("job-2", redis_server.url)
    assert (running.records, running.verified) == (4, 2)
    assert running.rejected == {"tests/tests_vacuous": 2}
    monkeypatch.undo()

    state.done(0)  # the last chunk: the job is finished
    finished = job_status("job-2", redis_server.url)
    assert (finished.status, finished.records, finished.verified) == ("finished", 2, 1)
    assert finished.rejected == {"tests/tests_vacuous": 1}
    monkeypatch.setattr("synth.fleet.submit.run_counts", no_reading)  # recounted once
    assert job_status("job-2", redis_server.url).records == 2
