"""The fleet's tasks. Each is idempotent, so at-least-once delivery makes exactly-once data.

- `generate_chunk(job, chunk)` (queue "generate"): runs the local pipeline over the chunk's
  slots with this worker's engine. Its shippable checks go to the verify queue and the
  pipeline keeps several batches in flight meanwhile, so the engine is not idle while they
  run. A batch's check goes as several messages, so it spreads over the verify workers.
  Records are written shard by shard as batches finish; a redelivered chunk skips the slots
  already stored (record ids are deterministic). A chunk delivered more than
  `max_attempts` times (its worker kept dying) is parked with the reason.
- `check(message)` (queue "verify"): one check (checks.py) on this worker's sandbox.
"""

from __future__ import annotations

import logging
import threading
import time

import redis
from celery.exceptions import Reject
from celery.exceptions import TimeoutError as CeleryTimeoutError
from kombu.exceptions import OperationalError

from synth.errors import SynthError
from synth.fleet.app import app, check_timeout, redis_url, visibility_timeout
from synth.fleet.checks import decode_result, encode, join, run_encoded, split
from synth.fleet.jobs import JobSpec, output_dir
from synth.fleet.state import JobState, connect
from synth.pipelines.code import CodePipeline
from synth.pipelines.math import MathPipeline
from synth.pipelines.scheduler import CheckTask
from synth.store import RunStore

log = logging.getLogger(__name__)


class Cancelled(Exception):
    pass


class _Worker:
    """What one worker process keeps between tasks: its engine and its sandbox."""

    lock = threading.Lock()
    engine = None
    engine_settings = None  # what the engine was opened with
    sandbox = None
    sandbox_kind = "auto"


def configure_worker(sandbox_kind: str) -> None:
    _Worker.sandbox_kind = sandbox_kind


def _sandbox():
    with _Worker.lock:
        if _Worker.sandbox is None:
            from synth.sandbox import get_sandbox

            # one warm container per verify process: the processes are the parallelism
            options = {} if _Worker.sandbox_kind == "bubblewrap" else {"pool_size": 1}
            _Worker.sandbox = get_sandbox(_Worker.sandbox_kind, **options)
            log.info("sandbox: %s %s", _Worker.sandbox.describe(), _Worker.sandbox.auto_reason)
        return _Worker.sandbox


def _engine(spec: JobSpec):
    """One engine per process, kept while jobs ask for the same one."""
    from synth.engines.registry import open_engine

    settings = spec.engine_settings()
    with _Worker.lock:
        if _Worker.engine_settings != settings:
            if _Worker.engine is not None:
                _Worker.engine.close()
            _Worker.engine, _Worker.engine_settings = open_engine(settings), settings
        return _Worker.engine


BROKER_ERRORS = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    OperationalError,
    ConnectionError,
)


def remote_check(task: CheckTask):
    """Ship a batch's check to the verify queue in parts (checks.split) and wait for all of
    them (in a pipeline check thread): the parts run on whichever verify workers are free.

    A part whose answer does not come within `check_timeout()` (its verify worker died, or
    Redis restarted and lost the reply) is sent again; checks are pure, so running one twice
    costs time, never data. It waits as long as it takes for a verify worker to exist."""
    messages = [encode(part) for part in split(task)]
    sent = [_send(message) for message in messages]
    answers = [_answer(message, result) for message, result in zip(messages, sent, strict=True)]
    return join(task.kind, [decode_result(task.kind, answer) for answer in answers])


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
    return run_encoded(message, _sandbox())


@app.task(
    name="synth.generate_chunk", acks_late=True, reject_on_worker_lost=True, ignore_result=True
)
def generate_chunk(job_id: str, chunk: int) -> str:
    state = JobState(connect(redis_url()), job_id)
    if not state.exists():
        return "no such job"  # never fully queued, or deleted: nothing to do
    if state.status() == "cancelled":
        return "cancelled"
    spec = JobSpec.model_validate(state.spec())
    attempt = state.begin(chunk)
    if attempt > spec.max_attempts:
        reason = f"its worker died {attempt - 1} times running it (last: {time.ctime()})"
        state.park(chunk, reason)
        log.error("job %s chunk %d parked: %s", job_id, chunk, reason)
        return "parked"
    from synth.taxonomy import default_taxonomy_path, load_taxonomy

    taxonomy = load_taxonomy(spec.taxonomy or default_taxonomy_path())
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

    pipeline_class = MathPipeline if taxonomy.domain == "math" else CodePipeline
    while True:  # a Redis restart mid-chunk: wait for it, then go on (stored slots skip)
        pipeline = pipeline_class(
            taxonomy,
            _engine(spec),
            _sandbox(),  # checks that cannot be shipped (math) run here
            RunStore(output_dir(spec)),
            spec.run_config(),
            on_update=watch,
            remote_checks=remote_check,
        )
        try:
            pipeline.run(spec.chunk(chunk))
            break
        except Cancelled:
            return "cancelled"
        except BROKER_ERRORS as exc:
            log.warning("job %s chunk %d: Redis went away (%s); waiting", job_id, chunk, exc)
            _patiently(lambda: connect(redis_url()))
        except Exception as exc:  # noqa: BLE001 - a chunk that fails fails the same way again
            _patiently(lambda exc=exc: state.park(chunk, f"{exc.__class__.__name__}: {exc}"))
            log.exception("job %s chunk %d parked", job_id, chunk)
            return "parked"
    _patiently(lambda: state.done(chunk))
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
