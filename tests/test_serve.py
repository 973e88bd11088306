"""`synth serve` started for real on a free loopback port: verdicts, every refusal (400, 401,
408, 413, 422, 429), clients that go away mid-request and garbage that must not take it down."""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from typer.testing import CliRunner

from synth.rewards import Check, Rewards
from synth.serve import BadRequest, ServeConfig, bind, create_app, parse_items
from tests.test_rewards import CHECK, GARBAGE, RIGHT, WRONG, BlockedSandbox, chat

DEADLINE_S = 30.0


def wait_until(condition, what: str, deadline_s: float = DEADLINE_S):
    """Poll `condition` until it holds or the deadline passes (then fail, saying what)."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(0.02)  # a polling interval, not a synchronisation
    raise AssertionError(f"{what}: not within {deadline_s} s")


class Service:
    """uvicorn serving `app` in a thread on a free loopback port."""

    def __init__(self, app) -> None:
        import uvicorn

        sock = bind("127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self.address = sock.getsockname()[:2]
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        self.thread.start()
        wait_until(self.healthy, "the service answers /health")

    def healthy(self) -> dict | None:
        try:
            response = httpx.get(self.url + "/health", timeout=2)
        except httpx.TransportError:
            return None
        return response.json() if response.status_code == 200 else None

    def admitted(self) -> int | None:
        """How many requests the service holds now (None while it does not answer)."""
        health = self.healthy()
        return None if health is None else health["admitted"]

    def verify(self, body, **kwargs) -> httpx.Response:
        if isinstance(body, (dict, list)):
            kwargs["json"] = body
        else:
            kwargs["content"] = body
        return httpx.post(self.url + "/verify", timeout=DEADLINE_S, **kwargs)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=DEADLINE_S)


@pytest.fixture(scope="module")
def service(sandbox):
    with Rewards(sandbox, timeout_s=2.0, workers=2) as rewards:
        config = ServeConfig(queue_size=4, max_body_bytes=64 << 10, max_items=8)
        running = Service(create_app(rewards, config))
        yield running
        running.stop()


class HeldVerifier:
    """A verifier whose checks wait until the test releases them."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def check(self, items, timeout_s=None, *, deadline=None) -> list[Check]:
        self.deadline = deadline
        assert self.release.wait(timeout=DEADLINE_S)
        return [Check(passed=True, reward=1.0, reason="passed") for _ in items]

    def describe(self) -> str:
        return "held"


@pytest.fixture
def held():
    verifier = HeldVerifier()
    running = Service(create_app(verifier, ServeConfig(queue_size=1, retry_after_s=3)))
    yield running, verifier
    verifier.release.set()
    running.stop()


CODE_ITEM = {"completion": RIGHT, "tests": CHECK, "entry_point": "total"}


@pytest.mark.sandbox
def test_verdicts_come_back_in_item_order(service):
    items = [
        CODE_ITEM,
        {"completion": chat(WRONG), "tests": ["assert total([]) == 0", "assert total([1]) == 1"],
         "entry_point": "total"},
        {"completion": GARBAGE, "tests": CHECK, "entry_point": "total"},
        {"completion": "So $\\boxed{\\frac{1}{2}}$.", "answer": "0.5"},
        {"completion": chat("\\boxed{3}"), "answer": 2},
    ]  # fmt: skip
    response = service.verify({"items": items})
    assert response.status_code == 200
    verdicts = response.json()["verdicts"]
    assert [(v["passed"], v["reward"], v["reason"]) for v in verdicts] == [
        (True, 1.0, "passed"),
        (False, 0.0, "tests_failed"),
        (False, 0.0, "no_code"),
        (True, 1.0, "passed"),
        (False, 0.0, "wrong_answer"),
    ]
    assert [(v["tests_passed"], v["tests_total"], v["share"]) for v in verdicts[:2]] == [
        (2, 2, 1.0),
        (0, 2, 0.0),
    ]
    assert set(verdicts[0]) == {
        "passed", "reward", "reason", "detail", "tests_passed", "tests_total", "share",
    }  # fmt: skip


@pytest.mark.sandbox
def test_clients_at_once_get_what_they_get_one_by_one(service):
    def body(index: int) -> dict:  # a different batch per client
        items = [CODE_ITEM, {"completion": WRONG, "tests": CHECK, "entry_point": "total"}]
        maths = [{"completion": f"\\boxed{{{index + k}}}", "answer": str(index)} for k in (0, 1)]
        return {"items": items[index % 2 :] + maths}

    def verdicts(index: int) -> list:
        response = service.verify(body(index))
        assert response.status_code == 200
        return [(v["reason"], v["reward"]) for v in response.json()["verdicts"]]

    one_by_one = [verdicts(i) for i in range(4)]
    start = threading.Barrier(4)

    def at_once(index: int) -> list:
        start.wait(timeout=DEADLINE_S)
        return verdicts(index)

    with ThreadPoolExecutor(4) as clients:  # as many as the queue admits: none refused
        assert list(clients.map(at_once, range(4))) == one_by_one
    assert one_by_one[1] == [("tests_failed", 0.0), ("passed", 1.0), ("wrong_answer", 0.0)]


