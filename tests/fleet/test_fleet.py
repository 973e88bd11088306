"""The fleet end to end: a real Redis server (AOF on), real `synth worker` processes, and the
faults it must survive. Every job must end with exactly the records a local run of the same
job makes: none lost, none stored twice."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import fsspec
import pytest
import redis

from synth.fleet.jobs import chunk, load_job
from synth.fleet.submit import cancel_job, job_status, resume_job, submit_job
from synth.records import record_id
from synth.store import RunStore
from tests.fleet.world import job_spec, record_world

pytestmark = [pytest.mark.slow, pytest.mark.sandbox, pytest.mark.fleet]

# Where a chunk may be delivered twice, the workers answer from the world's model itself
# (a pure function of each request), not from the replay file, whose answers to repeated
# prompts are served in file order per process.
SCRIPTED = {"engine": "python", "engine_factory": "tests.fleet.world:scripted_engine"}


def wait_for(condition, timeout_s: float, what: str, tick=None):
    """Poll `condition` until true (calling `tick` between looks); fail after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        if tick is not None:
            tick()
        time.sleep(0.2)


def stored_lines(run: str | Path) -> Counter:
    """How many times each record id is in the shards (before any read-time dedup), in a
    local run directory or an object store's."""
    fs, root = fsspec.core.url_to_fs(str(run))
    fs.invalidate_cache()
    counts: Counter = Counter()
    for shard in sorted(fs.glob(f"{root}/records/shard-*.jsonl")):
        for line in fs.cat_file(shard).decode().split("\n"):
            if line.strip():
                counts[json.loads(line)["id"]] += 1
    return counts


def assert_exactly(run: str | Path, expected: dict[str, str]) -> None:
    lines = stored_lines(run)
    assert set(lines) == set(expected), "records lost or extra"
    assert max(lines.values()) == 1, "a record was stored twice"
    assert {r.id: r.status for r in RunStore(run).records()} == expected


@pytest.fixture
def world(tmp_path, sandbox):
    return lambda problems: record_world(tmp_path, problems, sandbox)


def first_records(run: Path):
    return lambda: bool(stored_lines(run))


def test_a_job_runs_on_the_fleet_and_makes_the_records_of_a_local_run(
    tmp_path, world, redis_server, workers
):
    taxonomy, replay, expected = world(16)
    spec = job_spec(tmp_path, taxonomy, replay, 16, chunk_slots=4)
    workers.start("generate", "g1")
    workers.start("verify", "v1")
    job = submit_job(spec, redis_server.url)
    wait_for(lambda: job_status(job, redis_server.url).status == "finished", 120, "the job")
    assert_exactly(tmp_path / "fleet-run", expected)
    status = job_status(job, redis_server.url)
    assert (status.records, status.chunks_done, status.parked) == (16, 4, {})
    assert status.verified == sum(s == "verified" for s in expected.values())


def test_a_job_stores_its_records_in_an_object_store_and_exports_like_a_local_run(
    tmp_path, world, redis_server, workers, object_store
):
    """Output on S3 (the workers find the store through AWS_* in their environment, as
    deployed workers do); `synth export` of the URL gives the local run's dataset."""
    taxonomy, replay, expected = world(12)
    url = object_store.bucket() + "/runs/fleet"
    spec = job_spec(tmp_path, taxonomy, replay, 12, chunk_slots=4, output=url, **SCRIPTED)
    workers.start("generate", "g1")
    workers.start("verify", "v1")
    job = submit_job(spec, redis_server.url)
    wait_for(lambda: job_status(job, redis_server.url).status == "finished", 120, "the job")
    assert_exactly(url, expected)
    assert job_status(job, redis_server.url).output == url

    def export(run: str | Path, out: Path) -> list[str]:
        """The exported rows, less the engine's name (the workers' plug-in names itself)."""
        subprocess.run(
            [sys.executable, "-m", "synth.cli", "export", str(run), "--out", str(out)],
            check=True,
            capture_output=True,
        )
        rows = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
        return sorted(json.dumps({**row, "model": None}, sort_keys=True) for row in rows)

    assert export(url, tmp_path / "s3-export") == export(
        tmp_path / "local", tmp_path / "local-export"
    )


@pytest.mark.parametrize("queue", ["generate", "verify"])
def test_killing_a_worker_mid_job_loses_and_duplicates_nothing(
    tmp_path, world, redis_server, workers, queue
):
    taxonomy, replay, expected = world(24)
    spec = job_spec(tmp_path, taxonomy, replay, 24, chunk_slots=4, **SCRIPTED)
    started = {q: workers.start(q, f"{q[0]}1") for q in ("generate", "verify")}
    job = submit_job(spec, redis_server.url)
    wait_for(first_records(tmp_path / "fleet-run"), 60, "the first records")
    workers.kill(started[queue])  # kill -9, mid-job
    workers.start(queue, f"{queue[0]}2")
    wait_for(lambda: job_status(job, redis_server.url).status == "finished", 180, "the job")
    assert_exactly(tmp_path / "fleet-run", expected)


