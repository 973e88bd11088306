"""Replay recorded completions, and record them from a live engine.

The file is JSONL, one line per request:
    {"key": "...", "messages": [...], "completions": [{"text", "finish_reason",
     "prompt_tokens", "completion_tokens"}, ...]}
`key` is `ChatRequest.key()`, a hash of the conversation alone (not the sampling
parameters), so generations made elsewhere can be re-verified by writing the same
conversations. Several lines with one key add completions, served in file order.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from synth.engines.base import ChatRequest, Completion, Engine
from synth.errors import SynthError
from synth.inputs import read_jsonl


class ReplayEngine:
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

    def chat(self, requests: Sequence[ChatRequest]) -> list[list[Completion]]:
        results = self.inner.chat(requests)
        lines = [
            json.dumps(
                {
                    "key": request.key(),
                    "messages": [m.model_dump() for m in request.messages],
                    "completions": [c.model_dump() for c in completions],
                }
            )
            for request, completions in zip(requests, results, strict=True)
        ]
        with self._lock, self.path.open("a", encoding="utf-8") as handle:
            handle.write("".join(line + "\n" for line in lines))
        return results

    def close(self) -> None:
        self.inner.close()