@pytest.mark.sandbox
def test_health_says_how_full_the_queue_is(service):
    health = service.healthy()
    assert health["status"] == "ok" and health["admitted"] == 0 and health["queue_size"] == 4
    assert "2 workers" in health["verifier"]


@pytest.mark.sandbox
def test_bad_bodies_get_400_and_wrong_shapes_422_naming_item_and_field(service):
    for body in (b"{not json", b"\xff\xfe\x00garbage", b"[" * 50_000, b"", os.urandom(512)):
        response = service.verify(body)
        assert response.status_code == 400, body[:20]
        assert "error" in response.json()
    cases = [
        ({"items": "x"}, None, "items"),
        ({"items": []}, None, "items"),
        ([CODE_ITEM], None, "items"),
        ({"items": [CODE_ITEM, {"tests": CHECK}]}, 1, "completion"),
        ({"items": [{"completion": 3, "answer": "1"}]}, 0, "completion"),
        ({"items": [{"completion": "x"}]}, 0, "tests"),
        ({"items": [{"completion": "x", "tests": CHECK, "answer": "1"}]}, 0, "answer"),
        ({"items": [CODE_ITEM, CODE_ITEM, {"completion": "x", "tests": "x = 1"}]}, 2, "tests"),
        ({"items": [{"completion": "x", "tests": CHECK}]}, 0, "tests"),  # check() needs a name
        ({"items": [{"completion": "x", "tests": CHECK, "entry_point": "a b"}]}, 0, "entry_point"),
        ({"items": [{"completion": "x", "answer": "  "}]}, 0, "answer"),
        ({"items": [7]}, 0, ""),
    ]
    for body, item, field in cases:
        response = service.verify(body)
        assert response.status_code == 422, body
        error = response.json()
        assert error["errors"][0]["item"] == item and error["errors"][0]["field"] == field
        if item is not None:
            assert error["error"].startswith(f"item {item}, field {field}:")
    assert service.verify({"items": [CODE_ITEM]}).status_code == 200  # still up


@pytest.mark.sandbox
def test_bodies_over_the_limits_get_413(service):
    big = {"items": [{"completion": "x" * (70 << 10), "answer": "1"}]}
    assert service.verify(big).status_code == 413  # by its Content-Length

    def chunks():  # no Content-Length: counted while read
        for _ in range(70):
            yield b" " * 1024

    response = service.verify(chunks())
    assert response.status_code == 413 and "65536 bytes" in response.json()["error"]
    many = {"items": [{"completion": "\\boxed{1}", "answer": "1"}] * 9}
    response = service.verify(many)
    assert response.status_code == 413 and "at most 8" in response.json()["error"]


def test_a_token_is_required_when_one_is_set():
    app = create_app(HeldVerifier(), ServeConfig(token="s3cret"))
    running = Service(app)
    try:
        body = {"items": [{"completion": "\\boxed{1}", "answer": "1"}]}
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
            response = running.verify(body, headers=headers)
            assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
        assert running.healthy()["status"] == "ok"  # /health stays open
    finally:
        running.stop()


def test_a_full_queue_answers_429_with_retry_after(held):
    running, verifier = held
    first: dict = {}
    thread = threading.Thread(
        target=lambda: first.update(response=running.verify({"items": [CODE_ITEM]}))
    )
    thread.start()
    wait_until(lambda: running.admitted() == 1, "the first request is admitted")
    refused = running.verify({"items": [CODE_ITEM]})
    assert refused.status_code == 429 and refused.headers["retry-after"] == "3"
    verifier.release.set()
    thread.join(timeout=DEADLINE_S)
    assert first["response"].status_code == 200
    assert running.verify({"items": [CODE_ITEM]}).status_code == 200  # room again