def test_redis_restarts_mid_job_are_survived_through_its_aof(
    tmp_path, world, redis_server, workers
):
    taxonomy, replay, expected = world(48)
    spec = job_spec(tmp_path, taxonomy, replay, 48, chunk_slots=4, **SCRIPTED)
    # no redelivery of a chunk still running through an outage (that is the kill tests')
    workers.visibility_s = 120
    started = [workers.start("generate", "g1"), workers.start("verify", "v1")]
    job = submit_job(spec, redis_server.url)
    wait_for(first_records(tmp_path / "fleet-run"), 60, "the first records")
    log = tmp_path / "v1.log"
    for restart in (1, 2, 3):  # kombu's reconnect path crashed on some losses (app.py)
        redis_server.stop()
        # Redis stays down until the verify worker noticed (it may hold unacked checks
        # meanwhile, and the generate worker waits for their answers)
        wait_for(
            lambda n=restart: log.read_text().count("Connection to broker lost") >= n,
            60,
            "the worker to notice",
        )
        redis_server.start()
        wait_for(
            lambda n=restart: log.read_text().count("Connected to redis") >= n + 1,
            60,
            "the worker to reconnect",
        )
    wait_for(lambda: job_status(job, redis_server.url).status == "finished", 240, "the job")
    assert_exactly(tmp_path / "fleet-run", expected)
    # the same workers finished it: they reconnected rather than exiting
    assert [w.poll() for w in started] == [None, None]


def test_a_check_waiting_in_the_queue_is_not_sent_again(tmp_path, world, redis_server, workers):
    """Only a check some verify worker took and did not answer is sent again: a long queue
    must not grow by resends. With no verify worker yet, the checks wait past the check
    timeout, the queue keeps its length, and the job ends exactly once they run."""
    taxonomy, replay, expected = world(4)
    spec = job_spec(tmp_path, taxonomy, replay, 4, chunk_slots=4, **SCRIPTED)
    workers.visibility_s = 120  # a queued check is sent again only after this long
    workers.start("generate", "g1")
    job = submit_job(spec, redis_server.url)
    client = redis.Redis.from_url(redis_server.url)
    wait_for(lambda: client.llen("verify") > 0, 60, "the first checks")
    queued = client.llen("verify")
    log = tmp_path / "g1.log"
    wait_for(lambda: "a check is still queued" in log.read_text(), 60, "a check timeout")
    assert client.llen("verify") == queued
    workers.start("verify", "v1")
    wait_for(lambda: job_status(job, redis_server.url).status == "finished", 120, "the job")
    assert_exactly(tmp_path / "fleet-run", expected)


def test_a_poison_chunk_is_parked_after_its_attempts_and_the_rest_finishes(
    tmp_path, world, redis_server, workers, monkeypatch
):
    taxonomy, replay, expected = world(12)
    chunk_slots = 4
    records = {r.id: r for r in RunStore(tmp_path / "local").records()}
    concept_chunks: dict[str, set[int]] = {}
    for slot in range(12):
        for concept in records[record_id(0, slot)].concept_ids:
            concept_chunks.setdefault(concept, set()).add(slot // chunk_slots)
    poison = next(c for c, chunks in sorted(concept_chunks.items()) if len(chunks) == 1)
    (poisoned,) = concept_chunks[poison]
    monkeypatch.setenv("SYNTH_TEST_POISON", f"Concept {poison[1:]}:")
    spec = job_spec(
        tmp_path,
        taxonomy,
        replay,
        12,
        chunk_slots=chunk_slots,
        engine="python",
        engine_factory="tests.fleet.world:crashing_engine",
        max_deliveries=2,
    )
    generate = [workers.start("generate", "g0")]
    workers.start("verify", "v1")
    job = submit_job(spec, redis_server.url)

    def restart_dead_generate_worker():  # what a supervisor (compose `restart:`) does
        if generate[-1].poll() is not None:
            generate.append(workers.start("generate", f"g{len(generate)}"))

    wait_for(
        lambda: job_status(job, redis_server.url).status == "finished",
        240,
        "the job",
        tick=restart_dead_generate_worker,
    )
    status = job_status(job, redis_server.url)
    assert list(status.parked) == [poisoned] and "died 2 times" in status.parked[poisoned]
    kept = {
        rid: s
        for rid, s in expected.items()
        if all(rid != record_id(0, slot) for slot in chunk(load_job(spec), 12, poisoned))
    }
    assert_exactly(tmp_path / "fleet-run", kept)
    assert len(generate) >= 3  # the poison chunk killed its worker twice


def test_a_check_failing_on_its_verify_worker_parks_the_chunk_with_the_error(
    tmp_path, world, redis_server, workers, monkeypatch
):
    """A verify worker whose sandbox cannot start fails every check: the chunk is parked
    with that error (once), not sent again and again."""
    taxonomy, replay, _ = world(4)
    spec = job_spec(tmp_path, taxonomy, replay, 4, chunk_slots=4, **SCRIPTED)
    workers.start("generate", "g1")
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    workers.start("verify", "v1", sandbox="docker")
    job = submit_job(spec, redis_server.url)
    wait_for(lambda: job_status(job, redis_server.url).status == "finished", 120, "the job")
    status = job_status(job, redis_server.url)
    assert list(status.parked) == [0] and status.records == 0
    assert "failed on its verify worker" in status.parked[0]
    assert "no Docker engine answers" in status.parked[0]


def test_cancel_stops_a_job_and_resume_finishes_it(tmp_path, world, redis_server, workers):
    taxonomy, replay, expected = world(16)
    spec = job_spec(tmp_path, taxonomy, replay, 16, chunk_slots=4)
    job = submit_job(spec, redis_server.url)  # no worker yet: everything is queued
    cancel_job(job, redis_server.url)
    workers.start("generate", "g1")
    workers.start("verify", "v1")
    wait_for(lambda: _queue_empty(redis_server.url), 60, "the cancelled chunks to drain")
    assert not stored_lines(tmp_path / "fleet-run")
    assert resume_job(job, redis_server.url) == 4
    wait_for(lambda: job_status(job, redis_server.url).status == "finished", 120, "the job")
    assert_exactly(tmp_path / "fleet-run", expected)


def _queue_empty(url: str) -> bool:
    client = redis.Redis.from_url(url)
    return client.llen("generate") == 0 and not client.hlen("unacked")
