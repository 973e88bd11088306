"""Replay: recorded completions come back exactly; gaps and malformed files are named."""

from __future__ import annotations

import json

import pytest

from synth.engines.base import ChatRequest, Completion, user
from synth.engines.replay import RecordingEngine, ReplayEngine
from synth.engines.scripted import ScriptedEngine
from synth.errors import SynthError


def request(text: str, n: int = 1, tag: str = "solution") -> ChatRequest:
    return ChatRequest(messages=(user(text),), n=n, tag=tag)


def test_a_recorded_run_replays_identically(tmp_path):
    path = tmp_path / "rec.jsonl"

    def answer(req: ChatRequest, i: int):
        if i == 1:
            return Completion(
                text="cut", finish_reason="length", prompt_tokens=3, completion_tokens=9
            )
        return f"{req.messages[0].content} #{i}"

    live = RecordingEngine(ScriptedEngine(answer), path)
    requests = [request("a", n=2), request("b")]
    recorded = live.chat(requests)
    assert ReplayEngine(path).chat(requests) == recorded
    assert ReplayEngine(path).chat([request("a", n=1)]) == [recorded[0][:1]]  # fewer than recorded


def test_a_missing_request_is_an_error_naming_it(tmp_path):
    path = tmp_path / "rec.jsonl"
    RecordingEngine(ScriptedEngine(lambda r, i: "x"), path).chat([request("known")])
    with pytest.raises(SynthError) as info:
        ReplayEngine(path).chat([request("unknown question", tag="tests")])
    assert "no recorded completion for a tests request" in str(info.value)
    assert "'unknown question'" in str(info.value) and str(path) in str(info.value)
    lenient = ReplayEngine(path, strict=False).chat([request("known", n=2)])[0]
    assert [c.finish_reason for c in lenient] == ["stop", "error"]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("{not json", "not valid JSON"),
        ('{"key": "k"}', "needs 'key' and 'completions'"),
        (
            '{"key": "k", "completions": [{"text": "x", "finish_reason": "maybe"}]}',
            "bad completion",
        ),
    ],
)
def test_malformed_lines_are_reported_with_their_line_number(tmp_path, line, expected):
    path = tmp_path / "rec.jsonl"
    path.write_text('{"key": "ok", "completions": []}\n' + line + "\n")
    with pytest.raises(SynthError) as info:
        ReplayEngine(path)
    assert f"{path}:2" in str(info.value) and expected in str(info.value)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(SynthError, match="replay file not found"):
        ReplayEngine(tmp_path / "nope.jsonl")


SCHEMA = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}


def schema_request(text: str = "plain") -> ChatRequest:
    return ChatRequest(
        messages=(user(text),), json_schema=SCHEMA, structured_messages=(user("json please"),)
    )


def test_a_schema_leaves_the_plain_key_alone_and_keys_the_structured_conversation():
    plain = request("plain")
    with_schema = schema_request()
    assert with_schema.key() == plain.key()  # recordings made before schemas still match
    assert with_schema.key(structured=True) != plain.key()
    # the structured key is the conversation that was sent, and the schema
    other_json = with_schema.model_copy(update={"structured_messages": (user("other"),)})
    assert other_json.key(structured=True) != with_schema.key(structured=True)
    other_schema = with_schema.model_copy(update={"json_schema": '{"type": "object"}'})
    assert other_schema.key(structured=True) != with_schema.key(structured=True)
    assert plain.key(structured=True) == plain.key()  # no schema: nothing to enforce
    assert with_schema.schema() == SCHEMA and hash(with_schema)  # a dict in, hashable text kept
    assert with_schema.conversation(True) == (user("json please"),)
    assert with_schema.conversation() == plain.messages
    with pytest.raises(ValueError):
        ChatRequest(messages=(user("x"),), json_schema="[1, 2]")


def test_structured_recordings_replay_and_old_plain_recordings_still_answer(tmp_path):
    structured_path, plain_path = tmp_path / "s.jsonl", tmp_path / "p.jsonl"

    def answer(req: ChatRequest, i: int) -> str:
        return req.conversation(True)[0].content  # what a schema-enforcing engine was sent

    RecordingEngine(ScriptedEngine(answer, structured_output=True), structured_path).chat(
        [schema_request()]
    )
    line = json.loads(structured_path.read_text())
    assert line["key"] == schema_request().key(structured=True)
    assert line["json_schema"] == SCHEMA and line["messages"][0]["content"] == "json please"
    assert ReplayEngine(structured_path).chat([schema_request()])[0][0].text == "json please"

    # recorded from an engine without structured output (or before schemas existed)
    RecordingEngine(ScriptedEngine(lambda r, i: "## Problem"), plain_path).chat([request("plain")])
    assert ReplayEngine(plain_path).chat([schema_request()])[0][0].text == "## Problem"