def test_clients_that_go_away_mid_request_do_not_hurt_it(held):
    running, verifier = held
    # a body that never arrives whole
    with socket.create_connection(running.address, timeout=DEADLINE_S) as half:
        half.sendall(
            b"POST /verify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n" + b'{"items": ['
        )
        wait_until(lambda: running.admitted() == 1, "the half request is admitted")
    wait_until(lambda: running.admitted() == 0, "its slot is freed when it leaves")
    # a whole request whose client leaves while it is checked: its slot is freed once the
    # work ends, not before (the queue's bound holds)
    with socket.create_connection(running.address, timeout=DEADLINE_S) as gone:
        body = json.dumps({"items": [CODE_ITEM]}).encode()
        gone.sendall(
            b"POST /verify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        wait_until(lambda: running.admitted() == 1, "the request is admitted")
    assert running.admitted() == 1
    verifier.release.set()
    wait_until(lambda: running.admitted() == 0, "the slot is freed")
    response = running.verify({"items": [CODE_ITEM]})
    assert response.status_code == 200 and response.json()["verdicts"][0]["passed"]


@pytest.mark.sandbox
def test_garbage_on_the_wire_does_not_take_it_down(service):
    for garbage in (os.urandom(2048), b"GET / HTTP/9.9\r\n\r\n", b"\r\n\r\n", b"POST /verify\r\n"):
        with socket.create_connection(service.address, timeout=DEADLINE_S) as raw:
            raw.sendall(garbage)
            raw.shutdown(socket.SHUT_WR)
            try:
                while raw.recv(65536):  # whatever it answers, until it closes
                    pass
            except ConnectionResetError:
                pass
    assert service.verify({"items": [{"completion": "\\boxed{4}", "answer": "4"}]}).json()[
        "verdicts"
    ][0]["passed"]
    assert httpx.get(service.url + "/nowhere").status_code == 404
    assert httpx.get(service.url + "/verify").status_code == 405


def test_the_request_deadline_is_a_timeout_verdict_per_item():
    box = BlockedSandbox()
    with Rewards(box, workers=1) as rewards:
        running = Service(create_app(rewards, ServeConfig(request_timeout_s=0.5)))
        try:
            response = running.verify({"items": [CODE_ITEM, CODE_ITEM]})
            box.release.set()
        finally:
            running.stop()
    assert response.status_code == 200
    assert [v["reason"] for v in response.json()["verdicts"]] == ["timeout", "timeout"]


def test_the_request_deadline_counts_from_its_arrival():
    verifier = HeldVerifier()
    verifier.release.set()
    running = Service(create_app(verifier, ServeConfig(request_timeout_s=40.0)))
    try:
        sent = time.monotonic()
        response = running.verify({"items": [CODE_ITEM]})
        answered = time.monotonic()
    finally:
        running.stop()
    assert response.status_code == 200
    # the absolute deadline reaches the verifier: reading and parsing count against it
    assert sent + 40.0 <= verifier.deadline <= answered + 40.0


def test_tests_that_break_the_reader_or_would_run_in_part_get_422():
    for tests in (
        "assert f(1)" + " + 0" * 3000 + " == 1",  # RecursionError in the parser
        ["assert f(1) == 1", "assert g(2) == 99"],
        "assert f(1) == 1\nassert_allclose(f(1), 5.0)",
    ):
        body = {"items": [{"completion": "x", "answer": "1"},
                          {"completion": "x", "tests": tests, "entry_point": "f"}]}  # fmt: skip
        with pytest.raises(BadRequest) as refused:
            parse_items(json.dumps(body).encode(), 4)
        assert refused.value.status == 422
        assert [(e["item"], e["field"]) for e in refused.value.errors] == [(1, "tests")]


def test_a_body_that_does_not_arrive_in_time_gets_408():
    running = Service(create_app(HeldVerifier(), ServeConfig(request_timeout_s=0.3)))
    try:
        with socket.create_connection(running.address, timeout=DEADLINE_S) as slow:
            slow.sendall(b"POST /verify HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + b"{")
            answer = slow.recv(65536)  # sent when the deadline passes; the socket stays open
        assert answer.startswith(b"HTTP/1.1 408")
        assert running.admitted() == 0
    finally:
        running.stop()


def test_parse_items_reads_code_and_math_items():
    items = parse_items(
        json.dumps({"items": [CODE_ITEM, {"completion": "x", "answer": 3}]}).encode(), 4
    )
    assert [type(i).__name__ for i in items] == ["CodeItem", "MathItem"] and items[1].answer == "3"


def test_serve_help_documents_every_option():
    from synth.cli import app

    result = CliRunner().invoke(app, ["serve", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for option in (
        "--host", "--port", "--sandbox", "--workers", "--timeout", "--math-workers",
        "--math-timeout", "--partial-credit", "--queue-size", "--max-body-bytes",
        "--max-items", "--request-timeout", "--token", "SYNTH_SERVE_TOKEN", "--verbose",
    ):  # fmt: skip
        assert option in result.output, option


@pytest.mark.sandbox
def test_synth_serve_as_a_user_starts_it():
    env = {**os.environ, "SYNTH_SERVE_TOKEN": "t0ken", "COLUMNS": "200"}
    process = subprocess.Popen(
        [sys.executable, "-m", "synth.cli", "serve", "--port", "0", "--sandbox", "bubblewrap"],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in process.stderr], daemon=True).start()
    try:
        url = _address(lines, process)
        body = {"items": [CODE_ITEM]}
        assert httpx.post(url + "/verify", json=body, timeout=DEADLINE_S).status_code == 401
        response = httpx.post(
            url + "/verify", json=body, headers={"Authorization": "Bearer t0ken"}, timeout=60
        )
        assert response.json()["verdicts"][0]["reason"] == "passed"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=DEADLINE_S)


def _address(lines: queue.Queue, process: subprocess.Popen) -> str:
    """The URL `synth serve` prints once it listens."""
    seen = []
    end = time.monotonic() + 60
    while time.monotonic() < end:
        try:
            line = lines.get(timeout=max(0.0, end - time.monotonic()))
        except queue.Empty:
            break
        seen.append(line)
        if line.startswith("synth serve: http://"):
            return line.split()[2]
    raise AssertionError(f"synth serve printed no address (exit {process.poll()}): {seen}")
