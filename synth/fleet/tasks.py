"""The fleet's tasks. Each is idempotent, so at-least-once delivery makes exactly-once data.

- `generate_chunk(job, chunk)` (queue "generate"): runs the job's pipeline kind (code,
  math, translate or explain: synth.fleet.jobs.job_kind) over the chunk's slots with this
  worker's engine, on the same scheduler as a local run. Every check goes to the verify
  queue and the scheduler keeps several batches in flight meanwhile, so the engine is not
  idle while they run. A batch's check goes as several messages (`Check.split`), so it
  spreads over the verify workers. Records are written shard by shard as batches finish;
  a redelivered chunk skips the slots already stored (record ids are deterministic). A
  chunk delivered more than `max_deliveries` times (its worker kept dying) is parked with
  the reason.
- `check(message)` (queue "verify"): one check (synth.checks), rebuilt from its JSON and
  run with this worker's sandbox and answer checkers.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time

import redis
from celery.exceptions import Reject
from celery.exceptions import TimeoutError as CeleryTimeoutError
from celery.signals import worker_process_shutdown
from kombu.exceptions import OperationalError

from synth.checks import Check, CheckTools, check_from_json
from synth.counts import count_records
from synth.errors import SynthError
from synth.fleet.app import app, check_timeout, redis_url, visibility_timeout
from synth.fleet.jobs import chunk, job_kind, job_spec, output_dir
from synth.fleet.state import JobState, connect
from synth.pipelines.scheduler import Scheduler
from synth.store import RunStore

log = logging.getLogger(__name__)


class Cancelled(Exception):
    pass


class _Worker:
    """What one worker process keeps between tasks: its engine, or its check tools."""

    lock = threading.Lock()
    engine = None
    engine_settings = None  # what the engine was opened with (and the seed)
    kind = None  # the last job's pipeline kind, and its id
    kind_job = None
    tools: CheckTools | None = None
    sandbox_kind = "auto"


def configure_worker(sandbox_kind: str) -> None:
    _Worker.sandbox_kind = sandbox_kind


def _tools() -> CheckTools:
    """This verify process's sandbox (one warm container: the processes are the
    parallelism) and answer checkers, made on its first check."""
    with _Worker.lock:
        if _Worker.tools is None:
            _allow_checker_processes()
            from synth.sandbox import get_sandbox

            options = {} if _Worker.sandbox_kind == "bubblewrap" else {"pool_size": 1}
            sandbox = get_sandbox(_Worker.sandbox_kind, **options)
            log.info("sandbox: %s %s", sandbox.describe(), sandbox.auto_reason)
            _Worker.tools = CheckTools(sandbox, workers=1)
        return _Worker.tools


def _kind(job_id: str, spec):
    """The job's pipeline kind, kept for the job's next chunk: its inputs (a source run's
    records, a problems file, the taxonomy) are read once per process, not once per chunk.
    Reusing it is safe: a kind's batches keep no state, and what it remembers of stored
    records (the near-duplicate index) it is shown again, idempotently, every chunk."""
    if _Worker.kind_job != job_id:
        _Worker.kind, _Worker.kind_job = job_kind(spec), job_id
    return _Worker.kind


def _allow_checker_processes() -> None:
    """Let this verify process start the answer checker's processes (math checks bound
    sympy's time and memory in processes of their own).

    A process of Celery's prefork pool (billiard) is daemonic, and multiprocessing refuses
    children to a daemonic process, lest they outlive it when it is terminated. These
    children do not: they are stopped when the process shuts down (`_close_tools`), and a
    process killed outright takes them along (they share its process group, and pebble's
    workers exit when their parent's pipe closes). billiard also stands in for
    multiprocessing's current process with an authentication key multiprocessing refuses to
    hand to a fork server; this process gets a key of multiprocessing's own."""
    process = multiprocessing.current_process()
    process._config["daemon"] = False
    process._config["authkey"] = multiprocessing.process.AuthenticationString(os.urandom(32))


@worker_process_shutdown.connect
def _close_tools(**_: object) -> None:
    if _Worker.tools is not None:
        _Worker.tools.close()
        _Worker.tools.sandbox.close()


def _engine(settings, seed: int):
    """One engine per process, kept while jobs ask for the same one."""
    from synth.engines.registry import open_engine

    wanted = (settings, seed)
    with _Worker.lock:
        if _Worker.engine_settings != wanted:
            if _Worker.engine is not None:
                _Worker.engine.close()
            _Worker.engine, _Worker.engine_settings = open_engine(settings, seed), wanted
        return _Worker.engine


BROKER_ERRORS = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    OperationalError,
    ConnectionError,
)


def remote_check(check: Check):
    """Ship a batch's check to the verify queue in parts (`Check.split`) and wait for all
    of them (in a scheduler check thread): the parts run on whichever verify workers are
    free, and their results join into the check's.

    Waiting on other tasks inside this one is what Celery's guide warns against; here it is
    the design. The batch is a generator suspended in this process, holding its dialogs,
    and its feedback rounds must go back to this worker's engine; the wait blocks a check
    thread, not the engine, which meanwhile serves the chunk's other batches; and the parts
    run on the verify queue's own workers, so no worker waits on itself (the deadlock the
    warning is about). A chord would have to persist the batch's state and route its
    continuation back to this engine: more moving parts for the same behaviour.

    A part whose answer does not come within `check_timeout()` (its verify worker died, or
    Redis restarted and lost the reply) is sent again; checks are pure, so running one twice
    costs time, never data. It waits as long as it takes for a verify worker to exist."""
    parts = check.split()
    messages = [part.model_dump(mode="json") for part in parts]
    sent = [_send(message) for message in messages]
    answers = [_answer(message, result) for message, result in zip(messages, sent, strict=True)]
    return check.join(
        [part.result_from_json(answer) for part, answer in zip(parts, answers, strict=True)]
    )


