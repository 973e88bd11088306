"""Replay recorded completions, and record them from a live engine.

The file is JSONL, one line per request:
    {"key": "...", "messages": [...], "completions": [{"text", "finish_reason",
     "prompt_tokens", "completion_tokens"}, ...]}
`key` is `ChatRequest.key()`, a hash of the conversation alone (not the sampling
parameters), so generations made elsewhere can be re-verified by writing the same
conversations. Several lines with one key add completions, served in file order.

A request with a JSON schema, recorded from an engine that enforced it, is keyed by
`key(structured=True)` (its JSON-asking conversation and the schema) and its line also
holds `json_schema`. Replay looks that key up first and the plain `key()` after it, so a
recording made with or without structured output (or before schemas existed) answers.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from synth.engines.base import ChatRequest, Completion, Engine, enforces_schemas
from synth.errors import SynthError
from synth.inputs import read_jsonl


class ReplayEngine:
    # it serves structured recordings where it has them, plain ones otherwise
    structured_output = True

    def __init__(self, path: str | Path, strict: bool = True) -> None:
        self.path = Path(path)
        self.strict = strict
        self.name = f"replay:{self.path.name}"
        self.recorded = _load(self.path)

    def chat(self, requests: Sequence[ChatRequest]) -> list[list[Completion]]:
        results = []
        for request in requests:
            key = request.key()
            found = self.recorded.get(key, [])[: request.n]
            if request.json_schema is not None:
                structured = self.recorded.get(request.key(structured=True), [])[: request.n]
                if len(structured) >= len(found):
                    found = structured
            if len(found) < request.n:
                if self.strict:
                    first = request.messages[0].content[:80] if request.messages else ""
                    raise SynthError(
                        str(self.path),
                        f"no recorded completion for a {request.tag or 'chat'} request "
                        f"(key {key}, {len(found)} of {request.n} recorded); first message: {first!r}",
                        "record it with --record, or run with a live engine",
                    )
                missing = Completion(
                    text="", finish_reason="error", error=f"not recorded (key {key})"
                )
                found = found + [missing] * (request.n - len(found))
            results.append(found)
        return results

    def close(self) -> None:
        pass


def _load(path: Path) -> dict[str, list[Completion]]:
    recorded: dict[str, list[Completion]] = {}
    for where, entry in read_jsonl(path, "replay file"):
        if not isinstance(entry, dict) or "key" not in entry or "completions" not in entry:
            raise SynthError(where, "a replay line needs 'key' and 'completions'")
        try:
            completions = [Completion.model_validate(c) for c in entry["completions"]]
        except (ValidationError, TypeError) as exc:
            raise SynthError(where, f"bad completion: {exc}".splitlines()[0]) from None
        recorded.setdefault(str(entry["key"]), []).extend(completions)
    return recorded


class RecordingEngine:
    """Pass requests to `inner` and append what it answered to a replay file."""

    def __init__(self, inner: Engine, path: str | Path) -> None:
        self.inner = inner
        self.path = Path(path)
        self.name = inner.name
        self._lock = threading.Lock()

    @property
    def structured_output(self) -> bool:
        return enforces_schemas(self.inner)

    def chat(self, requests: Sequence[ChatRequest]) -> list[list[Completion]]:
        # read before the call: an engine may stop enforcing schemas while answering
        structured = enforces_schemas(self.inner)
        results = self.inner.chat(requests)
        lines = [
            json.dumps(_line(request, completions, structured))
            for request, completions in zip(requests, results, strict=True)
        ]
        with self._lock, self.path.open("a", encoding="utf-8") as handle:
            handle.write("".join(line + "\n" for line in lines))
        return results

    def close(self) -> None:
        self.inner.close()


def _line(request: ChatRequest, completions: list[Completion], structured: bool) -> dict:
    """One replay line: keyed by the conversation the engine was sent (and the schema it
    enforced, if any)."""
    line: dict = {
        "key": request.key(structured),
        "messages": [m.model_dump() for m in request.conversation(structured)],
    }
    if structured and request.json_schema is not None:
        line["json_schema"] = request.schema()
    line["completions"] = [c.model_dump() for c in completions]
    return line
