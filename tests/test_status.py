"""`synth status RUN_DIR`: a local run's view, read from its directory alone (a path or a
URL), safe beside a writer, honest about whether the run is going; bad input is named."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys

import fsspec
import pytest
from typer.testing import CliRunner

from synth.cli import app
from synth.errors import SynthError
from synth.status import is_run_location, run_status
from synth.store import RunStore
from tests.pipelines.test_code import TAXONOMY, _fixed_combos, scenario
from tests.test_summary import CODE, dies_on_second_problem, generate, taxonomy_file

pytestmark = pytest.mark.sandbox
runner = CliRunner()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two run directories made once: `finished` (2 of 2 slots) and `interrupted` (Ctrl-C
    after slot 0). Tests work on copies."""
    root = tmp_path_factory.mktemp("runs")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("synth.pipelines.batch.sample_combo", _fixed_combos)
        taxonomy = taxonomy_file(root, TAXONOMY)
        generate(root / "finished", taxonomy, CODE, scenario)
        with pytest.raises(KeyboardInterrupt):
            generate(root / "interrupted", taxonomy, CODE, dies_on_second_problem(scenario))
    return root


@pytest.fixture
def copy_of(runs, tmp_path):
    def copy(name: str):
        return shutil.copytree(runs / name, tmp_path / name)

    return copy


def snapshot(run_dir) -> dict:
    """Every file of a run directory and its bytes (status must change none)."""
    return {p.relative_to(run_dir): p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}


def set_invocation(run_dir, **fields) -> dict:
    """Rewrite summary.json as a writer in another state would have left it."""
    summary = json.loads((run_dir / "summary.json").read_text())
    state = fields.pop("state", summary["state"])
    summary = {**summary, "state": state, "finished": state == "finished"}
    summary["this_invocation"] = {**summary["this_invocation"], **fields}
    RunStore(run_dir).write_summary(summary)
    return summary


def test_a_finished_run_shows_its_whole_counts_and_no_eta(copy_of):
    run = copy_of("finished")
    before = snapshot(run)
    result = runner.invoke(app, ["status", str(run), "--json"])
    assert result.exit_code == 0, result.output
    view = json.loads(result.stdout)
    summary = json.loads((run / "summary.json").read_text())
    assert view["state"] == "finished" and view["eta_s"] is None
    assert view["planned"] == 2 and view["counts"]["slots_done"] == 2
    assert {k: summary[k] for k in view["counts"]} == view["counts"]
    assert view["counts"]["rejected"] == {"tests/tests_vacuous": 1}
    assert snapshot(run) == before

    human = runner.invoke(app, ["status", str(run)], env={"COLUMNS": "300"})
    assert human.exit_code == 0
    assert f"run {run}: finished" in human.output
    assert "rejected tests/tests_vacuous: 1" in human.output and "2/2" in human.output


def test_an_interrupted_run_says_so_and_how_to_go_on(copy_of):
    view = run_status(str(copy_of("interrupted")))
    assert view.state == "interrupted" and "KeyboardInterrupt" in view.detail
    assert "resume" in view.detail and view.eta_s is None
    assert (view.counts["slots_done"], view.planned) == (1, 2)


def test_a_running_writer_gets_an_eta_from_its_own_pace(copy_of):
    run = copy_of("interrupted")
    # this process plays the writer: started 30 s before `now`, one slot stored since
    set_invocation(
        run,
        state="running",
        pid=os.getpid(),
        host=socket.gethostname(),
        started_at=1000.0,
        updated_at=1020.0,
        slots_done=1,
    )
    view = run_status(str(run), now=1030.0)
    assert view.state == "running" and view.detail == f"pid {os.getpid()}"
    assert view.slots_per_s == pytest.approx(1 / 30, abs=1e-6)
    assert view.eta_s == pytest.approx(30.0)  # one slot left at one slot per 30 s

    set_invocation(run, slots_done=0)  # its first batch has not landed: no pace to go by
    assert run_status(str(run), now=1030.0).eta_s is None


def test_a_running_summary_whose_writer_is_gone_is_interrupted(copy_of):
    run = copy_of("interrupted")
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    set_invocation(
        run, state="running", pid=int(gone.stdout), host=socket.gethostname(), slots_done=1
    )
    view = run_status(str(run))
    assert view.state == "interrupted" and "gone" in view.detail and view.eta_s is None