def _send(message: dict):
    """The sent message's result handle, or None when Redis is away (sent again later)."""
    try:
        return check.apply_async(args=(message,), queue="verify")
    except BROKER_ERRORS as exc:
        log.warning("Redis went away sending a check (%s); sending it again", exc)
        return None


def _answer(message: dict, result):
    """Wait for one check's answer. A check a verify worker took but did not answer within
    `check_timeout()` is sent again (its worker died, or Redis lost the reply); one still
    waiting in the queue is waited for, so a long queue does not grow by resends (after the
    visibility timeout it is sent again too: Redis may have lost it). A check that failed
    on its verify worker raises here, and its chunk is parked with the worker's error."""
    queued_for = 0.0
    while True:
        try:
            if result is None:
                result = check.apply_async(args=(message,), queue="verify")
            value = result.get(
                timeout=check_timeout(), propagate=False, disable_sync_subtasks=False
            )
        except CeleryTimeoutError:
            queued_for += check_timeout()
            if _still_queued(result) and queued_for < visibility_timeout():
                log.info("a check is still queued after %d s; waiting", queued_for)
                continue
            log.warning("no answer to a check within %d s; sending it again", check_timeout())
        except BROKER_ERRORS as exc:
            log.warning("Redis went away during a check (%s); sending it again", exc)
            time.sleep(1.0)
        except RuntimeError as exc:  # the result store's listener gave up reconnecting
            if not isinstance(exc.__cause__, BROKER_ERRORS):
                raise
            log.warning("Redis went away during a check (%s); sending it again", exc.__cause__)
            time.sleep(1.0)
        else:
            if result.failed():
                raise SynthError("a check", f"failed on its verify worker: {value!r}")
            result.forget()
            return value
        result, queued_for = None, 0.0


def _still_queued(result) -> bool:
    """Whether no verify worker has taken the check yet (its state is set when one does)."""
    try:
        return result.state == "PENDING"
    except BROKER_ERRORS:
        return False


@app.task(name="synth.check", acks_late=True, reject_on_worker_lost=True)
def check(message: dict):
    found = check_from_json(message)
    return found.result_json(found.run(_tools()))


@app.task(
    name="synth.generate_chunk", acks_late=True, reject_on_worker_lost=True, ignore_result=True
)
def generate_chunk(job_id: str, chunk_number: int) -> str:
    state = JobState(connect(redis_url()), job_id)
    if not state.exists():
        return "no such job"  # never fully queued, or deleted: nothing to do
    if state.status() == "cancelled":
        return "cancelled"
    spec = job_spec(state.spec())
    attempt = state.begin(chunk_number)
    if attempt > spec.max_deliveries:
        reason = f"its worker died {attempt - 1} times running it (last: {time.ctime()})"
        state.park(chunk_number, reason)
        log.error("job %s chunk %d parked: %s", job_id, chunk_number, reason)
        return "parked"
    last_look = [0.0]

    def watch(stats) -> None:
        if time.monotonic() - last_look[0] > 1.0:  # at most one Redis read a second
            last_look[0] = time.monotonic()
            try:
                cancelled = state.status() == "cancelled"
            except BROKER_ERRORS:
                return  # Redis is away for a moment: look again later
            if cancelled:
                raise Cancelled()

    def stored(records) -> None:
        _patiently(lambda: state.add_counts(count_records(records)))

    slots = chunk(spec, state.slots(), chunk_number)
    while True:  # a Redis restart mid-chunk: wait for it, then go on (stored slots skip)
        try:
            kind = _kind(job_id, spec)
            engine = _engine(spec.engine_settings(), spec.seed)
            scheduler = Scheduler(
                engine,
                RunStore(output_dir(spec)),
                remote_check,
                spec,
                on_update=watch,
                on_stored=stored,
            )
            scheduler.run(kind, slots)
            break
        except Cancelled:
            return "cancelled"
        except BROKER_ERRORS as exc:
            log.warning("job %s chunk %d: Redis went away (%s); waiting", job_id, chunk_number, exc)
            _patiently(lambda: connect(redis_url()))
        except Exception as exc:  # noqa: BLE001 - a chunk that fails fails the same way again
            _patiently(lambda exc=exc: state.park(chunk_number, f"{exc.__class__.__name__}: {exc}"))
            log.exception("job %s chunk %d parked", job_id, chunk_number)
            return "parked"
    _patiently(lambda: state.done(chunk_number))
    return "done"


def _patiently(action, patience_s: float = 600.0):
    """Do `action`, retrying while Redis is away (a restart); then give the message back."""
    deadline = time.monotonic() + patience_s
    while True:
        try:
            return action()
        except (*BROKER_ERRORS, SynthError) as exc:
            if time.monotonic() > deadline:
                raise Reject(exc, requeue=True) from None
            time.sleep(0.5)
