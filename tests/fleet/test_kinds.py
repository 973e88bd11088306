"""Every job kind on the fleet: math in both solution styles (its reference programs, code
runs, majority votes and answer checks all on the verify workers), code with a judge and
system prompts, translation and explanation. A real Redis and real `synth worker`
processes; each job must end with exactly the records a local run of the same spec makes,
one of them through a verify worker killed mid-job."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from synth.engines.scripted import ScriptedEngine
from synth.fleet.jobs import job_kind, load_job
from synth.fleet.submit import job_status, submit_job
from synth.pipelines.scheduler import run_here
from synth.store import RunStore
from tests.fleet import kinds
from tests.fleet.test_fleet import assert_exactly, first_records, wait_for
from tests.fleet.world import record_world, write_taxonomy

pytestmark = [pytest.mark.slow, pytest.mark.sandbox, pytest.mark.fleet]

LIMITS = {"timeout_s": 10, "memory_mb": 256}


def write_spec(tmp_path: Path, name: str, **fields) -> Path:
    path = tmp_path / f"{name}.yaml"
    spec = {"output": str(tmp_path / name), "limits": LIMITS, "engine": "python", **fields}
    path.write_text(yaml.safe_dump(spec))
    return path


def local_run(spec: Path, respond, sandbox, out: Path) -> dict[str, str]:
    """{record id: status} of the spec's job run here, with the same scripted model."""
    store = RunStore(out)
    run_here(job_kind(load_job(spec)), ScriptedEngine(respond), sandbox, store)
    return {r.id: r.status for r in store.records()}


def finished(job: str, redis_server, timeout_s: float = 240) -> None:
    wait_for(lambda: job_status(job, redis_server.url).status == "finished", timeout_s, job)
    assert job_status(job, redis_server.url).parked == {}


def test_a_code_style_math_job_checks_on_the_verify_workers_through_a_kill(
    tmp_path, sandbox, redis_server, workers
):
    spec = write_spec(
        tmp_path,
        "math-code",
        taxonomy=str(kinds.write_math_taxonomy(tmp_path / "sums.yaml")),
        problems=8,
        samples=2,
        max_attempts=2,
        batch_size=2,
        solution_style="code",
        chunk_slots=4,
        engine_factory="tests.fleet.kinds:math_engine",
    )
    expected = local_run(spec, kinds.math_respond, sandbox, tmp_path / "local")
    assert list(expected.values()) == ["verified"] * 8
    workers.start("generate", "g1")
    verify = workers.start("verify", "v1")
    job = submit_job(spec, redis_server.url)
    wait_for(first_records(tmp_path / "math-code"), 120, "the first records")
    workers.kill(verify)  # kill -9, mid-job: its unanswered checks are sent again
    workers.start("verify", "v2")
    finished(job, redis_server)
    assert_exactly(tmp_path / "math-code", expected)
    record = next(iter(RunStore(tmp_path / "math-code").records()))
    assert record.problem.answer_source == "reference_program"
    first, second = record.trajectories
    a, b = map(int, kinds.SUM.search(record.problem.statement).groups())
    assert first.attempts[0].sample.turns[0].output == f"{a + b}\n"  # run on a verify worker
    assert [a.verdict.passed for a in second.attempts] == [False, True]  # corrected


def test_a_text_style_math_job_takes_the_majority_answer_of_a_problems_file(
    tmp_path, sandbox, redis_server, workers
):
    problems = tmp_path / "sums.jsonl"
    problems.write_text(
        "".join(json.dumps({"problem": f"What is {a} plus {a + 7}?"}) + "\n" for a in range(4))
    )
    spec = write_spec(
        tmp_path,
        "math-text",
        taxonomy=str(kinds.write_math_taxonomy(tmp_path / "sums.yaml")),
        problems_from=str(problems),
        problems=1,  # the file's four problems decide the slots
        samples=3,
        max_attempts=2,
        chunk_slots=2,
        engine_factory="tests.fleet.kinds:math_engine",
    )
    expected = local_run(spec, kinds.math_respond, sandbox, tmp_path / "local")
    assert list(expected.values()) == ["verified"] * 4
    workers.start("generate", "g1")
    workers.start("verify", "v1")
    job = submit_job(spec, redis_server.url)
    assert job_status(job, redis_server.url).problems == 4
    finished(job, redis_server)
    assert_exactly(tmp_path / "math-text", expected)
    answers = {
        r.problem.statement: (r.problem.answer, r.problem.answer_source)
        for r in RunStore(tmp_path / "math-text").records()
    }
    assert answers["What is 2 plus 9?"] == ("11", "majority")


