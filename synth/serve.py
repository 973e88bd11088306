"""`synth serve`: synth's verifiers over HTTP, for trainers in other processes or languages.

API (JSON in and out):

    POST /verify   {"items": [ITEM, ...]}  ->  200 {"verdicts": [VERDICT, ...]} in item order
        ITEM     {"completion": str | [{"role", "content"}, ...],
                  "tests": str | [str, ...], "entry_point": str (optional)}      code
                 {"completion": ..., "answer": str | number}                     math
        VERDICT  {"passed", "reward", "reason", "detail", "tests_passed", "tests_total",
                  "share"}  (synth.rewards.Check; "share": tests passed / tests run)
    GET /health    {"status": "ok", "admitted", "queue_size", "verifier"}

Each item is judged exactly as the reward functions judge it (synth.rewards: the same
`Rewards.check`): `tests` and `answer` mean what the dataset columns mean there.

Limits and answers:
- 401 without `Authorization: Bearer <token>` when a token is set (/health stays open);
- 413 when the body passes `max_body_bytes` (by Content-Length before reading, or while
  reading a chunked body) or holds more than `max_items` items;
- 429 with `Retry-After` when `queue_size` requests are admitted already (being read,
  waiting or checked): backpressure, nothing is queued beyond that;
- 400 for a body that is not JSON (or not UTF-8), 422 for JSON of the wrong shape or tests
  that cannot be read whole (synth.rewards.code_suite), with every problem as
  {"item": index, "field": name, "message": ...};
- 408 when the body has not arrived within `request_timeout_s`;
- the request's deadline, `request_timeout_s` from its arrival (reading and parsing the
  body count against it), is a verdict, not an error: items not checked by then come back
  with reason "timeout" (a check already running ends within its own limits; those not
  started are dropped), so a client always gets one verdict per item.
The work of a request (parsing, the static checks, waiting on the sandbox) runs in a thread
pool of `queue_size` threads, so the event loop only reads bodies and writes answers; a slot
is freed when its work is done, even when the client has gone away.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from synth.rewards import Check, CodeItem, MathItem, code_suite, completion_text, reference_answer

log = logging.getLogger(__name__)


class Verifier(Protocol):
    """What the service needs of `synth.rewards.Rewards`."""

    def check(
        self, items, timeout_s: float | None = None, *, deadline: float | None = None
    ) -> list[Check]: ...

    def describe(self) -> str: ...


@dataclass(frozen=True)
class ServeConfig:
    queue_size: int = 16  # requests admitted at once; the next gets 429
    max_body_bytes: int = 8 << 20
    max_items: int = 1024
    request_timeout_s: float = 60.0
    token: str | None = field(default=None, repr=False)  # required on /verify; None: no auth
    retry_after_s: int = 1


class BadRequest(Exception):
    def __init__(self, status: int, message: str, errors: list[dict] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.errors = status, message, errors


def create_app(verifier: Verifier, config: ServeConfig = ServeConfig()) -> Starlette:
    """The ASGI app; `verifier` stays the caller's to close."""
    if config.queue_size < 1 or config.max_items < 1 or config.request_timeout_s <= 0:
        raise ValueError("queue_size and max_items must be at least 1, the timeout above 0")
    work = ThreadPoolExecutor(config.queue_size, thread_name_prefix="serve")
    admitted = [0]  # touched on the event loop only

    async def health(request: Request) -> Response:
        return JSONResponse(
            {
                "status": "ok",
                "admitted": admitted[0],
                "queue_size": config.queue_size,
                "verifier": verifier.describe(),
            }
        )

    async def verify(request: Request) -> Response:
        arrived = time.monotonic()  # the request's deadline counts from here
        deadline = arrived + config.request_timeout_s
        if config.token is not None and not _authorized(request, config.token):
            return _error(401, "a bearer token is required", {"WWW-Authenticate": "Bearer"})
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > config.max_body_bytes):
            if not length.isdigit():
                return _error(400, f"Content-Length is not a number: {length[:40]!r}")
            return _error(413, f"the body is over the limit of {config.max_body_bytes} bytes")
        if admitted[0] >= config.queue_size:
            return _error(
                429,
                f"{config.queue_size} requests are in the queue; retry later",
                {"Retry-After": str(config.retry_after_s)},
            )
        admitted[0] += 1
        loop = asyncio.get_running_loop()
        handed_over = False
        try:
            body = await asyncio.wait_for(
                _read_body(request, config.max_body_bytes),
                max(0.0, deadline - time.monotonic()),
            )
            future = loop.run_in_executor(work, _handle, verifier, config, body, deadline)
            # the slot is the work's: freed when it ends, even if this request is cancelled
            future.add_done_callback(lambda _: _release(admitted))
            handed_over = True
            verdicts = await asyncio.shield(future)
        except BadRequest as exc:
            return _error(exc.status, exc.message, errors=exc.errors)
        except asyncio.TimeoutError:
            return _error(408, f"the body did not arrive within {config.request_timeout_s} s")
        except ClientDisconnect:
            return Response(status_code=400)  # nobody is left to read it
        except Exception:  # a bug: this request fails, the service goes on
            log.exception("serve: a request failed")
            return _error(500, "internal error: the service's log has the traceback")
        finally:
            if not handed_over:
                _release(admitted)
        return JSONResponse({"verdicts": verdicts})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        yield
        work.shutdown(wait=False, cancel_futures=True)

    return Starlette(
        routes=[
            Route("/health", health, methods=["GET"]),
            Route("/verify", verify, methods=["POST"]),
        ],
        lifespan=lifespan,
    )


