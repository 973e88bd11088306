"""The OpenAI-compatible engine against a small local HTTP server that can misbehave on demand."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from synth.engines.base import ChatRequest, enforces_schemas, user
from synth.engines.openai_http import OpenAIConfig, OpenAIEngine
from synth.errors import SynthError


class Server:
    """Speaks /v1/chat/completions; `fail_next` 503s, `status` forces an answer, `stall` waits."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.fail_next = 0
        self.status = 200
        self.ignore_n = False
        self.refuse_schemas = False  # 400 to any body with a response_format
        self.stall = threading.Event()  # set = answer normally; cleared = hold the request
        self.stall.set()
        self.release = threading.Event()
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self._send(200, {"data": [{"id": "m"}]})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.bodies.append(body)
                    failing = server.fail_next > 0
                    server.fail_next -= failing
                if not server.stall.is_set():
                    server.release.wait(timeout=5)
                    return
                if failing:
                    return self._send(503, {"error": "busy"})
                if server.refuse_schemas and "response_format" in body:
                    return self._send(400, {"error": {"message": "unknown response_format"}})
                if server.status != 200:
                    return self._send(
                        server.status, {"error": {"message": "bad request: max_tokens too large"}}
                    )
                n = 1 if server.ignore_n else body.get("n", 1)
                text = body["messages"][-1]["content"]
                choices = [
                    {
                        "index": i,
                        "message": {"role": "assistant", "content": f"{text}#{i}"},
                        "finish_reason": "length" if body["max_tokens"] < 5 else "stop",
                    }
                    for i in range(n)
                ]
                self._send(
                    200,
                    {
                        "choices": choices,
                        "usage": {"prompt_tokens": 11, "completion_tokens": 7 * n},
                    },
                )

            def _send(self, status, data):
                payload = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    running = Server()
    yield running
    running.stop()


def engine_for(server: Server, **options) -> OpenAIEngine:
    return OpenAIEngine(
        OpenAIConfig(
            base_url=server.url, model="m", **{"timeout_s": 2, "backoff_s": 0.01, **options}
        )
    )


def request(text: str, **options) -> ChatRequest:
    return ChatRequest(messages=(user(text),), **{"max_tokens": 16, **options})


def test_n_completions_with_tokens_and_what_was_sent(server):
    result = engine_for(server).chat([request("hi", n=3, seed=4, stop=("\n\n",))])[0]
    assert [c.text for c in result] == ["hi#0", "hi#1", "hi#2"]
    assert all(
        c.prompt_tokens == 11 and c.completion_tokens == 7 and c.finish_reason == "stop"
        for c in result
    )
    body = server.bodies[0]
    assert (body["n"], body["seed"], body["stop"], body["model"]) == (3, 4, ["\n\n"], "m")
    assert body["messages"] == [{"role": "user", "content": "hi"}]
    engine_for(server).chat([request("x")])
    assert "seed" not in server.bodies[1] and "stop" not in server.bodies[1]


def test_finish_reason_length(server):
    assert engine_for(server).chat([request("x", max_tokens=2)])[0][0].finish_reason == "length"


def test_server_errors_are_retried_then_succeed(server):
    server.fail_next = 2
    result = engine_for(server, max_retries=3).chat([request("again")])[0]
    assert result[0].text == "again#0" and len(server.bodies) == 3


def test_retries_are_bounded_and_end_in_an_error_completion(server):
    server.fail_next = 100
    result = engine_for(server, max_retries=2).chat([request("never", n=2)])[0]
    assert [c.finish_reason for c in result] == ["error", "error"]
    assert "gave up after 3 attempts" in result[0].error and "503" in result[0].error
    assert len(server.bodies) == 3


def test_client_errors_are_not_retried(server):
    server.status = 400
    result = engine_for(server).chat([request("bad")])[0]
    assert result[0].finish_reason == "error" and "max_tokens too large" in result[0].error
    assert len(server.bodies) == 1


def test_a_stalled_server_times_out_into_an_error(server):
    server.stall.clear()
    result = engine_for(server, timeout_s=0.3, max_retries=1).chat([request("slow")])[0]
    assert result[0].finish_reason == "error" and "ReadTimeout" in result[0].error
    assert len(server.bodies) == 2


def test_a_server_that_ignores_n_is_asked_again(server):
    server.ignore_n = True
    result = engine_for(server).chat([request("one", n=3)])[0]
    assert len(result) == 3 and [b["n"] for b in server.bodies] == [3, 2, 1]


def test_order_is_kept_under_concurrency(server):
    texts = [f"r{i}" for i in range(24)]
    results = engine_for(server, concurrency=8).chat([request(t) for t in texts])
    assert [r[0].text for r in results] == [f"{t}#0" for t in texts]


def test_check_names_an_unreachable_url():
    engine = OpenAIEngine(OpenAIConfig(base_url="http://127.0.0.1:9/v1", model="m", timeout_s=1))
    with pytest.raises(SynthError, match="cannot reach http://127.0.0.1:9/v1/models"):
        engine.check()


SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string", "maxLength": 10}},
    "required": ["answer"],
    "additionalProperties": False,
}


def schema_request(**options) -> ChatRequest:
    return request(
        "plain",
        json_schema=SCHEMA,
        structured_messages=(user("as json"),),
        tag="problem",
        **options,
    )


def test_a_schema_goes_out_as_response_format_with_the_json_conversation(server):
    engine = engine_for(server)
    assert enforces_schemas(engine)
    result = engine.chat([schema_request()])[0]
    body = server.bodies[0]
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "problem", "schema": SCHEMA, "strict": True},
    }
    assert body["messages"] == [{"role": "user", "content": "as json"}]
    assert result[0].text == "as json#0"
    engine.chat([request("no schema")])
    assert "response_format" not in server.bodies[1]


def test_schemas_can_be_turned_off(server):
    engine_for(server, structured_output=False).chat([schema_request()])
    assert "response_format" not in server.bodies[0]
    assert server.bodies[0]["messages"] == [{"role": "user", "content": "plain"}]


def test_a_server_refusing_schemas_is_asked_plainly_and_asked_so_from_then_on(server):
    server.refuse_schemas = True
    engine = engine_for(server)
    first = engine.chat([schema_request()])[0]
    assert first[0].text == "plain#0" and first[0].finish_reason == "stop"
    assert ["response_format" in b for b in server.bodies] == [True, False]
    assert not enforces_schemas(engine)
    engine.chat([schema_request()])
    assert len(server.bodies) == 3 and "response_format" not in server.bodies[2]


def test_a_refusal_that_is_not_about_the_schema_stays_an_error(server):
    server.status = 400
    engine = engine_for(server)
    result = engine.chat([schema_request()])[0]
    assert result[0].finish_reason == "error" and "max_tokens too large" in result[0].error
    assert len(server.bodies) == 2 and enforces_schemas(engine)


def test_penalties_are_sent_only_when_set(server):
    engine = engine_for(server)
    engine.chat([request("p", repetition_penalty=1.2, frequency_penalty=0.5)])
    assert (server.bodies[0]["repetition_penalty"], server.bodies[0]["frequency_penalty"]) == (
        1.2,
        0.5,
    )
    engine.chat([request("q")])
    assert not {"repetition_penalty", "frequency_penalty"} & set(server.bodies[1])