def test_a_writer_on_another_host_is_not_judged_from_here(copy_of):
    run = copy_of("interrupted")
    set_invocation(run, state="running", host="elsewhere", updated_at=1000.0, started_at=990.0)
    view = run_status(str(run), now=1060.0)
    assert view.state == "running" and "elsewhere" in view.detail and "60 s ago" in view.detail


def test_a_resume_that_grew_the_run_but_stopped_before_a_batch_is_not_finished(copy_of):
    run = copy_of("finished")
    settings = json.loads((run / "run.json").read_text())
    RunStore(run).write_settings({**settings, "problems": 5})
    view = run_status(str(run))
    assert view.state == "interrupted" and "2 of 5 slots" in view.detail


def test_a_fleet_job_directory_points_to_the_job(copy_of):
    run = copy_of("finished")
    (run / "summary.json").unlink()  # a fleet job writes records, never a summary
    settings = json.loads((run / "run.json").read_text())
    RunStore(run).write_settings({**settings, "job": "20250101-120000-abcdef"})
    view = run_status(str(run))
    assert view.state == "unknown" and view.counts["slots_done"] == 2
    assert "synth status 20250101-120000-abcdef" in view.detail


def test_status_is_safe_while_a_writer_writes(copy_of):
    """A shard or summary being written is a temp file until renamed whole: never read."""
    run = copy_of("interrupted")
    whole = run_status(str(run)).counts
    (run / "records" / ".shard-00000000000000000009-abcdefgh.jsonl.tmp-1-2").write_text(
        '{"id": "half a rec'
    )
    (run / ".summary.json.tmp-1-2").write_text("{")
    assert run_status(str(run)).counts == whole


def test_an_old_run_directory_gets_its_index_on_the_first_status(copy_of):
    run = copy_of("finished")
    whole = run_status(str(run)).counts
    before = snapshot(run)
    shutil.rmtree(run / "index")  # as a synth older than the index left it
    assert run_status(str(run)).counts == whole
    after = snapshot(run)
    assert after == before  # the same entries, written again; nothing else changed
    assert sorted(p.parent.name for p in after if p.parent.name == "index") == ["index"] * 2


def test_status_reads_a_run_in_an_object_store(runs, object_store):
    url = object_store.bucket() + "/runs/r1"
    fs, root = fsspec.core.url_to_fs(url)
    fs.put(str(runs / "finished") + "/", root, recursive=True)
    assert is_run_location(url)
    view = run_status(url)
    assert view.state == "finished" and view.counts["slots_done"] == 2


def test_bad_run_directories_are_named_and_left_untouched(copy_of, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SynthError, match="empty/run.json: not found: not a run directory"):
        run_status(str(tmp_path / "empty"))
    with pytest.raises(SynthError, match="not a run directory: no such directory"):
        run_status(str(tmp_path / "nowhere"))

    run = copy_of("finished")
    good = (run / "summary.json").read_text()
    for corrupt, problem in [
        ('{"state": "running", "this_invo', "summary.json: not valid JSON"),
        ('{"state": "exploded"}', "summary.json: unknown state 'exploded'"),
        ("[]", "summary.json: not a JSON object"),
        ('{"state": "running", "this_invocation": 3}', "summary.json: this_invocation is not"),
    ]:
        (run / "summary.json").write_text(corrupt)
        before = snapshot(run)
        with pytest.raises(SynthError, match=f"{run}/{problem}"):
            run_status(str(run))
        assert snapshot(run) == before
    (run / "summary.json").write_text(good)
    (run / "run.json").write_text("{not json")
    before = snapshot(run)
    result = subprocess.run(
        [sys.executable, "-m", "synth.cli", "status", str(run)], capture_output=True, text=True
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"{run}/run.json: not valid JSON" in result.stderr
    assert snapshot(run) == before


def test_a_job_id_still_means_a_fleet_job():
    assert not is_run_location("20250101-120000-abcdef")
    assert is_run_location("runs/r1") and is_run_location("s3://bucket/runs/r1")
    result = runner.invoke(
        app, ["status", "20250101-120000-abcdef", "--redis", "redis://127.0.0.1:9/0"]
    )
    assert isinstance(result.exception, SynthError) and "--redis" in str(result.exception)
