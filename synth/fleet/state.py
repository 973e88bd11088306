"""A job's state in Redis: its spec, status, and which chunks are done, parked or tried.

Keys (all under synth:job:<id>): the hash itself (spec, status, created, slots, chunks),
`:done` (set of chunk numbers), `:parked` (hash chunk -> reason), `:attempts` (hash chunk ->
deliveries so far), `:counts` (hash: the counts of the records stored so far, added to as
each batch is stored, so a job's status reads a few keys whatever its size). The effects
of a chunk are its records in the run directory; the state only says what is finished, so
a chunk run twice (a redelivery) is harmless to the data. The counts are the exception:
two deliveries of one chunk running at once each store, and count, the same records (the
store reads such a record once); so the run directory stays the source of truth, and a
job's counts are recounted from it once the job is finished (`recounted`).
"""

from __future__ import annotations

import json
import time

import redis

from synth.counts import RunCounts
from synth.errors import SynthError

# A job's status: queued (until every chunk is done or parked), cancelled, finished.


def connect(url: str) -> redis.Redis:
    """A Redis client, checked with a ping (one clear error when Redis is not there)."""
    client = redis.Redis.from_url(url, decode_responses=True, socket_connect_timeout=5)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise SynthError(
            "--redis", f"Redis does not answer at {url}: {exc}", "start it, or pass --redis URL"
        ) from None
    return client


class JobState:
    def __init__(self, client: redis.Redis, job_id: str) -> None:
        self.client = client
        self.id = job_id
        self.key = f"synth:job:{job_id}"

    # --- the job ----------------------------------------------------------------------

    def create(self, spec: dict, slots: int, chunks: int) -> None:
        """A new job: its spec (as JSON), its slot count (fixed at submission: a source run
        that grows later does not move the chunks) and its chunk count."""
        self.client.hset(
            self.key,
            mapping={
                "spec": json.dumps(spec),
                "status": "queued",
                "created": time.time(),
                "slots": slots,
                "chunks": chunks,
            },
        )
        self.client.zadd("synth:jobs", {self.id: time.time()})

    def delete(self) -> None:
        suffixes = (":done", ":parked", ":attempts", ":counts")
        self.client.delete(self.key, *(self.key + s for s in suffixes))
        self.client.zrem("synth:jobs", self.id)

    def exists(self) -> bool:
        return bool(self.client.exists(self.key))

    def require(self) -> JobState:
        if not self.exists():
            raise SynthError("JOB", f"no job {self.id!r} in this Redis")
        return self

    def spec(self) -> dict:
        return json.loads(self.client.hget(self.key, "spec"))

    def status(self) -> str:
        return self.client.hget(self.key, "status") or "unknown"

    def set_status(self, status: str) -> None:
        self.client.hset(self.key, "status", status)

    def created(self) -> float:
        return float(self.client.hget(self.key, "created") or 0)

    def chunks(self) -> int:
        return int(self.client.hget(self.key, "chunks") or 0)

    def slots(self) -> int:
        return int(self.client.hget(self.key, "slots") or 0)

    # --- chunks -----------------------------------------------------------------------

    def begin(self, chunk: int) -> int:
        """Count a delivery of `chunk`; returns how many there have been."""
        return int(self.client.hincrby(self.key + ":attempts", str(chunk), 1))

    def done(self, chunk: int) -> None:
        self.client.sadd(self.key + ":done", chunk)
        self._finish_if_complete()

    def park(self, chunk: int, reason: str) -> None:
        self.client.hset(self.key + ":parked", str(chunk), reason)
        self._finish_if_complete()

    def done_chunks(self) -> set[int]:
        return {int(c) for c in self.client.smembers(self.key + ":done")}

    def parked(self) -> dict[int, str]:
        return {int(k): v for k, v in self.client.hgetall(self.key + ":parked").items()}

    def unpark_all(self) -> None:
        """Forget the parked chunks and every chunk's delivery count (a resume retries them)."""
        self.client.delete(self.key + ":parked", self.key + ":attempts")

    def open_chunks(self) -> list[int]:
        closed = self.done_chunks() | set(self.parked())
        return [c for c in range(self.chunks()) if c not in closed]

    # --- counts -----------------------------------------------------------------------

    def add_counts(self, counts: RunCounts) -> None:
        """Add the counts of records just stored (one round trip)."""
        with self.client.pipeline(transaction=True) as pipe:
            for field, value in _fields(counts).items():
                pipe.hincrby(self.key + ":counts", field, value)
            pipe.execute()

    def counts(self) -> RunCounts | None:
        """The counts added so far, or None for a job that never counted (one from an older
        synth: count its run directory instead)."""
        fields = self.client.hgetall(self.key + ":counts")
        return _counts(fields) if fields else None

    def recounted(self) -> bool:
        return self.client.hget(self.key, "recounted") == "1"

    def reopen(self) -> None:
        """A resumed job stores records again: its next finish is recounted again."""
        self.client.hdel(self.key, "recounted")

    def set_counts(self, counts: RunCounts) -> None:
        """Replace the counts with a recount from the run directory (the source of truth)."""
        with self.client.pipeline(transaction=True) as pipe:
            pipe.delete(self.key + ":counts")
            pipe.hset(self.key + ":counts", mapping={"slots_done": 0, **_fields(counts)})
            pipe.hset(self.key, "recounted", "1")
            pipe.execute()

    def _finish_if_complete(self) -> None:
        if not self.open_chunks() and self.status() == "queued":
            self.set_status("finished")


_REJECTED = "rejected:"


def _fields(counts: RunCounts) -> dict[str, int]:
    """RunCounts as the fields of a Redis hash (rejections one field each)."""
    fields = {
        name: getattr(counts, name) for name in RunCounts.__dataclass_fields__ if name != "rejected"
    }
    fields |= {_REJECTED + key: n for key, n in counts.rejected.items()}
    return {name: int(value) for name, value in fields.items() if value}


def _counts(fields: dict[str, str]) -> RunCounts:
    counts = RunCounts()
    for name, value in fields.items():
        if name.startswith(_REJECTED):
            counts.rejected[name.removeprefix(_REJECTED)] = int(value)
        elif name in RunCounts.__dataclass_fields__:
            setattr(counts, name, int(value))
    return counts