def _release(admitted: list[int]) -> None:
    admitted[0] -= 1


def _authorized(request: Request, token: str) -> bool:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.encode()
    )


async def _read_body(request: Request, limit: int) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BadRequest(413, f"the body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _handle(verifier: Verifier, config: ServeConfig, body: bytes, deadline: float) -> list[dict]:
    """Parse, validate and check one request's body (in a worker thread), by `deadline`
    (a `time.monotonic()` time: the request's arrival plus its timeout)."""
    items = parse_items(body, config.max_items)
    checks = verifier.check(items, deadline=deadline)
    return [c.model_dump() for c in checks]


def parse_items(body: bytes, max_items: int) -> list[CodeItem | MathItem]:
    """The items of a /verify body; BadRequest (400, 413 or 422) naming what is wrong."""
    try:
        payload = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise BadRequest(400, f"the body is not UTF-8: {exc}") from None
    except json.JSONDecodeError as exc:
        raise BadRequest(400, f"the body is not JSON: {exc}") from None
    except RecursionError:
        raise BadRequest(400, "the body is not JSON this service reads: nested too deep") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("items"), list):
        raise BadRequest(
            422,
            'the body must be {"items": [...]}',
            [{"item": None, "field": "items", "message": "a list of items is required"}],
        )
    raw = payload["items"]
    if not raw:
        raise BadRequest(422, "no items", [{"item": None, "field": "items", "message": "empty"}])
    if len(raw) > max_items:
        raise BadRequest(413, f"{len(raw)} items: at most {max_items} per request")
    items, errors = [], []
    for index, entry in enumerate(raw):
        try:
            items.append(_item(entry))
        except _FieldError as exc:
            errors.append({"item": index, "field": exc.field, "message": exc.message})
    if errors:
        first = errors[0]
        message = f"item {first['item']}, field {first['field']}: {first['message']}"
        if len(errors) > 1:
            message += f" (and {len(errors) - 1} more)"
        raise BadRequest(422, message, errors)
    return items


class _FieldError(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


def _item(entry: object) -> CodeItem | MathItem:
    if not isinstance(entry, dict):
        raise _FieldError("", "an item is an object with completion and tests or answer")
    if "completion" not in entry:
        raise _FieldError("completion", "missing")
    completion = entry["completion"]
    if completion_text(completion) is None:
        raise _FieldError("completion", "a string or a list of {role, content} messages")
    has_tests, has_answer = entry.get("tests") is not None, entry.get("answer") is not None
    if has_tests == has_answer:
        field = "tests" if not has_tests else "answer"
        raise _FieldError(field, "give tests (code) or answer (math), exactly one")
    if has_answer:
        try:
            return MathItem(completion, reference_answer(entry["answer"]))
        except ValueError as exc:
            raise _FieldError("answer", str(exc)) from None
    entry_point = entry.get("entry_point") or ""
    if not isinstance(entry_point, str):
        raise _FieldError("entry_point", "a function name (a string)")
    try:
        code_suite(entry["tests"], entry_point)
    except ValueError as exc:
        field = "entry_point" if str(exc).startswith("entry_point") else "tests"
        raise _FieldError(field, str(exc)) from None
    except Exception as exc:  # the tests broke the reader: theirs, not the service's
        log.warning("serve: tests could not be read", exc_info=True)
        raise _FieldError("tests", f"could not be read: {type(exc).__name__}") from None
    return CodeItem(completion, entry["tests"], entry_point)


def _error(
    status: int, message: str, headers: dict | None = None, errors: list | None = None
) -> Response:
    body: dict = {"error": message}
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, headers=headers)


def bind(host: str, port: int):
    """A listening socket on (host, port); port 0 takes a free one (see getsockname())."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=256)


def serve(
    verifier: Verifier,
    config: ServeConfig,
    host: str = "127.0.0.1",
    port: int = 8000,
    on_ready=None,
    log_level: str = "warning",
) -> None:
    """Serve until SIGINT or SIGTERM; `on_ready(host, port)` once the socket is bound."""
    import uvicorn

    sock = bind(host, port)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(verifier, config),
            log_level=log_level,
            access_log=log_level == "info",
            timeout_graceful_shutdown=5,
        )
    )
    if on_ready is not None:
        on_ready(*sock.getsockname()[:2])
    server.run(sockets=[sock])
