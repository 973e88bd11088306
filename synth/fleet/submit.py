"""Submit, inspect, cancel and resume jobs (the library behind `synth submit` and friends)."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from synth.counts import run_counts
from synth.errors import SynthError
from synth.fleet.jobs import chunk_count, job_settings, job_spec, load_job, output_dir, validate_job
from synth.fleet.state import JobState, connect
from synth.store import RunStore


def submit_job(path: Path, redis: str) -> str:
    """Validate the spec and everything it names, then queue its chunks; returns the job id.
    A run directory that holds another run (other settings) is refused, as a local resume
    would be. When queueing fails part way, the job is deleted and its queued chunks do
    nothing."""
    from synth.resume import check_settings

    spec = load_job(path)
    slots = validate_job(spec, str(path))
    store = RunStore(output_dir(spec))
    settings = {**job_settings(spec), "problems": slots}
    check_settings(store, settings)
    client = connect(redis)
    job_id = time.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)
    state = JobState(client, job_id)
    store.write_settings({**settings, "job": job_id})
    chunks = chunk_count(spec, slots)
    # the stored spec holds what the files it named said (judge, system prompts): workers
    # never read those files
    state.create(spec.model_dump(mode="json"), slots, chunks)
    try:
        _queue(job_id, range(chunks), redis)
    except Exception as exc:  # noqa: BLE001 - the broker went away mid-way
        state.delete()
        raise SynthError("--redis", f"queueing failed, nothing of the job is left: {exc}") from None
    return job_id


def _queue(job_id: str, chunks, redis: str) -> None:
    """Send the chunks' messages to the generate queue of the broker at `redis`."""
    from synth.fleet.app import app
    from synth.fleet.tasks import generate_chunk

    with app.connection_for_write(redis) as connection, connection.Producer() as producer:
        for chunk in chunks:
            generate_chunk.apply_async(args=(job_id, chunk), queue="generate", producer=producer)


def cancel_job(job_id: str, redis: str) -> None:
    JobState(connect(redis), job_id).require().set_status("cancelled")


def resume_job(job_id: str, redis: str) -> int:
    """Queue again every chunk not done (parked ones included); returns how many."""
    state = JobState(connect(redis), job_id).require()
    state.unpark_all()
    state.reopen()
    chunks = state.open_chunks()
    state.set_status("queued" if chunks else "finished")
    _queue(job_id, chunks, redis)
    return len(chunks)


@dataclass
class JobStatus:
    id: str
    status: str
    kind: str  # generate, translate or explain
    problems: int  # the job's slots
    records: int
    verified: int
    rejected: dict[str, int]
    chunks: int
    chunks_done: int
    parked: dict[int, str]
    elapsed_s: float
    records_per_s: float
    eta_s: float | None
    output: str

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def job_status(job_id: str, redis: str) -> JobStatus:
    """A job's progress. While it runs, its counts are the ones its workers add in Redis as
    they store records (a few keys, whatever the job's size); once it is finished, they
    are recounted from its run directory, the source of truth, once."""
    state = JobState(connect(redis), job_id).require()
    spec = job_spec(state.spec())
    counts = state.counts()
    if counts is None or (state.status() == "finished" and not state.recounted()):
        counts = run_counts(RunStore(output_dir(spec)))
        if state.status() == "finished":
            state.set_counts(counts)
    records, verified = counts.slots_done, counts.problems_with_verified_solution
    rejected = dict(counts.rejected)
    elapsed = max(time.time() - state.created(), 1e-9)
    rate = records / elapsed
    slots = state.slots()
    remaining = slots - records
    return JobStatus(
        id=job_id,
        status=state.status(),
        kind=spec.kind,
        problems=slots,
        records=records,
        verified=verified,
        rejected=rejected,
        chunks=state.chunks(),
        chunks_done=len(state.done_chunks()),
        parked=state.parked(),
        elapsed_s=round(elapsed, 1),
        records_per_s=round(rate, 3),
        eta_s=round(remaining / rate, 1) if rate > 0 and remaining > 0 else None,
        output=str(output_dir(spec)),
    )
