"""Replay: recorded completions come back exactly; gaps and malformed files are named."""

from __future__ import annotations

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
