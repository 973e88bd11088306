"""The Celery app: Redis as broker and result store, one queue per kind of worker.

Reliability settings (at-least-once delivery; every task's effects are idempotent):
- late acknowledgement: a message is acknowledged when its task finished, so a worker that
  dies mid-task leaves it to be delivered again;
- `task_reject_on_worker_lost`: a pool process that dies gives its message back at once;
  a whole worker killed gives it back when Redis's visibility timeout expires, which must
  exceed the longest task (SYNTH_VISIBILITY_TIMEOUT, seconds; 2 hours by default), at the
  next look for such messages (every 10 s, or a third of a shorter timeout);
- prefetch 1: a long task never holds a second message hostage;
- a broker restart is waited out: the consumer reconnects without a retry limit, and a
  task's result is stored again until Redis is back (see `_reconnect_after_a_lost_broker`).

Queues: "generate" (chunks of slots; a process holds one engine) and "verify" (checks; a
process holds a sandbox). The broker URL comes from SYNTH_REDIS_URL. A check that a verify
worker took but did not answer within SYNTH_CHECK_TIMEOUT is sent again
(tasks.remote_check), so a dead verify worker costs that long, not a visibility timeout.
"""

from __future__ import annotations

import os

from celery import Celery
from kombu import Queue

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def redis_url() -> str:
    return os.environ.get("SYNTH_REDIS_URL", DEFAULT_REDIS_URL)


def visibility_timeout() -> int:
    return int(os.environ.get("SYNTH_VISIBILITY_TIMEOUT", 7200))


def check_timeout() -> int:
    """Seconds a generate worker waits for a check's answer before sending it again
    (SYNTH_CHECK_TIMEOUT; 10 minutes by default, well above a batch's sandbox time)."""
    return int(os.environ.get("SYNTH_CHECK_TIMEOUT", 600))


def _reconnect_after_a_lost_broker() -> None:
    """Let a worker survive a broker connection lost while it holds an unacked message.

    kombu (5.7) closes the worker's task channel twice on that path; the second close
    restores the unacked messages through a connection whose client was already dropped,
    so `Channel._connparams` raises AttributeError ('NoneType' ... 'hostname'), which no
    handler expects, and the worker exits instead of reconnecting. Raising the connection
    error kombu expects there lets it reconnect; the message stays in Redis's unacked set and
    comes back after the visibility timeout, as for any lost consumer."""
    import redis
    from kombu.transport import redis as kombu_redis

    original = kombu_redis.Channel._connparams
    if getattr(original, "synth_guard", False):
        return

    def connparams(self, asynchronous=False):
        if self.connection is None or self.connection.client is None:
            raise redis.exceptions.ConnectionError("channel used after its connection closed")
        return original(self, asynchronous=asynchronous)

    connparams.synth_guard = True
    kombu_redis.Channel._connparams = connparams


def make_app() -> Celery:
    url = redis_url()
    app = Celery("synth", broker=url, backend=url, include=["synth.fleet.tasks"])
    visibility = visibility_timeout()
    transport = {
        "visibility_timeout": visibility,
        # how often a worker looks for messages whose consumer died (unacked for longer than
        # the visibility timeout) to give them back: kombu's default looks every 100 s
        "unacked_restore_interval": max(1, min(10, visibility // 3)),
        "unacked_restore_throttle": 1,
    }
    app.conf.update(
        task_queues=(Queue("generate"), Queue("verify")),
        task_default_queue="generate",
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_track_started=True,  # a check taken by a worker is STARTED, not PENDING
        broker_transport_options=transport,
        # the result store's own reconnects (20 tries a second apart by default) would give
        # up during a longer Redis restart and fail the waiting check
        result_backend_transport_options={
            **transport,
            "retry_policy": {"max_retries": None, "interval_start": 0, "interval_max": 2},
        },
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,  # wait out a Redis restart, however long
        result_backend_always_retry=True,  # a result stored during a restart is stored again
        result_backend_max_retries=120,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_expires=7 * 24 * 3600,
        worker_hijack_root_logger=False,
        worker_send_task_events=True,  # Flower's live view
        task_send_sent_event=True,
    )
    return app


_reconnect_after_a_lost_broker()
app = make_app()