def test_a_code_job_with_a_judge_and_system_prompts(tmp_path, sandbox, redis_server, workers):
    prompts = tmp_path / "prompts.yaml"
    prompts.write_text("prompts: [{name: terse, text: Be terse.}, {name: chatty, text: Explain.}]")
    spec = write_spec(
        tmp_path,
        "judged",
        taxonomy=str(write_taxonomy(tmp_path / "taxonomy.yaml")),
        problems=6,
        samples=2,
        max_attempts=2,
        batch_size=3,
        min_tests=2,
        judge=True,
        system_prompts=str(prompts),
        chunk_slots=3,
        engine_factory="tests.fleet.kinds:judged_code_engine",
    )
    expected = local_run(spec, kinds.judged_code_respond, sandbox, tmp_path / "local")
    job = submit_job(spec, redis_server.url)
    prompts.unlink()  # read at submission, it travels inside the job: workers never read it
    workers.start("generate", "g1")
    workers.start("verify", "v1")
    finished(job, redis_server)
    assert_exactly(tmp_path / "judged", expected)
    for record in RunStore(tmp_path / "judged").records():
        kept = [t for t in record.trajectories if t.verified]
        assert len(kept) <= 1  # the best-judged one of the problem's samples
        names = {t.attempts[0].sample.system_prompt for t in record.trajectories}
        assert names <= {"terse", "chatty"} and names
        for trajectory in kept:
            assert trajectory.attempts[-1].judgement.scores["correctness"] == 5


@pytest.mark.docker
def test_translate_and_explain_jobs_make_the_records_of_local_runs(
    tmp_path, sandbox, docker_sandbox, redis_server, workers
):
    record_world(tmp_path, 6, sandbox)  # verified Python records in tmp_path/local
    source = str(tmp_path / "local")
    translate = write_spec(
        tmp_path,
        "translated",
        kind="translate",
        source=source,
        languages=["javascript"],
        max_attempts=2,
        chunk_slots=2,
        engine_factory="tests.fleet.kinds:translate_engine",
    )
    explain = write_spec(
        tmp_path,
        "explained",
        kind="explain",
        source=source,
        judge=True,
        chunk_slots=2,
        engine_factory="tests.fleet.kinds:explain_engine",
    )
    translated = local_run(
        translate, kinds.translate_respond, docker_sandbox, tmp_path / "local-translated"
    )
    explained = local_run(explain, kinds.explain_respond, sandbox, tmp_path / "local-explained")
    assert translated and set(translated.values()) == {"verified"}
    assert explained and set(explained.values()) == {"verified"}
    workers.start("generate", "g1")
    workers.start("verify", "v1", sandbox="docker")
    jobs = [submit_job(spec, redis_server.url) for spec in (translate, explain)]
    for job in jobs:
        finished(job, redis_server)
    assert_exactly(tmp_path / "translated", translated)
    assert_exactly(tmp_path / "explained", explained)
    record = next(iter(RunStore(tmp_path / "translated").records()))
    attempts = record.trajectories[0].attempts
    assert (record.kind, record.problem.language) == ("translate", "javascript")
    assert [a.verdict.stage for a in attempts] == ["compile", "ok"]  # corrected on the fleet
    judged = next(iter(RunStore(tmp_path / "explained").records())).trajectories[0].attempts[0]
    assert judged.verdict.reason == "rebuild_passes"
    assert judged.judgement.scores == {"faithfulness": 5}
