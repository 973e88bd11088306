"""The engine protocol: a batch of chat requests in, completions out.

Every backend (vLLM in process, an OpenAI-compatible server, a replay file, a scripted
function in tests) implements `Engine.chat`. A backend returns exactly `request.n`
completions per request, in request order; a completion it could not get has
`finish_reason="error"` and the reason in `error`, so one bad request never loses a batch.

Structured output: a request may carry a JSON schema its answer must match, with the
conversation to send when an engine enforces it (`structured_messages`, which asks for
JSON). An engine that enforces schemas says so with `structured_output = True` and sends
`request.conversation(True)` with the schema; any other engine (a user's, a replay of old
recordings) sends the plain `messages` and ignores the schema, so a request is always
answerable and the parser reads either kind of answer. The plain conversation and its
`key()` are exactly what they were before schemas existed, so old replay files still match.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Literal, Protocol

from pydantic import Field, field_validator

from synth.records import Frozen, Message, Role, stable_id

__all__ = ["ChatRequest", "Completion", "Engine", "Message", "Role"]


class ChatRequest(Frozen):
    """One conversation to complete, with its sampling parameters."""

    messages: tuple[Message, ...]
    n: int = Field(1, ge=1)
    temperature: float = Field(0.8, ge=0)
    top_p: float = Field(0.95, gt=0, le=1)
    max_tokens: int = Field(1024, ge=1)
    seed: int | None = None
    stop: tuple[str, ...] = ()
    tag: str = Field(
        "", description="which step asked (problem, tests, solution, repair); never sent"
    )
    json_schema: str | None = Field(
        None,
        description="a JSON schema the answer must match where the engine enforces one; "
        "given as a dict or JSON text, kept as compact JSON text (hashable, property order kept)",
    )
    structured_messages: tuple[Message, ...] | None = Field(
        None,
        description="the conversation sent instead of `messages` by an engine that enforces "
        "`json_schema` (it asks for JSON); None: `messages` either way",
    )
    # None leaves the engine's default (no penalty): small models loop until max_tokens
    # without one, but the right values are measured per model, not guessed here.
    repetition_penalty: float | None = Field(None, gt=0)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)

    @field_validator("json_schema", mode="before")
    @classmethod
    def _schema_as_text(cls, value: Any) -> Any:
        if isinstance(value, dict):
            # not sort_keys: the order of "properties" is the order a grammar writes fields in
            return json.dumps(value, separators=(",", ":"))
        if isinstance(value, str) and not isinstance(json.loads(value), dict):
            raise ValueError("json_schema must be a JSON object")
        return value

    def schema(self) -> dict | None:
        """The JSON schema as a dict, or None."""
        return None if self.json_schema is None else json.loads(self.json_schema)

    def conversation(self, structured: bool = False) -> tuple[Message, ...]:
        """What an engine sends: the JSON-asking conversation when it enforces the schema."""
        if structured and self.json_schema is not None and self.structured_messages:
            return self.structured_messages
        return self.messages

    def key(self, structured: bool = False) -> str:
        """What the replay engine looks completions up by: the conversation sent, and the
        schema only when one was enforced (so a plain request's key is what it always was)."""
        if not structured or self.json_schema is None:
            return stable_id([m.model_dump() for m in self.messages], length=32)
        messages = [m.model_dump() for m in self.conversation(True)]
        return stable_id(messages, {"json_schema": self.json_schema}, length=32)


FinishReason = Literal["stop", "length", "error"]


class Completion(Frozen):
    text: str
    finish_reason: FinishReason
    prompt_tokens: int = 0
    completion_tokens: int = 0
    error: str = ""


class Engine(Protocol):
    """An LLM backend. `name` says which model answers (it is recorded with the data).

    An engine may also set `structured_output = True` when it enforces `json_schema`
    (see `enforces_schemas`); one without the attribute is taken not to."""

    name: str

    def chat(self, requests: Sequence[ChatRequest]) -> list[list[Completion]]:
        """Complete every request; result[i] holds requests[i].n completions."""
        ...

    def close(self) -> None: ...


def enforces_schemas(engine: object) -> bool:
    """Whether `engine` sends requests' JSON schemas as structured output."""
    return bool(getattr(engine, "structured_output", False))


def user(content: str) -> Message:
    return Message(role="user", content=content)


def assistant(content: str) -> Message:
    return Message(role="assistant", content=content)


def system(content: str) -> Message:
    return Message(role="system", content=content)
